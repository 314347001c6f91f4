"""`miglane migrations` shows a migration's predicted finish and verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from miglane.cli.migrations import predicted_finish_label, verdict_label
from miglane.v1 import engine_pb2

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _predicted(seconds: int) -> engine_pb2.Migration:
    migration = engine_pb2.Migration(
        verdict=engine_pb2.CONVERGENCE_VERDICT_NEVER_CONVERGES,
        verdict_reason="it gets no bandwidth",
    )
    migration.expected_finish_at.FromDatetime(NOW + timedelta(seconds=seconds))
    return migration


def test_the_predicted_finish_reads_as_a_time_from_now() -> None:
    assert predicted_finish_label(_predicted(130), NOW) == "in 2m10s"
    assert predicted_finish_label(_predicted(9), NOW) == "in 9s"
    assert predicted_finish_label(_predicted(-3), NOW) == "due"
    assert predicted_finish_label(engine_pb2.Migration(), NOW) == ""


def test_the_verdict_reads_without_its_prefix() -> None:
    assert verdict_label(_predicted(0)) == "never-converges"
    assert verdict_label(engine_pb2.Migration()) == ""
