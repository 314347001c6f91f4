"""A queued migration's forecast reads the dirty rate the VM's agent last measured."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from miglane.engine.domain.forecast import (
    FINISH_DRIFT_S,
    at_planned_finish,
    forecast_queued,
    forecast_running,
    moved_enough,
    queued_load,
    queued_prediction,
    running_load,
)
from miglane.engine.domain.model import (
    ConvergenceVerdict,
    DirtyRateSample,
    Migration,
    MigrationPhase,
    MigrationPolicy,
)
from miglane.engine.domain.prediction import (
    LADDER_STEP_S,
    MigrationLoad,
    expected_throughput_bps,
    predict,
)
from miglane.testing.builders import vm

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MIB = 1 << 20


def _queued(vm_id: str) -> Migration:
    return Migration.queued(
        "mig-1",
        cluster_id="c",
        vm_id=vm_id,
        vm_name="web1",
        source_host_id="h1",
        created_at=NOW,
        queue_reason="waiting",
    )


def test_a_measured_dirty_rate_above_the_bandwidth_never_converges() -> None:
    idle = vm(memory_mib=1024)
    hot = replace(idle, dirty_rates=(DirtyRateSample(200 * MIB, NOW.timestamp()),))
    policy = MigrationPolicy()  # no auto-converge, no post-copy
    calm = forecast_queued(_queued(idle.id), idle, policy, 50.0, NOW)
    storm = forecast_queued(_queued(hot.id), hot, policy, 50.0, NOW)
    assert calm.verdict is ConvergenceVerdict.CONVERGES
    assert storm.verdict is ConvergenceVerdict.NEVER_CONVERGES


def test_the_working_set_its_agent_measured_bounds_the_predicted_resends() -> None:
    # The lab's storm guest: 160 MiB rewriting 4 MiB, measured at 8 MiB/s, at a 23 MiB/s cap.
    idle = vm(memory_mib=160)
    unbounded = replace(idle, dirty_rates=(DirtyRateSample(8 * MIB, NOW.timestamp()),))
    bounded = replace(idle, dirty_rates=(DirtyRateSample(8 * MIB, NOW.timestamp(), 4 * MIB),))
    policy = MigrationPolicy()
    assert queued_load(unbounded, policy).working_set_bytes is None  # 0: not known
    assert queued_load(bounded, policy) == MigrationLoad(160 * MIB, 8 * MIB, 0, 4 * MIB)
    calm, rate_only, capped = (
        queued_prediction(v, policy, 23.0) for v in (idle, unbounded, bounded)
    )
    assert capped == predict(
        MigrationLoad(160 * MIB, 8 * MIB, working_set_bytes=4 * MIB), expected_throughput_bps(23.0)
    )
    # Memory once and the set once more (within the downtime), not a geometric tail of the rate;
    # and the set resent while the engine's downtime ladder climbs from 100 ms to the 200 ms
    # that fits it at 24 MiB/s (two steps, the first half a monitor sample on average).
    assert capped.rounds == (160 * MIB,)
    bandwidth = expected_throughput_bps(23.0)
    climbing = int(1.5 * LADDER_STEP_S * bandwidth)
    assert capped.data_sent_bytes == (160 + 4) * MIB + climbing
    assert len(rate_only.rounds) > 1
    assert calm.duration_s < capped.duration_s < rate_only.duration_s


def test_a_running_migration_keeps_resending_no_more_than_its_working_set() -> None:
    # Admitted with the set its agent measured: the migration carries it on.
    bounded = replace(vm(memory_mib=160), dirty_rates=(DirtyRateSample(8 * MIB, 0.0, 4 * MIB),))
    admitted = forecast_queued(_queued(bounded.id), bounded, MigrationPolicy(), 23.0, NOW)
    assert admitted.working_set_bytes == 4 * MIB
    # Rounds of a 4 MiB set in a fraction of a second: QEMU's dirty rate is that set over such
    # a round, above the bandwidth, which alone would never converge.
    running = replace(
        admitted,
        phase=MigrationPhase.RUNNING,
        data_remaining_bytes=40 * MIB,
        throughput_bps=23 * MIB,
        dirty_rate_bps=30 * MIB,
    )
    assert running_load(running).working_set_bytes == 4 * MIB
    refined = forecast_running(running, NOW)
    assert refined.verdict is ConvergenceVerdict.CONVERGES
    assert refined.working_set_bytes == 4 * MIB
    unbounded = forecast_running(replace(running, working_set_bytes=0), NOW)
    assert unbounded.verdict is ConvergenceVerdict.NEVER_CONVERGES


def test_a_queued_migration_its_plan_placed_finishes_at_the_plans_finish() -> None:
    # At its share now it would finish in seconds; the plan has it wait behind others first.
    guest = vm(memory_mib=160)
    planned = replace(_queued(guest.id), planned_finish_at=NOW + timedelta(seconds=95))
    forecast = forecast_queued(planned, guest, MigrationPolicy(), 23.0, NOW)
    assert forecast.predicted_finish_at is not None
    assert forecast.predicted_finish_at < NOW + timedelta(seconds=20)
    carried = at_planned_finish(forecast)
    assert carried.predicted_finish_at == planned.planned_finish_at
    assert carried.verdict is forecast.verdict
    # Without a plan, or when it would never finish, the forecast stands.
    unplanned = forecast_queued(_queued(guest.id), guest, MigrationPolicy(), 23.0, NOW)
    assert at_planned_finish(unplanned) == unplanned
    never = replace(forecast, predicted_finish_at=None)
    assert at_planned_finish(never) == never


def test_a_plans_finish_is_written_when_it_moved_a_forecast_only_past_the_drift() -> None:
    guest = vm(memory_mib=160)
    before = forecast_queued(_queued(guest.id), guest, MigrationPolicy(), 23.0, NOW)
    assert before.predicted_finish_at is not None
    nudged = before.predicted_finish_at + timedelta(seconds=FINISH_DRIFT_S / 2)
    assert not moved_enough(before, replace(before, predicted_finish_at=nudged))
    planned = at_planned_finish(replace(before, planned_finish_at=nudged))
    assert moved_enough(before, planned)
    assert not moved_enough(planned, planned)
