"""The engine's side of AgentService: one grpc.aio channel per agent address, a deadline on
every unary call, and the agent's status codes turned into `AgentCallError` kinds the
orchestration decides on (busy: retry later; refused: fail; unreachable: try again), with the
agent's `ErrorInfo` reason beside the kind (e.g. DESTINATION_UNREACHABLE).

Everything returned is a domain value (`AgentReport` parts, `JobSample`); nothing past this
module sees a protobuf.

Channels are mutual TLS with the engine's own credentials (its <pki>/engine directory), and each
checks that the agent presents the certificate of the host the engine added under that address
(its name is the certificate's DNS SAN): an agent with another host's certificate is
unreachable. A re-issued engine identity is used by the channels opened after it.

Every call carries the engine's term (metadata `miglane-engine-term`), which the agent fences
on; an engine that no longer leads makes no call at all (`command_under`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import grpc

from miglane.engine.config import DEFAULT_AGENT_TIMEOUT_S
from miglane.engine.domain.leadership import SOLE_TERM
from miglane.engine.domain.model import HostFacts, Nic, Vm
from miglane.engine.domain.progress import JobSample, MigrateCall
from miglane.engine.grpc_api.converters import (
    agent_vm_from_proto,
    migrate_request,
    nic_from_proto,
    sample_from_proto,
)
from miglane.grpctls import secure_channel
from miglane.pki import PkiError, credential_files, load_credentials
from miglane.v1 import agent_pb2, agent_pb2_grpc
from miglane.v1.leadership import ENGINE_TERM_KEY
from miglane.v1.rich_errors import error_details

log = logging.getLogger(__name__)

DEFAULT_CALL_TIMEOUT_S = DEFAULT_AGENT_TIMEOUT_S
# Migrate answers once the copy has started; the agent itself waits up to 15 s for that.
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


# ErrorInfo reasons of the AgentService contract the engine decides on.
DESTINATION_UNREACHABLE = "DESTINATION_UNREACHABLE"
AGENT_BUSY = "AGENT_BUSY"
VM_NOT_RUNNING = "VM_NOT_RUNNING"


class AgentCallError(Exception):
    """A failed agent call: `kind` from the status code, `reason` the agent's ErrorInfo reason
    ("" when it gave none, e.g. unreachable), `detail` its sentence."""

    def __init__(
        self, kind: AgentCallErrorKind, address: str, detail: str, reason: str = ""
    ) -> None:
        super().__init__(f"agent at {address}: {detail}")
        self.kind = kind
        self.address = address
        self.detail = detail
        self.reason = reason


def _call_error(address: str, error: grpc.aio.AioRpcError) -> AgentCallError:
    code = error.code()
    kind = _KINDS.get(code, AgentCallErrorKind.OTHER)
    detail = error.details() or code.name
    if kind is AgentCallErrorKind.UNREACHABLE and code is grpc.StatusCode.DEADLINE_EXCEEDED:
        detail = f"no answer in time ({detail})"
    return AgentCallError(kind, address, detail, error_details(error.trailing_metadata()).reason)


@dataclass(frozen=True)
class Capabilities:
    facts: HostFacts
    nics: tuple[Nic, ...]
    max_outgoing: int
    running_outgoing: int


def capabilities_from_proto(reply: agent_pb2.GetCapabilitiesResponse) -> Capabilities:
    return Capabilities(
        facts=HostFacts(
            host_uuid=reply.host_uuid,
            hostname=reply.hostname,
            peer_libvirt_uri=reply.peer_libvirt_uri,
            cpus=reply.cpu_count,
            memory_mib=reply.memory_mib,
            free_memory_mib=reply.free_memory_mib,
            libvirt_version=reply.libvirt_version,
            qemu_version=reply.qemu_version,
            max_outgoing_migrations=reply.max_outgoing_migration_count,
        ),
        nics=tuple(nic_from_proto(nic) for nic in reply.nics),
        max_outgoing=reply.max_outgoing_migration_count,
        running_outgoing=reply.running_outgoing_migration_count,
    )


@dataclass(frozen=True)
class HostState:
    """A host's state as its agent's WatchHost stream sent it."""

    capabilities: Capabilities
    vms: tuple[Vm, ...]


# ---------------------------------------------------------------- the client


# The name of the host the engine added under an agent address (None: no such host).
HostNameOf = Callable[[str], Awaitable[str | None]]


def _files_stamp(directory: Path) -> tuple[int, ...]:
    stamp: list[int] = []
    for path in credential_files(directory):
        with contextlib.suppress(OSError):
            status = path.stat()
            stamp += [status.st_ino, status.st_mtime_ns, status.st_size]
    return tuple(stamp)


class AgentClients:
    """Channels to every agent the engine talks to, created lazily inside the running loop.
    With `credentials_dir` (the engine's identity) and `host_name_of`, every channel is mutual
    TLS and checks the agent is the host added under its address; without them (the engine's
    --insecure development mode) channels are plaintext."""

    def __init__(
        self,
        *,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        credentials_dir: Path | None = None,
        host_name_of: HostNameOf | None = None,
    ) -> None:
        if (credentials_dir is None) != (host_name_of is None):
            raise ValueError("mutual TLS needs both the engine's credentials and host names")
        self.call_timeout_s = call_timeout_s
        self._credentials_dir = credentials_dir
        self._host_name_of = host_name_of
        self._credentials_stamp: tuple[int, ...] = ()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, agent_pb2_grpc.AgentServiceStub] = {}
        # Channels replaced after a re-issue: their streams may still run; closed at close().
        self._retired: list[grpc.aio.Channel] = []
        self._commanding_term: Callable[[], int] = lambda: SOLE_TERM

    def command_under(self, commanding_term: Callable[[], int]) -> None:
        """Every call from now on carries the term `commanding_term()` returns, asked right
        before the call goes out; when it raises (this engine no longer leads), no call goes
        out and its error reaches the caller."""
        self._commanding_term = commanding_term

    def _fence(self) -> tuple[tuple[str, str], ...]:
        return ((ENGINE_TERM_KEY, str(self._commanding_term())),)

    async def _stub(self, address: str) -> agent_pb2_grpc.AgentServiceStub:
        if self._credentials_dir is not None:
            stamp = _files_stamp(self._credentials_dir)
            if stamp != self._credentials_stamp:  # re-issued: new channels from now on
                self._credentials_stamp = stamp
                self._retired += self._channels.values()
                self._channels.clear()
                self._stubs.clear()
        stub = self._stubs.get(address)
        if stub is None:
            channel = await self._open(address)
            self._channels[address] = channel
            stub = self._stubs[address] = agent_pb2_grpc.AgentServiceStub(channel)
        return stub

    async def _open(self, address: str) -> grpc.aio.Channel:
        if self._credentials_dir is None or self._host_name_of is None:
            return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        host_name = await self._host_name_of(address)
        if host_name is None:
            raise AgentCallError(
                AgentCallErrorKind.UNREACHABLE, address, "no host is added with this agent"
            )
        try:
            credentials = load_credentials(self._credentials_dir)
        except PkiError as error:
            raise AgentCallError(AgentCallErrorKind.UNREACHABLE, address, str(error)) from None
        return secure_channel(address, credentials, server_name=host_name, options=CHANNEL_OPTIONS)

    async def forget(self, address: str) -> None:
        """Closes the channel to an agent (its host was removed)."""
        self._stubs.pop(address, None)
        channel = self._channels.pop(address, None)
        if channel is not None:
            await channel.close(None)

    async def close(self) -> None:
        channels = [*self._channels.values(), *self._retired]
        self._channels.clear()
        self._retired.clear()
        self._stubs.clear()
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.close(None)

    async def capabilities(self, address: str) -> Capabilities:
        try:
            reply = await (await self._stub(address)).GetCapabilities(
                agent_pb2.GetCapabilitiesRequest(),
                timeout=self.call_timeout_s,
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return capabilities_from_proto(reply)

    async def list_vms(self, address: str) -> list[Vm]:
        try:
            reply = await (await self._stub(address)).ListVms(
                agent_pb2.ListVmsRequest(),
                timeout=self.call_timeout_s,
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return [agent_vm_from_proto(vm) for vm in reply.vms]

    async def migrate(self, address: str, call: MigrateCall) -> JobSample:
        try:
            reply = await (await self._stub(address)).Migrate(
                migrate_request(call),
                timeout=max(MIGRATE_TIMEOUT_S, self.call_timeout_s),
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def cancel(self, address: str, migration_id: str) -> JobSample:
        try:
            reply = await (await self._stub(address)).MigrateCancel(
                agent_pb2.MigrateCancelRequest(migration_id=migration_id),
                timeout=CANCEL_TIMEOUT_S,
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def change_bandwidth(self, address: str, migration_id: str, mibps: int) -> JobSample:
        try:
            reply = await (await self._stub(address)).MigrateChangeParams(
                agent_pb2.MigrateChangeParamsRequest(
                    migration_id=migration_id, max_bandwidth_mib_per_second=mibps
                ),
                timeout=self.call_timeout_s,
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def status(self, address: str, migration_id: str) -> JobSample:
        try:
            reply = await (await self._stub(address)).GetMigrationStatus(
                agent_pb2.GetMigrationStatusRequest(migration_id=migration_id),
                timeout=self.call_timeout_s,
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return sample_from_proto(reply.progress)

    async def list_jobs(self, address: str, include_finished: bool = True) -> list[JobSample]:
        try:
            reply = await (await self._stub(address)).ListMigrationJobs(
                agent_pb2.ListMigrationJobsRequest(include_finished=include_finished),
                timeout=self.call_timeout_s,
                metadata=self._fence(),
            )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        return [sample_from_proto(job) for job in reply.jobs]

    async def watch(self, address: str, migration_id: str) -> AsyncIterator[JobSample]:
        """The job's samples until its final one (the agent then ends the stream). Raises
        AgentCallError when the stream breaks."""
        stub = await self._stub(address)
        call = stub.WatchMigrationProgress(
            agent_pb2.WatchMigrationProgressRequest(migration_id=migration_id),
            metadata=self._fence(),
        )
        try:
            async for reply in call:
                yield sample_from_proto(reply.progress)
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        finally:  # ended, broken, cancelled or closed early: the call goes with it
            call.cancel()

    async def watch_host(
        self, address: str, interval_s: float
    ) -> AsyncGenerator[HostState | None, None]:
        """The host's state (WatchHost): at once, then each time it changed; None for each
        interval in which nothing did (a heartbeat). Raises AgentCallError when the stream
        breaks or the agent refuses it (REFUSED: an agent without WatchHost, to be polled)."""
        stub = await self._stub(address)
        call = stub.WatchHost(
            agent_pb2.WatchHostRequest(interval_ms=round(interval_s * 1000)),
            metadata=self._fence(),
        )
        try:
            async for reply in call:
                if reply.unchanged:
                    yield None
                    continue
                yield HostState(
                    capabilities_from_proto(reply.capabilities),
                    tuple(agent_vm_from_proto(vm) for vm in reply.vms),
                )
        except grpc.aio.AioRpcError as error:
            raise _call_error(address, error) from None
        finally:  # ended, broken, cancelled or closed early: the call goes with it
            call.cancel()
