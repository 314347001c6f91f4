"""The finish of migrations starting now over the timeline of their links
(`domain.timeline_forecast`), alone and through an admission pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from miglane.engine.domain.admission import AdmissionVerdict, admit_queued
from miglane.engine.domain.forecast import queued_prediction
from miglane.engine.domain.model import Migration, MigrationPhase, MigrationPolicy, Vm
from miglane.engine.domain.timeline_forecast import finishes_over_timeline

from .builders import T0, host, migration, networks, vm

AUTO = MigrationPolicy()
HOSTS = [host(i) for i in range(1, 5)]
# The builders' 10 GbE migration links, in MiB/s: the AUTO budget of each.
LINK_MIBPS = 10_000 * 1_000_000 / 8 / (1 << 20)


def _at(the_vm: Vm, sharing: int) -> float:
    """`the_vm`'s predicted duration with `sharing` migrations on its link all the way."""
    part = LINK_MIBPS / sharing
    return queued_prediction(the_vm, AUTO, int(part), part).duration_s


def _running(ident: str, the_vm: Vm, to: int, ends_s: float) -> Migration:
    return replace(
        migration(ident, the_vm, to=to, phase=MigrationPhase.RUNNING),
        predicted_finish_at=T0 + timedelta(seconds=ends_s),
    )


def _finishes(
    starting: list[Migration],
    waiting: Sequence[Migration] = (),
    holders: Sequence[Migration] = (),
    the_vms: Sequence[Vm] = (),
    policy: MigrationPolicy = AUTO,
) -> dict[str, float]:
    return finishes_over_timeline(
        starting,
        waiting,
        holders,
        HOSTS,
        {v.id: v for v in the_vms},
        networks(policy=policy),
        T0,
    )


BIG = vm("big", memory_mib=8192)
SMALL = vm("small", memory_mib=2048)
OTHER = vm("other", memory_mib=8192)
RUNNING_VM = vm("running", memory_mib=4096)


def test_alone_with_nothing_behind_it_keeps_the_prediction_at_its_start() -> None:
    assert _finishes([migration("a", BIG, to=2)], the_vms=[BIG]) == {}


def test_with_one_behind_it_and_one_at_a_time_it_keeps_the_whole_link() -> None:
    finishes = _finishes(
        [migration("a", BIG, to=2)],
        waiting=[migration("b", SMALL)],
        the_vms=[BIG, SMALL],
        policy=MigrationPolicy(max_outgoing_per_host=1),
    )
    assert finishes == {"a": pytest.approx(_at(BIG, 1))}


def test_the_shorter_of_two_starting_together_leaves_the_longer_the_whole_link() -> None:
    finishes = _finishes(
        [migration("a", BIG, to=2), migration("b", SMALL, to=3)], the_vms=[BIG, SMALL]
    )
    small_s = _at(SMALL, 2)
    assert finishes["b"] == pytest.approx(small_s)
    # Half of the link until the small one ends, then all of it for what is left.
    left = 1 - small_s / _at(BIG, 2)
    assert finishes["a"] == pytest.approx(small_s + left * _at(BIG, 1))
    assert _at(BIG, 1) < finishes["a"] < _at(BIG, 2)


def test_one_queued_behind_takes_the_place_of_the_one_that_ends() -> None:
    """Two outgoing at once: when the small one ends, the queued one starts beside the big one,
    which keeps half of the link."""
    finishes = _finishes(
        [migration("a", BIG, to=2), migration("b", SMALL, to=3)],
        waiting=[migration("c", OTHER)],
        the_vms=[BIG, SMALL, OTHER],
    )
    assert finishes["a"] == pytest.approx(_at(BIG, 2))


def test_a_running_one_that_ends_first_leaves_it_the_whole_link() -> None:
    ends_s = 10.0
    finishes = _finishes(
        [migration("a", BIG, to=2)],
        holders=[_running("r", RUNNING_VM, 3, ends_s)],
        the_vms=[BIG, RUNNING_VM],
    )
    left = 1 - ends_s / _at(BIG, 2)
    assert finishes["a"] == pytest.approx(ends_s + left * _at(BIG, 1))


@pytest.mark.parametrize(
    ("starting", "holders", "policy"),
    [
        pytest.param(
            [replace(migration("a", BIG, to=2), bandwidth_override_mibps=100)],
            [],
            AUTO,
            id="a bandwidth of its own: the policy does not share it",
        ),
        pytest.param(
            [migration("a", BIG, to=2)],
            [replace(_running("r", RUNNING_VM, 3, 10.0), granted_mibps=900)],
            AUTO,
            id="a larger share beside it: the policy alone does not say what is left",
        ),
        pytest.param(
            [migration("a", BIG, to=2)],
            [_running("r", RUNNING_VM, 3, 10.0)],
            MigrationPolicy(max_concurrent_per_cluster=1),
            id="the timeline would not start it at once: a limit admission did not see",
        ),
        pytest.param(
            [migration("a", vm("gone"), to=2)],
            [],
            AUTO,
            id="its VM is unknown",
        ),
    ],
)
def test_what_the_timeline_cannot_tell_keeps_the_prediction_at_its_start(
    starting: list[Migration], holders: list[Migration], policy: MigrationPolicy
) -> None:
    assert _finishes(starting, holders=holders, the_vms=[BIG, RUNNING_VM], policy=policy) == {}


def test_admission_records_each_start_over_the_timeline() -> None:
    """A big and a small idle VM leave h1 in one pass: the small one at half of the link, the
    big one at half until the small one ends, then all of it (not half all the way)."""
    verdicts = admit_queued(
        [migration("a", BIG, to=2), migration("b", SMALL, to=3, seconds=1)],
        [],
        HOSTS,
        {BIG.id: BIG, SMALL.id: SMALL},
        networks(),
        now=T0,
    )
    assert [a.verdict for a in verdicts] == [AdmissionVerdict.START] * 2
    big, small = (admission.prediction for admission in verdicts)
    assert big is not None and small is not None
    assert small.duration_s == pytest.approx(_at(SMALL, 2))
    left = 1 - _at(SMALL, 2) / _at(BIG, 2)
    assert big.duration_s == pytest.approx(_at(SMALL, 2) + left * _at(BIG, 1))
