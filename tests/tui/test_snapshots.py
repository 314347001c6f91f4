"""How each view looks, as plain text, against snapshots/*.txt.

The screens are deterministic: the in-memory engine has its own clock, the App runs without
animation, notifications are cleared, and text carries no cursor. After a deliberate change
of looks, rerun with MIGLANE_UPDATE_SNAPSHOTS=1 and review the diff of snapshots/.
"""

from __future__ import annotations

from miglane.tui.app import MiglaneApp
from miglane.tui.testing import FakeEngineClient
from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import BandwidthDialog, ConfirmDialog

from .helpers import SIZE, assert_snapshot, make_app, wait_for, wait_for_text


async def _with_migrations(fake: FakeEngineClient) -> None:
    """web-1 over the migration network, batch-1 falling back (its source link is down),
    web-2 and db-1 queued behind host1's two outgoing, legacy-app on a legacy cluster."""
    await fake.migrate_vm("vm-web-1", "host-host2")
    await fake.migrate_vm("vm-batch-1", "host-host1")
    await fake.migrate_vm("vm-web-2")
    await fake.migrate_vm("vm-db-1", "host-host2", max_bandwidth_mibps=50)
    await fake.migrate_vm("vm-legacy-app")
    for _ in range(4):
        await fake.tick(2)


async def _steady(pilot, app: MiglaneApp) -> None:  # type: ignore[no-untyped-def]
    await wait_for_text(pilot, "connected to")
    await pilot.pause(0.1)
    app.clear_notifications()
    await pilot.pause(0.05)


async def test_each_view(fake: FakeEngineClient) -> None:
    """One App run, one snapshot per view; every mismatch is reported, not only the first."""
    await _with_migrations(fake)
    app = make_app(fake)
    mismatches: list[str] = []

    def check(name: str) -> None:
        try:
            assert_snapshot(app, name)
        except AssertionError as error:
            mismatches.append(str(error))

    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "⇄ migration")
        app.query_one("#networks-table").select("net-prod-migration")
        await wait_for_text(pilot, "Hosts of cluster prod on network migration")
        await _steady(pilot, app)
        check("networks")

        await pilot.press("2")
        await wait_for_text(pilot, "required network 'storage' is missing")
        app.query_one("#hosts-table").select("host-host3")
        await wait_for_text(pilot, "Networks of host3")
        await _steady(pilot, app)
        check("hosts")

        await pilot.press("3")
        await wait_for(pilot, lambda: len(app.board) == 5, what="migrations")
        await wait_for_text(pilot, "→ host2")
        await _steady(pilot, app)
        check("vms")

        await pilot.press("4")
        app.query_one("#migrations-table").select("mig-0002")
        await wait_for_text(pilot, "FALLBACK to ovirtmgmt")
        await _steady(pilot, app)
        check("migrations")

        await pilot.press("5")
        await wait_for(pilot, lambda: app.event_log.last_sequence == len(fake.events))
        await wait_for_text(pilot, "migration of web-1 started")
        await _steady(pilot, app)
        check("events")
    assert not mismatches, "\n\n".join(mismatches)


async def test_grant_confirmation(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "⇄ migration")
        app.query_one("#networks-table").select("net-prod-storage")
        await pilot.pause()
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="dialog")
        await _steady(pilot, app)
        assert_snapshot(app, "grant_confirmation")


async def test_candidate_chooser(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.query_one("#vms-table")
        await wait_for(pilot, lambda: "vm-web-1" in table.keys, what="VMs")
        table.select("vm-web-1")
        await pilot.pause()
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateChooser), what="chooser")
        await _steady(pilot, app)
        assert_snapshot(app, "candidate_chooser")


async def test_bandwidth_dialog(fake: FakeEngineClient) -> None:
    await _with_migrations(fake)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: len(app.board) == 5, what="migrations")
        app.query_one("#migrations-table").select("mig-0001")
        await pilot.pause()
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BandwidthDialog), what="dialog")
        app.screen.query_one("Input").cursor_blink = False
        await _steady(pilot, app)
        assert_snapshot(app, "bandwidth_dialog")


async def test_reconnecting(fake: FakeEngineClient) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "⇄ migration")
        fake.disconnect()
        await wait_for_text(pilot, "RECONNECTING")
        await pilot.pause(0.1)
        app.clear_notifications()
        await pilot.pause(0.05)
        assert_snapshot(app, "reconnecting")
