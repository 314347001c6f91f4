"""The engine path's fixed cost of a migration, learned from the engine's own completed
migrations: the wall time outside its data transfer (the agent's checks, libvirt preparing the
destination, the switch-over, the reports), which grows with the machine's load.

`observed_fixed_s`: one completed migration's fixed cost, its duration as predictions count it
(admission to completion) less its transfer time, from the rate its progress samples show.
`learned_fixed_s`: the value predictions of migrations not yet started use (`predict`'s
`fixed_s`): the median of the latest observations, clamped; the calibrated constants until
there are enough. Pure: no clock, no store.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from miglane.engine.domain.model import Migration, MigrationPhase
from miglane.engine.domain.prediction import DEFAULT_FIXED_S, SWITCH_OVER_S

# How many of the latest observations the learned value is the median of.
OBSERVATION_WINDOW = 16
# Below this many observations the calibrated constants stand (`DEFAULT_FIXED_S`).
MIN_OBSERVATIONS = 3
# The range a learned value is kept in: a migration never starts faster than libvirt's bare
# setup and switch-over (~0.44 s on the lab); above a minute something else than the path
# (a stuck agent) was measured.
MIN_FIXED_S = 0.3
MAX_FIXED_S = 60.0


def observed_fixed_s(migration: Migration) -> float | None:
    """The fixed cost a completed `migration` showed: admission to completion, less the bytes
    it moved over the rate between its first and its last progress sample that moved data, less
    the switch-over `predict` adds of its own (None: not completed, or fewer than two such
    samples)."""
    admitted, finished = migration.admitted_at, migration.finished_at
    first, last = migration.first_data_at, migration.last_data_at
    if migration.phase is not MigrationPhase.COMPLETED or None in (
        admitted,
        finished,
        first,
        last,
    ):
        return None
    assert admitted and finished and first and last
    span_s = (last - first).total_seconds()
    moved = migration.last_data_bytes - migration.first_data_bytes
    if span_s <= 0 or moved <= 0:
        return None
    total = max(migration.data_total_bytes, migration.data_processed_bytes)
    transfer_s = total / (moved / span_s)
    return (finished - admitted).total_seconds() - transfer_s - SWITCH_OVER_S


def learned_fixed_s(observations: Sequence[float]) -> float:
    """The fixed cost to predict with, from observations oldest first: the median of the last
    `OBSERVATION_WINDOW`, within [MIN_FIXED_S, MAX_FIXED_S], once there are
    `MIN_OBSERVATIONS`; `DEFAULT_FIXED_S` before."""
    latest = observations[-OBSERVATION_WINDOW:]
    if len(latest) < MIN_OBSERVATIONS:
        return DEFAULT_FIXED_S
    return min(max(statistics.median(latest), MIN_FIXED_S), MAX_FIXED_S)
