"""The engine's side of AgentService: status codes become decisions, policy becomes the verb."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from miglane.agent.domain.model import DirtyRate, DomainInfo, VmView
from miglane.agent.domain.model import VmState as AgentVmState
from miglane.agent.grpc_api.converters import vm_to_proto as agent_vm_to_proto
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.engine.agent_client import (
    DESTINATION_UNREACHABLE,
    VM_NOT_RUNNING,
    AgentCallError,
    AgentCallErrorKind,
    AgentClients,
    _call_error,
)
from miglane.engine.domain.convergence import migration_tuning
from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.model import (
    DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB,
    DEFAULT_NO_PROGRESS_TIMEOUT_S,
    ConvergencePolicy,
    DirtyRateSample,
    DiskKind,
    MigrationPhase,
    MigrationPolicy,
    VmDisk,
    VmNic,
)
from miglane.engine.domain.progress import MigrateCall
from miglane.engine.grpc_api.converters import (
    agent_vm_from_proto,
    migrate_request,
    sample_from_proto,
    vm_to_proto,
)
from miglane.pki import CRL, ENGINE_NAME, CertificateAuthority, Role
from miglane.v1 import agent_pb2, common_pb2


def engine_clients(
    agents: Sequence[FakeAgent], *, names: dict[str, str] | None = None, timeout_s: float = 3.0
) -> AgentClients:
    """The engine's clients of `agents`, as the engine makes them: its identity, and each
    address expected to be the host named there (`names`: address -> name, default the
    agents' own)."""
    expected = names if names is not None else {agent.address: agent.name for agent in agents}

    async def host_name_of(address: str) -> str | None:
        return expected.get(address)

    return AgentClients(
        call_timeout_s=timeout_s,
        credentials_dir=agents[0].authority.layout.engine,
        host_name_of=host_name_of,
    )


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, AgentCallErrorKind.BUSY),
        (grpc.StatusCode.UNAVAILABLE, AgentCallErrorKind.UNREACHABLE),
        (grpc.StatusCode.DEADLINE_EXCEEDED, AgentCallErrorKind.UNREACHABLE),
        (grpc.StatusCode.NOT_FOUND, AgentCallErrorKind.NOT_FOUND),
        (grpc.StatusCode.ALREADY_EXISTS, AgentCallErrorKind.ALREADY_EXISTS),
        (grpc.StatusCode.FAILED_PRECONDITION, AgentCallErrorKind.REFUSED),
        (grpc.StatusCode.INVALID_ARGUMENT, AgentCallErrorKind.REFUSED),
        (grpc.StatusCode.UNIMPLEMENTED, AgentCallErrorKind.REFUSED),
        (grpc.StatusCode.INTERNAL, AgentCallErrorKind.OTHER),
    ],
)
def test_status_codes_become_kinds(code: grpc.StatusCode, kind: AgentCallErrorKind) -> None:
    error = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "why")
    mapped = _call_error("10.0.0.1:50061", error)
    assert mapped.kind is kind
    assert "10.0.0.1:50061" in str(mapped) and "why" in mapped.detail


@pytest.mark.parametrize("cap", [None, 0, 64])
def test_migrate_request_carries_the_policy(cap: int | None) -> None:
    policy = MigrationPolicy(
        convergence=ConvergencePolicy.POST_COPY,
        encrypted=True,
        compressed=True,
        auto_converge=True,
        parallel_connections=4,
    )
    request = migrate_request(
        MigrateCall(
            "m1", "vm1", "qemu+tls://h2/system", "tcp://10.1.0.2", cap, migration_tuning(policy)
        )
    )
    assert (request.migration_id, request.vm_id, request.live.dst) == (
        "m1",
        "vm1",
        "qemu+tls://h2/system",
    )
    assert request.WhichOneof("target") == "live"
    assert request.live.migration_uri == "tcp://10.1.0.2"
    assert request.HasField("max_bandwidth_mib_per_second") is bool(cap)
    assert request.encrypted and request.compressed and request.auto_converge
    assert request.parallel_connections == 4 and request.post_copy_allowed
    actions = [step.action for step in request.convergence_schedule.stalling]
    assert actions[-1] == common_pb2.CONVERGENCE_ACTION_POST_COPY
    assert request.no_progress_timeout.seconds == DEFAULT_NO_PROGRESS_TIMEOUT_S
    assert request.completion_timeout_per_gib.seconds == DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB


def test_sample_from_proto() -> None:
    progress = agent_pb2.MigrationProgress(
        migration_id="m1",
        phase=common_pb2.MIGRATION_PHASE_FAILED,
        progress_percent=40,
        error="lost",
        failure_kind=agent_pb2.MIGRATION_FAILURE_KIND_NETWORK,
    )
    progress.finished_at.seconds = 1_800_000_000
    sample = sample_from_proto(progress)
    assert sample.phase is MigrationPhase.FAILED and sample.finished
    assert sample.failure_kind is MigrationFailureKind.NETWORK
    assert sample.finished_at is not None and sample.started_at is None
    odd = sample_from_proto(agent_pb2.MigrationProgress(phase=77, failure_kind=99))  # type: ignore[arg-type]
    assert odd.phase is MigrationPhase.RUNNING and odd.failure_kind is MigrationFailureKind.OTHER


def test_migrate_request_carries_the_disk_copy() -> None:
    tuning = migration_tuning(MigrationPolicy(local_disk_migration=True))
    call = MigrateCall("m1", "vm1", "qemu+tls://h2/system", "tcp://10.1.0.2", None, tuning)
    plain = migrate_request(call)
    assert not plain.copy_local_disks and plain.disks_uri == ""
    copying = migrate_request(replace(call, copy_local_disks=True, disks_uri="tcp://10.1.0.2"))
    assert copying.copy_local_disks and copying.disks_uri == "tcp://10.1.0.2"


def test_disk_bytes_of_progress_reach_the_sample() -> None:
    sample = sample_from_proto(
        agent_pb2.MigrationProgress(
            migration_id="m1",
            phase=common_pb2.MIGRATION_PHASE_RUNNING,
            data_total_bytes=3 * 2**30,
            disk_total_bytes=2**30,
            disk_processed_bytes=2**29,
            disk_remaining_bytes=2**29,
        )
    )
    assert (sample.disk_total_bytes, sample.disk_processed_bytes, sample.disk_remaining_bytes) == (
        2**30,
        2**29,
        2**29,
    )


def test_agent_vm_devices_reach_the_engines_vm() -> None:
    reported = agent_pb2.AgentVm(
        id="vm-1",
        name="db1",
        state=common_pb2.VM_STATE_RUNNING,
        memory_mib=512,
        disks=[
            common_pb2.VmDisk(
                target="vda",
                kind=common_pb2.DISK_KIND_LOCAL,
                size_bytes=2**30,
                format="qcow2",
                source="/images/db1-vda.qcow2",
            ),
            common_pb2.VmDisk(target="vdb", kind=77),  # type: ignore[arg-type]
        ],
        nics=[common_pb2.VmNic(network="prod-vlan", mac="52:54:00:aa:00:01")],
    )
    vm = agent_vm_from_proto(reported)
    assert vm.disks == (
        VmDisk("vda", DiskKind.LOCAL, 2**30, "qcow2", "/images/db1-vda.qcow2"),
        VmDisk("vdb", DiskKind.UNSPECIFIED),  # a kind this engine does not know
    )
    assert vm.nics == (VmNic("prod-vlan", "52:54:00:aa:00:01"),)
    shown = vm_to_proto(vm)
    assert shown.disks[0] == reported.disks[0]
    assert list(shown.nics) == list(reported.nics)


async def test_the_agents_refusal_reason_reaches_the_engine() -> None:
    """Against a real agent on a loopback port: the engine tells "the destination refused"
    and "the VM is not running" from the ErrorInfo reason, not from the sentence."""
    _, (source, destination) = await start_fake_agents(2, 2)
    clients = engine_clients([source, destination])
    tuning = migration_tuning(MigrationPolicy())
    try:
        to_nowhere = MigrateCall("m1", source.vm_ids[0], "nowhere", "tcp://10.1.0.2", 8, tuning)
        with pytest.raises(AgentCallError) as refused:
            await clients.migrate(source.address, to_nowhere)
        assert refused.value.kind is AgentCallErrorKind.REFUSED
        assert refused.value.reason == DESTINATION_UNREACHABLE

        source.host.domains[source.vm_ids[1]].state = source.host.domains[
            source.vm_ids[1]
        ].state.SHUT_OFF
        stopped = MigrateCall(
            "m2", source.vm_ids[1], destination.peer_uri, "tcp://10.1.0.2", 8, tuning
        )
        with pytest.raises(AgentCallError) as refused:
            await clients.migrate(source.address, stopped)
        assert (refused.value.kind, refused.value.reason) == (
            AgentCallErrorKind.REFUSED,
            VM_NOT_RUNNING,
        )
    finally:
        await clients.close()
        await stop_fake_agents([source, destination], grace=0)


async def test_an_unreachable_agent_gives_no_reason() -> None:
    clients = AgentClients(call_timeout_s=0.5)
    try:
        with pytest.raises(AgentCallError) as failed:
            await clients.list_vms("127.0.0.1:1")
        assert (failed.value.kind, failed.value.reason) == (AgentCallErrorKind.UNREACHABLE, "")
    finally:
        await clients.close()


async def test_an_agent_presenting_another_hosts_certificate_is_unreachable() -> None:
    """The engine added host0 at this address; whoever answers there with host1's certificate
    is not spoken to."""
    _, (host0, host1) = await start_fake_agents(2)
    impostor = engine_clients([host0, host1], names={host1.address: host0.name})
    genuine = engine_clients([host0, host1])
    try:
        with pytest.raises(AgentCallError) as refused:
            await impostor.list_vms(host1.address)
        assert refused.value.kind is AgentCallErrorKind.UNREACHABLE
        assert await genuine.list_vms(host1.address) == []
    finally:
        await impostor.close()
        await genuine.close()
        await stop_fake_agents([host0, host1], grace=0)


async def test_an_address_of_no_added_host_is_unreachable() -> None:
    _, agents = await start_fake_agents(1)
    clients = engine_clients(agents, names={})
    try:
        with pytest.raises(AgentCallError) as refused:
            await clients.list_vms(agents[0].address)
        assert refused.value.kind is AgentCallErrorKind.UNREACHABLE
    finally:
        await clients.close()
        await stop_fake_agents(agents, grace=0)


async def test_a_reissued_engine_identity_is_used_by_the_next_calls(tmp_path: Path) -> None:
    """Re-issue the engine's credentials, revoke the old ones and hand the agent the new
    revocation list: the engine's calls go on, over a channel with the new identity."""
    authority = CertificateAuthority.init(tmp_path / "pki")
    _, agents = await start_fake_agents(1, authority=authority)
    (agent,) = agents
    clients = engine_clients(agents)
    try:
        assert await clients.list_vms(agent.address) == []
        old = next(i for i in authority.list() if i.role is Role.ENGINE and not i.revoked)
        authority.issue(ENGINE_NAME, Role.ENGINE, authority.layout.engine)
        authority.revoke(old.serial)
        shutil.copyfile(authority.layout.crl, agent.credentials_dir / CRL)
        assert await clients.list_vms(agent.address) == []
    finally:
        await clients.close()
        await stop_fake_agents(agents, grace=0)


def test_a_measured_working_set_reaches_the_engines_vm_and_its_history() -> None:
    measured = DirtyRate(8 * 2**20, 1_700_000_000.5, working_set_bytes=4 * 2**20)
    reported = agent_vm_to_proto(
        VmView(DomainInfo("vm-1", "db1", AgentVmState.RUNNING, 160), dirty_rate=measured)
    )
    assert reported.dirty_working_set_bytes == measured.working_set_bytes
    vm = agent_vm_from_proto(reported)
    assert vm.dirty_rate == DirtyRateSample(
        measured.bytes_per_second, measured.measured_at, measured.working_set_bytes
    )
    shown = vm_to_proto(vm)
    assert shown.dirty_working_set_bytes == measured.working_set_bytes
    assert [s.working_set_bytes for s in shown.dirty_rate_history] == [measured.working_set_bytes]
    # Not bounded (or an agent that does not measure it): 0 all the way.
    unbounded = agent_vm_to_proto(
        VmView(
            DomainInfo("vm-1", "db1", AgentVmState.RUNNING, 160),
            dirty_rate=DirtyRate(measured.bytes_per_second, measured.measured_at),
        )
    )
    assert vm_to_proto(agent_vm_from_proto(unbounded)).dirty_working_set_bytes == 0
