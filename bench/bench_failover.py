"""Failover of the leading engine: two `miglane engine` processes on one private PostgreSQL,
three fake-driver agents, migrations running and queued; the leader is killed with SIGKILL and
the time until the other engine's health says SERVING (it took charge) is measured, then every
migration is followed to its end: how many never completed (lost) and how many were started
twice at the agents (duplicated).

    make bench BENCH=bench_failover
    failover: leader kill -9 -> new leader serving in N s; migrations lost 0, duplicated 0

`measure_failover()` is the measurement alone (bench_scale prints its line too). Timings use
the engines' default lease (the figure an operator gets)."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

from miglane.testing.engine_ensemble import EngineEnsemble, eventually
from miglane.testing.postgres import postgres_available
from miglane.v1 import common_pb2, engine_pb2

FINAL = {
    common_pb2.MIGRATION_PHASE_COMPLETED,
    common_pb2.MIGRATION_PHASE_FAILED,
    common_pb2.MIGRATION_PHASE_CANCELLED,
}
# Slow enough that migrations are still running when the leader dies.
MIGRATION_MIBPS = 40
SETTLE_TIMEOUT_S = 120.0


async def _start_migrations(ensemble: EngineEnsemble, leader: object) -> list[str]:
    """Every VM of the first two hosts migrates automatically: one per source host runs, the
    others queue (one outgoing migration per host)."""
    ids = []
    async with ensemble.stub(leader) as stub:  # type: ignore[arg-type]
        for agent in ensemble.agents[:2]:
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


async def _outcome(ensemble: EngineEnsemble, leader: object, ids: list[str]) -> tuple[int, int]:
    async with ensemble.stub(leader) as stub:  # type: ignore[arg-type]

        async def migrations() -> dict[str, engine_pb2.Migration]:
            reply = await stub.ListMigrations(engine_pb2.ListMigrationsRequest(page_size=100))
            return {m.id: m for m in reply.migrations}

        final = await eventually(
            migrations,
            lambda ms: all(i in ms and ms[i].phase in FINAL for i in ids),
            SETTLE_TIMEOUT_S,
        )
    lost = sum(1 for i in ids if final[i].phase != common_pb2.MIGRATION_PHASE_COMPLETED)
    jobs = ensemble.agent_jobs()
    duplicated = sum(n - 1 for n in jobs.values() if n > 1)
    duplicated += sum(1 for migration_id in jobs if migration_id not in final)
    return lost, duplicated


async def _measure(root: Path) -> tuple[float, int, int]:
    async with EngineEnsemble(root, engines=2) as ensemble:
        leader = await ensemble.leader()
        await ensemble.add_cluster(leader)
        ids = await _start_migrations(ensemble, leader)
        rest = [e for e in ensemble.processes if e is not leader]
        killed_at = time.perf_counter()
        leader.signal(signal.SIGKILL)
        successor = await ensemble.leader(rest, timeout_s=60)
        seconds = time.perf_counter() - killed_at
        lost, duplicated = await _outcome(ensemble, successor, ids)
        return seconds, lost, duplicated


def measure_failover() -> tuple[float, int, int]:
    """Seconds from the leader's kill -9 to the new leader SERVING, migrations lost, migrations
    duplicated. Needs Debian's postgresql."""
    with tempfile.TemporaryDirectory(prefix="miglane-bench-failover-") as root:
        return asyncio.run(_measure(Path(root)))


def main() -> int:
    if not postgres_available():
        print("bench_failover: needs Debian's postgresql (apt-get install postgresql)")
        return 1
    seconds, lost, duplicated = measure_failover()
    print(
        f"failover: leader kill -9 -> new leader serving in {seconds:.1f} s; "
        f"migrations lost {lost}, duplicated {duplicated}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
