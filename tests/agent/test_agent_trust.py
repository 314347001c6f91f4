"""An agent obeys the engine only: mutual TLS with the host's credentials; a person (even an
admin), another host, a revoked engine identity, another CA's or a plaintext client are
refused; and the engine itself, sending malformed requests, gets INVALID_ARGUMENT for each while
the agent goes on serving."""

# The hostile-client table reads best one request per line.

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from miglane.agent.domain.errors import Reason
from miglane.agent.grpc_api.errors import ERROR_DOMAIN, MESSAGE_MAX
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.pki import CRL, CertificateAuthority, Role, load_credentials
from miglane.testing.identities import issue_identity
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc
from miglane.v1.rich_errors import error_details


@pytest.fixture
async def agents(tmp_path: Path) -> AsyncIterator[list[FakeAgent]]:
    authority = CertificateAuthority.init(tmp_path / "pki")
    _, started = await start_fake_agents(2, 1, authority=authority, state_root=str(tmp_path))
    yield started
    await stop_fake_agents(started, grace=0)


async def list_vms(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError | None:
    try:
        await agent_pb2_grpc.AgentServiceStub(channel).ListVms(pb.ListVmsRequest(), timeout=10)
    except grpc.aio.AioRpcError as error:
        return error
    return None


async def test_the_engine_is_obeyed(agents: list[FakeAgent]) -> None:
    async with agents[0].channel() as channel:
        assert await list_vms(channel) is None


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
async def test_a_person_even_an_admin_is_refused(
    agents: list[FakeAgent], tmp_path: Path, role: Role
) -> None:
    agent = agents[0]
    person = issue_identity(agent.authority, "alice", role, tmp_path / "alice")
    async with agent.channel(person) as channel:
        error = await list_vms(channel)
    assert error is not None and error.code() is grpc.StatusCode.PERMISSION_DENIED
    article = "an" if role is Role.ADMIN else "a"
    assert error.details() == f"only the engine may call an agent; alice is {article} {role.value}"
    details = error_details(error.trailing_metadata())
    assert (details.reason, details.domain) == (Reason.PERMISSION_DENIED, ERROR_DOMAIN)


async def test_another_host_is_refused(agents: list[FakeAgent]) -> None:
    host1 = load_credentials(agents[1].credentials_dir)
    async with agents[0].channel(host1) as channel:
        error = await list_vms(channel)
    assert error is not None and error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_revoked_engine_identity_is_refused(agents: list[FakeAgent]) -> None:
    agent = agents[0]
    authority = agent.authority
    async with agent.channel() as channel:
        assert await list_vms(channel) is None
        authority.revoke("engine")
        shutil.copyfile(authority.layout.crl, agent.credentials_dir / CRL)
        error = await list_vms(channel)
    assert error is not None and error.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_plaintext_and_foreign_clients_are_refused(
    agents: list[FakeAgent], tmp_path: Path
) -> None:
    agent = agents[0]
    async with grpc.aio.insecure_channel(agent.address) as channel:
        error = await list_vms(channel)
    assert error is not None and error.code() is grpc.StatusCode.UNAVAILABLE
    other = CertificateAuthority.init(tmp_path / "other-pki")
    foreign = load_credentials(other.layout.engine)  # an engine, of someone else's CA
    async with agent.channel(foreign) as channel:
        error = await list_vms(channel)
    assert error is not None
    assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


def live(a: FakeAgent, b: FakeAgent, **fields: Any) -> pb.MigrateRequest:
    fields.setdefault("migration_id", "m1")
    fields.setdefault("vm_id", a.vm_ids[0])
    target = pb.LiveTarget(dst=b.peer_uri, migration_uri="tcp://10.1.0.3")
    for name in ("dst", "migration_uri"):
        if name in fields:
            setattr(target, name, fields.pop(name))
    return pb.MigrateRequest(live=target, **fields)


Build = Callable[[FakeAgent, FakeAgent], Any]
HOSTILE: list[tuple[str, Build, str]] = [
    ("Migrate", lambda a, b: pb.MigrateRequest(), "migration_id"),
    ("Migrate", lambda a, b: live(a, b, migration_id="m" * 200_000), "migration_id"),
    ("Migrate", lambda a, b: live(a, b, migration_id="m\x00"), "migration_id"),
    ("Migrate", lambda a, b: live(a, b, vm_id=""), "vm_id"),
    ("Migrate", lambda a, b: pb.MigrateRequest(migration_id="m1", vm_id=a.vm_ids[0]), "target"),
    ("Migrate", lambda a, b: live(a, b, dst="x" * 100_000), "live.dst"),
    ("Migrate", lambda a, b: live(a, b, dst="file:///etc/passwd"), "live.dst"),
    ("Migrate", lambda a, b: live(a, b, migration_uri="unix:///tmp/sock"), "live.migration_uri"),
    ("Migrate", lambda a, b: live(a, b, migration_uri="tcp://" + "9" * 5000), "live.migration_uri"),
    (
        "Migrate",
        lambda a, b: live(a, b, max_bandwidth_mib_per_second=0),
        "max_bandwidth_mib_per_second",
    ),
    (
        "Migrate",
        lambda a, b: live(a, b, parallel_connections=4_000_000_000),
        "parallel_connections",
    ),
    (
        "Migrate",
        lambda a, b: live(a, b, no_progress_timeout=Duration(seconds=-5)),
        "no_progress_timeout",
    ),
    (
        "Migrate",
        lambda a, b: live(a, b, completion_timeout_per_gib=Duration(seconds=-1)),
        "completion_timeout_per_gib",
    ),
    ("MigrateCancel", lambda a, b: pb.MigrateCancelRequest(), "migration_id"),
    (
        "MigrateCancel",
        lambda a, b: pb.MigrateCancelRequest(migration_id="x" * 200_000),
        "migration_id",
    ),
    ("MigrateChangeParams", lambda a, b: pb.MigrateChangeParamsRequest(), "migration_id"),
    (
        "MigrateChangeParams",
        lambda a, b: pb.MigrateChangeParamsRequest(migration_id="m1"),
        "max_bandwidth_mibps",
    ),
    (
        "MigrateChangeParams",
        lambda a, b: pb.MigrateChangeParamsRequest(
            migration_id="m1", max_bandwidth_mib_per_second=8, max_downtime=Duration(seconds=-1)
        ),
        "max_downtime",
    ),
    ("GetMigrationStatus", lambda a, b: pb.GetMigrationStatusRequest(), "migration_id"),
    (
        "GetMigrationStatus",
        lambda a, b: pb.GetMigrationStatusRequest(migration_id="\x00bad"),
        "migration_id",
    ),
    (
        "WatchMigrationProgress",
        lambda a, b: pb.WatchMigrationProgressRequest(migration_id="../" * 1000),
        "migration_id",
    ),
    ("Restore", lambda a, b: pb.RestoreRequest(), "path"),
]


async def code_of(
    stub: agent_pb2_grpc.AgentServiceStub, rpc: str, request: Any
) -> grpc.aio.AioRpcError | None:
    try:
        call = getattr(stub, rpc)(request, timeout=10)
        if rpc.startswith("Watch"):
            await call.read()
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error
    return None


async def test_malformed_requests_from_the_engine_are_invalid_arguments(
    agents: list[FakeAgent],
) -> None:
    a, b = agents
    async with a.channel() as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        # A job to change, so the checks of a change's values are reached.
        await stub.Migrate(live(a, b, max_bandwidth_mib_per_second=1))
        failures = []
        for rpc, build, field in HOSTILE:
            request = build(a, b)
            error = await code_of(stub, rpc, request)
            answer = "OK" if error is None else f"{error.code().name} {error.details()!r}"
            if error is None or error.code() is not grpc.StatusCode.INVALID_ARGUMENT:
                failures.append(f"{rpc}({str(request)[:60]!r}): {answer}")
                continue
            details = error_details(error.trailing_metadata())
            if details.field_violations[:1] and details.field_violations[0][0] != field:
                failures.append(f"{rpc}: field {details.field_violations} not {field}")
            assert len(error.details() or "") <= MESSAGE_MAX  # never echoed back whole
        assert failures == []
        assert await code_of(stub, "ListVms", pb.ListVmsRequest()) is None  # still serving
