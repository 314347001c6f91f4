"""Scale: the scheduler over 10,000 hosts and the evacuation plan of 1,000 VMs still choose
right (how fast, with its limits: bench/bench_scheduler.py)."""

from __future__ import annotations

from collections import Counter

from miglane.engine.domain.evacuation import plan_evacuation
from miglane.engine.domain.model import HostStatus
from miglane.engine.domain.placement import PlacementOutcome, choose_destination

from .builders import MIG_ID, big_cluster, networks, vm, vms_on

HOSTS = 10_000
VMS = 1_000


def test_one_decision_over_10000_hosts() -> None:
    hosts = big_cluster(HOSTS)
    the_vm = vm("x", on=0, memory_mib=4096)
    decision = choose_destination(the_vm, hosts[0], hosts, networks())
    assert decision.outcome is PlacementOutcome.PLACED and decision.destination is not None
    chosen = decision.destination
    assert chosen.host.status is HostStatus.UP and chosen.incoming_migrations < 2
    [link] = [a for a in chosen.attachments if a.network_id == MIG_ID]
    assert link.link_up and link.speed_mbps == 25000


def test_evacuation_plan_of_1000_vms() -> None:
    hosts = big_cluster(HOSTS)
    vms = vms_on(0, VMS, (1024, 4096, 16384))
    plan = plan_evacuation(hosts[0], vms, hosts, networks())
    assert len(plan.planned) == VMS and not plan.unplaced
    by_id = {view.host.id: view for view in hosts}
    used = Counter[str]()
    for planned in plan.planned:
        used[planned.destination_host_id] += planned.vm.memory_mib
    for host_id, mib in used.items():
        view = by_id[host_id]
        assert host_id != "h0" and view.host.status is HostStatus.UP
        [link] = [a for a in view.attachments if a.network_id == MIG_ID]
        assert link.link_up
        assert mib <= view.host.facts.free_memory_mib
