"""The operator's TUI: the engine client is injected; workers feed typed messages to the views."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from miglane.tui.client import EngineClient, EngineError
from miglane.tui.commands import MiglaneCommands
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
from miglane.tui.models import (
    EVENT_HISTORY,
    MANAGEMENT,
    MIGRATION,
    EventLog,
    Inventory,
    MigrationBoard,
)
from miglane.tui.views import EventsView, HostsView, MigrationsView, NetworksView, VmsView
from miglane.tui.views.base import View
from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import BandwidthDialog, ConfirmDialog
from miglane.tui.widgets.status import ActionLine, ConnectionBar
from miglane.v1 import engine_pb2

RENDER_SHARE = 4
TABS = ("networks", "hosts", "vms", "migrations", "events")
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

    The engine client is given, not made here: tests pass a `FakeEngineClient`, the
    command line a `GrpcEngineClient`.
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
        unsupported_retry_s: float = 15.0,
        redraw_interval_s: float = 0.2,
    ) -> None:
        super().__init__()
        self.client = client
        self.refresh_interval_s = refresh_interval_s
        self.retry_delay_s = retry_delay_s
        self.unsupported_retry_s = unsupported_retry_s
        # Migration rows are redrawn at most this often: under a flood of updates each redraw
        # then carries many, and the screen's cost stays flat however fast the engine sends.
        self.redraw_interval_s = redraw_interval_s
        self._last_flush = 0.0
        # Seconds a redraw of the migration rows took to reach the screen (smoothed): the next
        # redraw waits at least RENDER_SHARE times that, so drawing never takes more than about
        # a quarter of the loop, and the streams are read on time.
        self._render_cost_s = 0.0
        self.inventory = Inventory()
        self.board = MigrationBoard()
        self.event_log = EventLog()
        self.feeds = {feed: FeedState(FeedHealth.CONNECTING) for feed in Feed}
        self.sub_title = client.address
        # Called with seconds from a migration update's arrival to the screen showing it.
        self.render_lag_probe: Callable[[float], None] | None = None
        self._refresh_now: asyncio.Event | None = None
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
        self._refresh_now = asyncio.Event()
        self.connection_bar.show_feeds(self.feeds)
        self.migrations_view.set_notice("")
        self.networks_view.focus_table()
        self.watch_inventory()
        self.watch_migrations()
        self.watch_events()

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
        if event.pane.id in TABS:
            self.view(event.pane.id).focus_table()

    def action_refresh(self) -> None:
        self.request_refresh()

    def request_refresh(self) -> None:
        if self._refresh_now is not None:
            self._refresh_now.set()

    # ------------------------------------------------------------ feeds (workers)

    @work(exclusive=True, group="inventory", exit_on_error=False, description="inventory")
    async def watch_inventory(self) -> None:
        """Lists the inventory every `refresh_interval_s`, and at once when asked to."""
        assert self._refresh_now is not None
        client = self.client
        while True:
            self._refresh_now.clear()
            try:
                clusters, networks, hosts, vms = await asyncio.gather(
                    client.list_clusters(),
                    client.list_networks(),
                    client.list_hosts(),
                    client.list_vms(),
                )
            except EngineError as error:
                self.post_message(FeedHealthChanged(Feed.INVENTORY, _health(error), str(error)))
                delay = self.retry_delay_s
            else:
                self.post_message(InventoryRefreshed(Inventory.of(clusters, networks, hosts, vms)))
                self.post_message(FeedHealthChanged(Feed.INVENTORY, FeedHealth.LIVE))
                delay = self.refresh_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), delay)

    @work(exclusive=True, group="migrations", exit_on_error=False, description="WatchMigrations")
    async def watch_migrations(self) -> None:
        """The migrations stream: a snapshot, then one message per change; resubscribes."""
        while True:
            snapshot: list[engine_pb2.Migration] = []
            live = False
            try:
                async for response in self.client.watch_migrations(include_finished=True):
                    if live:
                        self.post_message(MigrationChanged(response.migration, time.perf_counter()))
                        continue
                    if response.HasField("migration"):
                        snapshot.append(response.migration)
                    if response.snapshot_complete:
                        live = True
                        self.post_message(MigrationsSnapshot(snapshot))
                        self.post_message(FeedHealthChanged(Feed.MIGRATIONS, FeedHealth.LIVE))
                error = EngineError(
                    "UNAVAILABLE", "the migrations stream ended", self.client.address
                )
            except EngineError as failure:
                error = failure
            self.post_message(FeedHealthChanged(Feed.MIGRATIONS, _health(error), str(error)))
            await asyncio.sleep(
                self.unsupported_retry_s if error.is_unimplemented else self.retry_delay_s
            )

    @work(exclusive=True, group="events", exit_on_error=False, description="WatchEvents")
    async def watch_events(self) -> None:
        """Past events once, then the events stream, resuming after the last one seen."""
        while True:
            try:
                after = self.event_log.last_sequence
                history = await self.client.list_events(after_sequence=after)
                for event in history[-EVENT_HISTORY:]:
                    self.post_message(EventArrived(event))
                if history:
                    after = max(after, history[-1].sequence)
                self.post_message(FeedHealthChanged(Feed.EVENTS, FeedHealth.LIVE))
                async for event in self.client.watch_events(after_sequence=after):
                    self.post_message(EventArrived(event))
                error = EngineError("UNAVAILABLE", "the events stream ended", self.client.address)
            except EngineError as failure:
                error = failure
            self.post_message(FeedHealthChanged(Feed.EVENTS, _health(error), str(error)))
            await asyncio.sleep(
                self.unsupported_retry_s if error.is_unimplemented else self.retry_delay_s
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place for workers that died of an unexpected error: say so, restart feeds."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        self.action_line.report(False, f"internal error in {worker.description}: {worker.error!r}")
        restart = {
            "inventory": self.watch_inventory,
            "migrations": self.watch_migrations,
            "events": self.watch_events,
        }.get(worker.group)
        if restart is not None:
            self.set_timer(self.retry_delay_s, restart)

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
            self.migrations_view.show(dirty)
            for migration_id in dirty:
                migration = self.board.get(migration_id)
                if migration is not None:
                    self.vms_view.show_migration_of(migration.vm_id)
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
        previous = self.feeds[message.feed]
        if previous == message.state:
            return
        was_lost = any(s.health is FeedHealth.LOST for s in self.feeds.values())
        self.feeds[message.feed] = message.state
        if (
            message.feed is Feed.INVENTORY
            and previous.health is FeedHealth.LOST
            and message.state.health is FeedHealth.LIVE
        ):
            # The engine answers again. A stream worker still lost may sit in a call made
            # while the engine was going down: start it afresh rather than wait it out.
            if self.feeds[Feed.MIGRATIONS].health is FeedHealth.LOST:
                self.watch_migrations()
            if self.feeds[Feed.EVENTS].health is FeedHealth.LOST:
                self.watch_events()
        lost = any(s.health is FeedHealth.LOST for s in self.feeds.values())
        self.connection_bar.show_feeds(self.feeds)
        if lost != was_lost:
            self._tabs.set_class(lost, "-stale")
        if message.feed is Feed.MIGRATIONS:
            self.migrations_view.set_notice(
                "This engine does not stream migrations yet "
                f"({message.state.detail}); retrying every {self.unsupported_retry_s:.0f}s."
                if message.state.health is FeedHealth.UNSUPPORTED
                else ""
            )
        if was_lost and not lost:
            self.request_refresh()

    # ------------------------------------------------------------ operator actions

    def report_done(self, text: str) -> None:
        self.action_line.report(True, text)
        self.notify(text, title="Done", timeout=4)

    def report_refused(self, what: str, error: EngineError) -> None:
        if error.is_connection_problem or error.is_unimplemented:
            text = f"{what} failed: {error}"
        else:
            text = f"{what} refused ({error.code}): {error.detail}"
        self.action_line.report(False, text)
        self.notify(text, title="Refused", severity="error", timeout=10)

    @work(group="actions", exit_on_error=False, description="grant the migration role")
    async def grant_migration_role(self, network_id: str) -> None:
        inventory = self.inventory
        network = inventory.networks.get(network_id)
        if network is None:
            return
        cluster = inventory.cluster_name(network.cluster_id)
        holder = inventory.role_holder(network.cluster_id, MIGRATION)
        moves = f" It moves from network {holder.name}." if holder else ""
        body = (
            f"Grant the migration role to network {network.name} ({network.subnet}) of cluster "
            f"{cluster}?{moves}\nNew migrations of {cluster} will carry their memory over "
            f"{network.name} wherever both hosts have a live link on it."
        )
        if not await self.push_screen_wait(
            ConfirmDialog("Grant the migration role", body, "Grant")
        ):
            return
        what = f"Granting the migration role to {cluster}/{network.name}"
        try:
            response = await self.client.set_network_role(network.id, MIGRATION)
        except EngineError as error:
            self.report_refused(what, error)
            return
        previous = response.previous_network_id
        moved = f" (moved from {inventory.network_name(previous)})" if previous else ""
        self.report_done(f"Migration role granted to {cluster}/{network.name}{moved}")
        self.request_refresh()

    @work(group="actions", exit_on_error=False, description="take the migration role")
    async def take_migration_role(self, network_id: str) -> None:
        inventory = self.inventory
        network = inventory.networks.get(network_id)
        if network is None:
            return
        cluster = inventory.cluster_name(network.cluster_id)
        management = inventory.role_holder(network.cluster_id, MANAGEMENT)
        body = (
            f"Take the migration role from network {network.name} of cluster {cluster}?\n"
            f"Migrations of {cluster} will then use the management network"
            f"{' ' + management.name if management else ''}."
        )
        if not await self.push_screen_wait(ConfirmDialog("Take the migration role", body, "Take")):
            return
        what = f"Taking the migration role from {cluster}/{network.name}"
        try:
            await self.client.unset_network_role(network.id, MIGRATION)
        except EngineError as error:
            self.report_refused(what, error)
            return
        self.report_done(f"Migration role taken from {cluster}/{network.name}")
        self.request_refresh()

    @work(group="actions", exit_on_error=False, description="migrate a VM")
    async def migrate_vm(self, vm_id: str, choose: bool) -> None:
        inventory = self.inventory
        vm = inventory.vms.get(vm_id)
        if vm is None:
            return
        destination = ""
        if choose:
            try:
                candidates = await self.client.list_migration_candidates(vm.id)
            except EngineError as error:
                self.report_refused(f"Listing destinations for {vm.name}", error)
                return
            chosen = await self.push_screen_wait(
                CandidateChooser(
                    vm.name, inventory.host_name(vm.host_id), candidates, inventory.network_name
                )
            )
            if chosen is None:
                return
            destination = chosen
        where = inventory.host_name(destination) if destination else "a host the engine chooses"
        try:
            migration = await self.client.migrate_vm(vm.id, destination)
        except EngineError as error:
            self.report_refused(f"Migrating {vm.name} to {where}", error)
            return
        self.post_message(MigrationChanged(migration))
        target = inventory.host_name(migration.destination_host_id)
        how = "automatic" if migration.automatic else "chosen"
        self.report_done(f"Migration of {vm.name} to {target} ({how}) started")

    @work(group="actions", exit_on_error=False, description="cancel a migration")
    async def cancel_migration(self, migration_id: str) -> None:
        migration = self.board.get(migration_id)
        if migration is None:
            return
        vm_name = migration.vm_name or self.inventory.vm_name(migration.vm_id)
        source = self.inventory.host_name(migration.source_host_id)
        body = (
            f"Cancel the migration of {vm_name} "
            f"({migration.progress_percent}% copied)?\nThe VM keeps running on {source}."
        )
        if not await self.push_screen_wait(
            ConfirmDialog("Cancel the migration", body, "Cancel it")
        ):
            return
        try:
            cancelled = await self.client.cancel_migration(migration_id)
        except EngineError as error:
            self.report_refused(f"Cancelling the migration of {vm_name}", error)
            return
        self.post_message(MigrationChanged(cancelled))
        self.report_done(f"Migration of {vm_name} cancelled; it stays on {source}")

    @work(group="actions", exit_on_error=False, description="change a migration's bandwidth")
    async def change_bandwidth(self, migration_id: str) -> None:
        migration = self.board.get(migration_id)
        if migration is None:
            return
        vm_name = migration.vm_name or self.inventory.vm_name(migration.vm_id)
        mibps = await self.push_screen_wait(
            BandwidthDialog(
                f"Bandwidth of {vm_name}'s migration", migration.max_bandwidth_mib_per_second
            )
        )
        if mibps is None:
            return
        try:
            changed = await self.client.set_migration_bandwidth(migration_id, mibps)
        except EngineError as error:
            self.report_refused(f"Changing the bandwidth of {vm_name}'s migration", error)
            return
        self.post_message(MigrationChanged(changed))
        cap = f"capped at {mibps} MiB/s" if mibps else "no longer capped"
        self.report_done(f"Migration of {vm_name} {cap}")

    @work(group="actions", exit_on_error=False, description="host maintenance")
    async def set_maintenance(self, host_id: str, enabled: bool) -> None:
        inventory = self.inventory
        host = inventory.hosts.get(host_id)
        if host is None:
            return
        if enabled:
            vms = sorted(v.name for v in inventory.vms.values() if v.host_id == host.id)
            listed = f" ({', '.join(vms)})" if vms else ""
            body = (
                f"Put host {host.name} in maintenance?\nIts {len(vms)} VM(s){listed} will be "
                "migrated away automatically, then the host is held out of service."
            )
            if not await self.push_screen_wait(ConfirmDialog("Host maintenance", body, "Evacuate")):
                return
        what = f"{'Starting' if enabled else 'Ending'} maintenance of {host.name}"
        try:
            response = await self.client.set_host_maintenance(host.id, enabled)
        except EngineError as error:
            self.report_refused(what, error)
            return
        for migration in response.migrations:
            self.post_message(MigrationChanged(migration))
        self.request_refresh()
        if not enabled:
            self.report_done(f"Host {host.name} is back in service")
        elif response.unplaced:
            unplaced = "; ".join(f"{u.vm_name}: {u.reason}" for u in response.unplaced)
            text = (
                f"Host {host.name} evacuating: {len(response.migrations)} migration(s) started; "
                f"{len(response.unplaced)} VM(s) cannot leave: {unplaced}"
            )
            self.action_line.report(False, text)
            self.notify(text, title="Evacuation incomplete", severity="warning", timeout=10)
        else:
            self.report_done(
                f"Host {host.name} evacuating: {len(response.migrations)} migration(s) started"
            )


def _health(error: EngineError) -> FeedHealth:
    return FeedHealth.UNSUPPORTED if error.is_unimplemented else FeedHealth.LOST
