"""Table tests of folding an agent's job samples into a migration record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.model import FallbackReason, Migration, MigrationPhase
from miglane.engine.domain.progress import (
    JobSample,
    apply_sample,
    completion_message,
    duration_s,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(seconds=30)
GIB = 1 << 30


def record(**changes: object) -> Migration:
    base = Migration(
        id="m1",
        cluster_id="c1",
        vm_id="vm1",
        vm_name="web1",
        source_host_id="h1",
        destination_host_id="h2",
        phase=MigrationPhase.PREPARING,
        created_at=T0,
        fallback_reason=FallbackReason.NONE,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sample(phase: MigrationPhase = MigrationPhase.RUNNING, **changes: object) -> JobSample:
    return replace(JobSample("m1", phase), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "job", "phase", "percent"),
    [
        # the agent has the job: running, whatever phase it reports before copying
        (record(), sample(MigrationPhase.PREPARING), MigrationPhase.RUNNING, 0),
        (record(), sample(MigrationPhase.QUEUED), MigrationPhase.RUNNING, 0),
        (record(), sample(progress_percent=40), MigrationPhase.RUNNING, 40),
        # never backwards
        (
            record(phase=MigrationPhase.RUNNING, progress_percent=60),
            sample(progress_percent=20),
            MigrationPhase.RUNNING,
            60,
        ),
        # held at 99 until completed
        (record(), sample(progress_percent=100), MigrationPhase.RUNNING, 99),
        (
            record(),
            sample(MigrationPhase.COMPLETED, progress_percent=99),
            MigrationPhase.COMPLETED,
            100,
        ),
        (
            record(progress_percent=70),
            sample(MigrationPhase.FAILED, progress_percent=10),
            MigrationPhase.FAILED,
            70,
        ),
        (record(), sample(MigrationPhase.CANCELLED), MigrationPhase.CANCELLED, 0),
    ],
)
def test_phase_and_percent(
    before: Migration, job: JobSample, phase: MigrationPhase, percent: int
) -> None:
    after = apply_sample(before, job, NOW)
    assert (after.phase, after.progress_percent) == (phase, percent)


@pytest.mark.parametrize(
    "final", [MigrationPhase.COMPLETED, MigrationPhase.FAILED, MigrationPhase.CANCELLED]
)
def test_a_final_record_stays_final(final: MigrationPhase) -> None:
    done = record(phase=final, progress_percent=100 if final is MigrationPhase.COMPLETED else 5)
    assert apply_sample(done, sample(progress_percent=50), NOW) == done


def test_figures_are_copied_and_processed_bytes_never_fall() -> None:
    before = record(phase=MigrationPhase.RUNNING, data_processed_bytes=5 * GIB, iteration=3)
    after = apply_sample(
        before,
        sample(
            data_total_bytes=8 * GIB,
            data_processed_bytes=4 * GIB,
            data_remaining_bytes=GIB,
            throughput_bps=100,
            dirty_rate_bps=7,
            iteration=2,
            eta_s=12,
            max_bandwidth_mibps=64,
            started_at=T0,
        ),
        NOW,
    )
    assert after.data_processed_bytes == 5 * GIB and after.iteration == 3
    assert (after.data_total_bytes, after.data_remaining_bytes) == (8 * GIB, GIB)
    assert (after.throughput_bps, after.dirty_rate_bps, after.eta_s) == (100, 7, 12)
    assert after.max_bandwidth_mibps == 64 and after.started_at == T0


def test_no_cap_reported_keeps_the_recorded_one() -> None:
    after = apply_sample(record(max_bandwidth_mibps=32), sample(), NOW)
    assert after.max_bandwidth_mibps == 32


def test_completion_records_the_outcome() -> None:
    after = apply_sample(
        record(phase=MigrationPhase.RUNNING, started_at=T0, error="stale"),
        sample(
            MigrationPhase.COMPLETED,
            downtime_ms=42,
            data_remaining_bytes=3,
            throughput_bps=9,
            eta_s=4,
            finished_at=T0 + timedelta(seconds=12),
        ),
        NOW,
    )
    assert after.finished_at == T0 + timedelta(seconds=12)
    assert (after.downtime_ms, after.error, after.data_remaining_bytes, after.eta_s) == (
        42,
        "",
        0,
        0,
    )
    assert after.throughput_bps == 0 and duration_s(after) == 12.0
    assert "in 12.0 s (downtime 42 ms)" in completion_message(after, "web1", "h1", "h2")
    assert "over the migration network" in completion_message(after, "web1", "h1", "h2")


def test_failure_keeps_the_error_and_a_missing_finish_time_is_now() -> None:
    after = apply_sample(
        record(phase=MigrationPhase.RUNNING),
        sample(
            MigrationPhase.FAILED,
            error="connection lost",
            failure_kind=MigrationFailureKind.NETWORK,
        ),
        NOW,
    )
    assert after.error == "connection lost" and after.finished_at == NOW
    message = completion_message(after, "web1", "h1", "h2")
    assert "failed: connection lost" in message and "keeps running on h1" in message


def test_cancel_and_fallback_wording() -> None:
    cancelled = apply_sample(
        record(fallback_reason=FallbackReason.DESTINATION_LINK_DOWN),
        sample(MigrationPhase.CANCELLED),
        NOW,
    )
    assert "cancelled; the VM keeps running on h1" in completion_message(cancelled, "", "h1", "h2")
    completed = replace(cancelled, phase=MigrationPhase.COMPLETED)
    assert "over the management network" in completion_message(completed, "", "h1", "h2")
    assert duration_s(record()) == 0.0
