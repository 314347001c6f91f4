"""Scale check: the scheduler over 10,000 hosts and the evacuation plan of 1,000 VMs stay
fast enough to run per request (the figures themselves: bench/bench_scheduler.py). The
bounds are loose, for loaded CI machines; a regression to quadratic work breaks them."""

from __future__ import annotations

import random
import time
from collections import Counter

from miglane.engine.domain.evacuation import plan_evacuation
from miglane.engine.domain.model import (
    Attachment,
    Host,
    HostFacts,
    HostStatus,
    HostView,
    Vm,
    VmState,
)
from miglane.engine.domain.placement import PlacementOutcome, choose_destination

from .builders import CLUSTER_ID, MGMT_ID, MIG_ID, T0, networks, vm

HOSTS = 10_000
VMS = 1_000


def big_cluster(count: int, seed: int = 3) -> list[HostView]:
    rng = random.Random(seed)
    views = []
    for i in range(count):
        low = f"{i // 256}.{i % 256}"
        views.append(
            HostView(
                host=Host(
                    id=f"h{i}",
                    cluster_id=CLUSTER_ID,
                    name=f"host{i:05d}",
                    agent_address=f"10.64.{low}:50061",
                    status=HostStatus.UP if rng.random() > 0.03 else HostStatus.UNREACHABLE,
                    status_reason="",
                    created_at=T0,
                    facts=HostFacts(memory_mib=262144, free_memory_mib=rng.choice([2048, 65536])),
                ),
                attachments=(
                    Attachment(MGMT_ID, "ovirtmgmt", "mgmt0", f"10.64.{low}", True, 1000),
                    Attachment(
                        MIG_ID,
                        "migration",
                        "mig0",
                        f"10.128.{low}",
                        rng.random() > 0.05,
                        rng.choice([1000, 10000, 25000]),
                    ),
                ),
                incoming_migrations=rng.choice([0, 1, 2]),
            )
        )
    return views


def test_one_decision_over_10000_hosts() -> None:
    hosts = big_cluster(HOSTS)
    the_vm = vm("x", on=0, memory_mib=4096)
    started = time.perf_counter()
    decision = choose_destination(the_vm, hosts[0], hosts, networks())
    elapsed = time.perf_counter() - started
    assert decision.outcome is PlacementOutcome.PLACED and decision.destination is not None
    chosen = decision.destination
    assert chosen.host.status is HostStatus.UP and chosen.incoming_migrations < 2
    assert chosen.attachments[1].link_up and chosen.attachments[1].speed_mbps == 25000
    assert elapsed < 2.0, f"{elapsed:.3f} s"


def test_evacuation_plan_of_1000_vms() -> None:
    hosts = big_cluster(HOSTS)
    rng = random.Random(5)
    vms = [
        Vm(f"vm{i}", f"vm{i}", "h0", CLUSTER_ID, VmState.RUNNING, rng.choice([1024, 4096, 16384]))
        for i in range(VMS)
    ]
    started = time.perf_counter()
    plan = plan_evacuation(hosts[0], vms, hosts, networks())
    elapsed = time.perf_counter() - started
    assert len(plan.migrations) == VMS and not plan.unplaced
    by_id = {view.host.id: view for view in hosts}
    used = Counter[str]()
    for planned in plan.migrations:
        used[planned.destination_host_id] += planned.vm.memory_mib
    for host_id, mib in used.items():
        view = by_id[host_id]
        assert host_id != "h0" and view.host.status is HostStatus.UP
        assert view.attachments[1].link_up
        assert mib <= view.host.facts.free_memory_mib
    assert elapsed < 5.0, f"{elapsed:.3f} s"
