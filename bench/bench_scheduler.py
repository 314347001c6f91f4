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
import statistics
import sys
import time
from collections.abc import Callable

from miglane.engine.domain.evacuation import plan_evacuation
from miglane.engine.domain.placement import PlacementOutcome, choose_destination
from miglane.testing.builders import big_cluster, networks, vms_on

VM_SIZES_MIB = (1024, 2048, 4096, 8192)

# Fast enough to run per request, with room for a loaded machine: a regression to quadratic
# work breaks them (seconds, the first call included).
DECISION_LIMIT_S = 2.0
EVACUATION_LIMIT_S = 5.0


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

    cluster_networks, hosts = networks(), big_cluster(args.hosts)
    source = hosts[0]
    vms = vms_on(0, args.vms, VM_SIZES_MIB)
    vm = vms[0]

    def baseline() -> int:
        fits = 0
        for view in hosts:
            if view.host.facts.free_memory_mib >= vm.memory_mib:
                fits += 1
        return fits

    def decide() -> object:
        decision = choose_destination(vm, source, hosts, cluster_networks)
        assert decision.outcome is PlacementOutcome.PLACED
        return decision

    def evacuate() -> object:
        return plan_evacuation(source, vms, hosts, cluster_networks)

    _, base = timed(baseline, args.repeats)
    cold, decision = timed(decide, args.repeats)
    plan = plan_evacuation(source, vms, hosts, cluster_networks)
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
        f"first call {evacuation_cold * ms:.2f} ms) — placed {len(plan.planned)}, "
        f"unplaced {len(plan.unplaced)}"
    )
    slow = [
        f"{what} took {seconds:.3f} s (limit {limit} s)"
        for what, seconds, limit in (
            ("decision", max(cold, decision), DECISION_LIMIT_S),
            ("evacuation plan", max(evacuation_cold, evacuation), EVACUATION_LIMIT_S),
        )
        if seconds >= limit
    ]
    for line in slow:
        print(f"TOO SLOW: {line}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
