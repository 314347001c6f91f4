"""The TUI's behaviour, driven by keys, against a real engine in-process with fake-driver
agents (`real_stack`). What the screen must say is taken from the engine's own answers."""

from __future__ import annotations

import asyncio
import re

import grpc
import pytest
from textual.command import CommandPalette

from miglane.tui import format as fmt
from miglane.tui.actions import ACTIONS_GROUP
from miglane.tui.client import EngineError
from miglane.tui.messages import MigrationChanged
from miglane.tui.views.migrations import MIGRATION_COLUMNS
from miglane.tui.views.vms import VM_COLUMNS
from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import BandwidthDialog, ConfirmDialog, PriorityDialog
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.tui.widgets.status import ActionLine, ConnectionBar
from miglane.v1 import common_pb2, engine_pb2

from .helpers import SIZE, confirm, make_app, screen_text, select_row, wait_for, wait_for_text
from .real_stack import RealEngine

RUNNING = common_pb2.MIGRATION_PHASE_RUNNING
CANCELLED = common_pb2.MIGRATION_PHASE_CANCELLED
CAP_COLUMN = [key for key, _ in MIGRATION_COLUMNS].index("cap")


def _action_line(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.query_one(ActionLine).render())


async def _running(engine: RealEngine, migration_id: str) -> None:
    async def running() -> bool:
        return (await engine.migration(migration_id)).phase == RUNNING

    await engine.wait_until(running, f"{migration_id} running")


async def _events(engine: RealEngine) -> list[engine_pb2.Event]:
    return list((await engine.stub.ListEvents(engine_pb2.ListEventsRequest())).events)


async def test_shows_the_inventory_and_connection(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"connected to {engine.address}")
        await wait_for_text(pilot, "⇄ migration")
        # host3's link on the migration network is down.
        assert "host3▼" in screen_text(app)
        await wait_for_text(pilot, "g Grant migration role")
        footer = screen_text(app).splitlines()[-1]
        assert "t Take migration role" in footer and "^p palette" in footer


async def test_grant_then_take_the_migration_role(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", engine.ids["prod/storage"])
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await wait_for_text(pilot, "from network migration.")
        await pilot.press("y")
        await wait_for_text(pilot, "Migration role granted to prod/storage (moved from migration)")
        assert await engine.role_holder("prod") == "storage"
        # The table follows, and the engine's event reaches the Events view.
        await wait_for(
            pilot,
            lambda: (
                "⇄ migration"
                in app.query_one("#networks-table").cells_of(engine.ids["prod/storage"])[4].plain
            ),
            what="role cell",
        )
        moved = (await _events(engine))[-1]
        assert moved.type == engine_pb2.EVENT_TYPE_ROLE_MOVED
        await pilot.press("5")
        await wait_for_text(pilot, moved.message)
        await pilot.press("1")
        await select_row(pilot, "networks-table", engine.ids["prod/storage"])
        await pilot.press("t")
        await confirm(pilot)
        await wait_for_text(pilot, "Migration role taken from prod/storage")
        assert await engine.role_holder("prod") == ""


async def test_saying_no_leaves_the_role_where_it_is(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", engine.ids["prod/storage"])
        await pilot.press("g")
        await confirm(pilot, "n")
        await wait_for(
            pilot,
            lambda: not any(w.group == ACTIONS_GROUP and w.is_running for w in app.workers),
            what="the workflow ended",
        )
        assert await engine.role_holder("prod") == "migration"
        assert _action_line(app) == ""


async def test_take_migration_role_then_migrations_fall_back(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", engine.ids["prod/migration"])
        await pilot.press("t")
        await confirm(pilot)
        await wait_for_text(pilot, "Migration role taken from prod/migration")
        assert await engine.role_holder("prod") == ""
        # web-2 dirties nothing: at the management budget it converges, so it starts.
        await pilot.press("3")
        await select_row(pilot, "vms-table", engine.ids["web-2"])
        await pilot.press("a")
        await pilot.press("4")
        await wait_for_text(
            pilot, fmt.fallback_label(common_pb2.FALLBACK_REASON_NO_MIGRATION_NETWORK)
        )


async def test_refusal_shows_the_engines_reason(engine: RealEngine) -> None:
    """The migration role cannot move while a VM of the cluster migrates."""
    await engine.slow_down()
    migration = await engine.migrate("web-1")
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", engine.ids["prod/storage"])
        await pilot.press("g")
        await confirm(pilot)
        await wait_for_text(pilot, "refused (FAILED_PRECONDITION)")
        assert app.query_one(ActionLine).has_class("-refused")
        # Word for word what the engine answers to the same request.
        with pytest.raises(grpc.aio.AioRpcError) as refusal:
            await engine.stub.SetNetworkRole(
                engine_pb2.SetNetworkRoleRequest(
                    network_id=engine.ids["prod/storage"], role=common_pb2.NETWORK_ROLE_MIGRATION
                )
            )
        assert refusal.value.details() in _action_line(app)
        assert f"VM web-1 (migration {migration.id}" in _action_line(app)
        assert await engine.role_holder("prod") == "migration"


async def test_progress_never_goes_backwards_on_screen(engine: RealEngine) -> None:
    await engine.slow_down()
    # A guest that dirties nothing converges even at the crawl (a hot one would wait).
    migration = await engine.migrate("cache-1")
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: migration.id in app.board and app.board.get(migration.id).progress_percent > 1,
            what="progress shown",
        )
        high = app.board.get(migration.id).progress_percent
        # An update older than what is shown, as a reconnect's snapshot can bring.
        stale = engine_pb2.Migration()
        stale.CopyFrom(app.board.get(migration.id))
        stale.progress_percent = 0
        stale.iteration = 4242  # tells when the stale update has been taken
        app.post_message(MigrationChanged(stale))
        await wait_for(
            pilot,
            lambda: app.board.get(migration.id).iteration == 4242,
            what="stale update applied",
        )
        assert app.board.get(migration.id).progress_percent >= high
        await pilot.press("4")

        def shown_percent() -> int:
            cells = app.query_one("#migrations-table", KeyedTable).cells_of(migration.id)
            found = re.search(r"(\d+)%", cells[4].plain) if cells else None
            return int(found.group(1)) if found else -1

        # The migration goes on meanwhile: what is shown is at least what was shown before.
        await wait_for(pilot, lambda: shown_percent() >= 0, what="the migration's row")
        assert shown_percent() >= high


async def test_chooser_lists_why_hosts_cannot_or_would_fall_back(engine: RealEngine) -> None:
    answer = await engine.stub.ListMigrationCandidates(
        engine_pb2.ListMigrationCandidatesRequest(vm_id=engine.ids["web-2"])
    )
    candidates = {c.host_name: c for c in answer.candidates}
    # web-2 dirties nothing, so the fallback to host3 (management budget) converges and starts.
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await select_row(pilot, "vms-table", engine.ids["web-2"])
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateChooser), what="chooser")
        table = app.screen.query_one("#candidates", KeyedTable)
        await wait_for(pilot, lambda: engine.ids["host4"] in table.keys, what="candidates")
        # Each host's row says what the engine says of it.
        for name in ("host1", "host4"):
            why = table.cells_of(engine.ids[name])[3].plain
            assert candidates[name].rejections and all(
                r in why for r in candidates[name].rejections
            )
        assert candidates["host3"].fallback_detail
        assert candidates["host3"].fallback_detail in table.cells_of(engine.ids["host3"])[3].plain
        # A host that cannot take the VM is refused in the chooser, with the reason.
        table.select(engine.ids["host4"])
        await pilot.press("enter")
        await wait_for_text(pilot, "host4 cannot take web-2")
        assert isinstance(app.screen, CandidateChooser)
        # host3 is allowed and falls back to management: the migration shows it.
        table.select(engine.ids["host3"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.board) == 1, what="migration")
        await pilot.press("4")
        label = fmt.fallback_label(common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN)
        await wait_for_text(pilot, f"⚠ ovirtmgmt {label}")
        await wait_for_text(pilot, "FALLBACK to ovirtmgmt")
        migration = next(iter(app.board))
        assert migration.destination_host_id == engine.ids["host3"] and not migration.automatic


async def test_cancel_keeps_the_vm_on_its_source(engine: RealEngine) -> None:
    await engine.slow_down()
    migration = await engine.migrate("web-2")
    await _running(engine, migration.id)
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await select_row(pilot, "migrations-table", migration.id)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await wait_for_text(pilot, "keeps running on host1")
        await pilot.press("y")
        await wait_for_text(pilot, "Migration of web-2 cancelled; it stays on host1")
        assert (await engine.migration(migration.id)).phase == CANCELLED
        await wait_for(
            pilot, lambda: app.board.get(migration.id).phase == CANCELLED, what="cancelled"
        )
        assert (await engine.vm("web-2")).host_id == engine.ids["host1"]
        # Nothing left to cancel: the binding is disabled.
        assert app.migrations_view.check_action("cancel_migration", ()) is None


async def test_change_bandwidth_of_a_running_migration(engine: RealEngine) -> None:
    await engine.slow_down()
    # A guest that dirties nothing converges even at the crawl (a hot one would wait).
    migration = await engine.migrate("cache-1")
    await _running(engine, migration.id)
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await select_row(pilot, "migrations-table", migration.id)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BandwidthDialog), what="dialog")
        app.screen.query_one("Input").value = "abc"  # not a number: refused by the dialog
        await pilot.press("enter")
        await wait_for_text(pilot, "Enter a whole number of MiB/s, 0 or more.")
        assert isinstance(app.screen, BandwidthDialog)
        app.screen.query_one("Input").value = "40"
        await pilot.press("enter")
        await wait_for_text(pilot, "Migration of cache-1 capped at 40 MiB/s")
        assert (await engine.migration(migration.id)).max_bandwidth_mib_per_second == 40
        await wait_for(
            pilot,
            lambda: (
                app.query_one("#migrations-table").cells_of(migration.id)[CAP_COLUMN].plain
                == "40 MiB/s"
            ),
            what="cap cell",
        )


async def test_host_maintenance_on_and_off(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await select_row(pilot, "hosts-table", engine.ids["host2"])
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await wait_for_text(pilot, "(cache-1)")
        await pilot.press("y")
        await wait_for_text(pilot, "Host host2 evacuating: 1 migration(s) started")
        status = fmt.host_status(engine_pb2.HOST_STATUS_MAINTENANCE).plain
        await wait_for(
            pilot,
            lambda: app.query_one("#hosts-table").cells_of(engine.ids["host2"])[2].plain == status,
            what="maintenance shown",
        )
        assert (await engine.vm("cache-1")).host_id != engine.ids["host2"]
        await pilot.press("u")
        await wait_for_text(pilot, "Host host2 is back in service")
        up = fmt.host_status(engine_pb2.HOST_STATUS_UP).plain
        await wait_for(
            pilot,
            lambda: app.query_one("#hosts-table").cells_of(engine.ids["host2"])[2].plain == up,
            what="up again",
        )


async def test_evacuation_that_cannot_place_a_vm_says_why(engine: RealEngine) -> None:
    for name in ("host2", "host3"):
        host = engine.agents[name].host
        host.memory_mib = sum(d.memory_mib for d in host.domains.values())

    async def full() -> bool:
        return [(await engine.host(name)).free_memory_mib for name in ("host2", "host3")] == [0, 0]

    await engine.wait_until(full, "host2 and host3 reported full")
    answer = await engine.stub.ListMigrationCandidates(
        engine_pb2.ListMigrationCandidatesRequest(vm_id=engine.ids["web-1"])
    )
    full_host = next(c for c in answer.candidates if c.host_name == "host2")
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await select_row(pilot, "hosts-table", engine.ids["host1"])
        await pilot.press("m")
        await confirm(pilot)
        await wait_for_text(pilot, "3 VM(s) cannot leave")
        # The engine's reason for a full host, as its candidate list gives it.
        assert any(r in _action_line(app) for r in full_host.rejections), full_host.rejections
        # The host stays evacuating, its VMs left shown where its status is.
        await wait_for(
            pilot,
            lambda: (
                app.query_one("#hosts-table").cells_of(engine.ids["host1"])[2].plain
                == "evacuating · 3 VMs left"
            ),
            what="evacuation shown",
        )


async def test_engine_restart_shows_reconnecting_then_recovers(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"connected to {engine.address}")
        await engine.stop()
        await wait_for_text(pilot, f"RECONNECTING to {engine.address}")
        assert app.query_one(ConnectionBar).has_class("-lost")
        assert "cannot reach the engine" in screen_text(app)
        await engine.restart()
        # A migration started while the TUI was away shows once it is back.
        migration = await engine.migrate("web-1")
        await wait_for_text(pilot, f"connected to {engine.address}")
        await wait_for(pilot, lambda: migration.id in app.board, what="migration after restart")
        assert not app.query_one(ConnectionBar).has_class("-lost")
        # Still usable after the restart: once the migration is over, a role change goes
        # through (the migration may complete before the cancel arrives).
        await engine.cancel_or_let_end(migration.id)
        await select_row(pilot, "networks-table", engine.ids["prod/storage"])
        await pilot.press("g")
        await confirm(pilot)
        await wait_for_text(pilot, "Migration role granted to prod/storage")


async def test_actions_while_the_engine_is_away_say_so(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await select_row(pilot, "vms-table", engine.ids["web-1"])
        await engine.stop()
        await pilot.press("a")
        await wait_for_text(pilot, "Migrating web-1 to a host the engine chooses failed")
        assert "cannot reach the engine" in _action_line(app)
        await engine.restart()


async def test_command_palette_runs_an_action(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inventory.vms, what="inventory")
        await pilot.press("ctrl+p")
        # Typed before the palette is up, the keys would go to the App's own bindings.
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"cache-1 auto")
        await wait_for_text(pilot, "Migrate VM cache-1 automatically")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.board) == 1, what="migration started")
        migrations = (
            await engine.stub.ListMigrations(engine_pb2.ListMigrationsRequest())
        ).migrations
        assert [m.vm_name for m in migrations] == ["cache-1"]


async def test_events_stream_into_the_events_view(engine: RealEngine) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        past = await _events(engine)
        await wait_for_text(pilot, past[-1].message)
        await engine.migrate("batch-1")

        async def fell_back() -> bool:
            return any(
                e.type == engine_pb2.EVENT_TYPE_MIGRATION_FELL_BACK for e in await _events(engine)
            )

        await engine.wait_until(fell_back, "the fallback event")
        events = await _events(engine)
        fallback = next(e for e in events if e.type == engine_pb2.EVENT_TYPE_MIGRATION_FELL_BACK)
        await wait_for(
            pilot,
            lambda: any(e.message == fallback.message for e in app.event_log.events),
            what="the fallback event",
        )
        await wait_for(
            pilot,
            lambda: app.event_log.last_sequence >= events[-1].sequence,
            what="every event",
        )


async def test_a_broken_list_call_is_reported_and_retried(engine: RealEngine) -> None:
    client = engine.client()
    calls = 0
    real = client.list_clusters
    reported = asyncio.Event()

    async def flaky():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise EngineError("INTERNAL", "boom")
        await reported.wait()  # the retry answers once the test has seen the report
        return await real()

    client.list_clusters = flaky  # type: ignore[method-assign]
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "INTERNAL: boom")
        reported.set()
        await wait_for_text(pilot, f"connected to {engine.address}")
        assert calls >= 2


async def test_a_feed_that_dies_of_an_unexpected_error_is_restarted(engine: RealEngine) -> None:
    client = engine.client()
    real = client.list_clusters
    calls = 0

    async def broken_once():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug")
        return await real()

    client.list_clusters = broken_once  # type: ignore[method-assign]
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "internal error in inventory: RuntimeError('bug')")
        await wait_for_text(pilot, f"connected to {engine.address}")
        assert calls >= 2


async def test_set_a_vms_migration_priority(engine: RealEngine) -> None:
    """The VMs view shows each VM's priority; p asks for a new one and the engine keeps it."""
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await select_row(pilot, "vms-table", engine.ids["web-2"])
        table = app.query_one("#vms-table", KeyedTable)
        column = [key for key, _ in VM_COLUMNS].index("priority")
        assert table.cells_of(engine.ids["web-2"])[column].plain == "normal"
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PriorityDialog), what="dialog")
        await pilot.press("h")
        await wait_for_text(pilot, "Migration priority of web-2: high")
        assert (await engine.vm("web-2")).migration_priority == engine_pb2.MIGRATION_PRIORITY_HIGH
        await wait_for(
            pilot,
            lambda: table.cells_of(engine.ids["web-2"])[column].plain == "high",
            what="priority cell",
        )
        changed = (await _events(engine))[-1]
        assert changed.type == engine_pb2.EVENT_TYPE_VM_PRIORITY_CHANGED
        # Escape leaves it as it is.
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PriorityDialog), what="dialog")
        await pilot.press("escape")
        assert (await engine.vm("web-2")).migration_priority == engine_pb2.MIGRATION_PRIORITY_HIGH
