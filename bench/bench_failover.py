"""Failover of the leading engine: two `miglane engine` processes on one private PostgreSQL,
fake-driver agents (three by default, `--hosts N` for more), migrations running and queued; the
leader is killed with SIGKILL and the time until the other engine's health says SERVING (it took
charge) is measured, then every migration is followed to its end: how many never completed
(lost) and how many were started twice at the agents (duplicated).

    make bench BENCH=bench_failover            (or: python bench/bench_failover.py --hosts 300)
    failover: leader kill -9 -> new leader serving in N s; migrations lost 0, duplicated 0
    takeover at N hosts: leading N s after the kill (...), in charge N s later, seen serving N s …

The second line splits the first by the successor's log (its lines' times): the wait for the
dead leader's lease to expire and the follower's next look (with its takeover statement), then
taking charge (records loaded, jobs taken up, host watches started), then the bench's own
health probe seeing it.

`measure_failover()` is the measurement alone (bench_scale prints its line too). Timings use
the engines' default lease (the figure an operator gets)."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from miglane.engine.domain.leadership import DEFAULT_LEASE_TIMINGS
from miglane.engine.host_monitor import ALL_REPORTED_LOG
from miglane.testing.engine_ensemble import EngineEnsemble, EngineProcess
from miglane.testing.postgres import postgres_available

DEFAULT_HOSTS = 3
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_LEADS = "this engine leads, term"
_IN_CHARGE = "in charge under term"
_ALL_REPORTED = ALL_REPORTED_LOG.split("%", 1)[0]


@dataclass(frozen=True)
class Failover:
    seconds: float
    lost: int
    duplicated: int
    # Kill -> the follower's successful takeover statement (lease expiry and the next look).
    leads_s: float
    # Takeover -> SERVING (what a restarted engine does before it answers).
    in_charge_s: float
    # SERVING -> every host's state recorded (the hosts known again).
    hosts_known_s: float


async def logged_at(engine: EngineProcess, message: str, timeout_s: float = 120.0) -> float:
    """The wall-clock time of the engine's first log line containing `message` (waited for)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in engine.log().splitlines():
            match = _LOG_TIME.match(line)
            if match and message in line:
                return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        await asyncio.sleep(0.2)
    raise AssertionError(f"{engine.name} did not log {message!r} within {timeout_s} s")


async def _measure(root: Path, hosts: int, vms_per_host: int, poll_interval_s: float) -> Failover:
    async with EngineEnsemble(
        root, engines=2, hosts=hosts, vms_per_host=vms_per_host, poll_interval_s=poll_interval_s
    ) as ensemble:
        leader = await ensemble.leader()
        await ensemble.add_cluster(leader)
        ids = await ensemble.start_migrations(leader)
        rest = [e for e in ensemble.processes if e is not leader]
        killed_at, killed_wall = time.perf_counter(), time.time()
        leader.signal(signal.SIGKILL)
        successor = await ensemble.leader(rest, timeout_s=60)
        seconds = time.perf_counter() - killed_at
        lost, duplicated = await ensemble.outcome(successor, ids)
        leads = await logged_at(successor, _LEADS)
        in_charge = await logged_at(successor, _IN_CHARGE)
        known = await logged_at(successor, _ALL_REPORTED)
        return Failover(
            seconds, lost, duplicated, leads - killed_wall, in_charge - leads, known - in_charge
        )


def measure_failover(
    hosts: int = DEFAULT_HOSTS, vms_per_host: int = 2, poll_interval_s: float = 0.2
) -> Failover:
    """Kill -9 of the leader to the new leader SERVING, migrations lost and duplicated, and
    where the time went. Needs Debian's postgresql."""
    with tempfile.TemporaryDirectory(prefix="miglane-bench-failover-") as root:
        return asyncio.run(_measure(Path(root), hosts, vms_per_host, poll_interval_s))


def failover_line(measured: Failover) -> str:
    return (
        f"failover: leader kill -9 -> new leader serving in {measured.seconds:.1f} s; "
        f"migrations lost {measured.lost}, duplicated {measured.duplicated}"
    )


def components_line(measured: Failover, hosts: int) -> str:
    probe = measured.seconds - measured.leads_s - measured.in_charge_s
    return (
        f"takeover at {hosts} hosts: leading {measured.leads_s:.2f} s after the kill "
        f"(lease ttl {DEFAULT_LEASE_TIMINGS.ttl_s:g} s, looked at every "
        f"{DEFAULT_LEASE_TIMINGS.renew_every_s:g} s), in charge {measured.in_charge_s:.2f} s "
        f"later, seen serving {probe:.2f} s later; every host's state recorded "
        f"{measured.hosts_known_s:.2f} s after taking charge"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=DEFAULT_HOSTS)
    parser.add_argument("--vms-per-host", type=int, default=2)
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.2,
        help="the engines' (a fleet of hundreds served from this process: the default 2)",
    )
    args = parser.parse_args(argv)
    if not postgres_available():
        print("bench_failover: needs Debian's postgresql (apt-get install postgresql)")
        return 1
    measured = measure_failover(args.hosts, args.vms_per_host, args.poll_interval)
    print(failover_line(measured))
    print(components_line(measured, args.hosts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
