"""A private PostgreSQL server made from Debian's binaries (initdb + pg_ctl) in a directory of
ours, listening only on a Unix socket there: for the demo's engine (`miglane demo up --database
postgresql`) and for the tests. The machine's own PostgreSQL service is never used or touched.

PostgreSQL refuses to run as root; as root the cluster belongs to the `postgres` system user
(the Debian package creates it) or, failing that, `nobody`, and its commands run through
`runuser`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Debian installs the server's programs per major version, outside PATH.
DEBIAN_SERVER_DIRS = "/usr/lib/postgresql"
DATABASE_NAME = "miglane"
SUPERUSER = "miglane"
# With no TCP listener, the port number only names the socket file.
SOCKET_PORT = 5432
# Settings for a throw-away server (tests): durability traded for speed.
FAST_SETTINGS = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


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

    def has_database(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(self.url_for("postgres"), autocommit=True) as admin:
            row = admin.execute(b"SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return row.fetchone() is not None

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url_for("postgres"), autocommit=True) as admin:
            admin.execute(statement.encode())


class PrivatePostgres:
    """The server whose cluster lives in `directory` (data/, socket/, server.log)."""

    def __init__(self, directory: Path, *, fast: bool = False) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        self.socket_dir = directory / "socket"
        self.log = directory / "server.log"
        self._fast = fast
        self._owner = _owner()

    @property
    def server(self) -> PostgresServer:
        return PostgresServer(directory=self.directory, socket_dir=self.socket_dir)

    def start(self) -> PostgresServer:
        """Makes the cluster if there is none, starts it unless it runs, and makes sure the
        `miglane` database exists."""
        bindir = server_bindir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._make_cluster(bindir)
        if not self.running():
            options = (
                f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
                f"-c port={SOCKET_PORT} -c max_connections=200"
            )
            if self._fast:
                options += f" {FAST_SETTINGS}"
            pg_ctl = [str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-o", options]
            self._run([*pg_ctl, "-l", str(self.log), "-w", "start"])
        server = self.server
        if not server.has_database(DATABASE_NAME):
            server.create_database(DATABASE_NAME)
        return server

    def running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        status = subprocess.run(
            self._as_owner([str(server_bindir() / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def stop(self, *, immediate: bool = False) -> None:
        if self.running():
            mode = "immediate" if immediate else "fast"
            self._run(
                [str(server_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "stop"]
            )

    def _make_cluster(self, bindir: Path) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._owner is not None:
            entry = pwd.getpwnam(self._owner)
            self.directory.chmod(0o755)
            for path in (self.directory, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb = [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER]
        initdb += ["--auth=trust", "-E", "UTF8"]
        if self._fast:
            initdb.append("--no-sync")
        self._run(initdb)

    def _as_owner(self, argv: list[str]) -> list[str]:
        return argv if self._owner is None else ["runuser", "-u", self._owner, "--", *argv]

    def _run(self, argv: list[str]) -> None:
        argv = self._as_owner(argv)
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}"
            )


def _owner() -> str | None:
    """The OS user the cluster runs as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresUnavailable("running as root and neither 'postgres' nor 'nobody' exists")
