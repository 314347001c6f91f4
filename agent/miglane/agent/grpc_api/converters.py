"""Conversions between the AgentService messages (`miglane.agent.v1`, generated as
`miglane.v1.agent_pb2`) and the agent's domain values, one per message."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from miglane.agent.domain import model
from miglane.agent.domain.errors import InvalidArgument
from miglane.agent.domain.job import JobStatus
from miglane.v1 import agent_pb2, common_pb2

MODE_TO_PROTO = {
    model.MigrationMode.LIVE: common_pb2.MIGRATION_MODE_LIVE,
    model.MigrationMode.HIBERNATE: common_pb2.MIGRATION_MODE_HIBERNATE,
}
PHASE_TO_PROTO = {
    model.JobPhase.RUNNING: common_pb2.MIGRATION_PHASE_RUNNING,
    model.JobPhase.COMPLETED: common_pb2.MIGRATION_PHASE_COMPLETED,
    model.JobPhase.FAILED: common_pb2.MIGRATION_PHASE_FAILED,
    model.JobPhase.CANCELLED: common_pb2.MIGRATION_PHASE_CANCELLED,
}
FAILURE_TO_PROTO = {
    model.FailureKind.NONE: agent_pb2.MIGRATION_FAILURE_KIND_UNSPECIFIED,
    model.FailureKind.CANCELLED: agent_pb2.MIGRATION_FAILURE_KIND_CANCELLED,
    model.FailureKind.NOT_CONVERGING: agent_pb2.MIGRATION_FAILURE_KIND_NOT_CONVERGING,
    model.FailureKind.DESTINATION: agent_pb2.MIGRATION_FAILURE_KIND_DESTINATION,
    model.FailureKind.NETWORK: agent_pb2.MIGRATION_FAILURE_KIND_NETWORK,
    model.FailureKind.OTHER: agent_pb2.MIGRATION_FAILURE_KIND_OTHER,
}
VM_STATE_TO_PROTO = {
    model.VmState.RUNNING: common_pb2.VM_STATE_RUNNING,
    model.VmState.PAUSED: common_pb2.VM_STATE_PAUSED,
    model.VmState.SHUT_OFF: common_pb2.VM_STATE_SHUT_OFF,
    model.VmState.MIGRATING: common_pb2.VM_STATE_MIGRATING,
    model.VmState.CRASHED: common_pb2.VM_STATE_CRASHED,
    model.VmState.SAVED: common_pb2.VM_STATE_SAVED,
    model.VmState.UNKNOWN: common_pb2.VM_STATE_UNSPECIFIED,
}
# Which MigrateRequest.target is set (vdsm's `mode`).
MODE_OF_TARGET = {
    "live": model.MigrationMode.LIVE,
    "hibernation": model.MigrationMode.HIBERNATE,
}
DISK_KIND_TO_PROTO = {
    model.DiskKind.SHARED: common_pb2.DISK_KIND_SHARED,
    model.DiskKind.LOCAL: common_pb2.DISK_KIND_LOCAL,
}
ACTION_FROM_PROTO = {
    common_pb2.CONVERGENCE_ACTION_SET_DOWNTIME: model.ConvergenceAction.SET_DOWNTIME,
    common_pb2.CONVERGENCE_ACTION_POST_COPY: model.ConvergenceAction.POST_COPY,
    common_pb2.CONVERGENCE_ACTION_ABORT: model.ConvergenceAction.ABORT,
}


def _timestamp(seconds: float) -> Timestamp | None:
    if not seconds:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _duration(milliseconds: int) -> Duration | None:
    """Unset for 0: "none" or "unknown" in every duration field of the contract."""
    if not milliseconds:
        return None
    duration = Duration()
    duration.FromMilliseconds(milliseconds)
    return duration


def _milliseconds(duration: Duration) -> int:
    return duration.ToMilliseconds()


def schedule_from_proto(pb: common_pb2.ConvergenceSchedule) -> model.ConvergenceSchedule:
    steps = []
    for step in pb.stalling:
        if step.action not in ACTION_FROM_PROTO:
            raise InvalidArgument(
                f"unknown action {step.action}", field="convergence_schedule.stalling.action"
            )
        steps.append(
            model.ConvergenceStep(
                step.stalled_iterations,
                ACTION_FROM_PROTO[step.action],
                _milliseconds(step.downtime),
            )
        )
    return model.ConvergenceSchedule(_milliseconds(pb.initial_downtime), tuple(steps))


def migrate_request_from_proto(pb: agent_pb2.MigrateRequest) -> model.MigrateRequest:
    return model.MigrateRequest(
        migration_id=pb.migration_id,
        vm_id=pb.vm_id,
        dst=pb.live.dst,
        mode=MODE_OF_TARGET.get(pb.WhichOneof("target") or ""),
        migration_uri=pb.live.migration_uri,
        disks_uri=pb.disks_uri,
        save_path=pb.hibernation.path,
        max_bandwidth_mibps=(
            pb.max_bandwidth_mib_per_second if pb.HasField("max_bandwidth_mib_per_second") else None
        ),
        options=model.MigrationOptions(
            encrypted=pb.encrypted,
            compressed=pb.compressed,
            auto_converge=pb.auto_converge,
            parallel_connections=pb.parallel_connections,
            post_copy_allowed=pb.post_copy_allowed,
            copy_local_disks=pb.copy_local_disks,
        ),
        schedule=schedule_from_proto(pb.convergence_schedule),
        timeouts=model.Timeouts(
            pb.no_progress_timeout.seconds, pb.completion_timeout_per_gib.seconds
        ),
    )


def change_from_proto(pb: agent_pb2.MigrateChangeParamsRequest) -> model.BandwidthChange:
    return model.BandwidthChange(
        pb.migration_id, pb.max_bandwidth_mib_per_second, _milliseconds(pb.max_downtime)
    )


def progress_to_proto(status: JobStatus) -> agent_pb2.MigrationProgress:
    return agent_pb2.MigrationProgress(
        migration_id=status.migration_id,
        vm_id=status.vm_id,
        mode=MODE_TO_PROTO[status.mode],
        phase=PHASE_TO_PROTO[status.phase],
        progress_percent=status.progress.percent,
        data_total_bytes=status.data_total,
        data_processed_bytes=status.data_processed,
        data_remaining_bytes=status.data_remaining,
        disk_total_bytes=status.disk_total,
        disk_processed_bytes=status.disk_processed,
        disk_remaining_bytes=status.disk_remaining,
        throughput_bytes_per_second=status.throughput_bps,
        dirty_rate_bytes_per_second=status.dirty_rate_bps,
        iteration=status.iteration,
        downtime=_duration(status.downtime_ms),
        max_downtime=_duration(status.max_downtime_ms),
        max_bandwidth_mib_per_second=status.max_bandwidth_mibps,
        post_copy=status.post_copy,
        error=status.error,
        failure_kind=FAILURE_TO_PROTO[status.failure_kind],
        observed_at=_timestamp(status.observed_at),
        started_at=_timestamp(status.started_at),
        finished_at=_timestamp(status.finished_at),
        migration_uri=status.migration_uri,
        dst=status.dst,
        eta=_duration(status.eta_s * 1000),
        elapsed=_duration(status.elapsed_ms),
        nic_tx_bytes=[
            agent_pb2.NicTransmitted(nic=nic, tx_bytes=sent) for nic, sent in status.nic_tx_bytes
        ],
    )


def nic_to_proto(nic: model.Nic) -> common_pb2.Nic:
    return common_pb2.Nic(
        name=nic.name,
        mac=nic.mac,
        addresses=list(nic.addresses),
        link_up=nic.link_up,
        speed_mbit_per_second=nic.speed_mbps,
        mtu=nic.mtu,
        rx_bytes=nic.rx_bytes,
        tx_bytes=nic.tx_bytes,
    )


def capabilities_to_proto(caps: model.Capabilities) -> agent_pb2.GetCapabilitiesResponse:
    h = caps.host
    return agent_pb2.GetCapabilitiesResponse(
        host_uuid=h.host_uuid,
        hostname=h.hostname,
        libvirt_version=h.libvirt_version,
        qemu_version=h.qemu_version,
        cpu_count=h.cpus,
        memory_mib=h.memory_mib,
        free_memory_mib=h.free_memory_mib,
        peer_libvirt_uri=caps.peer_libvirt_uri,
        nics=[nic_to_proto(n) for n in caps.nics],
        agent_version=caps.agent_version,
        max_outgoing_migration_count=caps.max_outgoing_migrations,
        running_outgoing_migration_count=caps.running_outgoing_migrations,
    )


def vm_to_proto(vm: model.VmView) -> agent_pb2.AgentVm:
    d = vm.domain
    return agent_pb2.AgentVm(
        id=d.id,
        name=d.name,
        state=VM_STATE_TO_PROTO[d.state],
        memory_mib=d.memory_mib,
        migration_id=vm.migration_id,
        disks=[disk_to_proto(disk) for disk in d.disks],
        nics=[common_pb2.VmNic(network=nic.network, mac=nic.mac) for nic in d.nics],
        dirty_rate_bytes_per_second=vm.dirty_rate.bytes_per_second if vm.dirty_rate else 0,
        dirty_rate_measured_at=_timestamp(vm.dirty_rate.measured_at) if vm.dirty_rate else None,
        dirty_working_set_bytes=vm.dirty_rate.working_set_bytes if vm.dirty_rate else 0,
    )


def disk_to_proto(disk: model.VmDisk) -> common_pb2.VmDisk:
    return common_pb2.VmDisk(
        target=disk.target,
        kind=DISK_KIND_TO_PROTO[disk.kind],
        size_bytes=disk.size_bytes,
        format=disk.format,
        source=disk.source,
    )
