"""Several `miglane engine` processes on one private PostgreSQL, one CA and fake-driver agents
served from this process: the stage of the leader-election tests and of the failover
benchmark. Engines are found leading by the health service (`miglane.v1.EngineService`
SERVING), killed with real signals, and each engine's database role can be cut off.

    async with EngineEnsemble(tmp_path, engines=2) as ensemble:
        leader = await ensemble.leader()
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.pki import CertificateAuthority, Credentials
from miglane.testing.api_clusters import cluster_of_agents
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.testing.postgres import PostgresServer, running_postgres
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc
from miglane.v1.leadership import ENGINE_HEALTH_NAME

FINAL = {
    common_pb2.MIGRATION_PHASE_COMPLETED,
    common_pb2.MIGRATION_PHASE_FAILED,
    common_pb2.MIGRATION_PHASE_CANCELLED,
}
# Slow enough that migrations are still running when a leader dies.
MIGRATION_MIBPS = 40
SETTLE_TIMEOUT_S = 120.0
LISTENING = re.compile(r"engine listening on (\S+)")
START_TIMEOUT_S = 60.0
T = TypeVar("T")
_WRITE_LOG = """
CREATE TABLE IF NOT EXISTS write_log (
    id bigserial PRIMARY KEY, writer text NOT NULL, tbl text NOT NULL, op text NOT NULL);
CREATE OR REPLACE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO write_log (writer, tbl, op) VALUES (current_user, TG_TABLE_NAME, TG_OP);
    RETURN NULL;
END $$;
"""


async def eventually(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout_s: float = 30.0
) -> T:
    """Polls `fetch` until `done` holds of its value (the deadline only bounds a failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout_s} s; last value: {value}")
        await asyncio.sleep(0.05)


@dataclass
class EngineProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    address: str = ""

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class EngineEnsemble:
    """Start with `async with`; `engines` processes are started (each with its own state dir
    and database role) and `hosts` fake agents with `vms_per_host` VMs each."""

    root: Path
    engines: int = 2
    hosts: int = 3
    vms_per_host: int = 2
    agent_speed: float = 5.0
    # The engines' --poll-interval (their agents' streams sample this often).
    poll_interval_s: float = 0.2
    extra_engine_options: tuple[str, ...] = ()
    processes: list[EngineProcess] = field(default_factory=list)
    agents: list[FakeAgent] = field(default_factory=list)
    _postgres: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    async def __aenter__(self) -> EngineEnsemble:
        self.server: PostgresServer = self._postgres.enter_context(running_postgres())
        self.authority = CertificateAuthority.init(self.root / "pki")
        self.admin: Credentials = admin_credentials(self.authority)
        try:
            _, self.agents = await start_fake_agents(
                self.hosts,
                vms_per_host=self.vms_per_host,
                vm_memory_mib=1024,
                speed=self.agent_speed,
                poll_interval=0.05,
                state_root=str(self.root / "agents"),
                authority=self.authority,
            )
            for k in range(self.engines):
                await self.start_engine(f"engine{k}")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        for engine in self.processes:
            if engine.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    engine.signal(signal.SIGCONT)
                engine.process.kill()
            engine.process.wait(10)
        await stop_fake_agents(self.agents, grace=0)
        self._postgres.close()

    # ------------------------------------------------------------ engines

    def role_url(self, role: str) -> str:
        """The database's URL as `role` (a superuser made on first use)."""
        with psycopg.connect(self.server.url, autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if exists is None:
                admin.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER')
        return self.server.url.replace(f"{self.server.user}@", f"{role}@")

    async def start_engine(self, name: str) -> EngineProcess:
        state_dir = self.root / name
        state_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.root / f"{name}.log"
        command = [
            sys.executable, "-m", "miglane.engine",
            "--listen", "127.0.0.1:0",
            "--state-dir", str(state_dir),
            "--pki-dir", str(self.root / "pki"),
            "--database", self.role_url(name),
            "--poll-interval", str(self.poll_interval_s),
            "--busy-retry-s", "0.5",
            *self.extra_engine_options,
        ]  # fmt: skip
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        engine = EngineProcess(name, process, log_path)
        self.processes.append(engine)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (match := LISTENING.search(engine.log())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{engine.log()}")
            await asyncio.sleep(0.05)
        engine.address = match.group(1)
        return engine

    def cut_from_database(self, engine: EngineProcess) -> None:
        """The engine's role may no longer log in, and its sessions are ended."""
        with psycopg.connect(self.server.url, autocommit=True) as admin:
            admin.execute(f'ALTER ROLE "{engine.name}" NOLOGIN')
        self.terminate_sessions(engine)

    def terminate_sessions(self, engine: EngineProcess) -> None:
        """Every database session of the engine is ended (pg_terminate_backend)."""
        with psycopg.connect(self.server.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (engine.name,),
            )

    def record_writes(self) -> None:
        """From now on every row written to any table of the database (the lease row too) is
        recorded with the database role that wrote it, once its transaction commits (a trigger
        writing into the same transaction: a write rolled back leaves no record)."""
        with psycopg.connect(self.server.url, autocommit=True) as admin:
            admin.execute(_WRITE_LOG)
            tables = admin.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'write_log'"
            ).fetchall()
            for (table,) in tables:
                admin.execute(
                    "CREATE OR REPLACE TRIGGER log_writes AFTER INSERT OR UPDATE OR DELETE"
                    f' ON "{table}" FOR EACH ROW EXECUTE FUNCTION log_write()'
                )

    def writes_by(self, engine: EngineProcess) -> int:
        """How many committed row writes of `engine` were recorded (see `record_writes`)."""
        with psycopg.connect(self.server.url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT COUNT(*) FROM write_log WHERE writer = %s", (engine.name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def running(self) -> list[EngineProcess]:
        return [e for e in self.processes if e.process.poll() is None]

    async def serving(self, engine: EngineProcess) -> bool:
        """Whether the engine's health says it leads (False when it cannot be asked)."""
        try:
            async with engine_channel(engine.address, self.admin) as channel:
                answer = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=ENGINE_HEALTH_NAME), timeout=1.0
                )
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    async def leaders(self, among: list[EngineProcess] | None = None) -> list[EngineProcess]:
        candidates = self.running() if among is None else among
        answers = await asyncio.gather(*(self.serving(e) for e in candidates))
        return [e for e, leads in zip(candidates, answers, strict=True) if leads]

    async def leader(
        self, among: list[EngineProcess] | None = None, timeout_s: float = 30.0
    ) -> EngineProcess:
        """The one engine that leads (waits for one)."""
        found = await eventually(lambda: self.leaders(among), lambda ls: len(ls) >= 1, timeout_s)
        assert len(found) == 1, f"several engines lead: {[e.name for e in found]}"
        return found[0]

    # ------------------------------------------------------------ the cluster

    @contextlib.asynccontextmanager
    async def stub(self, engine: EngineProcess) -> Any:
        async with engine_channel(engine.address, self.admin) as channel:
            yield engine_pb2_grpc.EngineServiceStub(channel)

    async def add_cluster(self, engine: EngineProcess) -> list[str]:
        """A cluster of every agent's host (one outgoing migration per host), VMs known;
        the hosts' ids."""
        async with self.stub(engine) as stub:
            _, hosts = await cluster_of_agents(
                stub,
                self.agents,
                policy=engine_pb2.MigrationPolicy(max_outgoing_per_host=1),
                vms=len(self.agents) * self.vms_per_host,
            )
        return [host.id for host in hosts]

    def agent_jobs(self) -> dict[str, int]:
        """How many agents hold a job of each migration id."""
        counts: dict[str, int] = {}
        for agent in self.agents:
            for migration_id in agent.agent.jobs:
                counts[migration_id] = counts.get(migration_id, 0) + 1
        return counts

    async def start_migrations(self, engine: EngineProcess) -> list[str]:
        """Every VM of the first two hosts migrates automatically: one per source host runs,
        the others queue (one outgoing migration per host); returns once one runs."""
        ids = []
        async with self.stub(engine) as stub:
            for agent in self.agents[:2]:
                for vm_id in agent.vm_ids:
                    request = engine_pb2.MigrateVmRequest(
                        vm_id=vm_id, max_bandwidth_mib_per_second=MIGRATION_MIBPS
                    )
                    ids.append((await stub.MigrateVm(request)).migration.id)

            async def phases() -> list[int]:
                reply = await stub.ListMigrations(engine_pb2.ListMigrationsRequest(page_size=100))
                return [m.phase for m in reply.migrations]

            await eventually(phases, lambda p: common_pb2.MIGRATION_PHASE_RUNNING in p, 60)
        return ids

    async def outcome(self, engine: EngineProcess, ids: list[str]) -> tuple[int, int]:
        """Once every migration of `ids` ended (as `engine` says): how many did not complete
        (lost), and how many jobs the agents ran beyond one per migration (duplicated)."""
        async with self.stub(engine) as stub:

            async def migrations() -> dict[str, engine_pb2.Migration]:
                reply = await stub.ListMigrations(engine_pb2.ListMigrationsRequest(page_size=100))
                return {m.id: m for m in reply.migrations}

            final = await eventually(
                migrations,
                lambda ms: all(i in ms and ms[i].phase in FINAL for i in ids),
                SETTLE_TIMEOUT_S,
            )
        lost = sum(1 for i in ids if final[i].phase != common_pb2.MIGRATION_PHASE_COMPLETED)
        jobs = self.agent_jobs()
        duplicated = sum(n - 1 for n in jobs.values() if n > 1)
        duplicated += sum(1 for migration_id in jobs if migration_id not in final)
        return lost, duplicated
