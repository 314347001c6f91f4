"""VM migration priority: the queue admits higher priorities first (FIFO within one), AUTO
splits a link by priority weight, and a migration whose fair share would never converge gets
a larger share when the others on its link can spare it."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.admission import AdmissionVerdict, admit_queued, queue_order_key
from miglane.engine.domain.bandwidth import (
    LinkBudget,
    MigrationFlow,
    bandwidth_caps,
    link_budget,
)
from miglane.engine.domain.errors import InvalidArgument
from miglane.engine.domain.forecast import (
    needed_bandwidth_mibps,
    queued_load,
    started_prediction,
)
from miglane.engine.domain.larger_share import FlowLoad, larger_share
from miglane.engine.domain.migration_path import choose_migration_uri
from miglane.engine.domain.model import (
    MIB,
    BandwidthMode,
    DirtyRateSample,
    Help,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    MigrationPriority,
    Vm,
)
from miglane.engine.domain.prediction import MigrationLoad
from miglane.engine.domain.priority import (
    PRIORITY_WEIGHTS,
    following_vm,
    parse_priority,
    priority_weight,
    validate_priority,
)

from .builders import MGMT_ID, MIG_ID, T0, host, migration, networks, vm

HIGH, NORMAL, LOW = MigrationPriority.HIGH, MigrationPriority.NORMAL, MigrationPriority.LOW
AUTO = MigrationPolicy()
BUDGET = LinkBudget(1192.09, "slower link on migration network 'migration': mig0 10000 Mbit/s")
HOSTS = [host(i) for i in range(1, 5)]


def with_priority(made: Migration, priority: MigrationPriority) -> Migration:
    return replace(made, priority=priority)


def dirtying(name: str, mibps: float, *, on: int = 1, memory_mib: int = 4096) -> Vm:
    made = vm(name, on=on, memory_mib=memory_mib)
    return replace(made, dirty_rates=(DirtyRateSample(int(mibps * MIB), T0.timestamp()),))


# ---------------------------------------------------------------- the weights


def test_the_weights_table() -> None:
    assert PRIORITY_WEIGHTS == {HIGH: 4, NORMAL: 2, LOW: 1}
    # A record written before priorities weighs as a NORMAL one.
    assert priority_weight(MigrationPriority.UNSPECIFIED) == PRIORITY_WEIGHTS[NORMAL]


@pytest.mark.parametrize(
    "priorities",
    [
        pytest.param((NORMAL,), id="alone"),
        pytest.param((NORMAL, NORMAL), id="equal priorities: equal parts"),
        pytest.param((HIGH, NORMAL), id="high twice normal"),
        pytest.param((HIGH, NORMAL, LOW), id="4:2:1"),
        pytest.param((LOW, LOW, HIGH), id="two low, one high"),
    ],
)
def test_auto_splits_a_link_by_priority_weight(priorities: tuple[MigrationPriority, ...]) -> None:
    flows = [
        MigrationFlow(f"m{i}", "h1", f"h{i + 2}", MIG_ID, BUDGET, priority=p)
        for i, p in enumerate(priorities)
    ]
    caps = bandwidth_caps(AUTO, flows)
    total = sum(PRIORITY_WEIGHTS[p] for p in priorities)
    for flow in flows:
        expected = math.floor(BUDGET.mibps * PRIORITY_WEIGHTS[flow.priority] / total)
        assert caps[flow.migration_id].mibps == expected
    assert sum(cap.mibps for cap in caps.values()) <= BUDGET.mibps
    weighted = len(set(priorities)) > 1
    assert all(("by priority" in cap.basis) is weighted for cap in caps.values())


def test_equal_priorities_split_as_before_priorities() -> None:
    """Three NORMAL ones get what three migrations got before priorities existed."""
    flows = [MigrationFlow(f"m{i}", "h1", f"h{i + 2}", MIG_ID, BUDGET) for i in range(3)]
    assert {c.mibps for c in bandwidth_caps(AUTO, flows).values()} == {math.floor(BUDGET.mibps / 3)}


def test_the_management_budget_is_never_exceeded_by_weighted_fallbacks() -> None:
    cluster_networks = networks()
    path = choose_migration_uri(
        cluster_networks, host(1, mig_link_up=False, mgmt_speed=10000), host(2, mgmt_speed=10000)
    )
    budget = link_budget(path, cluster_networks)
    granted = MigrationFlow("g", "h1", "h9", MGMT_ID, budget, granted_mibps=5)
    flows = [
        MigrationFlow(f"m{i}", "h1", f"h{i + 2}", MGMT_ID, budget, priority=p)
        for i, p in enumerate((HIGH, NORMAL, LOW, LOW))
    ]
    caps = bandwidth_caps(AUTO, [*flows, granted])
    assert sum(cap.mibps for cap in caps.values()) <= budget.mibps
    assert caps["g"].mibps == 5


def test_an_explicit_bandwidth_still_wins_over_the_weights() -> None:
    flows = [
        MigrationFlow("high", "h1", "h2", MIG_ID, BUDGET, priority=HIGH),
        MigrationFlow("asked", "h1", "h3", MIG_ID, BUDGET, override_mibps=33, priority=LOW),
    ]
    caps = bandwidth_caps(AUTO, flows)
    assert caps["asked"].mibps == 33
    assert caps["high"].mibps == math.floor(BUDGET.mibps * 4 / 5)


def test_a_larger_share_comes_off_the_others_budget_first() -> None:
    flows = [
        MigrationFlow("given", "h1", "h2", MIG_ID, BUDGET, granted_mibps=700),
        MigrationFlow("a", "h1", "h3", MIG_ID, BUDGET),
        MigrationFlow("b", "h1", "h4", MIG_ID, BUDGET),
    ]
    caps = bandwidth_caps(AUTO, flows)
    assert caps["given"].mibps == 700
    assert caps["a"].mibps == caps["b"].mibps == math.floor((BUDGET.mibps - 700) / 2)
    assert "after 700 MiB/s given to larger shares" in caps["a"].basis


# ---------------------------------------------------------------- values an admin gives


@pytest.mark.parametrize(
    ("value", "priority"), [(int(p), p) for p in PRIORITY_WEIGHTS] + [(0, None), (9, None)]
)
def test_validate_priority(value: int, priority: MigrationPriority | None) -> None:
    if priority is None:
        with pytest.raises(InvalidArgument) as refused:
            validate_priority("priority", value)
        assert refused.value.field == "priority"
        assert all(p.label in refused.value.message for p in PRIORITY_WEIGHTS)
    else:
        assert validate_priority("priority", value) is priority


@pytest.mark.parametrize(("text", "priority"), [("high", HIGH), (" Normal", NORMAL), ("LOW", LOW)])
def test_parse_priority(text: str, priority: MigrationPriority) -> None:
    assert parse_priority(text) is priority


def test_parse_priority_refuses_a_word_it_does_not_know() -> None:
    with pytest.raises(InvalidArgument):
        parse_priority("urgent")


def test_an_active_migration_follows_its_vms_priority_unless_overridden() -> None:
    the_vm = replace(vm("web"), priority=HIGH)
    plain = migration("m", the_vm)
    assert following_vm(plain, the_vm).priority is HIGH
    overridden = replace(plain, priority=LOW, priority_override=LOW)
    assert following_vm(overridden, the_vm) is overridden


def test_queued_takes_the_override_before_the_vms_priority() -> None:
    made = Migration.queued(
        "m",
        cluster_id="c",
        vm_id="v",
        vm_name="v",
        source_host_id="h1",
        created_at=T0,
        queue_reason="",
        priority=LOW,
        priority_override=HIGH,
    )
    assert (made.priority, made.priority_override) == (HIGH, HIGH)


# ---------------------------------------------------------------- the queue's order


def test_queue_order_key_higher_priority_first_fifo_within_one() -> None:
    web = vm("web")
    made = [
        with_priority(migration(f"m{i}", web, seconds=i), p)
        for i, p in enumerate((NORMAL, LOW, HIGH, NORMAL, HIGH))
    ]
    ordered = [m.id for m in sorted(made, key=queue_order_key)]
    assert ordered == ["m2", "m4", "m0", "m3", "m1"]


def test_a_high_vm_queued_last_takes_the_one_free_slot() -> None:
    """h1 may send 2; one is running: of three queued, the HIGH one queued last starts."""
    vms = [vm(f"v{i}") for i in range(4)]
    running = migration("running", vms[0], to=2, phase=MigrationPhase.RUNNING)
    queued = [
        migration("n1", vms[1], to=3, seconds=1),
        migration("n2", vms[2], to=3, seconds=2),
        with_priority(migration("h", vms[3], to=4, seconds=3), HIGH),
    ]
    verdicts = admit_queued(
        queued, [running], HOSTS, {v.id: v for v in vms}, networks(), now=T0 + timedelta(9)
    )
    assert [(a.migration.id, a.verdict) for a in verdicts] == [
        ("h", AdmissionVerdict.START),
        ("n1", AdmissionVerdict.WAIT),
        ("n2", AdmissionVerdict.WAIT),
    ]


# ---------------------------------------------------------------- a larger share


def flow(ident: str, src: str, dst: str, **kwargs: object) -> MigrationFlow:
    return MigrationFlow(ident, src, dst, MIG_ID, BUDGET, **kwargs)  # type: ignore[arg-type]


def load(dirty_mibps: float, memory_mib: int = 4096) -> FlowLoad:
    return FlowLoad(MigrationLoad(memory_mib * MIB, dirty_mibps * MIB))


NEEDS = needed_bandwidth_mibps(MigrationLoad(4096 * MIB, 800 * MIB))


@pytest.mark.parametrize(
    ("policy", "candidate", "needed", "others", "granted"),
    [
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            NEEDS,
            {flow("o", "h1", "h3"): load(0)},
            NEEDS,
            id="an idle neighbour spares it",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            NEEDS,
            {flow("o", "h1", "h3"): load(500)},
            None,
            id="a neighbour that would never converge at what is left",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            NEEDS,
            {flow("o", "h5", "h6"): load(500)},
            NEEDS,
            id="a migration on other links does not count",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            NEEDS,
            {flow("o", "h5", "h2"): load(0)},
            NEEDS,
            id="the destination's end counts too",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            None,
            {},
            None,
            id="converges at no share: nothing to give",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            1300,
            {},
            None,
            id="more than the link's budget",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            NEEDS,
            {flow("o", "h1", "h3", granted_mibps=600): load(0)},
            None,
            id="the larger shares together above the budget",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2", override_mibps=100),
            NEEDS,
            {},
            None,
            id="the operator's bandwidth is not enlarged",
        ),
        pytest.param(
            MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=100),
            flow("c", "h1", "h2"),
            NEEDS,
            {},
            None,
            id="only AUTO shares are moved",
        ),
        pytest.param(
            AUTO,
            flow("c", "h1", "h2"),
            NEEDS,
            {flow("o", "h1", "h3"): FlowLoad(MigrationLoad(4096 * MIB, 500 * MIB), Help.POST_COPY)},
            NEEDS,
            id="a neighbour running with post-copy finishes anyway",
        ),
    ],
)
def test_larger_share(
    policy: MigrationPolicy,
    candidate: MigrationFlow,
    needed: int | None,
    others: dict[MigrationFlow, FlowLoad],
    granted: int | None,
) -> None:
    loads = {f.migration_id: flow_load for f, flow_load in others.items()}
    assert larger_share(policy, candidate, needed, list(others), loads) == granted


def test_a_warm_vm_starts_plain_with_the_share_the_idle_neighbour_spares() -> None:
    [admission] = admit_queued(
        [migration("m", dirtying("warm", 800), to=2)],
        [migration("held", dirtying("held", 0), to=3, phase=MigrationPhase.RUNNING)],
        HOSTS,
        {v.id: v for v in (dirtying("warm", 800), dirtying("held", 0))},
        networks(policy=MigrationPolicy(auto_converge=True)),
        now=T0,
    )
    assert admission.verdict is AdmissionVerdict.START
    assert (admission.help, admission.granted_mibps) == (Help.NONE, NEEDS)
    assert admission.reason.startswith(say.started_with_larger_share(NEEDS, 596, "")[:40])
    assert admission.prediction is not None and admission.prediction.finishes


def test_with_no_share_to_spare_and_no_help_it_waits() -> None:
    [admission] = admit_queued(
        [migration("m", dirtying("warm", 800), to=2)],
        [migration("held", dirtying("held", 500), to=3, phase=MigrationPhase.RUNNING)],
        HOSTS,
        {v.id: v for v in (dirtying("warm", 800), dirtying("held", 500))},
        networks(),
        now=T0,
    )
    assert admission.verdict is AdmissionVerdict.WAIT
    assert admission.granted_mibps is None
    assert admission.reason.startswith("waits for ")


def test_a_vm_that_never_converges_at_any_share_is_not_given_one() -> None:
    hot = dirtying("hot", 20_000)
    assert needed_bandwidth_mibps(queued_load(hot, AUTO)) is None
    [admission] = admit_queued(
        [migration("m", hot, to=2)], [], HOSTS, {hot.id: hot}, networks(), now=T0
    )
    assert admission.verdict is AdmissionVerdict.WAIT
    assert admission.granted_mibps is None
    assert "converges at no bandwidth" in admission.reason


def test_a_second_start_of_the_same_pass_counts_the_larger_share_given() -> None:
    """Two warm VMs leave h1 in one pass: the first, alone, starts at the whole link; a
    larger share for the second would leave the first too little, so it waits."""
    first, second = dirtying("first", 800), dirtying("second", 800)
    verdicts = admit_queued(
        [migration("a", first, to=2), migration("b", second, to=3, seconds=1)],
        [],
        HOSTS,
        {first.id: first, second.id: second},
        networks(),
        now=T0,
    )
    assert [(a.verdict, a.granted_mibps) for a in verdicts] == [
        (AdmissionVerdict.START, None),
        (AdmissionVerdict.WAIT, None),
    ]


def test_a_migration_after_a_larger_share_is_judged_at_what_is_left() -> None:
    """A running warm one holds a larger share of h1's link; an idle one queued next is judged
    (and its forecast given) at what is left, not at half the link."""
    warm = dirtying("warm", 800)
    idle = dirtying("idle", 0)
    granted = replace(
        migration("held", warm, to=3, phase=MigrationPhase.RUNNING), granted_mibps=NEEDS
    )
    [admission] = admit_queued(
        [migration("m", idle, to=2)],
        [granted],
        HOSTS,
        {warm.id: warm, idle.id: idle},
        networks(),
        now=T0,
    )
    assert admission.verdict is AdmissionVerdict.START
    assert admission.prediction is not None
    link = link_budget(choose_migration_uri(networks(), HOSTS[0], HOSTS[1]), networks())
    assert NEEDS is not None
    left = math.floor(link.mibps - NEEDS)
    # Its part of the link's capacity: the link split in proportion to the caps there.
    share = link.mibps * left / (NEEDS + left)
    assert admission.prediction == started_prediction(idle, AUTO, Help.NONE, left, share)
    half = math.floor(link.mibps / 2)
    assert admission.prediction != started_prediction(idle, AUTO, Help.NONE, half, half)


def test_a_larger_share_copying_local_disks_is_not_cut_again() -> None:
    policy = MigrationPolicy(local_disk_bandwidth_percent=50)
    flows = [
        MigrationFlow("given", "h1", "h2", MIG_ID, BUDGET, copies_disks=True, granted_mibps=700)
    ]
    assert bandwidth_caps(policy, flows)["given"].mibps == 700
