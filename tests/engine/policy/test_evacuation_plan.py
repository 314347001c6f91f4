"""The evacuation plan's timeline: start order, destinations, limits kept at every moment,
predicted finish of the whole evacuation, a VM that can never converge, several hosts at once,
and the plan against FIFO."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import pytest

from miglane.engine.domain.evacuation import EvacuationPlan, PlannedMigration, plan_evacuation
from miglane.engine.domain.evacuation_schedule import (
    EvacuationJob,
    Occupant,
    schedule_evacuation,
)
from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.model import (
    MIB,
    BandwidthMode,
    ConvergencePolicy,
    DirtyRateSample,
    Help,
    HostStatus,
    MigrationPolicy,
    Vm,
)
from miglane.engine.domain.prediction import (
    ENGINE_PATH_S,
    SETUP_S,
    SWITCH_OVER_S,
    expected_throughput_bps,
)

from .builders import host, networks, vm

GIB = 1024
PREPARING = HostStatus.PREPARING_FOR_MAINTENANCE


def hot(the_vm: Vm, mibps: float) -> Vm:
    """`the_vm` dirtying `mibps` MiB/s, as its agent measured."""
    return replace(the_vm, dirty_rates=(DirtyRateSample(int(mibps * MIB), 1.0),))


def peak(plan: EvacuationPlan, key: str) -> int:
    """The most planned migrations sharing one host's end (`source_host_id` or
    `destination_host_id`) at any moment, or all of them (key "")."""
    most = 0
    for item in plan.planned:
        moment = item.start_s
        running = [p for p in plan.planned if p.start_s <= moment < p.finish_s]
        counts = Counter(getattr(p, key) if key else "" for p in running)
        most = max(most, *counts.values())
    return most


def names(items: Sequence[PlannedMigration]) -> list[str]:
    return [item.vm.name for item in items]


def test_the_plan_says_when_each_vm_and_the_whole_evacuation_end() -> None:
    source = host(1, status=PREPARING)
    hosts = [source, host(2), host(3)]
    vms = [vm(f"v{i}", memory_mib=(i + 1) * GIB) for i in range(5)]
    plan = plan_evacuation(source, vms, hosts, networks())
    assert [item.rank for item in plan.planned] == [1, 2, 3, 4, 5]
    starts = [item.start_s for item in plan.planned]
    assert starts == sorted(starts) and starts[0] == 0
    assert all(item.finish_s > item.start_s for item in plan.planned)
    assert plan.finish_s == max(item.finish_s for item in plan.planned)
    assert plan.finish_s_of("h1") == plan.finish_s
    # The source's link is the bottleneck: the data cannot cross it faster.
    link_bps = expected_throughput_bps(10_000 * 1_000_000 / 8 / MIB)
    assert plan.finish_s >= sum(v.data_bytes for v in vms) / link_bps


def test_big_and_hot_vms_go_first_not_last() -> None:
    source = host(1, status=PREPARING)
    vms = [
        vm("small", memory_mib=GIB),
        hot(vm("hot", memory_mib=4 * GIB), 300),
        vm("big", memory_mib=16 * GIB),
        vm("medium", memory_mib=4 * GIB),
    ]
    plan = plan_evacuation(source, vms, [source, host(2), host(3)], networks())
    assert names(plan.planned) == ["big", "hot", "medium", "small"]


def test_limits_hold_at_every_moment() -> None:
    source = host(1, status=PREPARING)
    hosts = [source, *(host(i) for i in range(2, 5))]
    vms = [vm(f"v{i}", memory_mib=(1 + i % 4) * GIB) for i in range(12)]
    for policy, outgoing, total in [
        (MigrationPolicy(), 2, 2),
        (MigrationPolicy(max_outgoing_per_host=3, max_incoming_per_host=1), 3, 3),
        (MigrationPolicy(max_outgoing_per_host=4, max_concurrent_per_cluster=1), 1, 1),
    ]:
        plan = plan_evacuation(source, vms, hosts, networks(policy=policy))
        limits = MigrationLimits.of(policy)
        assert len(plan.planned) == len(vms)
        assert peak(plan, "source_host_id") == outgoing
        assert peak(plan, "destination_host_id") <= limits.incoming_per_host
        assert peak(plan, "") == total


def test_destinations_incoming_links_are_used_in_parallel() -> None:
    """The source's link (25 Gbit/s) is faster than each destination's (10 Gbit/s): the first
    migrations go to different destinations, each on a link of its own."""
    source = host(1, status=PREPARING, mig_speed=25_000)
    hosts = [source, host(2), host(3), host(4)]
    vms = [vm(f"v{i}", memory_mib=4 * GIB) for i in range(6)]
    policy = MigrationPolicy(max_outgoing_per_host=3)
    plan = plan_evacuation(source, vms, hosts, networks(policy=policy))
    first = [item for item in plan.planned if item.start_s == 0]
    assert len(first) == 3
    assert len({item.destination_host_id for item in first}) == 3


def test_each_destination_is_promised_the_memory_of_what_it_receives() -> None:
    source = host(1, status=PREPARING)
    hosts = [source, host(2, free_mib=20 * GIB), host(3, free_mib=8 * GIB), host(4, free_mib=GIB)]
    vms = [vm(n, memory_mib=m * GIB) for n, m in (("a", 8), ("b", 8), ("c", 6), ("d", 4), ("e", 2))]
    plan = plan_evacuation(source, vms, hosts, networks())
    used = Counter[str]()
    for item in plan.planned:
        used[item.destination_host_id] += item.vm.memory_mib
    free = {view.host.id: view.host.facts.free_memory_mib for view in hosts}
    assert all(used[h] <= free[h] for h in used)
    assert "h4" not in used  # 1 GiB free takes none of them
    assert sorted(names(plan.planned)) == ["a", "b", "c", "d", "e"]
    assert plan.unplaced == ()


@pytest.mark.parametrize(
    ("policy", "planned", "help_"),
    [
        pytest.param(MigrationPolicy(), False, None, id="no help allowed: reported"),
        pytest.param(
            MigrationPolicy(convergence=ConvergencePolicy.POST_COPY),
            True,
            Help.POST_COPY,
            id="post-copy allowed: planned with it",
        ),
    ],
)
def test_a_vm_that_can_never_converge(policy: MigrationPolicy, planned: bool, help_: Help) -> None:
    """It dirties 3000 MiB/s, more than the 10 Gbit/s link (1192 MiB/s) ever gives it."""
    source = host(1, status=PREPARING)
    vms = [hot(vm("furnace", memory_mib=4 * GIB), 3000), vm("calm", memory_mib=4 * GIB)]
    plan = plan_evacuation(source, vms, [source, host(2), host(3)], networks(policy=policy))
    if planned:
        [furnace] = [item for item in plan.planned if item.vm.name == "furnace"]
        assert furnace.prediction is not None and furnace.prediction.help is help_
        assert plan.unplaced == ()
    else:
        assert names(plan.planned) == ["calm"]
        [unplaced] = plan.unplaced
        assert unplaced.vm_name == "furnace"
        assert "would not converge even alone on its host's link (1192 MiB/s)" in unplaced.reason
        assert "dirties 3000 MiB/s" in unplaced.reason


def test_a_vm_that_converges_only_alone_waits_for_the_link() -> None:
    """It dirties 800 MiB/s: not at half the link (596 MiB/s) while another migration leaves,
    only alone (1192 MiB/s). It is not started plain before, so it runs alone."""
    source = host(1, status=PREPARING)
    vms = [
        hot(vm("warm", memory_mib=4 * GIB), 800),
        *(vm(f"v{i}", memory_mib=GIB) for i in range(3)),
    ]
    plan = plan_evacuation(source, vms, [source, host(2), host(3)], networks())
    [warm] = [item for item in plan.planned if item.vm.name == "warm"]
    others = [item for item in plan.planned if item.vm.name != "warm"]
    assert warm.bandwidth_mibps == 1192
    assert all(o.finish_s <= warm.start_s or o.start_s >= warm.finish_s for o in others)


def test_two_hosts_evacuating_share_one_plan() -> None:
    sources = [host(1, status=PREPARING), host(2, status=PREPARING)]
    hosts = [*sources, host(3, free_mib=24 * GIB), host(4, free_mib=24 * GIB)]
    vms = [
        *(vm(f"a{i}", on=1, memory_mib=(i + 2) * GIB) for i in range(4)),
        *(vm(f"b{i}", on=2, memory_mib=(i + 1) * GIB) for i in range(4)),
    ]
    plan = plan_evacuation(sources, vms, hosts, networks())
    assert plan.host_ids == ("h1", "h2")
    assert len(plan.planned) == 8 and plan.unplaced == ()
    # Neither source is a destination, and both send from the start.
    assert {item.destination_host_id for item in plan.planned} <= {"h3", "h4"}
    assert {item.source_host_id for item in plan.planned if item.start_s == 0} == {"h1", "h2"}
    # The shared destinations' limits and memory hold across both hosts' migrations.
    assert peak(plan, "destination_host_id") <= 2
    assert peak(plan, "source_host_id") <= 2
    used = Counter[str]()
    for item in plan.planned:
        used[item.destination_host_id] += item.vm.memory_mib
    assert max(used.values()) <= 24 * GIB
    assert plan.finish_s == max(plan.finish_s_of("h1"), plan.finish_s_of("h2"))


def test_migrations_already_running_hold_their_slots_until_their_finish() -> None:
    source = host(1, status=PREPARING)
    hosts = [source, host(2), host(3)]
    vms = [vm(f"v{i}", memory_mib=GIB) for i in range(3)]
    running = [Occupant("h1", "h2", 100.0)]
    plan = plan_evacuation(source, vms, hosts, networks(), occupants=running)
    assert [item.start_s for item in plan.planned].count(0) == 1  # one slot of 2 is free
    assert plan.finish_s >= 100.0


def test_the_plan_beats_fifo_on_a_small_case() -> None:
    """Capped at 100 MiB/s each, two at a time: FIFO leaves the big VM to the end, alone; the
    plan starts it first and fills the other slot with the small ones."""
    source = host(1, status=PREPARING)
    hosts = [source, host(2), host(3)]
    policy = MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=100)
    vms = [*(vm(f"small{i}", memory_mib=GIB) for i in range(4)), vm("big", memory_mib=4 * GIB)]
    cluster_networks = networks(policy=policy)
    plan = plan_evacuation(source, vms, hosts, cluster_networks)
    fifo = schedule_evacuation(
        [EvacuationJob(v) for v in vms], [source], hosts, cluster_networks, keep_order=True
    )
    assert names(fifo.scheduled)[-1] == "big"
    assert names(plan.planned)[0] == "big"
    # The best any order can do: the big VM's own time, or all the data and each migration's
    # fixed costs over two slots.
    fixed_s = SETUP_S + ENGINE_PATH_S + SWITCH_OVER_S
    big_s = 4 * GIB * MIB / expected_throughput_bps(100) + fixed_s
    all_s = sum(v.data_bytes for v in vms) / expected_throughput_bps(100) + len(vms) * fixed_s
    lower_bound = max(big_s, all_s / 2)
    assert plan.finish_s < fifo.finish_s / 1.3
    assert plan.finish_s < lower_bound * 1.1


def test_hot_guests_leave_one_at_a_time_when_that_ends_sooner() -> None:
    """Sharing the source's link, each hot guest resends more of what it dirties: one at a
    time, at the whole link, ends sooner; idle guests overlap their setups two at a time."""
    source = host(1, status=PREPARING)
    hosts = [source, host(2), host(3)]
    hot_vms = [hot(vm(f"h{i}", memory_mib=4 * GIB), 300) for i in range(6)]
    plan = plan_evacuation(source, hot_vms, hosts, networks())
    assert plan.outgoing_per_host == 1 and peak(plan, "source_host_id") == 1
    two = schedule_evacuation(
        [EvacuationJob(v) for v in hot_vms], [source], hosts, networks(), outgoing_cap=2
    )
    assert plan.finish_s < two.finish_s
    idle = plan_evacuation(source, [vm(f"i{i}") for i in range(6)], hosts, networks())
    assert idle.outgoing_per_host == 2 and peak(idle, "source_host_id") == 2


def test_a_destination_lost_is_planned_around() -> None:
    source = host(1, status=PREPARING)
    vms = [vm(f"v{i}", memory_mib=GIB) for i in range(6)]
    before = plan_evacuation(source, vms, [source, host(2), host(3)], networks())
    assert {item.destination_host_id for item in before.planned} == {"h2", "h3"}
    lost = [source, host(2, status=HostStatus.UNREACHABLE), host(3)]
    after = plan_evacuation(source, vms, lost, networks())
    assert {item.destination_host_id for item in after.planned} == {"h3"}
    assert len(after.planned) == len(vms)
