"""The engine's side of AgentService: one grpc.aio channel per agent address, a deadline on
every unary call, and the agent's status codes turned into `AgentCallError` kinds the
orchestration decides on (busy: retry later; refused: fail; unreachable: try again).

Everything returned is a domain value (`AgentReport` parts, `JobSample`); nothing past this
module sees a protobuf.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import grpc

from miglane.engine.domain.convergence import MigrationTuning
from miglane.engine.domain.evacuation import MigrationFailureKind
from miglane.engine.domain.model import HostFacts, MigrationPhase, Nic, Vm, VmState
from miglane.engine.domain.progress import JobSample
from miglane.engine.grpc_api.converters import nic_from_proto
from miglane.v1 import agent_pb2, agent_pb2_grpc, common_pb2

log = logging.getLogger(__name__)

DEFAULT_CALL_TIMEOUT_S = 5.0
# Migrate answers once the copy has started; the agent itself waits up to ~30 s for that.
MIGRATE_TIMEOUT_S = 45.0
CANCEL_TIMEOUT_S = 60.0

CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


class AgentCallErrorKind(Enum):
    # RESOURCE_EXHAUSTED: over a limit; retry later.
    BUSY = "busy"
    # The agent could not be reached or did not answer in time.
    UNREACHABLE = "unreachable"
    # NOT_FOUND: no such VM or job.
    NOT_FOUND = "not_found"
    # ALREADY_EXISTS: the migration id is known to the agent.
    ALREADY_EXISTS = "already_exists"
    # FAILED_PRECONDITION, INVALID_ARGUMENT, UNIMPLEMENTED: refused as asked.
    REFUSED = "refused"
    OTHER = "other"


_KINDS = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: AgentCallErrorKind.BUSY,
    grpc.StatusCode.UNAVAILABLE: AgentCallErrorKind.UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: AgentCallErrorKind.UNREACHABLE,
    grpc.StatusCode.CANCELLED: AgentCallErrorKind.UNREACHABLE,
    grpc.StatusCode.NOT_FOUND: AgentCallErrorKind.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: AgentCallErrorKind.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION: AgentCallErrorKind.REFUSED,
    grpc.StatusCode.INVALID_ARGUMENT: AgentCallErrorKind.REFUSED,
    grpc.StatusCode.UNIMPLEMENTED: AgentCallErrorKind.REFUSED,
}


class AgentCallError(Exception):
    def __init__(self, kind: AgentCallErrorKind, address: str, detail: str) -> None:
        super().__init__(f"agent at {address}: {detail}")
        self.kind = kind
        self.address = address
        self.detail = detail


def _call_error(address: str, error: grpc.aio.AioRpcError) -> AgentCallError:
    code = error.code()
    kind = _KINDS.get(code, AgentCallErrorKind.OTHER)
    detail = error.details() or code.name
    if kind is AgentCallErrorKind.UNREACHABLE and code is grpc.StatusCode.DEADLINE_EXCEEDED:
        detail = f"no answer in time ({detail})"
    return AgentCallError(kind, address, detail)


@dataclass(frozen=True)
class Capabilities:
    facts: HostFacts
    nics: tuple[Nic, ...]
    max_outgoing: int
    running_outgoing: int


@dataclass(frozen=True)
class MigrateCall:
    """What the engine asks a source agent to do (`MigrateRequest`)."""

    migration_id: str
    vm_id: str
    # The destination's peer libvirt URI.
    dst: str
    migration_uri: str
    # None: the hypervisor's default (no cap).
    max_bandwidth_mibps: int | None
    tuning: MigrationTuning


# ---------------------------------------------------------------- converters


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
    phase = _enum_or(MigrationPhase, message.phase, MigrationPhase.RUNNING)
    kind = _enum_or(MigrationFailureKind, message.failure_kind, MigrationFailureKind.OTHER)
    assert isinstance(phase, MigrationPhase) and isinstance(kind, MigrationFailureKind)
    return JobSample(
        migration_id=message.migration_id,
        phase=phase,
        progress_percent=message.progress_percent,
        data_total_bytes=message.data_total_bytes,
        data_processed_bytes=message.data_processed_bytes,
        data_remaining_bytes=message.data_remaining_bytes,
        throughput_bps=message.throughput_bps,
        dirty_rate_bps=message.dirty_rate_bps,
        iteration=message.iteration,
        downtime_ms=message.downtime_ms,
        max_bandwidth_mibps=message.max_bandwidth_mibps,
        post_copy=message.post_copy,
        error=message.error,
        failure_kind=kind,
        eta_s=message.eta_s,
        started_at=_moment(message.started_at),
        finished_at=_moment(message.finished_at),
    )


def _vm_from_proto(message: agent_pb2.AgentVm) -> Vm:
    state = _enum_or(VmState, message.state, VmState.UNSPECIFIED)
    assert isinstance(state, VmState)
    return Vm(
        id=message.id,
        name=message.name,
        host_id="",
        cluster_id="",
        state=state,
        memory_mib=message.memory_mib,
    )


def migrate_request(call: MigrateCall) -> agent_pb2.MigrateRequest:
    tuning = call.tuning
    schedule = common_pb2.ConvergenceSchedule(
        initial_downtime_ms=tuning.convergence_schedule.initial_downtime_ms,
        stalling=[
            common_pb2.ConvergenceStep(
                stalled_iterations=step.stalled_iterations,
                action=int(step.action),  # type: ignore[arg-type]
                downtime_ms=step.downtime_ms,
            )
            for step in tuning.convergence_schedule.stalling
        ],
    )
    request = agent_pb2.MigrateRequest(
        migration_id=call.migration_id,
        vm_id=call.vm_id,
        dst=call.dst,
        mode=common_pb2.MIGRATION_MODE_LIVE,
        migration_uri=call.migration_uri,
        encrypted=tuning.encrypted,
        compressed=tuning.compressed,
        auto_converge=tuning.auto_converge,
        parallel_connections=tuning.parallel_connections,
        convergence_schedule=schedule,
        no_progress_timeout_s=tuning.no_progress_timeout_s,
        completion_timeout_s_per_gib=tuning.completion_timeout_s_per_gib,
        post_copy_allowed=tuning.post_copy_allowed,
    )
    if call.max_bandwidth_mibps:
        request.max_bandwidth_mibps = call.max_bandwidth_mibps
    return request


# ---------------------------------------------------------------- the client


class AgentClients:
    """Channels to every agent the engine talks to, created lazily inside the running loop."""

    def __init__(self, *, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        self.call_timeout_s = call_timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, agent_pb2_grpc.AgentServiceStub] = {}

    def _stub(self, address: str) -> agent_pb2_grpc.AgentServiceStub:
        stub = self._stubs.get(address)
        if stub is None:
            channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            self._channels[address] = channel
            stub = self._stubs[address] = agent_pb2_grpc.AgentServiceStub(channel)
        return stub

    async def forget(self, address: str) -> None:
        """Closes the channel to an agent (its host was removed)."""
        self._stubs.pop(address, None)
        channel = self._channels.pop(address, None)
        if channel is not None:
            await channel.close(None)

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.close(None)

    async def capabilities(self, address: str) -> Capabilities:
        try:
            reply = await self._stub(address).GetCapabilities(
                agent_pb2.GetCapabilitiesRequest(), timeout=self.call_timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return Capabilities(
            facts=HostFacts(
                host_uuid=reply.host_uuid,
                hostname=reply.hostname,
                peer_libvirt_uri=reply.peer_libvirt_uri,
                cpus=reply.cpus,
                memory_mib=reply.memory_mib,
                free_memory_mib=reply.free_memory_mib,
                libvirt_version=reply.libvirt_version,
                qemu_version=reply.qemu_version,
            ),
            nics=tuple(nic_from_proto(nic) for nic in reply.nics),
            max_outgoing=reply.max_outgoing_migrations,
            running_outgoing=reply.running_outgoing_migrations,
        )

    async def list_vms(self, address: str) -> list[Vm]:
        try:
            reply = await self._stub(address).ListVms(
                agent_pb2.AgentServiceListVmsRequest(), timeout=self.call_timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return [_vm_from_proto(vm) for vm in reply.vms]

    async def migrate(self, address: str, call: MigrateCall) -> JobSample:
        try:
            reply = await self._stub(address).Migrate(
                migrate_request(call), timeout=max(MIGRATE_TIMEOUT_S, self.call_timeout_s)
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def cancel(self, address: str, migration_id: str) -> JobSample:
        try:
            reply = await self._stub(address).MigrateCancel(
                agent_pb2.MigrateCancelRequest(migration_id=migration_id),
                timeout=CANCEL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def change_bandwidth(self, address: str, migration_id: str, mibps: int) -> JobSample:
        try:
            reply = await self._stub(address).MigrateChangeParams(
                agent_pb2.MigrateChangeParamsRequest(
                    migration_id=migration_id, max_bandwidth_mibps=mibps
                ),
                timeout=self.call_timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def status(self, address: str, migration_id: str) -> JobSample:
        try:
            reply = await self._stub(address).GetMigrationStatus(
                agent_pb2.GetMigrationStatusRequest(migration_id=migration_id),
                timeout=self.call_timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def list_jobs(self, address: str, include_finished: bool = True) -> list[JobSample]:
        try:
            reply = await self._stub(address).ListMigrationJobs(
                agent_pb2.ListMigrationJobsRequest(include_finished=include_finished),
                timeout=self.call_timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return [sample_from_proto(job) for job in reply.jobs]

    async def watch(self, address: str, migration_id: str) -> AsyncIterator[JobSample]:
        """The job's samples until its final one (the agent then ends the stream). Raises
        AgentCallError when the stream breaks."""
        call = self._stub(address).WatchMigrationProgress(
            agent_pb2.WatchMigrationProgressRequest(migration_id=migration_id)
        )
        try:
            async for reply in call:
                yield sample_from_proto(reply.progress)
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        except asyncio.CancelledError:
            call.cancel()
            raise
        finally:
            call.cancel()
