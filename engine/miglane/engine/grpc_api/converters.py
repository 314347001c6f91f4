"""One converter per message between the contracts (`miglane.engine.v1`, `miglane.agent.v1`,
`miglane.common.v1`, generated as `miglane.v1.*_pb2`) and the domain values.

Proto3 enums are open: an unknown number (role=99) arrives as is and is refused here, naming
the field. UNSPECIFIED passes through: whether it means "default" or "missing" is the domain's
call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum, IntEnum
from typing import Any, TypeVar

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from miglane.engine.domain import forecast, model
from miglane.engine.domain.errors import InvalidArgument
from miglane.engine.domain.evacuation import UnplacedVm
from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.path_proof import path_summary
from miglane.engine.domain.placement import DestinationAssessment
from miglane.engine.domain.priority import validate_priority
from miglane.engine.domain.progress import JobSample, MigrateCall
from miglane.v1 import agent_pb2, common_pb2, engine_pb2

E = TypeVar("E", bound=IntEnum)


def _enum(domain: type[E], proto: EnumTypeWrapper, value: int, field: str) -> E:
    try:
        return domain(value)
    except ValueError:
        names = ", ".join(v.name for v in proto.DESCRIPTOR.values if v.number != 0)
        raise InvalidArgument(
            field, f"{value} is not a {proto.DESCRIPTOR.name} value; use one of {names}"
        ) from None


def _pb(value: IntEnum) -> Any:
    # The generated stubs type enum fields as their wrapper class; the numbers are the same.
    return int(value)


def _duration(milliseconds: int) -> duration_pb2.Duration | None:
    """Unset for 0: "none" or "unknown" in every duration field of the contracts."""
    if not milliseconds:
        return None
    duration = duration_pb2.Duration()
    duration.FromMilliseconds(milliseconds)
    return duration


def _seconds(duration: duration_pb2.Duration, field: str) -> int:
    """A whole-seconds duration of a request; a negative one is refused."""
    if duration.seconds < 0 or duration.nanos < 0:
        raise InvalidArgument(field, "must not be negative")
    return duration.seconds


def fallback_reason_to_proto(reason: model.FallbackReason) -> Any:
    """The contract has no NONE: UNSPECIFIED means the migration network carries the data."""
    return 0 if reason is model.FallbackReason.NONE else int(reason)


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


# ---------------------------------------------------------------- enums


def role_from_proto(value: int, field: str = "role") -> model.NetworkRole:
    return _enum(model.NetworkRole, common_pb2.NetworkRole, value, field)


def roles_from_proto(values: Iterable[int], field: str = "roles") -> tuple[model.NetworkRole, ...]:
    return tuple(role_from_proto(v, f"{field}[{i}]") for i, v in enumerate(values))


def phases_from_proto(
    values: Iterable[int], field: str = "phases"
) -> frozenset[model.MigrationPhase]:
    return frozenset(
        _enum(model.MigrationPhase, common_pb2.MigrationPhase, v, f"{field}[{i}]")
        for i, v in enumerate(values)
    )


# ---------------------------------------------------------------- clusters


def policy_from_proto(
    message: engine_pb2.MigrationPolicy, field: str = "policy"
) -> model.MigrationPolicy:
    return model.MigrationPolicy(
        bandwidth_mode=_enum(
            model.BandwidthMode,
            engine_pb2.BandwidthMode,
            message.bandwidth_mode,
            f"{field}.bandwidth_mode",
        ),
        custom_mibps=message.custom_mib_per_second,
        max_outgoing_per_host=message.max_outgoing_per_host,
        max_incoming_per_host=message.max_incoming_per_host,
        max_concurrent_per_cluster=message.max_concurrent_per_cluster,
        convergence=_enum(
            model.ConvergencePolicy,
            engine_pb2.ConvergencePolicy,
            message.convergence,
            f"{field}.convergence",
        ),
        encrypted=message.encrypted,
        compressed=message.compressed,
        auto_converge=message.auto_converge,
        parallel_connections=message.parallel_connections,
        local_disk_migration=message.local_disk_migration,
        local_disk_bandwidth_percent=message.local_disk_bandwidth_percent,
        management_migration_budget_mbps=message.management_migration_budget_mbit_per_second,
        no_progress_timeout_s=_seconds(message.no_progress_timeout, f"{field}.no_progress_timeout"),
        completion_timeout_s_per_gib=_seconds(
            message.completion_timeout_per_gib, f"{field}.completion_timeout_per_gib"
        ),
    )


def policy_to_proto(policy: model.MigrationPolicy) -> engine_pb2.MigrationPolicy:
    return engine_pb2.MigrationPolicy(
        bandwidth_mode=_pb(policy.bandwidth_mode),
        custom_mib_per_second=policy.custom_mibps,
        max_outgoing_per_host=policy.max_outgoing_per_host,
        max_incoming_per_host=policy.max_incoming_per_host,
        max_concurrent_per_cluster=policy.max_concurrent_per_cluster,
        convergence=_pb(policy.convergence),
        encrypted=policy.encrypted,
        compressed=policy.compressed,
        auto_converge=policy.auto_converge,
        parallel_connections=policy.parallel_connections,
        local_disk_migration=policy.local_disk_migration,
        local_disk_bandwidth_percent=policy.local_disk_bandwidth_percent,
        management_migration_budget_mbit_per_second=policy.management_migration_budget_mbps,
        no_progress_timeout=_duration(policy.no_progress_timeout_s * 1000),
        completion_timeout_per_gib=_duration(policy.completion_timeout_s_per_gib * 1000),
    )


def cluster_spec(request: engine_pb2.CreateClusterRequest) -> model.ClusterSpec:
    return model.ClusterSpec(
        name=request.name,
        compatibility_version=request.compatibility_version,
        policy=policy_from_proto(request.policy) if request.HasField("policy") else None,
        description=request.description,
    )


def cluster_patch(request: engine_pb2.UpdateClusterRequest) -> model.ClusterPatch:
    return model.ClusterPatch(
        cluster_id=request.cluster_id,
        name=request.name if request.HasField("name") else None,
        compatibility_version=(
            request.compatibility_version if request.HasField("compatibility_version") else None
        ),
        policy=policy_from_proto(request.policy) if request.HasField("policy") else None,
        description=request.description if request.HasField("description") else None,
    )


def cluster_to_proto(cluster: model.Cluster) -> engine_pb2.Cluster:
    return engine_pb2.Cluster(
        id=cluster.id,
        name=cluster.name,
        compatibility_version=cluster.compatibility_version,
        policy=policy_to_proto(cluster.policy),
        description=cluster.description,
        created_at=_timestamp(cluster.created_at),
        migration_network_id=cluster.migration_network_id,
        management_network_id=cluster.management_network_id,
    )


# ---------------------------------------------------------------- networks


def network_spec(request: engine_pb2.CreateNetworkRequest) -> model.NetworkSpec:
    return model.NetworkSpec(
        cluster_id=request.cluster_id,
        name=request.name,
        subnet=request.subnet,
        required=request.required,
        roles=roles_from_proto(request.roles),
        qos_mbps=(request.qos_mbit_per_second if request.HasField("qos_mbit_per_second") else None),
        description=request.description,
    )


def network_patch(request: engine_pb2.UpdateNetworkRequest) -> model.NetworkPatch:
    return model.NetworkPatch(
        network_id=request.network_id,
        name=request.name if request.HasField("name") else None,
        subnet=request.subnet if request.HasField("subnet") else None,
        required=request.required if request.HasField("required") else None,
        qos_mbps=(request.qos_mbit_per_second if request.HasField("qos_mbit_per_second") else None),
        description=request.description if request.HasField("description") else None,
    )


def network_to_proto(network: model.Network) -> engine_pb2.Network:
    message = engine_pb2.Network(
        id=network.id,
        cluster_id=network.cluster_id,
        name=network.name,
        subnet=network.subnet,
        required=network.required,
        roles=[_pb(role) for role in network.roles],
        description=network.description,
        created_at=_timestamp(network.created_at),
    )
    if network.qos_mbps is not None:
        message.qos_mbit_per_second = network.qos_mbps
    return message


# ---------------------------------------------------------------- hosts


def host_spec(request: engine_pb2.AddHostRequest) -> model.HostSpec:
    return model.HostSpec(
        cluster_id=request.cluster_id, name=request.name, agent_address=request.agent_address
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


def nic_from_proto(message: common_pb2.Nic) -> model.Nic:
    """The NICs of an agent's GetCapabilities answer."""
    return model.Nic(
        name=message.name,
        mac=message.mac,
        addresses=tuple(message.addresses),
        link_up=message.link_up,
        speed_mbps=message.speed_mbit_per_second,
        mtu=message.mtu,
        rx_bytes=message.rx_bytes,
        tx_bytes=message.tx_bytes,
    )


def attachment_to_proto(attachment: model.Attachment) -> engine_pb2.NetworkAttachment:
    return engine_pb2.NetworkAttachment(
        network_id=attachment.network_id,
        network_name=attachment.network_name,
        nic=attachment.nic,
        address=attachment.address,
        link_up=attachment.link_up,
        speed_mbit_per_second=attachment.speed_mbps,
        mtu=attachment.mtu,
        note=attachment.note,
    )


def host_to_proto(view: model.HostView) -> engine_pb2.Host:
    host, facts = view.host, view.host.facts
    return engine_pb2.Host(
        id=host.id,
        name=host.name,
        cluster_id=host.cluster_id,
        agent_address=host.agent_address,
        status=_pb(host.status),
        status_reason=host.status_reason,
        attachments=[attachment_to_proto(a) for a in view.attachments],
        nics=[nic_to_proto(n) for n in host.nics],
        host_uuid=facts.host_uuid,
        hostname=facts.hostname,
        peer_libvirt_uri=facts.peer_libvirt_uri,
        cpu_count=facts.cpus,
        memory_mib=facts.memory_mib,
        free_memory_mib=facts.free_memory_mib,
        outgoing_migration_count=view.outgoing_migrations,
        incoming_migration_count=view.incoming_migrations,
        last_seen_at=_timestamp(host.last_seen_at),
        libvirt_version=facts.libvirt_version,
        qemu_version=facts.qemu_version,
        certificate_not_after=_timestamp(view.certificate_not_after),
        evacuation_vms_left=view.evacuation_vms_left,
        evacuation_finish_at=_timestamp(view.evacuation_finish_at),
    )


# ---------------------------------------------------------------- VMs and migrations


def disk_to_proto(disk: model.VmDisk) -> common_pb2.VmDisk:
    return common_pb2.VmDisk(
        target=disk.target,
        kind=_pb(disk.kind),
        size_bytes=disk.size_bytes,
        format=disk.format,
        source=disk.source,
    )


def disk_from_proto(message: common_pb2.VmDisk) -> model.VmDisk:
    # A kind a newer agent reports and this engine does not know is treated as unknown.
    kind = _enum_or(model.DiskKind, message.kind, model.DiskKind.UNSPECIFIED)
    assert isinstance(kind, model.DiskKind)
    return model.VmDisk(
        target=message.target,
        kind=kind,
        size_bytes=message.size_bytes,
        format=message.format,
        source=message.source,
    )


def vm_nic_from_proto(message: common_pb2.VmNic) -> model.VmNic:
    return model.VmNic(network=message.network, mac=message.mac)


def vm_to_proto(vm: model.Vm) -> engine_pb2.Vm:
    return engine_pb2.Vm(
        id=vm.id,
        name=vm.name,
        host_id=vm.host_id,
        cluster_id=vm.cluster_id,
        state=_pb(vm.state),
        memory_mib=vm.memory_mib,
        migration_id=vm.migration_id,
        disks=[disk_to_proto(disk) for disk in vm.disks],
        nics=[common_pb2.VmNic(network=nic.network, mac=nic.mac) for nic in vm.nics],
        dirty_rate_bytes_per_second=vm.dirty_rate.bytes_per_second if vm.dirty_rate else 0,
        dirty_rate_measured_at=_epoch_timestamp(vm.dirty_rate) if vm.dirty_rate else None,
        dirty_rate_history=[
            engine_pb2.DirtyRateSample(
                bytes_per_second=sample.bytes_per_second,
                measured_at=_epoch_timestamp(sample),
                working_set_bytes=sample.working_set_bytes,
            )
            for sample in vm.dirty_rates
        ],
        migration_priority=_pb(vm.priority),
        dirty_working_set_bytes=vm.dirty_rate.working_set_bytes if vm.dirty_rate else 0,
    )


def _epoch_timestamp(sample: model.DirtyRateSample) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(sample.measured_at * 1e9))
    return stamp


def migration_filter(request: engine_pb2.ListMigrationsRequest) -> model.MigrationFilter:
    return model.MigrationFilter(
        cluster_id=request.cluster_id,
        vm_id=request.vm_id,
        host_id=request.host_id,
        phases=phases_from_proto(request.phases),
    )


def migration_to_proto(migration: model.Migration) -> engine_pb2.Migration:
    if migration.phase not in model.ACTIVE_PHASES:
        # Whatever path ended it (a final sample, a cancel, a failed admission), a migration
        # that is over has nothing left to predict.
        migration = forecast.cleared(migration)
    return engine_pb2.Migration(
        id=migration.id,
        vm_id=migration.vm_id,
        source_host_id=migration.source_host_id,
        destination_host_id=migration.destination_host_id,
        automatic=migration.automatic,
        phase=_pb(migration.phase),
        progress_percent=migration.progress_percent,
        data_total_bytes=migration.data_total_bytes,
        data_processed_bytes=migration.data_processed_bytes,
        data_remaining_bytes=migration.data_remaining_bytes,
        throughput_bytes_per_second=migration.throughput_bps,
        dirty_rate_bytes_per_second=migration.dirty_rate_bps,
        iteration=migration.iteration,
        network_id=migration.network_id,
        migration_uri=migration.migration_uri,
        fallback_reason=fallback_reason_to_proto(migration.fallback_reason),
        fallback_detail=migration.fallback_detail,
        max_bandwidth_mib_per_second=migration.max_bandwidth_mibps,
        error=migration.error,
        created_at=_timestamp(migration.created_at),
        started_at=_timestamp(migration.started_at),
        finished_at=_timestamp(migration.finished_at),
        downtime=_duration(migration.downtime_ms),
        cluster_id=migration.cluster_id,
        vm_name=migration.vm_name,
        queue_reason=migration.queue_reason,
        eta=_duration(migration.eta_s * 1000),
        tried_host_ids=list(migration.tried_host_ids),
        evacuation_host_id=migration.evacuation_host_id,
        post_copy=migration.post_copy,
        disk_total_bytes=migration.disk_total_bytes,
        disk_processed_bytes=migration.disk_processed_bytes,
        disk_remaining_bytes=migration.disk_remaining_bytes,
        expected_finish_at=_timestamp(migration.predicted_finish_at),
        verdict=_pb(migration.verdict),
        verdict_reason=migration.verdict_reason,
        priority=_pb(migration.priority),
        priority_overridden=migration.priority_override is not None,
        granted_bandwidth_mib_per_second=migration.granted_mibps or 0,
        path_proof=path_proof_to_proto(migration.path_proof),
    )


def path_proof_to_proto(proof: model.PathProof) -> engine_pb2.MigrationPathProof | None:
    """None before the NIC counters were judged."""
    if proof.verdict is model.PathVerdict.UNSPECIFIED:
        return None
    return engine_pb2.MigrationPathProof(
        verdict=_pb(proof.verdict),
        nic=proof.nic,
        nic_tx_bytes=proof.nic_tx_bytes,
        data_bytes=proof.data_bytes,
        memory_bytes=proof.memory_bytes,
        other_nic=proof.other_nic,
        other_nic_tx_bytes=proof.other_nic_tx_bytes,
        summary=path_summary(proof),
    )


# ---------------------------------------------------------------- events


def event_to_proto(event: model.Event) -> engine_pb2.Event:
    return engine_pb2.Event(
        sequence=event.sequence,
        type=_pb(event.type),
        severity=_pb(event.severity),
        created_at=_timestamp(event.created_at),
        cluster_id=event.cluster_id,
        network_id=event.network_id,
        host_id=event.host_id,
        vm_id=event.vm_id,
        migration_id=event.migration_id,
        message=event.message,
        attributes=dict(event.attributes),
        actor=event.actor,
    )


def candidate_to_proto(assessment: DestinationAssessment) -> engine_pb2.MigrationCandidate:
    host = assessment.host.host
    path = assessment.path
    message = engine_pb2.MigrationCandidate(
        host_id=host.id,
        host_name=host.name,
        suitable=assessment.suitable,
        rejections=[r.message for r in assessment.rejections],
        manual_allowed=assessment.manual_allowed,
        score=assessment.score,
    )
    if path is not None:
        message.network_id = path.network_id
        message.fallback_reason = fallback_reason_to_proto(path.fallback_reason)
        message.fallback_detail = path.fallback_detail
    return message


def unplaced_to_proto(unplaced: UnplacedVm) -> engine_pb2.UnplacedVm:
    return engine_pb2.UnplacedVm(
        vm_id=unplaced.vm_id, vm_name=unplaced.vm_name, reason=unplaced.reason
    )


def bandwidth_override(request: engine_pb2.MigrateVmRequest) -> int | None:
    if request.HasField("max_bandwidth_mib_per_second"):
        return request.max_bandwidth_mib_per_second
    return None


def priority_override(request: engine_pb2.MigrateVmRequest) -> model.MigrationPriority | None:
    """MigrateVm's per-call priority; None (UNSPECIFIED): the VM's."""
    if request.priority == engine_pb2.MIGRATION_PRIORITY_UNSPECIFIED:
        return None
    return validate_priority("priority", request.priority)


# ---------------------------------------------------------------- AgentService messages


def _moment(stamp: object) -> datetime | None:
    seconds = getattr(stamp, "seconds", 0)
    nanos = getattr(stamp, "nanos", 0)
    if not seconds and not nanos:
        return None
    return datetime.fromtimestamp(seconds + nanos / 1e9, UTC)


def _enum_or(enum: type[Enum], value: int, default: Enum) -> Enum:
    try:
        return enum(value)
    except ValueError:
        return default


def sample_from_proto(message: agent_pb2.MigrationProgress) -> JobSample:
    phase = _enum_or(model.MigrationPhase, message.phase, model.MigrationPhase.RUNNING)
    kind = _enum_or(MigrationFailureKind, message.failure_kind, MigrationFailureKind.OTHER)
    assert isinstance(phase, model.MigrationPhase) and isinstance(kind, MigrationFailureKind)
    return JobSample(
        migration_id=message.migration_id,
        phase=phase,
        progress_percent=message.progress_percent,
        data_total_bytes=message.data_total_bytes,
        data_processed_bytes=message.data_processed_bytes,
        data_remaining_bytes=message.data_remaining_bytes,
        throughput_bps=message.throughput_bytes_per_second,
        dirty_rate_bps=message.dirty_rate_bytes_per_second,
        iteration=message.iteration,
        downtime_ms=message.downtime.ToMilliseconds(),
        max_bandwidth_mibps=message.max_bandwidth_mib_per_second,
        post_copy=message.post_copy,
        error=message.error,
        failure_kind=kind,
        eta_s=message.eta.seconds,
        started_at=_moment(message.started_at),
        finished_at=_moment(message.finished_at),
        disk_total_bytes=message.disk_total_bytes,
        disk_processed_bytes=message.disk_processed_bytes,
        disk_remaining_bytes=message.disk_remaining_bytes,
        nic_tx_bytes=tuple((nic.nic, nic.tx_bytes) for nic in message.nic_tx_bytes),
    )


def agent_vm_from_proto(message: agent_pb2.AgentVm) -> model.Vm:
    state = _enum_or(model.VmState, message.state, model.VmState.UNSPECIFIED)
    assert isinstance(state, model.VmState)
    return model.Vm(
        id=message.id,
        name=message.name,
        host_id="",
        cluster_id="",
        state=state,
        memory_mib=message.memory_mib,
        disks=tuple(disk_from_proto(disk) for disk in message.disks),
        nics=tuple(vm_nic_from_proto(nic) for nic in message.nics),
        dirty_rates=(
            (
                model.DirtyRateSample(
                    message.dirty_rate_bytes_per_second,
                    message.dirty_rate_measured_at.ToNanoseconds() / 1e9,
                    message.dirty_working_set_bytes,
                ),
            )
            if message.HasField("dirty_rate_measured_at")
            else ()
        ),
    )


def migrate_request(call: MigrateCall) -> agent_pb2.MigrateRequest:
    tuning = call.tuning
    schedule = common_pb2.ConvergenceSchedule(
        initial_downtime=_duration(tuning.convergence_schedule.initial_downtime_ms),
        stalling=[
            common_pb2.ConvergenceStep(
                stalled_iterations=step.stalled_iterations,
                action=int(step.action),  # type: ignore[arg-type]
                downtime=_duration(step.downtime_ms),
            )
            for step in tuning.convergence_schedule.stalling
        ],
    )
    request = agent_pb2.MigrateRequest(
        migration_id=call.migration_id,
        vm_id=call.vm_id,
        live=agent_pb2.LiveTarget(dst=call.dst, migration_uri=call.migration_uri),
        encrypted=tuning.encrypted,
        compressed=tuning.compressed,
        auto_converge=tuning.auto_converge,
        parallel_connections=tuning.parallel_connections,
        convergence_schedule=schedule,
        no_progress_timeout=_duration(tuning.no_progress_timeout_s * 1000),
        completion_timeout_per_gib=_duration(tuning.completion_timeout_s_per_gib * 1000),
        post_copy_allowed=tuning.post_copy_allowed,
        copy_local_disks=call.copy_local_disks,
        disks_uri=call.disks_uri,
    )
    if call.max_bandwidth_mibps:
        request.max_bandwidth_mib_per_second = call.max_bandwidth_mibps
    return request
