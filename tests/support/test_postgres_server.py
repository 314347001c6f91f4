"""The private PostgreSQL server the store tests use: it starts, serves SQL on its own socket,
makes databases, and leaves nothing behind."""

from __future__ import annotations

import subprocess

import pytest

from miglane.testing.postgres import postgres_available, running_postgres

pytestmark = pytest.mark.skipif(
    not postgres_available(), reason="Debian's postgresql not installed"
)


def _psql(url: str, sql: str) -> str:
    result = subprocess.run(["psql", url, "-XAtc", sql], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_serves_sql_on_its_socket_and_is_removed_after() -> None:
    with running_postgres() as server:
        assert _psql(server.url, "select 40 + 2") == "42"
        other = server.create_database("second")
        _psql(other, "create table t (x int)")
        assert _psql(other, "select count(*) from t") == "0"
        assert server.socket_dir.is_relative_to(server.directory)
        directory = server.directory
    assert not directory.exists()
