"""`miglane migrations` shows a migration's predicted finish and verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from miglane.cli.migrations import predicted_finish_label, verdict_label
from miglane.cli.output import evacuation_label
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


def _evacuating(left: int, seconds: int | None) -> engine_pb2.Host:
    host = engine_pb2.Host(
        status=engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE, evacuation_vms_left=left
    )
    if seconds is not None:
        host.evacuation_finish_at.FromDatetime(NOW + timedelta(seconds=seconds))
    return host


def test_an_evacuating_host_reads_vms_left_and_the_predicted_finish() -> None:
    assert (
        evacuation_label(_evacuating(7, 190), NOW)
        == "evacuating · 7 VMs left · finish ≈ 00:03 (in 3m10s)"
    )
    assert evacuation_label(_evacuating(1, None), NOW) == "evacuating · 1 VM left"
    assert evacuation_label(engine_pb2.Host(status=engine_pb2.HOST_STATUS_UP), NOW) == ""
