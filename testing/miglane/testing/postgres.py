"""A private PostgreSQL server for tests and benchmarks (`miglane.lab.postgres`), in a temporary
directory, with durability traded for speed; stopped and removed at the end."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from miglane.lab.postgres import (
    DATABASE_NAME,
    PostgresServer,
    PostgresUnavailable,
    PrivatePostgres,
    postgres_available,
    server_bindir,
)

__all__ = [
    "DATABASE_NAME",
    "PostgresServer",
    "PostgresUnavailable",
    "postgres_available",
    "running_postgres",
    "server_bindir",
]


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a private server with an empty `miglane` database; stop and delete it afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="miglane-pg-"))
    private = PrivatePostgres(directory, fast=True)
    try:
        server = private.start()
        try:
            yield server
        finally:
            private.stop(immediate=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
