"""A migration record as the source agent's job samples move it along.

The agent reports its job as samples (`JobSample`); `apply_sample` folds one into the
engine's record: figures copied, progress never going backwards and held at 99 until the job
completed, the phase advanced (never back from a final phase), and the outcome of a finished
job (downtime, error, finish time). `completion_message` is the audit sentence of a finished
migration. Pure: no gRPC, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from miglane.engine.domain.convergence import MigrationTuning
from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.forecast import cleared, forecast_running
from miglane.engine.domain.model import FallbackReason, Migration, MigrationPhase, PathProof
from miglane.engine.domain.path_proof import judge_path

FINAL_PHASES = frozenset(
    {MigrationPhase.COMPLETED, MigrationPhase.FAILED, MigrationPhase.CANCELLED}
)


@dataclass(frozen=True)
class MigrateCall:
    """What the engine asks a source agent to do (the migrate verb, `MigrateRequest`)."""

    migration_id: str
    vm_id: str
    # The destination's peer libvirt URI.
    dst: str
    migration_uri: str
    # None: the hypervisor's default (no cap).
    max_bandwidth_mibps: int | None
    tuning: MigrationTuning
    # Copy the VM's local disks during the migration (the cluster's policy allows it), to
    # `disks_uri` ("tcp://ADDRESS": the migration address, so the copy rides the same network).
    copy_local_disks: bool = False
    disks_uri: str = ""


@dataclass(frozen=True)
class JobSample:
    """One `MigrationProgress` of the agent, in domain terms."""

    migration_id: str
    phase: MigrationPhase
    progress_percent: int = 0
    data_total_bytes: int = 0
    data_processed_bytes: int = 0
    data_remaining_bytes: int = 0
    throughput_bps: int = 0
    dirty_rate_bps: int = 0
    iteration: int = 0
    downtime_ms: int = 0
    max_bandwidth_mibps: int = 0
    post_copy: bool = False
    error: str = ""
    failure_kind: MigrationFailureKind = MigrationFailureKind.UNSPECIFIED
    eta_s: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Of data_*_bytes, the local disks' copy.
    disk_total_bytes: int = 0
    disk_processed_bytes: int = 0
    disk_remaining_bytes: int = 0
    # Bytes each source NIC sent since the job started (NIC name, bytes); empty: not measured.
    nic_tx_bytes: tuple[tuple[str, int], ...] = ()

    @property
    def finished(self) -> bool:
        return self.phase in FINAL_PHASES


def apply_sample(migration: Migration, sample: JobSample, now: datetime) -> Migration:
    """`migration` updated with `sample`. A record already final stays as it is; an agent
    phase before RUNNING (QUEUED/PREPARING/UNSPECIFIED) counts as RUNNING once the agent has
    the job."""
    if migration.phase in FINAL_PHASES:
        return migration
    phase = sample.phase if sample.finished else MigrationPhase.RUNNING
    percent = max(migration.progress_percent, min(sample.progress_percent, 100))
    percent = 100 if phase is MigrationPhase.COMPLETED else min(percent, 99)
    updated = replace(
        migration,
        phase=phase,
        progress_percent=percent,
        data_total_bytes=sample.data_total_bytes or migration.data_total_bytes,
        data_processed_bytes=max(sample.data_processed_bytes, migration.data_processed_bytes),
        data_remaining_bytes=sample.data_remaining_bytes,
        disk_total_bytes=sample.disk_total_bytes or migration.disk_total_bytes,
        disk_processed_bytes=max(sample.disk_processed_bytes, migration.disk_processed_bytes),
        disk_remaining_bytes=sample.disk_remaining_bytes,
        throughput_bps=sample.throughput_bps,
        dirty_rate_bps=sample.dirty_rate_bps,
        iteration=max(sample.iteration, migration.iteration),
        eta_s=0 if sample.finished else sample.eta_s,
        post_copy=migration.post_copy or sample.post_copy,
        started_at=migration.started_at or sample.started_at or now,
        queue_reason="",
    )
    if sample.max_bandwidth_mibps:
        updated = replace(updated, max_bandwidth_mibps=sample.max_bandwidth_mibps)
    if sample.nic_tx_bytes:
        updated = replace(updated, path_proof=_judged_path(updated, sample.nic_tx_bytes))
    if not sample.finished:
        return forecast_running(_data_seen(updated, sample, now), now)
    return replace(
        cleared(updated),
        finished_at=sample.finished_at or now,
        downtime_ms=sample.downtime_ms,
        error=sample.error if phase is not MigrationPhase.COMPLETED else "",
        throughput_bps=0 if phase is MigrationPhase.COMPLETED else updated.throughput_bps,
        data_remaining_bytes=(
            0 if phase is MigrationPhase.COMPLETED else updated.data_remaining_bytes
        ),
        disk_remaining_bytes=(
            0 if phase is MigrationPhase.COMPLETED else updated.disk_remaining_bytes
        ),
    )


def _data_seen(migration: Migration, sample: JobSample, now: datetime) -> Migration:
    """`migration` with a running sample that moved data kept as its latest (and its first,
    if none was): the transfer's rate, for learning its fixed cost (`domain.path_cost`)."""
    if sample.data_processed_bytes <= 0:
        return migration
    latest = replace(migration, last_data_at=now, last_data_bytes=sample.data_processed_bytes)
    if migration.first_data_at is not None:
        return latest
    return replace(latest, first_data_at=now, first_data_bytes=sample.data_processed_bytes)


def _judged_path(migration: Migration, nic_tx_bytes: tuple[tuple[str, int], ...]) -> PathProof:
    """The proof of path with the NIC counters of a sample; the guest's memory is the data
    total less what copying local disks adds."""
    memory = max(0, migration.data_total_bytes - migration.disk_total_bytes)
    return judge_path(
        migration.path_proof.nic,
        dict(nic_tx_bytes),
        migration.data_processed_bytes,
        memory,
    )


def duration_s(migration: Migration) -> float:
    """Seconds from start (or creation) to finish; 0 while unfinished."""
    if migration.finished_at is None:
        return 0.0
    begin = migration.started_at or migration.created_at
    return max((migration.finished_at - begin).total_seconds(), 0.0)


def completion_message(
    migration: Migration, vm_name: str, source_name: str, destination_name: str
) -> str:
    """The audit sentence of a finished migration."""
    vm = repr(vm_name or migration.vm_id)
    route = f"from {source_name} to {destination_name}"
    over = (
        " over the migration network"
        if migration.fallback_reason is FallbackReason.NONE
        else " over the management network"
    )
    if migration.phase is MigrationPhase.COMPLETED:
        return (
            f"VM {vm} migrated {route}{over} in {duration_s(migration):.1f} s "
            f"(downtime {migration.downtime_ms} ms)"
        )
    if migration.phase is MigrationPhase.CANCELLED:
        return f"migration of VM {vm} {route} cancelled; the VM keeps running on {source_name}"
    return (
        f"migration of VM {vm} {route} failed: {migration.error or 'no reason given'}; the VM "
        f"keeps running on {source_name}"
    )
