"""The migration-time model (`domain.prediction`) as a table."""

from __future__ import annotations

import math

import pytest

from miglane.engine.domain.model import MIB, ConvergenceVerdict, Help
from miglane.engine.domain.prediction import (
    AUTO_CONVERGE_MAX_THROTTLE,
    DEFAULT_FIXED_S,
    ENGINE_PATH_S,
    LADDER_STEP_S,
    MAX_ROUNDS,
    SETUP_S,
    SWITCH_OVER_S,
    MigrationLoad,
    predict,
)

GIB = 1024 * MIB
B = 100 * MIB  # bandwidth of the table, bytes/s


def test_an_idle_guest_converges_in_one_round() -> None:
    prediction = predict(MigrationLoad(4 * GIB), B)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    assert prediction.rounds == (4 * GIB,)
    assert prediction.data_sent_bytes == 4 * GIB
    assert prediction.duration_s == pytest.approx(
        SETUP_S + ENGINE_PATH_S + 4 * GIB / B + SWITCH_OVER_S
    )
    assert prediction.downtime_s == pytest.approx(SWITCH_OVER_S)
    assert "dirties no memory" in prediction.reason


def test_a_slow_dirtier_converges_in_one_round_when_what_it_dirtied_fits_the_downtime() -> None:
    # 1 GiB at 100 MiB/s: 10.24 s; 2 MiB/s dirties 20 MiB, 0.2 s at 100 MiB/s < 0.3 s.
    prediction = predict(MigrationLoad(GIB, dirty_rate_bps=2 * MIB), B, 0.3)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    assert len(prediction.rounds) == 1
    # The engine starts at a 100 ms downtime: QEMU goes on with one more round (20.48 MiB,
    # still shrinking), which leaves 0.41 MiB for the switch-over.
    assert prediction.data_sent_bytes == GIB + int(20.48 * MIB) + int(0.4096 * MIB)
    assert prediction.downtime_s == pytest.approx(0.4096 * MIB / B + SWITCH_OVER_S, abs=1e-6)


def test_a_busier_guest_needs_several_rounds_each_smaller_by_the_dirty_to_bandwidth_ratio() -> None:
    load = MigrationLoad(GIB, dirty_rate_bps=50 * MIB)
    prediction = predict(load, B, 0.3)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    assert len(prediction.rounds) > 2
    for before, after in zip(prediction.rounds, prediction.rounds[1:], strict=False):
        assert after == pytest.approx(before * 0.5, abs=1)
    assert prediction.data_sent_bytes > GIB
    assert prediction.downtime_s <= 0.3 + SWITCH_OVER_S
    assert "less than the 100 MiB/s" in prediction.reason


def test_a_guest_dirtying_faster_than_its_bandwidth_never_converges_plain() -> None:
    prediction = predict(MigrationLoad(8 * GIB, dirty_rate_bps=80 * MIB), 47 * MIB)
    assert prediction.verdict is ConvergenceVerdict.NEVER_CONVERGES
    assert not prediction.finishes
    assert math.isinf(prediction.duration_s)
    assert prediction.reason.startswith("dirties 80 MiB/s, more than the 47 MiB/s it would get")


def test_auto_converge_finishes_it_when_the_throttled_rate_converges() -> None:
    load = MigrationLoad(8 * GIB, dirty_rate_bps=80 * MIB)
    prediction = predict(load, 47 * MIB, auto_converge=True)
    assert 80 * (1 - AUTO_CONVERGE_MAX_THROTTLE) < 47
    assert prediction.verdict is ConvergenceVerdict.CONVERGES_ONLY_WITH_HELP
    assert prediction.help is Help.AUTO_CONVERGE
    assert prediction.finishes


def test_a_guest_that_outruns_even_auto_converge_needs_post_copy() -> None:
    # 20 GiB/s dirtied, a hundredth of it still more than 100 MiB/s.
    load = MigrationLoad(4 * GIB, dirty_rate_bps=20 * GIB)
    refused = predict(load, B, auto_converge=True)
    assert refused.verdict is ConvergenceVerdict.NEVER_CONVERGES
    assert "only post-copy" in refused.reason
    prediction = predict(load, B, auto_converge=True, post_copy=True)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES_ONLY_WITH_HELP
    assert prediction.help is Help.POST_COPY
    assert prediction.rounds == (4 * GIB,)
    # The pages dirtied during the first round (at most all memory) are pulled afterwards.
    assert prediction.data_sent_bytes == 8 * GIB
    assert prediction.downtime_s == pytest.approx(SWITCH_OVER_S)


def test_rounds_shrinking_too_slowly_do_not_converge_within_the_rounds_counted() -> None:
    # Each round 0.99 of the one before: ~350 rounds to fit 0.3 s.
    prediction = predict(MigrationLoad(GIB, dirty_rate_bps=99 * MIB), B, 0.3)
    assert prediction.verdict is ConvergenceVerdict.NEVER_CONVERGES
    assert len(prediction.rounds) == MAX_ROUNDS
    assert "shrink too slowly" in prediction.reason


def test_a_working_set_bounds_what_a_round_dirties() -> None:
    load = MigrationLoad(GIB, dirty_rate_bps=GIB, working_set_bytes=8 * MIB)
    prediction = predict(load, B)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    assert prediction.data_sent_bytes == GIB + 8 * MIB


@pytest.mark.parametrize(
    ("memory_mib", "dirty_mibps", "set_mib", "verdict", "sent_mib"),
    [
        # The lab's storm guest rewriting 4 MiB at a measured 8 MiB/s: memory, then the set
        # within the downtime, where the rate alone resends a geometric tail (and the set
        # resent while the downtime ladder climbs: `test_the_downtime_ladder_climbs_...`).
        (160, 8, 4, ConvergenceVerdict.CONVERGES, 164),
        # A set bigger than a round dirties bounds nothing: as if unbounded.
        (160, 8, 128, ConvergenceVerdict.CONVERGES, None),
        # Dirtying faster than the bandwidth, a set that fits the downtime still converges...
        (1024, 100, 4, ConvergenceVerdict.CONVERGES, 1028),
        # ... one that does not never gets smaller.
        (1024, 100, 64, ConvergenceVerdict.NEVER_CONVERGES, None),
        # A set above the memory counts as the memory.
        (64, 100, 1024, ConvergenceVerdict.NEVER_CONVERGES, None),
    ],
)
def test_a_working_set_caps_each_rounds_resend(
    memory_mib: int,
    dirty_mibps: int,
    set_mib: int,
    verdict: ConvergenceVerdict,
    sent_mib: int | None,
) -> None:
    bandwidth = 23 * MIB
    unbounded = MigrationLoad(memory_mib * MIB, dirty_mibps * MIB)
    bounded = MigrationLoad(memory_mib * MIB, dirty_mibps * MIB, working_set_bytes=set_mib * MIB)
    prediction = predict(bounded, bandwidth)
    assert prediction.verdict is verdict
    assert prediction.working_set_bytes == set_mib * MIB
    if sent_mib is not None:
        # 4 MiB at 23 MiB/s (0.17 s) fits the ladder's third downtime (200 ms): two steps.
        climbing = int(1.5 * LADDER_STEP_S * bandwidth)
        assert prediction.data_sent_bytes == sent_mib * MIB + climbing
    elif verdict is ConvergenceVerdict.CONVERGES:
        assert prediction.rounds == predict(unbounded, bandwidth).rounds
    assert predict(unbounded, bandwidth).working_set_bytes is None


def test_no_bandwidth_never_finishes() -> None:
    prediction = predict(MigrationLoad(GIB), 0)
    assert prediction.verdict is ConvergenceVerdict.NEVER_CONVERGES
    assert not prediction.finishes
    assert prediction.reason == "it gets no bandwidth"


def test_local_disks_are_copied_first_at_the_same_bandwidth() -> None:
    without = predict(MigrationLoad(GIB), B)
    prediction = predict(MigrationLoad(GIB, local_disk_bytes=10 * GIB), B)
    assert prediction.duration_s == pytest.approx(without.duration_s + 10 * GIB / B)
    assert prediction.data_sent_bytes == 11 * GIB


def test_a_started_migration_has_no_setup_left() -> None:
    fresh = predict(MigrationLoad(GIB), B)
    started = predict(MigrationLoad(GIB), B, already_started=True)
    assert fresh.duration_s - started.duration_s == pytest.approx(SETUP_S + ENGINE_PATH_S)


def test_a_fixed_cost_given_replaces_the_calibrated_one() -> None:
    default = predict(MigrationLoad(GIB), B)
    learned = predict(MigrationLoad(GIB), B, fixed_s=5.0)
    assert learned.duration_s - default.duration_s == pytest.approx(5.0 - DEFAULT_FIXED_S)
    started = predict(MigrationLoad(GIB), B, already_started=True, fixed_s=5.0)
    assert started.duration_s == predict(MigrationLoad(GIB), B, already_started=True).duration_s


@pytest.mark.parametrize(
    ("set_mib", "bandwidth_mibps", "steps"),
    [
        # Fits the first downtime (100 ms): switched over at once.
        (2, 23, 0),
        # The lab's 4 MiB guest at its 23 MiB/s share: 174 ms, the third (200 ms).
        (4, 23, 2),
        # The same guest alone on the link: 85 ms.
        (4, 47, 0),
        # 6 MiB at 23 MiB/s: 261 ms, the fourth (300 ms).
        (6, 23, 3),
    ],
)
def test_the_downtime_ladder_climbs_a_step_per_monitor_sample_while_the_set_is_resent(
    set_mib: int, bandwidth_mibps: int, steps: int
) -> None:
    load = MigrationLoad(160 * MIB, 50 * MIB, working_set_bytes=set_mib * MIB)
    bandwidth = bandwidth_mibps * MIB
    prediction = predict(load, bandwidth)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    # Each step waits for a monitor sample seeing a stalled iteration, the first half of one.
    climbing_s = (steps - 0.5) * LADDER_STEP_S if steps else 0.0
    assert prediction.data_sent_bytes == 160 * MIB + set_mib * MIB + int(climbing_s * bandwidth)
    assert prediction.duration_s == pytest.approx(
        DEFAULT_FIXED_S + (160 + set_mib) * MIB / bandwidth + climbing_s + SWITCH_OVER_S,
        abs=1e-6,
    )


@pytest.mark.parametrize("set_mib", [2, 4, 6])
def test_without_the_ladder_the_allowed_downtime_holds_from_the_start(set_mib: int) -> None:
    # A bare libvirt call: the set is sent once more, in the switch-over, and nothing climbs.
    load = MigrationLoad(160 * MIB, 50 * MIB, working_set_bytes=set_mib * MIB)
    bandwidth = 23 * MIB
    prediction = predict(load, bandwidth, downtime_ladder=False)
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    assert prediction.data_sent_bytes == (160 + set_mib) * MIB
    assert prediction.duration_s == pytest.approx(
        DEFAULT_FIXED_S + (160 + set_mib) * MIB / bandwidth + SWITCH_OVER_S, abs=1e-6
    )
    assert prediction.duration_s <= predict(load, bandwidth).duration_s


def test_rounds_that_still_shrink_go_on_below_the_first_downtime_without_a_climb() -> None:
    # 1 GiB at 100 MiB/s dirtying 2.5 MiB/s: 25.6 MiB after round 0 fits 300 ms, not 100 ms;
    # the next round dirties 0.64 MiB (6 ms).
    prediction = predict(MigrationLoad(GIB, 2.5 * MIB), B)
    assert prediction.rounds == (GIB,)
    assert prediction.data_sent_bytes == GIB + int(25.6 * MIB) + int(0.64 * MIB)
    assert prediction.duration_s == pytest.approx(
        DEFAULT_FIXED_S + (GIB + 26.24 * MIB) / B + SWITCH_OVER_S, abs=1e-3
    )
