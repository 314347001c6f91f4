"""A migration job's status: an immutable snapshot, updated only by the functions here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from miglane.agent.domain.model import (
    ConvergenceAction,
    ConvergenceSchedule,
    ConvergenceStep,
    FailureKind,
    JobPhase,
    JobStats,
    MigrationMode,
    Timeouts,
)
from miglane.agent.domain.progress import Progress, eta_seconds

# Bytes sent so far by each NIC of the host, by NIC name (the kernel's tx_bytes counters).
NicCounters = Mapping[str, int]

# The hypervisor's `memory_bps` is the rate of its last measured stretch and holds while nothing
# moves (the link under the stream dead): a sample after the job's own clock ran at least this
# long without a byte sent since the one before reports no throughput (and so no ETA). The job's
# clock, not the agent's: a simulated job whose clock is held has not stalled.
STALLED_AFTER_MS = 250


@dataclass(frozen=True)
class JobStatus:
    """What the agent reports about one migration job (times are UNIX seconds)."""

    migration_id: str
    vm_id: str
    mode: MigrationMode
    phase: JobPhase = JobPhase.RUNNING
    progress: Progress = field(default_factory=Progress)
    data_total: int = 0
    data_processed: int = 0
    data_remaining: int = 0
    # Of data_*: the copy of local disks.
    disk_total: int = 0
    disk_processed: int = 0
    disk_remaining: int = 0
    throughput_bps: int = 0
    dirty_rate_bps: int = 0
    iteration: int = 0
    downtime_ms: int = 0
    max_downtime_ms: int = 0
    max_bandwidth_mibps: int = 0
    post_copy: bool = False
    error: str = ""
    failure_kind: FailureKind = FailureKind.NONE
    observed_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    migration_uri: str = ""
    dst: str = ""
    eta_s: int = 0
    elapsed_ms: int = 0
    # Bytes each NIC of the host sent since the job started (NIC name, bytes), all of their
    # traffic; empty: not measured.
    nic_tx_bytes: tuple[tuple[str, int], ...] = ()

    @property
    def finished(self) -> bool:
        return self.phase.finished


def apply_sample(
    status: JobStatus, stats: JobStats, now: float, memory_bytes: int = 0
) -> JobStatus:
    """The status after one sample of the running job; progress never goes backwards.

    While local disks are copied, the hypervisor counts only the disks (the memory copy starts
    after them): the guest's `memory_bytes` not counted yet are added to the total and the
    remaining data of the progress, so that it does not reach 99% with the disks and then hold
    still through the memory copy."""
    if status.finished:
        return status
    uncounted = 0
    throughput = _throughput(status, stats)
    if stats.disk_total:
        uncounted = max(0, stats.disk_total + memory_bytes - stats.data_total)
    return dataclasses.replace(
        status,
        progress=status.progress.observe(
            stats.data_remaining + uncounted, stats.data_total + uncounted
        ),
        data_total=stats.data_total or status.data_total,
        data_processed=max(stats.data_processed, status.data_processed),
        data_remaining=stats.data_remaining,
        disk_total=stats.disk_total or status.disk_total,
        disk_processed=max(stats.disk_processed, status.disk_processed),
        disk_remaining=stats.disk_remaining,
        throughput_bps=throughput,
        dirty_rate_bps=stats.dirty_rate_bps,
        iteration=max(stats.iteration, status.iteration),
        post_copy=status.post_copy or stats.post_copy,
        observed_at=now,
        elapsed_ms=stats.elapsed_ms or int((now - status.started_at) * 1000),
        eta_s=eta_seconds(stats.data_remaining, throughput, stats.dirty_rate_bps),
    )


def _throughput(status: JobStatus, stats: JobStats) -> int:
    """The sample's throughput: the hypervisor's, unless no data moved while the job's clock
    ran `STALLED_AFTER_MS` since the last sample."""
    ran_ms = stats.elapsed_ms - status.elapsed_ms
    stalled = (
        status.elapsed_ms > 0
        and ran_ms >= STALLED_AFTER_MS
        and stats.data_processed <= status.data_processed
    )
    return 0 if stalled else stats.memory_bps


def complete(status: JobStatus, final: JobStats | None, now: float) -> JobStatus:
    """The status of a job that succeeded, with the completed job's figures when known."""
    status = dataclasses.replace(
        status,
        phase=JobPhase.COMPLETED,
        progress=status.progress.done(),
        data_remaining=0,
        disk_remaining=0,
        eta_s=0,
        observed_at=now,
        finished_at=now,
        failure_kind=FailureKind.NONE,
        elapsed_ms=int((now - status.started_at) * 1000),
    )
    if final is None:
        return status
    return dataclasses.replace(
        status,
        data_total=final.data_total or status.data_total,
        data_processed=max(final.data_processed, status.data_processed),
        disk_total=final.disk_total or status.disk_total,
        disk_processed=max(final.disk_processed, status.disk_processed),
        throughput_bps=final.memory_bps or status.throughput_bps,
        iteration=max(final.iteration, status.iteration),
        downtime_ms=final.downtime_ms,
        post_copy=status.post_copy or final.post_copy,
        elapsed_ms=final.elapsed_ms or status.elapsed_ms,
    )


def fail(status: JobStatus, kind: FailureKind, error: str, now: float) -> JobStatus:
    """The status of a job that ended without success; progress keeps its last value."""
    phase = JobPhase.CANCELLED if kind is FailureKind.CANCELLED else JobPhase.FAILED
    return dataclasses.replace(
        status,
        phase=phase,
        failure_kind=kind,
        error=error,
        eta_s=0,
        observed_at=now,
        finished_at=now,
        elapsed_ms=int((now - status.started_at) * 1000),
    )


def nic_traffic(start: NicCounters, now: NicCounters) -> tuple[tuple[str, int], ...]:
    """Bytes each NIC sent between two readings of its counters, by NIC name. A NIC missing
    from either reading, or whose counter went back (recreated), is left out."""
    return tuple(
        (nic, now[nic] - before)
        for nic, before in sorted(start.items())
        if nic in now and now[nic] >= before
    )


def with_nic_traffic(status: JobStatus, start: NicCounters, now: NicCounters) -> JobStatus:
    """The status with the NICs' traffic since the job started (`start`: its counters then;
    empty: not measured, the status unchanged)."""
    if not start:
        return status
    return dataclasses.replace(status, nic_tx_bytes=nic_traffic(start, now))


def to_record(status: JobStatus) -> dict[str, Any]:
    """A JSON-able dict, for the agent's state dir."""
    record = dataclasses.asdict(status)
    record["mode"] = status.mode.value
    record["phase"] = status.phase.value
    record["failure_kind"] = status.failure_kind.value
    record["progress"] = status.progress.percent
    return record


def from_record(record: dict[str, Any]) -> JobStatus:
    fields = {f.name for f in dataclasses.fields(JobStatus)}
    values = {k: v for k, v in record.items() if k in fields}
    values["mode"] = MigrationMode(record["mode"])
    values["phase"] = JobPhase(record["phase"])
    values["failure_kind"] = FailureKind(record.get("failure_kind", "none"))
    values["progress"] = Progress(int(record.get("progress", 0)))
    values["nic_tx_bytes"] = tuple(
        (str(nic), int(sent)) for nic, sent in record.get("nic_tx_bytes", ())
    )
    return JobStatus(**values)


@dataclass(frozen=True)
class JobPlan:
    """What the monitor needs to know about a job, kept in the state dir for a restart."""

    migration_id: str
    vm_id: str
    mode: MigrationMode
    peer_uri: str = ""
    memory_bytes: int = 0
    # Bytes of the local disks the job copies (0: none).
    disk_bytes: int = 0
    schedule: ConvergenceSchedule = field(default_factory=ConvergenceSchedule)
    timeouts: Timeouts = field(default_factory=Timeouts)
    post_copy_allowed: bool = False
    save_path: str = ""
    # The host's NIC byte counters when the job started (proof of path); empty: not read.
    nic_tx_at_start: tuple[tuple[str, int], ...] = ()


def plan_to_record(plan: JobPlan) -> dict[str, Any]:
    record = dataclasses.asdict(plan)
    record["mode"] = plan.mode.value
    record["schedule"]["stalling"] = [
        {
            "stalled_iterations": s.stalled_iterations,
            "action": s.action.value,
            "downtime_ms": s.downtime_ms,
        }
        for s in plan.schedule.stalling
    ]
    return record


def plan_from_record(record: dict[str, Any]) -> JobPlan:
    schedule = record.get("schedule") or {}
    return JobPlan(
        migration_id=record["migration_id"],
        vm_id=record["vm_id"],
        mode=MigrationMode(record["mode"]),
        peer_uri=record.get("peer_uri", ""),
        memory_bytes=int(record.get("memory_bytes", 0)),
        disk_bytes=int(record.get("disk_bytes", 0)),
        schedule=ConvergenceSchedule(
            int(schedule.get("initial_downtime_ms", 0)),
            tuple(
                ConvergenceStep(
                    int(s["stalled_iterations"]),
                    ConvergenceAction(s["action"]),
                    int(s.get("downtime_ms", 0)),
                )
                for s in schedule.get("stalling", [])
            ),
        ),
        timeouts=Timeouts(**(record.get("timeouts") or {})),
        post_copy_allowed=bool(record.get("post_copy_allowed", False)),
        save_path=record.get("save_path", ""),
        nic_tx_at_start=tuple(
            (str(nic), int(sent)) for nic, sent in record.get("nic_tx_at_start", ())
        ),
    )
