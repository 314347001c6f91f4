"""Migrate, watch progress reach 100, cancel: the whole flow through the TUI's keys.

Runs twice: `fake` against the in-memory engine, and `real` against a real engine with
fake-driver agents (`miglane.agent.testing`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from miglane.tui.client import EngineClient
from miglane.tui.grpc_client import GrpcEngineClient
from miglane.tui.testing import demo_engine
from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import ConfirmDialog
from miglane.v1 import common_pb2, engine_pb2

from .helpers import SIZE, make_app, wait_for, wait_for_text
from .real_stack import real_engine

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
CANCELLED = common_pb2.MIGRATION_PHASE_CANCELLED


@dataclass
class Stack:
    client: EngineClient
    # Lets time pass for migrations (the fake's clock, or real time for real agents).
    advance: Callable[[], Awaitable[None]]
    timeout_s: float
    # Makes the next migrations slow enough to cancel while they run.
    slow_down: Callable[[], Awaitable[None]]


@asynccontextmanager
async def fake_stack() -> AsyncIterator[Stack]:
    fake = demo_engine()

    async def advance() -> None:
        await fake.tick(3)

    async def slow_down() -> None:
        """The fake moves only on tick(): nothing to do."""

    yield Stack(fake, advance, 10, slow_down)


@asynccontextmanager
async def real_stack(state_dir: Path) -> AsyncIterator[Stack]:
    async with real_engine(state_dir) as engine:
        from miglane.agent.testing import start_fake_agents, stop_fake_agents

        _, agents = await start_fake_agents(3, vms_per_host=2, vm_memory_mib=256, speed=20.0)
        try:
            for agent in agents:
                await engine.stub.AddHost(
                    engine_pb2.AddHostRequest(
                        cluster_id=engine.ids["prod"], name=agent.name, agent_address=agent.address
                    )
                )
            vm_count = 2 * len(agents)
            async with asyncio.timeout(30):  # the engine polls each new host at once
                while len((await engine.stub.ListVms(engine_pb2.ListVmsRequest())).vms) < vm_count:
                    await asyncio.sleep(0.1)

            async def advance() -> None:
                await asyncio.sleep(0.1)

            async def slow_down() -> None:
                policy = engine_pb2.MigrationPolicy(
                    bandwidth_mode=engine_pb2.BANDWIDTH_MODE_CUSTOM, custom_mib_per_second=1
                )
                await engine.stub.UpdateCluster(
                    engine_pb2.UpdateClusterRequest(cluster_id=engine.ids["prod"], policy=policy)
                )

            yield Stack(GrpcEngineClient(engine.address), advance, 30, slow_down)
        finally:
            await stop_fake_agents(agents)


@pytest.fixture(params=["fake", "real"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    if request.param == "fake":
        async with fake_stack() as made:
            yield made
    else:
        async with real_stack(tmp_path / "engine") as made:
            yield made


async def test_migrate_to_a_chosen_host_progress_to_100_then_cancel_another(
    stack: Stack,
) -> None:
    app = make_app(stack.client)
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
        for _ in range(int(stack.timeout_s / 0.05)):
            shown = app.board.get(migration_id)
            assert shown is not None
            seen.append(shown.progress_percent)
            if shown.phase == COMPLETED:
                break
            await stack.advance()
            await pilot.pause(0.02)
        assert app.board.get(migration_id).phase == COMPLETED
        assert seen == sorted(seen) and seen[-1] == 100, seen
        await wait_for_text(pilot, "completed")
        # The VM runs on its new host (the inventory is re-read after the phase change).
        await wait_for(
            pilot,
            lambda: app.inventory.vms[first.id].host_id == target.host_id,
            timeout=stack.timeout_s,
            what="VM on its new host",
        )

        # Start the second VM's migration automatically, and cancel it while it runs.
        await stack.slow_down()
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
            timeout=stack.timeout_s,
            what="cancelled",
        )
        await wait_for_text(pilot, f"Migration of {second.name} cancelled")
