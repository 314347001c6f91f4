"""The migration detail shows the proof of path, flagged when the data left by another NIC."""

from __future__ import annotations

import pytest

from miglane.tui.models import Inventory
from miglane.tui.views.migrations import _facts
from miglane.v1 import common_pb2, engine_pb2

SUMMARY = "migration: 257 MiB over mig0 for 256 MiB of memory"


def detail(phase: int, verdict: int | None) -> str:
    migration = engine_pb2.Migration(id="m1", phase=phase)
    if verdict is not None:
        migration.path_proof.CopyFrom(
            engine_pb2.MigrationPathProof(verdict=verdict, summary=SUMMARY)
        )
    return _facts(migration, Inventory()).plain


COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
RUNNING = common_pb2.MIGRATION_PHASE_RUNNING


@pytest.mark.parametrize(
    ("phase", "verdict", "line"),
    [
        (COMPLETED, engine_pb2.PATH_VERDICT_CONFIRMED, f"Measured: {SUMMARY}"),
        (COMPLETED, engine_pb2.PATH_VERDICT_OFF_PATH, f" OFF PATH  {SUMMARY}"),
        (RUNNING, engine_pb2.PATH_VERDICT_OFF_PATH, f" OFF PATH  {SUMMARY}"),
        (COMPLETED, engine_pb2.PATH_VERDICT_TOO_LITTLE_DATA, f"Measured: {SUMMARY}"),
        (RUNNING, engine_pb2.PATH_VERDICT_TOO_LITTLE_DATA, None),
        (RUNNING, None, None),
    ],
)
def test_detail_shows_the_proof_of_path(phase: int, verdict: int | None, line: str | None) -> None:
    lines = detail(phase, verdict).splitlines()
    if line is None:
        assert not any(SUMMARY in each for each in lines)
    else:
        assert line in lines
