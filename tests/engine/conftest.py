from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine_support import Engine, FakeClock, running_engine
from store_backends import DatabaseOf

from miglane.engine.inventory import Inventory, open_inventory
from miglane.testing.postgres import PostgresServer, running_postgres


@pytest.fixture
async def inventory(tmp_path: Path, database_of: DatabaseOf) -> AsyncIterator[Inventory]:
    service = open_inventory(database_of(tmp_path / "state"), clock=FakeClock())
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with running_engine(tmp_path / "state") as running:
        yield running


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for one test module (each test makes its own database)."""
    with running_postgres() as server:
        yield server
