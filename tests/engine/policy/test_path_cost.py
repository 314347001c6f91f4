"""The engine path's fixed cost learned from completed migrations (`domain.path_cost`) as
tables: one migration's observation, and the value predictions use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from miglane.engine.domain.model import MIB, Migration, MigrationPhase
from miglane.engine.domain.path_cost import (
    MAX_FIXED_S,
    MIN_FIXED_S,
    MIN_OBSERVATIONS,
    OBSERVATION_WINDOW,
    learned_fixed_s,
    observed_fixed_s,
)
from miglane.engine.domain.prediction import DEFAULT_FIXED_S, SWITCH_OVER_S

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def completed(
    *,
    admitted_s: float | None = 0.0,
    first: tuple[float, int] | None = (3.0, 20 * MIB),
    last: tuple[float, int] | None = (7.0, 100 * MIB),
    finished_s: float = 10.0,
    total: int = 128 * MIB,
    processed: int = 128 * MIB,
    phase: MigrationPhase = MigrationPhase.COMPLETED,
) -> Migration:
    """A migration admitted at `admitted_s`, its first and last data samples (s, bytes)."""
    return replace(
        Migration("m", "c", "v", "h1", phase, created_at=T0),
        admitted_at=None if admitted_s is None else _at(admitted_s),
        started_at=_at(1.0),
        finished_at=_at(finished_s),
        first_data_at=None if first is None else _at(first[0]),
        first_data_bytes=0 if first is None else first[1],
        last_data_at=None if last is None else _at(last[0]),
        last_data_bytes=0 if last is None else last[1],
        data_total_bytes=total,
        data_processed_bytes=processed,
    )


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        # 80 MiB in 4 s: 20 MiB/s; 128 MiB take 6.4 s of the 10 s since admission.
        (completed(), 10.0 - 6.4),
        # Counted from admission, not from the agent's start.
        (completed(admitted_s=-2.0), 12.0 - 6.4),
        # Pre-copy resent pages: what it moved in all counts, not the memory alone.
        (completed(processed=160 * MIB), 10.0 - 8.0),
        # The memory when the last sample's counter is below it (the final one not seen).
        (completed(processed=100 * MIB), 10.0 - 6.4),
    ],
)
def test_the_fixed_cost_is_the_duration_less_the_transfer_at_the_samples_rate(
    migration: Migration, expected: float
) -> None:
    assert observed_fixed_s(migration) == pytest.approx(expected - SWITCH_OVER_S)


@pytest.mark.parametrize(
    "migration",
    [
        completed(phase=MigrationPhase.FAILED),
        completed(phase=MigrationPhase.CANCELLED),
        completed(admitted_s=None),
        completed(first=None, last=None),
        # One data sample: first and last the same, no rate.
        completed(first=(3.0, 20 * MIB), last=(3.0, 20 * MIB)),
        # Samples that moved nothing between them.
        completed(first=(3.0, 20 * MIB), last=(7.0, 20 * MIB)),
    ],
)
def test_no_observation_without_a_completion_and_two_data_samples(migration: Migration) -> None:
    assert observed_fixed_s(migration) is None


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        ((), DEFAULT_FIXED_S),
        ((0.9,) * (MIN_OBSERVATIONS - 1), DEFAULT_FIXED_S),
        ((0.9, 1.4, 1.0), 1.0),
        ((0.9, 1.4, 1.0, 1.2), 1.1),
        # The latest window only: the old high ones have left it.
        ((9.0,) * 10 + (1.0,) * OBSERVATION_WINDOW, 1.0),
        # Clamped.
        ((0.01, 0.02, 0.05), MIN_FIXED_S),
        ((500.0, 600.0, 700.0), MAX_FIXED_S),
        # Negative (a transfer faster at the end than its samples showed) clamps too.
        ((-1.0, -2.0, -0.5), MIN_FIXED_S),
    ],
)
def test_the_learned_value_is_the_clamped_median_of_the_latest(
    observations: tuple[float, ...], expected: float
) -> None:
    assert learned_fixed_s(observations) == pytest.approx(expected)
