"""The private PostgreSQL server the store tests use: it starts, serves SQL on its own socket,
makes databases, and leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

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


def test_a_private_server_keeps_its_data_across_a_restart() -> None:
    from miglane.lab.postgres import PrivatePostgres

    # Under /tmp, which the server's own user (as root: `postgres`) can reach; pytest's
    # tmp_path is private to root.
    directory = Path(tempfile.mkdtemp(prefix="miglane-pg-test-"))
    directory.chmod(0o755)
    private = PrivatePostgres(directory / "pg")
    try:
        _restart_keeps_data(private)
    finally:
        private.stop(immediate=True)
        shutil.rmtree(directory, ignore_errors=True)


def _restart_keeps_data(private) -> None:  # type: ignore[no-untyped-def]
    server = private.start()
    assert private.start() == server  # already running: nothing made or started twice
    _psql(server.url, "create table kept (x int); insert into kept values (7)")
    private.stop()
    assert not private.running()
    again = private.start()
    assert _psql(again.url, "select x from kept") == "7"


def test_the_demo_engine_runs_on_the_demos_postgres_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from miglane.cli.demo import DemoPaths, engine_command

    paths = DemoPaths(tmp_path / "demo")
    assert "--database" not in engine_command(paths, tmp_path / "pki", "")
    command = engine_command(paths, tmp_path / "pki", "postgresql://miglane@/miglane?host=/x")
    assert command[command.index("--database") + 1] == "postgresql://miglane@/miglane?host=/x"
