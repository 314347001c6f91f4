"""A private PostgreSQL server for tests and benchmarks: Debian's server binaries, a cluster made by
initdb in a temporary directory, listening only on a Unix socket in that directory, stopped and
removed at the end. Nothing of the machine's own PostgreSQL service is used or touched.

PostgreSQL refuses to run as root; as root the cluster belongs to the `postgres` system user (the
Debian package creates it) or, failing that, `nobody`, and its commands run through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Debian installs the server's programs per major version, outside PATH.
DEBIAN_SERVER_DIRS = "/usr/lib/postgresql"
DATABASE_NAME = "miglane"
SUPERUSER = "miglane"
# A fixed port number is only a name for the socket file (no TCP listener); any value works.
SOCKET_PORT = 5432


class PostgresUnavailable(RuntimeError):
    """Debian's PostgreSQL server is not installed here."""


def server_bindir() -> Path:
    """The newest installed server's bin directory (initdb, pg_ctl, postgres)."""
    root = Path(DEBIAN_SERVER_DIRS)
    candidates = sorted(
        (p / "bin" for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise PostgresUnavailable(
            f"no PostgreSQL server under {DEBIAN_SERVER_DIRS}: apt-get install postgresql"
        )
    return candidates[-1]


def postgres_available() -> bool:
    try:
        server_bindir()
    except PostgresUnavailable:
        return False
    return True


@dataclass(frozen=True)
class PostgresServer:
    """A running private server: `url` is a libpq URI (psycopg and the engine take it)."""

    directory: Path
    socket_dir: Path
    port: int = SOCKET_PORT
    database: str = DATABASE_NAME
    user: str = SUPERUSER

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        """A new empty database on this server (one per test keeps tests apart); its URL."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Removes a database made by `create_database`, closing whatever still uses it."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url_for("postgres"), autocommit=True) as admin:
            admin.execute(statement.encode())


def _owner() -> str | None:
    """The OS user the cluster runs as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresUnavailable("running as root and neither 'postgres' nor 'nobody' exists")


def _run(argv: list[str], owner: str | None) -> None:
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}"
        )


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a private server with an empty `miglane` database; stop and delete it afterwards."""
    bindir = server_bindir()
    owner = _owner()
    directory = Path(tempfile.mkdtemp(prefix="miglane-pg-"))
    data_dir, socket_dir = directory / "data", directory / "socket"
    socket_dir.mkdir()
    if owner is not None:
        entry = pwd.getpwnam(owner)
        directory.chmod(0o755)
        for path in (directory, socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            owner,
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{socket_dir}' "
            f"-c port={SOCKET_PORT} -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=200"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-o",
                options,
                "-l",
                str(directory / "server.log"),
                "-w",
                "start",
            ],
            owner,
        )
        server = PostgresServer(directory=directory, socket_dir=socket_dir)
        try:
            server.create_database(DATABASE_NAME)
            yield server
        finally:
            _run([str(bindir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"], owner)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
