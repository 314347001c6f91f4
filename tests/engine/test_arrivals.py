"""Where the engine's own migrations say VMs are, as the host monitor asks it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from miglane.engine.domain.model import Migration, MigrationPhase
from miglane.engine.migrations.arrivals import ArrivalLog

QUEUED = Migration.queued(
    "mig-1",
    cluster_id="c",
    vm_id="vm",
    vm_name="web",
    source_host_id="a",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    queue_reason="waiting",
)


def test_a_vm_is_on_its_source_while_it_migrates_then_on_its_destination() -> None:
    log = ArrivalLog(hint_window_s=60)
    log.observe([QUEUED])
    assert log.hints() == {}  # queued: no host holds anything for it yet
    running = replace(QUEUED, phase=MigrationPhase.RUNNING, destination_host_id="b")
    log.observe([running])
    assert log.hints() == {"vm": "a"}
    mark = log.completed
    log.observe([replace(running, phase=MigrationPhase.COMPLETED)])
    assert log.hints() == {"vm": "b"}
    assert log.completed == mark + 1
    assert log.arrived_after(mark) == {"vm": "b"}
    assert log.arrived_after(log.completed) == {}


def test_a_failed_migration_leaves_no_hint_and_no_arrival() -> None:
    log = ArrivalLog(hint_window_s=60)
    running = replace(QUEUED, phase=MigrationPhase.RUNNING, destination_host_id="b")
    log.observe([running])
    log.observe([replace(running, phase=MigrationPhase.FAILED)])
    assert log.hints() == {} and log.completed == 0


def test_an_arrival_is_a_hint_only_within_the_window() -> None:
    log = ArrivalLog(hint_window_s=0)
    done = replace(QUEUED, phase=MigrationPhase.COMPLETED, destination_host_id="b")
    log.observe([done])
    assert log.hints() == {}
    assert log.arrived_after(0) == {"vm": "b"}
