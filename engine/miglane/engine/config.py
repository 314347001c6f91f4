"""The engine's knobs and their defaults, defined once: the CLI's flags, the runner, the host
monitor and the agent client take their defaults from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from miglane.engine.store_dialect import sqlite_url

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_GRACE_S = 5.0
DEFAULT_POLL_INTERVAL_S = 2.0
DEFAULT_BUSY_RETRY_S = 10.0
DEFAULT_AGENT_TIMEOUT_S = 5.0
DEFAULT_PERSIST_INTERVAL_S = 1.0
DEFAULT_QUEUE_INTERVAL_S = 1.0
DEFAULT_FOLLOW_RETRY_S = 1.0
DEFAULT_CERTIFICATE_CHECK_INTERVAL_S = 6 * 3600.0
# Prometheus metrics: loopback by default (9464, the agent's 9465); "off": none.
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"
# The default database: this SQLite file in the state dir.
DATABASE_FILE = "engine.sqlite3"


@dataclass(frozen=True)
class EngineConfig:
    state_dir: Path
    # Where the engine keeps its state: `sqlite:///PATH` or `postgresql://...` (a libpq URI);
    # empty: the SQLite file DATABASE_FILE in `state_dir`.
    database: str = ""
    # host:port to serve gRPC on; port 0 picks a free one.
    listen: str = DEFAULT_LISTEN
    # On stop, how long in-flight calls may finish.
    grace_s: float = DEFAULT_GRACE_S
    # How often each host's agent is polled for capabilities and VMs.
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    # How long an agent that answered busy (or a destination its source could not reach) is
    # left alone before its migrations are tried again.
    busy_retry_s: float = DEFAULT_BUSY_RETRY_S
    # Deadline of each call to an agent (Migrate waits longer).
    agent_timeout_s: float = DEFAULT_AGENT_TIMEOUT_S
    # Progress kept in memory is written at most this often (and on every phase change).
    persist_interval_s: float = DEFAULT_PERSIST_INTERVAL_S
    # The queue is looked at least this often, without being asked.
    queue_interval_s: float = DEFAULT_QUEUE_INTERVAL_S
    # A broken progress stream (agent restarting) is picked up again after this long.
    follow_retry_s: float = DEFAULT_FOLLOW_RETRY_S
    # WatchEvents: how many events a watcher may fall behind before it is dropped (None: the
    # event hub's default).
    event_queue_size: int | None = None
    # The engine's certificate authority (its own identity in <pki_dir>/engine, enrolled hosts
    # in <pki_dir>/hosts); None: <state_dir>/pki.
    pki_dir: Path | None = None
    # How often the CA's certificates are checked for expiry (also once at start).
    certificate_check_interval_s: float = DEFAULT_CERTIFICATE_CHECK_INTERVAL_S
    # Plaintext gRPC, to the engine's clients and to the agents: development only (logged as a
    # warning; the health service name "miglane.insecure" answers SERVING).
    insecure: bool = False
    # HOST:PORT of the Prometheus endpoint (GET /metrics); "off": none. The default address
    # taken by another program is a warning, an address given that cannot be bound an error.
    metrics_listen: str = DEFAULT_METRICS_LISTEN

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return sqlite_url(self.state_dir / DATABASE_FILE)

    @property
    def pki_path(self) -> Path:
        return self.state_dir / "pki" if self.pki_dir is None else self.pki_dir
