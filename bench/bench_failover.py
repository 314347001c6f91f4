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

from miglane.testing.engine_ensemble import EngineEnsemble
from miglane.testing.postgres import postgres_available


async def _measure(root: Path) -> tuple[float, int, int]:
    async with EngineEnsemble(root, engines=2) as ensemble:
        leader = await ensemble.leader()
        await ensemble.add_cluster(leader)
        ids = await ensemble.start_migrations(leader)
        rest = [e for e in ensemble.processes if e is not leader]
        killed_at = time.perf_counter()
        leader.signal(signal.SIGKILL)
        successor = await ensemble.leader(rest, timeout_s=60)
        seconds = time.perf_counter() - killed_at
        lost, duplicated = await ensemble.outcome(successor, ids)
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
