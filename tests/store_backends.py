"""The engine's store backends in tests: every test keeps its state in SQLite by default; tests
(or modules) marked `both_store_backends` run once on SQLite and once on PostgreSQL, each state
dir getting a fresh database of the session's private server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from miglane.engine.config import DATABASE_FILE
from miglane.engine.store_dialect import sqlite_url

if TYPE_CHECKING:
    from miglane.testing.postgres import PostgresServer

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
STORE_BACKENDS = (SQLITE, POSTGRESQL)
# The marker: `pytestmark = pytest.mark.both_store_backends`.
BOTH_STORE_BACKENDS = "both_store_backends"

# A state dir -> the URL of the database its engine keeps its state in.
DatabaseOf = Callable[[Path], str]


def sqlite_databases(state_dir: Path) -> str:
    return sqlite_url(state_dir / DATABASE_FILE)


@contextlib.contextmanager
def postgres_databases(server: PostgresServer) -> Iterator[DatabaseOf]:
    """A database of its own per state dir (the same one each time it is asked: engines
    restart), used by engines started in the block, dropped at its end."""
    from miglane.testing.engine_stack import engines_on

    made: dict[Path, str] = {}

    def database_of(state_dir: Path) -> str:
        if state_dir not in made:
            made[state_dir] = f"test_{uuid.uuid4().hex[:20]}"
            server.create_database(made[state_dir])
        return server.url_for(made[state_dir])

    try:
        with engines_on(database_of):
            yield database_of
    finally:
        for name in made.values():
            server.drop_database(name)
