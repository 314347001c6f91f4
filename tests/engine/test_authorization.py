"""Who may call the engine: the role table, and a real TLS engine refusing exactly what the
table refuses, to each role; callers without an identity of our CA, revoked or expired ones, and
machine identities refused; the engine's own identity re-issued without a restart."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from engine_support import Engine
from grpc_health.v1 import health_pb2, health_pb2_grpc

import miglane.pki.authority as authority_module
from miglane.engine.domain.authorization import REQUIRED_ROLE, allows, refusal
from miglane.engine.domain.errors import Reason
from miglane.engine.grpc_api.errors import ERROR_DOMAIN
from miglane.engine.grpc_api.server import ENGINE_SERVICE_NAME, INSECURE_HEALTH_NAME
from miglane.grpctls import identity_of_certificate
from miglane.pki import (
    CERT,
    ENGINE_NAME,
    PERSON_ROLES,
    CertificateAuthority,
    Credentials,
    Role,
    load_credentials,
)
from miglane.testing.engine_stack import start_engine
from miglane.testing.identities import engine_channel, issue_identity
from miglane.v1 import engine_pb2
from miglane.v1 import engine_pb2 as pb
from miglane.v1.rich_errors import error_details

SERVICE = engine_pb2.DESCRIPTOR.services_by_name["EngineService"]
RPCS = [method.name for method in SERVICE.methods]
OPERATOR_EXTRAS = {"MigrateVm", "CancelMigration", "SetMigrationBandwidth", "SetHostMaintenance"}
# A stream's first message, or its refusal, comes at once; this only bounds a failing run.
FIRST_ANSWER_S = 10.0


# ---------------------------------------------------------------- the table


def test_every_rpc_of_the_engine_has_a_role_and_the_table_names_no_other() -> None:
    assert sorted(REQUIRED_ROLE) == sorted(RPCS)


def test_viewers_read_and_watch_operators_also_migrate_admins_do_everything() -> None:
    readers = {rpc for rpc in RPCS if rpc.startswith(("Get", "List", "Watch"))}
    assert {rpc for rpc in RPCS if allows(Role.VIEWER, rpc)} == readers
    assert {rpc for rpc in RPCS if allows(Role.OPERATOR, rpc)} == readers | OPERATOR_EXTRAS
    assert {rpc for rpc in RPCS if allows(Role.ADMIN, rpc)} == set(RPCS)


@pytest.mark.parametrize("role", [Role.ENGINE, Role.HOST])
def test_machine_identities_may_call_nothing(role: Role) -> None:
    assert not any(allows(role, rpc) for rpc in RPCS)


def test_an_rpc_missing_from_the_table_is_open_to_nobody() -> None:
    assert not allows(Role.ADMIN, "SomeNewRpc")


def test_the_refusal_names_the_role_needed_and_the_callers() -> None:
    assert refusal("SetNetworkRole", "alice", Role.OPERATOR) == (
        "SetNetworkRole needs the admin role; alice is an operator"
    )
    assert refusal("MigrateVm", "bob", Role.VIEWER) == (
        "MigrateVm needs the operator role; bob is a viewer"
    )
    assert refusal("GetVm", "bob", Role.VIEWER) is None


# ---------------------------------------------------------------- a real TLS engine


def authority_of(engine: Engine, tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.open(tmp_path / "state" / "pki")


# Empty requests, but for WatchEvents: it replays only when asked (after the first event).
REQUESTS = {"WatchEvents": pb.WatchEventsRequest(after_sequence=1)}


def request_of(rpc: str) -> object:
    return REQUESTS.get(rpc) or getattr(pb, SERVICE.methods_by_name[rpc].input_type.name)()


async def answer(channel: grpc.aio.Channel, rpc: str) -> grpc.aio.AioRpcError | None:
    """Calls `rpc` with an empty request: None when the engine served it (whatever it
    answered, short of an error), else the error."""
    method = SERVICE.methods_by_name[rpc]
    path = f"/{ENGINE_SERVICE_NAME}/{rpc}"
    serializer = type(request_of(rpc)).SerializeToString  # type: ignore[attr-defined]
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, request_serializer=serializer)
            call = stream(request_of(rpc))
            async with asyncio.timeout(FIRST_ANSWER_S):
                await call.read()  # the snapshot's end, or the event already recorded
            call.cancel()
        else:
            unary = channel.unary_unary(path, request_serializer=serializer)
            await unary(request_of(rpc))
    except grpc.aio.AioRpcError as error:
        return error
    return None


@pytest.mark.parametrize("role", PERSON_ROLES)
async def test_each_role_is_allowed_exactly_its_table(
    engine: Engine, tmp_path: Path, role: Role
) -> None:
    for name in ("c1", "c2"):  # events for WatchEvents to replay
        await engine.stub.CreateCluster(pb.CreateClusterRequest(name=name))
    authority = authority_of(engine, tmp_path)
    person = issue_identity(authority, f"{role.value}-1", role, tmp_path / role.value)
    async with engine_channel(engine.address, person) as channel:
        for rpc in RPCS:
            error = await answer(channel, rpc)
            refused = error is not None and error.code() is grpc.StatusCode.PERMISSION_DENIED
            assert refused is not allows(role, rpc), (rpc, error)
            if refused:
                assert error is not None
                assert error.details() == refusal(rpc, person.info.name, role)
                details = error_details(error.trailing_metadata())
                assert (details.reason, details.domain) == (Reason.PERMISSION_DENIED, ERROR_DOMAIN)


async def test_engine_and_host_identities_are_refused(engine: Engine, tmp_path: Path) -> None:
    authority = authority_of(engine, tmp_path)
    authority.issue_host("host-1", ["192.0.2.1"])
    for machine in (authority.layout.engine, authority.layout.host("host-1")):
        async with engine_channel(engine.address, load_credentials(machine)) as channel:
            error = await answer(channel, "ListClusters")
            assert error is not None and error.code() is grpc.StatusCode.PERMISSION_DENIED


def health_status(channel: grpc.aio.Channel, service: str) -> object:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))


async def test_health_answers_any_identity_of_our_ca(engine: Engine, tmp_path: Path) -> None:
    authority = authority_of(engine, tmp_path)
    async with engine_channel(engine.address, load_credentials(authority.layout.engine)) as ch:
        reply = await health_status(ch, ENGINE_SERVICE_NAME)  # type: ignore[misc]
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as unknown:  # a TLS engine is not insecure
            await health_status(ch, INSECURE_HEALTH_NAME)  # type: ignore[misc]
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_plaintext_client_is_refused(engine: Engine) -> None:
    async with grpc.aio.insecure_channel(engine.address) as channel:
        error = await answer(channel, "ListClusters")
    assert error is not None and error.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_client_of_another_ca_is_refused(engine: Engine, tmp_path: Path) -> None:
    stranger_ca = CertificateAuthority.init(tmp_path / "other-pki")
    stranger = issue_identity(stranger_ca, "mallory", Role.ADMIN, tmp_path / "mallory")
    async with engine_channel(engine.address, stranger) as channel:
        error = await answer(channel, "ListClusters")
    assert error is not None
    assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


async def test_a_revoked_identity_is_refused_at_once(engine: Engine, tmp_path: Path) -> None:
    authority = authority_of(engine, tmp_path)
    alice = issue_identity(authority, "alice", Role.ADMIN, tmp_path / "alice")
    async with engine_channel(engine.address, alice) as channel:
        assert await answer(channel, "ListClusters") is None
        authority.revoke("alice")
        error = await answer(channel, "ListClusters")  # same connection, next call
    assert error is not None and error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (error.details() or "")


async def test_a_remembered_identity_is_refused_once_revoked(
    engine: Engine, tmp_path: Path
) -> None:
    authority = authority_of(engine, tmp_path)
    bob = issue_identity(authority, "bob", Role.OPERATOR, tmp_path / "bob")
    async with engine_channel(engine.address, bob) as channel:
        assert await answer(channel, "ListClusters") is None
        remembered = identity_of_certificate.cache_info().hits
        assert await answer(channel, "ListClusters") is None
        # The second call's identity came from the cache, not from parsing the certificate.
        assert identity_of_certificate.cache_info().hits > remembered
        authority.revoke("bob")
        error = await answer(channel, "ListClusters")
    assert error is not None and error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (error.details() or "")


@contextmanager
def issued_in_the_past(days_ago: int) -> Iterator[None]:
    past = datetime.now(UTC) - timedelta(days=days_ago)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(authority_module, "_now", lambda: past)
        yield


async def test_an_expired_identity_is_refused(engine: Engine, tmp_path: Path) -> None:
    authority = authority_of(engine, tmp_path)
    with issued_in_the_past(days_ago=3):
        old = issue_identity(authority, "old", Role.ADMIN, tmp_path / "old", days=1)
    assert old.info.not_after < datetime.now(UTC)
    async with engine_channel(engine.address, old) as channel:
        error = await answer(channel, "ListClusters")
    assert error is not None
    assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


def served_certificate_serial(address: str, client: Credentials, tmp_path: Path) -> int:
    """The serial of the certificate the engine presents to a new connection."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context(cafile=str(client.directory / "ca-cert.pem"))
    context.check_hostname = False
    context.set_alpn_protocols(["h2"])
    context.load_cert_chain(client.directory / CERT, client.directory / "key.pem")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_a_reissued_engine_certificate_is_served_without_restart(
    engine: Engine, tmp_path: Path
) -> None:
    authority = authority_of(engine, tmp_path)
    client = engine.credentials
    before = await asyncio.to_thread(served_certificate_serial, engine.address, client, tmp_path)
    reissued = authority.issue(ENGINE_NAME, Role.ENGINE, authority.layout.engine)
    after = await asyncio.to_thread(served_certificate_serial, engine.address, client, tmp_path)
    assert before != reissued.serial == after
    async with engine_channel(engine.address, client) as channel:  # and still serves calls
        assert await answer(channel, "ListClusters") is None


async def test_an_insecure_engine_serves_plaintext_and_says_so(tmp_path: Path) -> None:
    built = await start_engine(tmp_path / "state", poll_hosts=False, insecure=True)
    try:
        async with grpc.aio.insecure_channel(built.address) as channel:
            assert await answer(channel, "ListClusters") is None
            reply = await health_status(channel, INSECURE_HEALTH_NAME)  # type: ignore[misc]
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await built.stop(0)
