"""The operator's TUI: the engine client is injected; workers feed typed messages to the views."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from miglane.tui.actions import OperatorActions
from miglane.tui.client import EngineClient
from miglane.tui.commands import MiglaneCommands
from miglane.tui.feeds import Feeds
from miglane.tui.messages import (
    EventArrived,
    Feed,
    FeedHealth,
    FeedHealthChanged,
    FeedState,
    InventoryRefreshed,
    MigrationChanged,
    MigrationsSnapshot,
)
from miglane.tui.models import TABS, EventLog, Inventory, MigrationBoard
from miglane.tui.views import EventsView, HostsView, MigrationsView, NetworksView, VmsView
from miglane.tui.views.base import View
from miglane.tui.widgets.status import ActionLine, ConnectionBar
from miglane.v1 import engine_pb2

RENDER_SHARE = 2
# Events after which the inventory (roles, host status and counts, where VMs run) is re-read
# at once rather than at the next periodic refresh.
INVENTORY_EVENTS = frozenset(
    {
        engine_pb2.EVENT_TYPE_NETWORK_CREATED,
        engine_pb2.EVENT_TYPE_NETWORK_UPDATED,
        engine_pb2.EVENT_TYPE_NETWORK_DELETED,
        engine_pb2.EVENT_TYPE_ROLE_GRANTED,
        engine_pb2.EVENT_TYPE_ROLE_TAKEN,
        engine_pb2.EVENT_TYPE_ROLE_MOVED,
        engine_pb2.EVENT_TYPE_HOST_ADDED,
        engine_pb2.EVENT_TYPE_HOST_REMOVED,
        engine_pb2.EVENT_TYPE_HOST_STATUS_CHANGED,
        engine_pb2.EVENT_TYPE_CLUSTER_CREATED,
        engine_pb2.EVENT_TYPE_CLUSTER_UPDATED,
    }
)


class MiglaneApp(App[None]):
    """Networks, hosts, VMs, migrations and events of one engine, with the operator's actions.

    The engine client is given, not made here: the command line and the tests pass a
    `GrpcEngineClient` (the tests to a real engine in-process). It implements `ViewContext`
    (`miglane.tui.context`), which is all its views and the command palette know of it.
    """

    TITLE = "Miglane"
    # Absolute: a subclass in another directory (tests, benches) finds it too.
    CSS_PATH = Path(__file__).parent / "miglane.tcss"
    COMMANDS = App.COMMANDS | {MiglaneCommands}
    BINDINGS = [
        Binding("1", "show_tab('networks')", "Networks", show=False, id="show-networks"),
        Binding("2", "show_tab('hosts')", "Hosts", show=False, id="show-hosts"),
        Binding("3", "show_tab('vms')", "VMs", show=False, id="show-vms"),
        Binding("4", "show_tab('migrations')", "Migrations", show=False, id="show-migrations"),
        Binding("5", "show_tab('events')", "Events", show=False, id="show-events"),
        Binding(
            "r",
            "refresh",
            "Refresh",
            tooltip="Read clusters, networks, hosts and VMs from the engine now",
            id="refresh",
        ),
        Binding("q", "quit", "Quit", tooltip="Leave the TUI; the engine keeps running", id="quit"),
    ]

    def __init__(
        self,
        client: EngineClient,
        *,
        refresh_interval_s: float = 2.0,
        retry_delay_s: float = 1.0,
        redraw_interval_s: float = 0.05,
    ) -> None:
        super().__init__()
        self.client = client
        self.retry_delay_s = retry_delay_s
        # Migration rows are redrawn at most this often: under a flood of updates each redraw
        # then carries many, and the screen's cost stays flat however fast the engine sends.
        self.redraw_interval_s = redraw_interval_s
        self._last_flush = 0.0
        # Views whose rows missed migration updates while hidden.
        self._stale_views: set[str] = set()
        # Seconds a redraw of the migration rows took to reach the screen (smoothed): the next
        # redraw waits at least RENDER_SHARE times that, so drawing never takes more than about
        # half of the loop, and the streams are read on time.
        self._render_cost_s = 0.0
        self.inventory = Inventory()
        self.board = MigrationBoard()
        self.event_log = EventLog()
        self.actions = OperatorActions(self, client, self)
        self.feeds = Feeds(
            self,
            client,
            self.event_log,
            refresh_interval_s=refresh_interval_s,
            retry_delay_s=retry_delay_s,
        )
        self.feed_states = {feed: FeedState(FeedHealth.CONNECTING) for feed in Feed}
        self.sub_title = client.address
        # Called with seconds from a migration update's arrival to the screen showing it.
        self.render_lag_probe: Callable[[float], None] | None = None
        self._dirty_migrations: set[str] = set()
        self._oldest_unshown: float | None = None
        self._flush_pending = False
        self._pending_events: list[engine_pb2.Event] = []
        self._views: dict[str, View] = {}

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBar(self.client.address, id="connection")
        with TabbedContent(initial="networks", id="views"):
            with TabPane("1 Networks", id="networks"):
                yield NetworksView(id="networks-view")
            with TabPane("2 Hosts", id="hosts"):
                yield HostsView(id="hosts-view")
            with TabPane("3 VMs", id="vms"):
                yield VmsView(id="vms-view")
            with TabPane("4 Migrations", id="migrations"):
                yield MigrationsView(id="migrations-view")
            with TabPane("5 Events", id="events"):
                yield EventsView(id="events-view")
        yield ActionLine("", id="action-line")
        yield Footer()

    def on_mount(self) -> None:
        # Kept, not queried: messages still arriving while the App shuts down find them.
        self._views = {tab: self.query_one(f"#{tab}-view", View) for tab in TABS}
        self.connection_bar = self.query_one(ConnectionBar)
        self.action_line = self.query_one(ActionLine)
        self._tabs = self.query_one(TabbedContent)
        self.connection_bar.show_feeds(self.feed_states)
        self.networks_view.focus_table()
        self.feeds.start()

    async def on_unmount(self) -> None:
        await self.client.close()

    @property
    def networks_view(self) -> NetworksView:
        return self._views["networks"]  # type: ignore[return-value]

    @property
    def hosts_view(self) -> HostsView:
        return self._views["hosts"]  # type: ignore[return-value]

    @property
    def vms_view(self) -> VmsView:
        return self._views["vms"]  # type: ignore[return-value]

    @property
    def migrations_view(self) -> MigrationsView:
        return self._views["migrations"]  # type: ignore[return-value]

    @property
    def events_view(self) -> EventsView:
        return self._views["events"]  # type: ignore[return-value]

    def view(self, tab: str) -> View:
        return self._views[tab]

    def action_show_tab(self, tab: str) -> None:
        self._tabs.active = tab
        self.view(tab).focus_table()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id
        if tab in TABS:
            if tab in self._stale_views:
                self._stale_views.discard(tab)
                self.view(tab).refresh_view()
            self.view(tab).focus_table()

    def action_refresh(self) -> None:
        self.request_refresh()

    def request_refresh(self) -> None:
        self.feeds.request_refresh()

    # ------------------------------------------------------------ workers

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place for workers that died of an unexpected error: say so, restart feeds."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        self.action_line.report(False, f"internal error in {worker.description}: {worker.error!r}")
        feed = next((feed for feed in Feed if feed.value == worker.group), None)
        if feed is not None:
            self.set_timer(self.retry_delay_s, lambda: self.feeds.restart(feed))

    # ------------------------------------------------------------ messages → views

    def on_inventory_refreshed(self, message: InventoryRefreshed) -> None:
        if message.inventory == self.inventory:
            return
        self.inventory = message.inventory
        with self.batch_update():
            for tab in TABS:
                self.view(tab).refresh_view()

    def on_migrations_snapshot(self, message: MigrationsSnapshot) -> None:
        self.board.replace_all(message.migrations)
        with self.batch_update():
            self.migrations_view.refresh_view()
            self.vms_view.refresh_view()
        self.request_refresh()

    def on_migration_changed(self, message: MigrationChanged) -> None:
        """Applies one update to the board and schedules a redraw of its rows.

        Two coalescings, for two different floods: `MigrationChanged.can_replace` drops an
        update superseded by a newer one of the same migration still queued (it is never
        applied); the dirty set and the adaptive timer below collect the updates of *many*
        migrations into one redraw, at most every `redraw_interval_s` and never more often
        than drawing can keep up with (RENDER_SHARE).
        """
        update = message.migration
        previous = self.board.get(update.id)
        shown = self.board.apply(update)
        if previous is None or previous.phase != shown.phase:
            # Where the VM runs and the hosts' migration counts follow phase changes.
            self.request_refresh()
        self._dirty_migrations.add(shown.id)
        if message.received_at and (
            self._oldest_unshown is None or message.received_at < self._oldest_unshown
        ):
            self._oldest_unshown = message.received_at
        if not self._flush_pending:
            self._flush_pending = True
            interval = max(self.redraw_interval_s, RENDER_SHARE * self._render_cost_s)
            wait = self._last_flush + interval - time.monotonic()
            if wait > 0:
                self.set_timer(wait, self._flush_migrations)
            else:
                # Runs after the messages already queued: a burst is drawn in one go.
                self.call_later(self._flush_migrations)

    def _flush_migrations(self) -> None:
        self._flush_pending = False
        self._last_flush = time.monotonic()
        dirty, self._dirty_migrations = self._dirty_migrations, set()
        received, self._oldest_unshown = self._oldest_unshown, None
        with self.batch_update():
            # Only the view on screen redraws row by row; a hidden one is redrawn whole when
            # it is shown again (building rows nobody sees was most of the cost of a flood).
            active = self._tabs.active
            if active == "migrations":
                self.migrations_view.show(dirty)
            else:
                self._stale_views.add("migrations")
            if active == "vms":
                for migration_id in dirty:
                    migration = self.board.get(migration_id)
                    if migration is not None:
                        self.vms_view.show_migration_of(migration.vm_id)
            else:
                self._stale_views.add("vms")
        started = time.perf_counter()
        probe = self.render_lag_probe

        def drawn() -> None:
            now = time.perf_counter()
            self._render_cost_s = 0.7 * self._render_cost_s + 0.3 * (now - started)
            if probe is not None and received is not None:
                probe(now - received)

        self.call_after_refresh(drawn)

    def on_event_arrived(self, message: EventArrived) -> None:
        if not self.event_log.add(message.event):
            return
        if message.event.type in INVENTORY_EVENTS:
            self.request_refresh()
        self._pending_events.append(message.event)
        if len(self._pending_events) == 1:
            self.call_later(self._flush_events)

    def _flush_events(self) -> None:
        events, self._pending_events = self._pending_events, []
        self.events_view.add(events)

    def on_feed_health_changed(self, message: FeedHealthChanged) -> None:
        states = self.feed_states
        previous = states[message.feed]
        if previous == message.state:
            return
        was_lost = any(s.health is FeedHealth.LOST for s in states.values())
        states[message.feed] = message.state
        if (
            message.feed is Feed.INVENTORY
            and previous.health is FeedHealth.LOST
            and message.state.health is FeedHealth.LIVE
        ):
            # The engine answers again. A stream worker still lost may sit in a call made
            # while the engine was going down: start it afresh rather than wait it out.
            for stream in (Feed.MIGRATIONS, Feed.EVENTS):
                if states[stream].health is FeedHealth.LOST:
                    self.feeds.restart(stream)
        lost = any(s.health is FeedHealth.LOST for s in states.values())
        self.connection_bar.show_feeds(states)
        if lost != was_lost:
            self._tabs.set_class(lost, "-stale")
        if was_lost and not lost:
            self.request_refresh()
