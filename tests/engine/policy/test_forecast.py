"""A queued migration's forecast reads the dirty rate the VM's agent last measured."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from miglane.engine.domain.forecast import forecast_queued
from miglane.engine.domain.model import (
    ConvergenceVerdict,
    DirtyRateSample,
    Migration,
    MigrationPolicy,
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
