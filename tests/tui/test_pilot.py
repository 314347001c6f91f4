"""The TUI's behaviour, driven by keys, against the in-memory engine."""

from __future__ import annotations

import asyncio

from textual.command import CommandPalette

from miglane.tui.client import EngineError
from miglane.tui.models import MIGRATION
from miglane.tui.testing import FakeEngineClient
from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import BandwidthDialog, ConfirmDialog
from miglane.tui.widgets.status import ActionLine, ConnectionBar
from miglane.v1 import common_pb2

from .helpers import SIZE, confirm, make_app, screen_text, select_row, wait_for, wait_for_text


def _holder(fake: FakeEngineClient, cluster: str) -> str:
    names = [
        n.name
        for n in fake.networks.values()
        if n.cluster_id == f"cluster-{cluster}" and MIGRATION in n.roles
    ]
    return names[0] if names else ""


async def test_shows_the_inventory_and_connection(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "connected to fake://demo")
        await wait_for_text(pilot, "⇄ migration")
        text = screen_text(app)
        assert "host3▼" in text
        await wait_for_text(pilot, "g Grant migration role")
        footer = screen_text(app).splitlines()[-1]
        assert "t Take migration role" in footer and "^p palette" in footer


async def test_grant_migration_role_after_confirming(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", "net-prod-storage")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await wait_for_text(pilot, "from network migration.")
        await pilot.press("y")
        await wait_for(pilot, lambda: _holder(fake, "prod") == "storage", what="role moved")
        await wait_for_text(pilot, "Migration role granted to prod/storage (moved from migration)")
        # The table follows: the role is now shown on storage.
        await wait_for(
            pilot,
            lambda: (
                "⇄ migration"
                in app.query_one("#networks-table").cells_of("net-prod-storage")[4].plain
            ),
            what="role cell",
        )


async def test_saying_no_leaves_the_role_where_it_is(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", "net-prod-storage")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="closed")
        assert _holder(fake, "prod") == "migration"
        assert "SetNetworkRole" not in fake.calls


async def test_take_migration_role_then_migrations_fall_back(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", "net-prod-migration")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: _holder(fake, "prod") == "", what="role taken")
        await wait_for_text(pilot, "Migration role taken from prod/migration")
        await pilot.press("3")
        await select_row(pilot, "vms-table", "vm-web-1")
        await pilot.press("a")
        await pilot.press("4")
        await wait_for_text(pilot, "no migration network")


async def test_refusal_shows_the_engines_reason(fake: FakeEngineClient) -> None:
    """The migration role cannot move while a VM of the cluster migrates."""
    await fake.migrate_vm("vm-web-1")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "networks-table", "net-prod-storage")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await pilot.press("y")
        await wait_for_text(pilot, "refused (FAILED_PRECONDITION)")
        line = app.query_one(ActionLine)
        assert line.has_class("-refused")
        assert "1 migration(s) in progress (web-1)" in screen_text(app)
        assert _holder(fake, "prod") == "migration"


async def test_progress_never_goes_backwards_on_screen(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        migration = await fake.migrate_vm("vm-db-1")
        await fake.tick(1)
        await fake.tick(20)
        await wait_for(
            pilot,
            lambda: migration.id in app.board and app.board.get(migration.id).progress_percent > 20,
        )
        high = app.board.get(migration.id).progress_percent
        stale = fake.migrations[migration.id].__class__()
        stale.CopyFrom(fake.migrations[migration.id])
        stale.progress_percent = 3
        stale.iteration = 4242  # tells when the stale update has been taken
        fake.put_migration(stale)
        await wait_for(
            pilot,
            lambda: app.board.get(migration.id).iteration == 4242,
            what="stale update applied",
        )
        assert app.board.get(migration.id).progress_percent == high
        await pilot.press("4")
        cells = app.query_one("#migrations-table").cells_of(migration.id)
        assert f"{high:3d}%" in cells[4].plain


async def test_chooser_lists_why_hosts_cannot_or_would_fall_back(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await select_row(pilot, "vms-table", "vm-web-1")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateChooser), what="chooser")
        await wait_for_text(pilot, "the VM runs on it")
        text = screen_text(app)
        assert "host is non-operational: required network 'storage' is missing" in text
        assert "falls back: destination host3's eth1 on network 'migration' is down" in text
        # A host that cannot take the VM is refused in the chooser, with the reason.
        chooser = app.screen
        table = chooser.query_one("#candidates")
        table.select("host-host4")
        await pilot.press("enter")
        await wait_for_text(pilot, "host4 cannot take web-1")
        assert isinstance(app.screen, CandidateChooser)
        # host3 is allowed and falls back to management: the migration shows it.
        table.select("host-host3")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.board) == 1, what="migration")
        await pilot.press("4")
        await wait_for_text(pilot, "⚠ ovirtmgmt destination link down")
        await wait_for_text(pilot, "FALLBACK to ovirtmgmt")
        migration = next(iter(app.board))
        assert migration.destination_host_id == "host-host3" and not migration.automatic


async def test_cancel_keeps_the_vm_on_its_source(fake: FakeEngineClient) -> None:
    migration = await fake.migrate_vm("vm-web-2")
    await fake.tick(1)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await select_row(pilot, "migrations-table", migration.id)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await wait_for_text(pilot, "keeps running on host1")
        await pilot.press("y")
        await wait_for_text(pilot, "Migration of web-2 cancelled; it stays on host1")
        assert fake.migrations[migration.id].phase == common_pb2.MIGRATION_PHASE_CANCELLED
        await wait_for(
            pilot,
            lambda: app.board.get(migration.id).phase == common_pb2.MIGRATION_PHASE_CANCELLED,
        )
        assert fake.vms["vm-web-2"].host_id == "host-host1"
        # Nothing left to cancel: the binding is disabled.
        assert app.migrations_view.check_action("cancel_migration", ()) is None


async def test_change_bandwidth_of_a_running_migration(fake: FakeEngineClient) -> None:
    migration = await fake.migrate_vm("vm-db-1")
    await fake.tick(1)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await select_row(pilot, "migrations-table", migration.id)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BandwidthDialog), what="dialog")
        await pilot.press("ctrl+a", *"x", "backspace")  # not a number: refused by the dialog
        app.screen.query_one("Input").value = "abc"
        await pilot.press("enter")
        await wait_for_text(pilot, "Enter a whole number of MiB/s, 0 or more.")
        assert isinstance(app.screen, BandwidthDialog)
        app.screen.query_one("Input").value = "40"
        await pilot.press("enter")
        await wait_for_text(pilot, "Migration of db-1 capped at 40 MiB/s")
        assert fake.migrations[migration.id].max_bandwidth_mibps == 40
        await wait_for(
            pilot,
            lambda: (
                app.query_one("#migrations-table").cells_of(migration.id)[10].plain == "40 MiB/s"
            ),
            what="cap cell",
        )


async def test_host_maintenance_on_and_off(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await select_row(pilot, "hosts-table", "host-host2")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await wait_for_text(pilot, "(cache-1)")
        await pilot.press("y")
        await wait_for_text(pilot, "Host host2 evacuating: 1 migration(s) started")
        for _ in range(5):
            await fake.tick(5)
        await wait_for(
            pilot,
            lambda: "maintenance" in app.query_one("#hosts-table").cells_of("host-host2")[2].plain,
            what="maintenance shown",
        )
        assert fake.vms["vm-cache-1"].host_id != "host-host2"
        await pilot.press("u")
        await wait_for_text(pilot, "Host host2 is back in service")
        await wait_for(
            pilot,
            lambda: app.query_one("#hosts-table").cells_of("host-host2")[2].plain == "up",
            what="up again",
        )


async def test_evacuation_that_cannot_place_a_vm_says_why(fake: FakeEngineClient) -> None:
    for host in ("host-host2", "host-host3"):
        fake.hosts[host].free_memory_mib = 0
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await select_row(pilot, "hosts-table", "host-host1")
        await pilot.press("m")
        await confirm(pilot)
        await wait_for_text(pilot, "3 VM(s) cannot leave")
        assert "needs 2048 MiB, 0 MiB free" in screen_text(app)


async def test_lost_engine_shows_reconnecting_and_recovers(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "connected to fake://demo")
        fake.disconnect()
        await wait_for_text(pilot, "RECONNECTING to fake://demo")
        bar = app.query_one(ConnectionBar)
        assert bar.has_class("-lost")
        assert "failed to connect to all addresses" in screen_text(app)
        # While it is away, a migration is started elsewhere; coming back shows it.
        fake.reconnect()
        migration = await fake.migrate_vm("vm-web-1")
        fake.disconnect()
        fake.reconnect()
        await wait_for_text(pilot, "connected to fake://demo")
        await wait_for(pilot, lambda: migration.id in app.board, what="migration after reconnect")
        assert not bar.has_class("-lost")


async def test_actions_while_the_engine_is_away_say_so(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await select_row(pilot, "vms-table", "vm-web-1")
        fake.disconnect()
        await pilot.press("a")
        await wait_for_text(pilot, "Migrating web-1 to a host the engine chooses failed")
        assert "cannot reach the engine" in screen_text(app)


async def test_command_palette_runs_an_action(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inventory.vms, what="inventory")
        await pilot.press("ctrl+p")
        # Typed before the palette is up, the keys would go to the App's own bindings.
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"cache-1 auto")
        await wait_for_text(pilot, "Migrate VM cache-1 automatically")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(fake.migrations) == 1, what="migration started")
        assert next(iter(fake.migrations.values())).vm_name == "cache-1"


async def test_events_stream_into_the_events_view(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await wait_for_text(pilot, "migration role granted to network 'migration'")
        await fake.migrate_vm("vm-batch-1")
        await wait_for_text(pilot, "uses the management network: source host3's eth1")
        assert app.event_log.last_sequence == len(fake.events)


async def test_a_broken_stream_call_is_reported_and_retried(fake: FakeEngineClient) -> None:
    calls = 0
    real = fake.list_clusters
    reported = asyncio.Event()

    async def flaky():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise EngineError("INTERNAL", "boom")
        await reported.wait()  # the retry answers once the test has seen the report
        return await real()

    fake.list_clusters = flaky  # type: ignore[method-assign]
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "INTERNAL: boom")
        reported.set()
        await wait_for_text(pilot, "connected to fake://demo")
        assert calls >= 2
