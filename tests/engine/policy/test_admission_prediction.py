"""Admission judges a start by the model: at the bandwidth it would get, a migration that plain
pre-copy would not finish starts with a help the policy allows, else waits for the bandwidth it
needs; a bandwidth the operator asked for starts as asked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.admission import Admission, AdmissionVerdict, admit_queued
from miglane.engine.domain.convergence import migration_tuning
from miglane.engine.domain.forecast import (
    needed_bandwidth_mibps,
    queued_bandwidth_mibps,
    queued_load,
)
from miglane.engine.domain.model import (
    MIB,
    ConvergencePolicy,
    ConvergenceVerdict,
    DirtyRateSample,
    Help,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    Vm,
)
from miglane.engine.domain.prediction import expected_throughput_bps, stall_reason

from .builders import T0, host, migration, networks, vm

HOSTS = [host(i) for i in range(1, 4)]
BY_ID = {view.host.id: view for view in HOSTS}
# The hosts' 10 Gbit/s migration links give one migration alone ~1192 MiB/s, two leaving the
# same source ~596 MiB/s each.
WARM_MIBPS = 800
# Faster than any link here: only auto-converge's throttling (to 1%) or post-copy finish it.
HOT_MIBPS = 5000
AUTO_CONVERGE = MigrationPolicy(auto_converge=True)
POST_COPY = MigrationPolicy(convergence=ConvergencePolicy.POST_COPY)


def dirtying(name: str, mibps: float, *, on: int = 1) -> Vm:
    made = vm(name, on=on, memory_mib=4096)
    return replace(made, dirty_rates=(DirtyRateSample(int(mibps * MIB), T0.timestamp()),))


def admit_one(
    queued: Migration,
    the_vm: Vm,
    policy: MigrationPolicy,
    slot_holders: tuple[tuple[Migration, Vm], ...] = (),
) -> Admission:
    vms = {the_vm.id: the_vm, **{held.id: held for _, held in slot_holders}}
    admissions = admit_queued(
        [queued],
        [holder for holder, _ in slot_holders],
        HOSTS,
        vms,
        networks(policy=policy),
        now=T0,
    )
    return admissions[0]


# A running migration that converges at its half of the link (it needs ~530 MiB/s) but not at
# what would be left if it gave the warm one the ~835 MiB/s that one needs: it cannot spare any.
HOLDER_CANNOT_SPARE_MIBPS = 500


def running_from_h1(
    dirty_mibps: float = HOLDER_CANNOT_SPARE_MIBPS,
) -> tuple[tuple[Migration, Vm], ...]:
    busy = dirtying("busy", dirty_mibps)
    return ((migration("held", busy, to=3, phase=MigrationPhase.RUNNING), busy),)


@pytest.mark.parametrize(
    ("dirty_mibps", "policy", "shared", "verdict", "help_"),
    [
        # Converges plain: starts plain.
        (0, MigrationPolicy(), False, AdmissionVerdict.START, Help.NONE),
        (WARM_MIBPS, MigrationPolicy(), False, AdmissionVerdict.START, Help.NONE),
        # Never converges at the share it would get, the other on its link cannot spare more;
        # the policy allows a help that finishes it.
        (WARM_MIBPS, AUTO_CONVERGE, True, AdmissionVerdict.START, Help.AUTO_CONVERGE),
        (HOT_MIBPS, AUTO_CONVERGE, False, AdmissionVerdict.START, Help.AUTO_CONVERGE),
        (HOT_MIBPS, POST_COPY, False, AdmissionVerdict.START, Help.POST_COPY),
        # Never converges, no larger share to be had, nothing allowed: waits.
        (WARM_MIBPS, MigrationPolicy(), True, AdmissionVerdict.WAIT, Help.NONE),
        (HOT_MIBPS, MigrationPolicy(), False, AdmissionVerdict.WAIT, Help.NONE),
    ],
)
def test_the_verdict_decides_how_it_starts(
    dirty_mibps: float,
    policy: MigrationPolicy,
    shared: bool,
    verdict: AdmissionVerdict,
    help_: Help,
) -> None:
    the_vm = dirtying("web", dirty_mibps)
    holders = running_from_h1() if shared else ()
    admission = admit_one(migration("m", the_vm, to=2), the_vm, policy, holders)
    assert (admission.verdict, admission.help) == (verdict, help_)
    assert admission.prediction is not None
    if verdict is AdmissionVerdict.WAIT:
        assert admission.prediction.verdict is ConvergenceVerdict.NEVER_CONVERGES
    elif help_ is Help.NONE:
        assert admission.prediction.verdict is ConvergenceVerdict.CONVERGES
        assert admission.reason == ""
    else:
        assert admission.prediction.verdict is ConvergenceVerdict.CONVERGES_ONLY_WITH_HELP
        assert admission.reason.startswith(say.started_with_help(help_.value, "dirties "))


def test_waits_for_the_bandwidth_that_frees_up_when_the_other_migration_ends() -> None:
    policy = MigrationPolicy()
    warm = dirtying("warm", WARM_MIBPS)
    queued = migration("m", warm, to=2)
    admission = admit_one(queued, warm, policy, running_from_h1())
    needed = needed_bandwidth_mibps(queued_load(warm, policy))
    free = queued_bandwidth_mibps(queued, warm, BY_ID, networks(policy=policy), 1)
    alone = queued_bandwidth_mibps(queued, warm, BY_ID, networks(policy=policy), 0)
    assert needed is not None and free < needed <= alone
    assert admission.reason == say.waits_for_bandwidth(needed, WARM_MIBPS, free)
    # Alone on its link, it starts.
    assert admit_one(queued, warm, policy).verdict is AdmissionVerdict.START


def test_one_no_link_finishes_waits_saying_what_would() -> None:
    policy = MigrationPolicy()
    hot = dirtying("hot", HOT_MIBPS)
    queued = migration("m", hot, to=2)
    admission = admit_one(queued, hot, policy)
    load = queued_load(hot, policy)
    alone = queued_bandwidth_mibps(queued, hot, BY_ID, networks(policy=policy), 0)
    needed = needed_bandwidth_mibps(load)
    assert needed is not None and needed > alone
    why = stall_reason(load, expected_throughput_bps(alone))
    assert admission.verdict is AdmissionVerdict.WAIT
    assert admission.reason == say.never_converges_here(needed, HOT_MIBPS, alone, why)


def test_the_operators_bandwidth_starts_as_asked_with_the_verdict() -> None:
    hot = dirtying("hot", HOT_MIBPS)
    asked = replace(migration("m", hot, to=2), bandwidth_override_mibps=100)
    admission = admit_one(asked, hot, MigrationPolicy())
    assert admission.verdict is AdmissionVerdict.START
    assert admission.prediction is not None
    assert admission.prediction.verdict is ConvergenceVerdict.NEVER_CONVERGES


def test_an_automatic_migration_is_judged_at_its_chosen_destination() -> None:
    hot = dirtying("hot", HOT_MIBPS)
    admission = admit_one(migration("m", hot), hot, AUTO_CONVERGE)
    assert admission.verdict is AdmissionVerdict.START
    assert admission.destination_host_id and admission.help is Help.AUTO_CONVERGE


@pytest.mark.parametrize("help_", [Help.AUTO_CONVERGE, Help.POST_COPY])
def test_the_job_turns_the_chosen_help_on(help_: Help) -> None:
    tuning = migration_tuning(MigrationPolicy(), help_)
    assert tuning.auto_converge is (help_ is Help.AUTO_CONVERGE)
    assert tuning.post_copy_allowed is (help_ is Help.POST_COPY)
    plain = migration_tuning(MigrationPolicy())
    assert (plain.auto_converge, plain.post_copy_allowed) == (False, False)


@pytest.mark.parametrize(
    ("running_mibps", "help_", "verdict"),
    [
        pytest.param(0, Help.NONE, AdmissionVerdict.START, id="running one idle: starts"),
        pytest.param(
            WARM_MIBPS, Help.NONE, AdmissionVerdict.WAIT, id="running one would stall: waits"
        ),
        pytest.param(
            WARM_MIBPS,
            Help.AUTO_CONVERGE,
            AdmissionVerdict.START,
            id="running one has a help: starts",
        ),
    ],
)
def test_a_start_that_would_stall_a_running_migration_waits(
    running_mibps: float, help_: Help, verdict: AdmissionVerdict
) -> None:
    """A warm guest converges alone on the link (~1192 MiB/s), not at half of it: a second
    migration from its host would slow it to ~596 MiB/s."""
    warm = dirtying("warm", running_mibps)
    held = replace(
        migration("held", warm, to=3, phase=MigrationPhase.RUNNING), convergence_help=help_
    )
    admission = admit_one(
        migration("m", vm("calm")), vm("calm"), MigrationPolicy(), ((held, warm),)
    )
    assert admission.verdict is verdict
    if verdict is AdmissionVerdict.WAIT:
        assert admission.reason == say.would_stall("warm", 596)


def test_two_starts_in_one_pass_do_not_stall_each_other() -> None:
    warm, calm = dirtying("warm", WARM_MIBPS), vm("calm")
    admissions = admit_queued(
        [migration("a", warm), migration("b", calm, seconds=1)],
        [],
        HOSTS,
        {warm.id: warm, calm.id: calm},
        networks(),
        now=T0,
    )
    assert [a.verdict for a in admissions] == [AdmissionVerdict.START, AdmissionVerdict.WAIT]
