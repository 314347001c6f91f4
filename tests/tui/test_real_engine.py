"""The TUI over gRPC against a real engine started in-process (port 0, state in tmp_path)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from miglane.tui.grpc_client import GrpcEngineClient
from miglane.tui.widgets.status import ActionLine

from .helpers import SIZE, confirm, make_app, select_row, wait_for, wait_for_text
from .real_stack import (
    RealEngine,
    holder_of_migration_role,
    real_engine,
    record_running_migration,
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[RealEngine]:
    async with real_engine(tmp_path / "engine") as running:
        yield running


async def _select_network(pilot, engine: RealEngine, name: str) -> None:  # type: ignore[no-untyped-def]
    await select_row(pilot, "networks-table", engine.ids[name])


async def test_grant_and_take_the_migration_role(engine: RealEngine) -> None:
    app = make_app(GrpcEngineClient(engine.address))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"connected to {engine.address}")
        await _select_network(pilot, engine, "backup")
        await pilot.press("g")
        await confirm(pilot)
        await wait_for_text(pilot, "Migration role granted to prod/backup (moved from migration)")
        assert await holder_of_migration_role(engine) == "backup"
        # The roles column follows, and the engine's event reaches the Events view.
        await wait_for(
            pilot,
            lambda: (
                "⇄ migration"
                in app.query_one("#networks-table").cells_of(engine.ids["backup"])[4].plain
            ),
            what="role shown on backup",
        )
        await pilot.press("5")
        await wait_for_text(pilot, "the migration role moved from network 'migration' to 'backup'")
        await pilot.press("1")
        await _select_network(pilot, engine, "backup")
        await pilot.press("t")
        await confirm(pilot)
        await wait_for_text(pilot, "Migration role taken from prod/backup")
        assert await holder_of_migration_role(engine) == ""


async def test_refusal_shows_the_real_engines_reason(engine: RealEngine) -> None:
    vm_name = await record_running_migration(engine)
    app = make_app(GrpcEngineClient(engine.address))
    async with app.run_test(size=SIZE) as pilot:
        await _select_network(pilot, engine, "backup")
        await pilot.press("g")
        await confirm(pilot)
        await wait_for_text(pilot, "refused (FAILED_PRECONDITION)")
        assert app.query_one(ActionLine).has_class("-refused")
        # The engine's own sentence, naming what blocks the change.
        line = str(app.query_one(ActionLine).render())
        assert "cannot move the migration role in cluster 'prod'" in line
        assert f"VM {vm_name}" in line and "wait for them to finish or cancel them" in line
        assert await holder_of_migration_role(engine) == "migration"


async def test_engine_restart_shows_reconnecting_then_recovers(engine: RealEngine) -> None:
    app = make_app(GrpcEngineClient(engine.address))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"connected to {engine.address}")
        await engine.stop()
        await wait_for_text(pilot, f"RECONNECTING to {engine.address}")
        await engine.restart()
        await wait_for_text(pilot, f"connected to {engine.address}")
        # Still usable after the restart: a role change goes through.
        await _select_network(pilot, engine, "backup")
        await pilot.press("g")
        await confirm(pilot)
        await wait_for_text(pilot, "Migration role granted to prod/backup")
