"""The wording of time left and of an evacuating host, shared by the CLI and the TUI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from miglane.v1 import engine_pb2
from miglane.v1.time_labels import evacuation_summary, time_left

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(-5, "due"), (0, "due"), (0.2, "in 1s"), (9, "in 9s"), (130, "in 2m10s"), (3900, "in 1h05m")],
)
def test_time_left(seconds: float, label: str) -> None:
    assert time_left(NOW + timedelta(seconds=seconds), NOW) == label


def test_evacuation_summary_counts_vms_and_says_when_it_ends() -> None:
    host = engine_pb2.Host(evacuation_vms_left=7)
    assert evacuation_summary(host, NOW) == "evacuating · 7 VMs left"
    host.evacuation_vms_left = 1
    host.evacuation_finish_at.FromDatetime(NOW + timedelta(seconds=190))
    assert evacuation_summary(host, NOW) == "evacuating · 1 VM left · finish ≈ 14:03 (in 3m10s)"
