"""Migrate, watch progress reach 100, cancel: the whole flow through the TUI's keys, against
a real engine with fake-driver agents (`real_stack`)."""

from __future__ import annotations

import asyncio

from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import ConfirmDialog
from miglane.v1 import common_pb2

from .helpers import SIZE, make_app, wait_for, wait_for_text
from .real_stack import RealEngine

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
CANCELLED = common_pb2.MIGRATION_PHASE_CANCELLED
TIMEOUT_S = 30


async def test_migrate_to_a_chosen_host_progress_to_100_then_cancel_another(
    engine: RealEngine,
) -> None:
    app = make_app(engine.client())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.query_one("#vms-table")
        await wait_for(pilot, lambda: len(table.keys) >= 2, what="VMs listed")
        running = [
            vm for vm in app.inventory.vms_sorted() if vm.state == common_pb2.VM_STATE_RUNNING
        ]
        first, second = running[0], running[1]

        # Migrate the first VM to a host picked in the chooser.
        table.select(first.id)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateChooser), what="chooser")
        chooser = app.screen
        candidates = chooser._candidates  # the engine's answer, as shown
        target = next(c for c in candidates.values() if c.manual_allowed)
        chooser.query_one("#candidates").select(target.host_id)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                app.board.active_for_vm(first.id) is not None
                or any(m.vm_id == first.id for m in app.board)
            ),
            what="migration shown",
        )
        migration_id = next(m.id for m in app.board if m.vm_id == first.id)
        await pilot.press("4")
        seen = []
        for _ in range(int(TIMEOUT_S / 0.05)):
            shown = app.board.get(migration_id)
            assert shown is not None
            seen.append(shown.progress_percent)
            if shown.phase == COMPLETED:
                break
            await asyncio.sleep(0.1)
            await pilot.pause(0.02)
        assert app.board.get(migration_id).phase == COMPLETED
        assert seen == sorted(seen) and seen[-1] == 100, seen
        await wait_for_text(pilot, "completed")
        # The VM runs on its new host (the inventory is re-read after the phase change).
        await wait_for(
            pilot,
            lambda: app.inventory.vms[first.id].host_id == target.host_id,
            timeout=TIMEOUT_S,
            what="VM on its new host",
        )

        # Start the second VM's migration automatically, and cancel it while it runs.
        await engine.slow_down()
        await pilot.press("3")
        await wait_for(pilot, lambda: app.board.active_for_vm(second.id) is None, what="idle")
        table.select(second.id)
        await pilot.press("a")
        await wait_for(
            pilot, lambda: app.board.active_for_vm(second.id) is not None, what="second started"
        )
        second_migration = app.board.active_for_vm(second.id)
        assert second_migration is not None
        await pilot.press("4")
        app.query_one("#migrations-table").select(second_migration.id)
        await pilot.pause()
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: app.board.get(second_migration.id).phase == CANCELLED,
            timeout=TIMEOUT_S,
            what="cancelled",
        )
        await wait_for_text(pilot, f"Migration of {second.name} cancelled")
