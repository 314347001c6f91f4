"""Scale benchmark: one engine carrying a data centre (1,000 hosts, 10,000 VMs) served by a
fleet of fake-driver agents, and the engine's latencies under a migration storm.

Prints exactly these lines, each measured in this run:

    hosts 1000, vms 10000: poll round p99 N ms (interval N ms), engine CPU N% of a core
    extrapolated engine CPU at 10000 hosts: N cores
    MigrateVm p50 N ms = N.Nx a bare unary call in the same storm
    WatchMigrations lag p99 N ms (500 migrations, 50 watchers)
    placement of 1 VM over 10000 hosts: N ms
    failover: leader kill -9 -> new leader serving in N s; migrations lost 0, duplicated 0

- Hosts: the fleet (`miglane.agent.testing.start_fleet`, each agent on its own loopback
  address, mutual TLS) runs in a helper process, as the hosts would be other machines; the
  engine runs in this one, which does nothing else while it is measured: its CPU is this
  process's CPU time over the window. A "poll round" is the engine learning every host's state
  once (`HostMonitor.rounds`); its p99 is compared with the poll interval. The extrapolation is
  linear in the hosts (the engine's cost per host per second, times 10,000).
- MigrateVm and WatchMigrations: `bench_engine`'s storm (its baseline, a bare unary call on
  the same server in the same storm, is measured there).
- Placement: `choose_destination` over `testing.builders.big_cluster(10000)`, median.
- Failover: `bench_failover.measure_failover()` (engines sharing a private PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_engine import pct, storm

from miglane.agent.testing import start_fleet, stop_fake_agents
from miglane.engine.app import build_engine
from miglane.engine.config import DEFAULT_POLL_INTERVAL_S, EngineConfig
from miglane.engine.domain.placement import PlacementOutcome, choose_destination
from miglane.pki import CertificateAuthority
from miglane.testing.builders import big_cluster, networks, vms_on
from miglane.testing.engine_stack import (
    LOOPBACK_ANY_PORT,
    engine_authority,
    fake_agent_cluster,
    wait_until_polled,
)

EXTRAPOLATED_HOSTS = 10_000
PLACEMENT_HOSTS = 10_000


@dataclass(frozen=True)
class FleetAgent:
    name: str
    address: str


@dataclass(frozen=True)
class HostsRun:
    round_p99_s: float
    interval_s: float
    cpu_share: float  # of one core


async def measure_hosts(args: argparse.Namespace) -> HostsRun:
    """The engine carrying `args.hosts` hosts of `args.vms_per_host` VMs each, measured over
    `args.window_s` seconds once every host's state is known."""
    tmp = Path(tempfile.mkdtemp(prefix="miglane-bench-scale-"))
    helper = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-fleet",
        f"--hosts={args.hosts}",
        f"--vms-per-host={args.vms_per_host}",
        f"--state-root={tmp / 'agents'}",
        f"--pki-dir={engine_authority(tmp / 'engine').pki_dir}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 30,
    )
    assert helper.stdout is not None and helper.stdin is not None
    agents = [FleetAgent(**record) for record in json.loads(await helper.stdout.readline())]
    config = EngineConfig(
        state_dir=tmp / "engine",
        listen=LOOPBACK_ANY_PORT,
        poll_interval_s=args.poll_interval,
        event_queue_size=1_000_000,
    )
    engine = await build_engine(config)
    rounds: list[float] = []
    poll_all = engine.monitor.poll_all

    async def timed_round(*, changes_only: bool = False) -> None:
        started = time.monotonic()
        await poll_all(changes_only=changes_only)
        if not changes_only:  # a round of every host
            rounds.append(time.monotonic() - started)

    engine.monitor.poll_all = timed_round  # type: ignore[method-assign]
    await engine.start()
    try:
        cluster_id, _ = await fake_agent_cluster(engine, agents, name="fleet")
        await wait_until_polled(
            engine,
            cluster_id,
            hosts=len(agents),
            vms=len(agents) * args.vms_per_host,
            timeout_s=args.timeout,
        )
        # Settled (every channel open, every host recorded once): the window starts.
        await asyncio.sleep(args.poll_interval)
        rounds.clear()
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(args.window_s)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        return HostsRun(pct(rounds, 99), args.poll_interval, cpu / wall)
    finally:
        await engine.stop(0.5)
        helper.stdin.close()
        await helper.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def measure_placement(repeats: int) -> float:
    """Median seconds of one automatic placement over `PLACEMENT_HOSTS` hosts."""
    cluster_networks, hosts = networks(), big_cluster(PLACEMENT_HOSTS)
    [vm] = vms_on(0, 1, (4096,))
    source = hosts[0]
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        decision = choose_destination(vm, source, hosts, cluster_networks)
        times.append(time.perf_counter() - started)
        assert decision.outcome is PlacementOutcome.PLACED
    return statistics.median(times[1:])


async def failover_line() -> str:
    """The failover figure, from bench_failover (engines on a private PostgreSQL); it runs its
    own event loop, so in a thread of its own."""
    from bench_failover import measure_failover  # type: ignore[import-not-found]

    seconds, lost, duplicated = await asyncio.to_thread(measure_failover)
    return (
        f"failover: leader kill -9 -> new leader serving in {seconds:.1f} s; "
        f"migrations lost {lost}, duplicated {duplicated}"
    )


async def run(args: argparse.Namespace) -> int:
    ms = 1000.0
    hosts = await measure_hosts(args)
    print(
        f"hosts {args.hosts}, vms {args.hosts * args.vms_per_host}: poll round p99 "
        f"{hosts.round_p99_s * ms:.0f} ms (interval {hosts.interval_s * ms:.0f} ms), "
        f"engine CPU {hosts.cpu_share * 100:.0f}% of a core",
        flush=True,
    )
    print(
        f"extrapolated engine CPU at {EXTRAPOLATED_HOSTS} hosts: "
        f"{hosts.cpu_share * EXTRAPOLATED_HOSTS / args.hosts:.2f} cores",
        flush=True,
    )
    storm_args = argparse.Namespace(
        migrations=args.migrations,
        watchers=args.watchers,
        hosts=args.storm_hosts,
        limit=4,
        speed=10.0,
        timeout=args.timeout,
    )
    measured = await storm(storm_args)
    if measured is None:
        return 1
    bare_p50 = statistics.median(measured.bare_s)
    migrate_p50 = statistics.median(measured.migrate_s)
    print(
        f"MigrateVm p50 {migrate_p50 * ms:.1f} ms = {migrate_p50 / bare_p50:.1f}x a bare unary "
        "call in the same storm",
        flush=True,
    )
    print(
        f"WatchMigrations lag p99 {pct(measured.lags, 99) * ms:.0f} ms "
        f"({args.migrations} migrations, {args.watchers} watchers)",
        flush=True,
    )
    placement = measure_placement(args.repeats)
    print(f"placement of 1 VM over {PLACEMENT_HOSTS} hosts: {placement * ms:.1f} ms", flush=True)
    print(await failover_line(), flush=True)
    return 0


async def serve_fleet(args: argparse.Namespace) -> int:
    """Helper process: the fleet until stdin closes; its agents' names and addresses on
    stdout."""
    _, agents = await start_fleet(
        args.hosts,
        args.vms_per_host,
        vm_memory_mib=512,
        state_root=args.state_root,
        authority=CertificateAuthority.open(args.pki_dir),
    )
    print(json.dumps([{"name": a.name, "address": a.address} for a in agents]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await stop_fake_agents(agents, grace=0)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-fleet", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state-root", default="", help=argparse.SUPPRESS)
    parser.add_argument("--pki-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--vms-per-host", type=int, default=10)
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL_S)
    parser.add_argument("--window-s", type=float, default=20.0, help="CPU measuring window")
    parser.add_argument("--migrations", type=int, default=500)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--storm-hosts", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--only-hosts", action="store_true", help="the hosts lines alone")
    args = parser.parse_args(argv)
    if args.serve_fleet:
        return asyncio.run(serve_fleet(args))
    if args.only_hosts:
        return asyncio.run(only_hosts(args))
    return asyncio.run(run(args))


async def only_hosts(args: argparse.Namespace) -> int:
    hosts = await measure_hosts(args)
    print(
        f"hosts {args.hosts}: poll round p99 {hosts.round_p99_s * 1000:.0f} ms, "
        f"engine CPU {hosts.cpu_share * 100:.0f}% of a core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
