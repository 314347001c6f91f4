"""Scheduler benchmark: the engine's placement decisions at scale (pure functions, no I/O).

Prints, each with a ratio against a baseline measured in the same run:
- the decision for 1 VM over a cluster of 10,000 hosts (`choose_destination`), against a plain
  loop over the same hosts doing one comparison each (free memory >= the VM's memory);
- planning the evacuation of 1,000 VMs of one host into that cluster (`plan_evacuation`),
  against the same plain loop (so the ratio reads "costs as much as N plain passes").

The cluster is mixed like a real one: link speeds 1/10/25 Gbit/s, some hosts down or with
their migration link down, some short of memory, some already receiving migrations. Times
are medians over several runs after one warm-up; the first (cold) decision is shown too,
since it parses every host's migration address once.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from miglane.engine.domain.evacuation import plan_evacuation
from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import (
    Attachment,
    Cluster,
    Host,
    HostFacts,
    HostStatus,
    HostView,
    MigrationPolicy,
    Network,
    NetworkRole,
    Vm,
    VmState,
)
from miglane.engine.domain.placement import PlacementOutcome, choose_destination

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build_cluster(hosts: int, seed: int = 7) -> tuple[ClusterNetworks, list[HostView]]:
    rng = random.Random(seed)
    cluster = Cluster(
        id="c",
        name="bench",
        compatibility_version="4.7",
        policy=MigrationPolicy(),
        description="",
        created_at=T0,
        migration_network_id="mig",
        management_network_id="mgmt",
    )
    networks = [
        Network("mgmt", "c", "ovirtmgmt", "10.64.0.0/16", roles=(NetworkRole.MANAGEMENT,)),
        Network("mig", "c", "migration", "10.128.0.0/16", roles=(NetworkRole.MIGRATION,)),
    ]
    views = []
    for i in range(hosts):
        low = f"{i // 256}.{i % 256}"
        statuses = [HostStatus.UP] * 97 + [HostStatus.UNREACHABLE, HostStatus.MAINTENANCE] * 1
        attachments = [
            Attachment("mgmt", "ovirtmgmt", "mgmt0", f"10.64.{low}", True, 1000),
        ]
        if rng.random() > 0.02:
            attachments.append(
                Attachment(
                    "mig",
                    "migration",
                    "mig0",
                    f"10.128.{low}",
                    rng.random() > 0.05,
                    rng.choice([1000, 10000, 25000]),
                )
            )
        views.append(
            HostView(
                host=Host(
                    id=f"h{i}",
                    cluster_id="c",
                    name=f"host{i:05d}",
                    agent_address=f"10.64.{low}:50061",
                    status=rng.choice(statuses),
                    status_reason="",
                    created_at=T0,
                    facts=HostFacts(
                        memory_mib=256 * 1024,
                        free_memory_mib=rng.choice([2048, 16384, 65536, 131072]),
                    ),
                ),
                attachments=tuple(attachments),
                incoming_migrations=rng.choice([0, 0, 0, 1, 2]),
            )
        )
    views[0] = HostView(
        host=Host(
            id="h0",
            cluster_id="c",
            name="host00000",
            agent_address="10.64.0.0:50061",
            status=HostStatus.PREPARING_FOR_MAINTENANCE,
            status_reason="",
            created_at=T0,
            facts=HostFacts(memory_mib=256 * 1024, free_memory_mib=0),
        ),
        attachments=views[0].attachments,
    )
    return ClusterNetworks.of(cluster, networks), views


def vms_on_source(count: int, seed: int = 11) -> list[Vm]:
    rng = random.Random(seed)
    return [
        Vm(f"vm{i}", f"vm{i:04d}", "h0", "c", VmState.RUNNING, rng.choice([1024, 2048, 4096, 8192]))
        for i in range(count)
    ]


def timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(first call, median of `repeats` calls after it), in seconds."""
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return first, statistics.median(times)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--vms", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)

    networks, hosts = build_cluster(args.hosts)
    source = hosts[0]
    vms = vms_on_source(args.vms)
    vm = vms[0]

    def baseline() -> int:
        fits = 0
        for view in hosts:
            if view.host.facts.free_memory_mib >= vm.memory_mib:
                fits += 1
        return fits

    def decide() -> object:
        decision = choose_destination(vm, source, hosts, networks)
        assert decision.outcome is PlacementOutcome.PLACED
        return decision

    def evacuate() -> object:
        return plan_evacuation(source, vms, hosts, networks)

    _, base = timed(baseline, args.repeats)
    cold, decision = timed(decide, args.repeats)
    plan = plan_evacuation(source, vms, hosts, networks)
    evacuation_cold, evacuation = timed(evacuate, max(args.repeats // 3, 3))

    ms = 1000.0
    print(f"cluster: {args.hosts} hosts; evacuating {args.vms} VMs of {source.host.name}")
    print(f"baseline: plain loop, one comparison per host: {base * ms:.2f} ms")
    print(
        f"decision for 1 VM over {args.hosts} hosts: {decision * ms:.2f} ms "
        f"(x{decision / base:.1f} baseline; first call {cold * ms:.2f} ms, "
        f"x{cold / base:.1f})"
    )
    print(
        f"evacuation plan of {args.vms} VMs: {evacuation * ms:.2f} ms "
        f"(x{evacuation / base:.1f} baseline; {evacuation / args.vms * 1e6:.0f} us per VM; "
        f"first call {evacuation_cold * ms:.2f} ms) — placed {len(plan.migrations)}, "
        f"unplaced {len(plan.unplaced)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
