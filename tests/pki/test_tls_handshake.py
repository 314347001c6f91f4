"""The issued files work with gRPC: mutual TLS accepts our CA's identities and refuses another
CA's, and the server reads the caller's identity from the peer certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from miglane.pki import CertificateAuthority, Credentials, Role, identity_of_pem, load_credentials

WHOAMI = "/miglane.test.Identity/WhoAmI"
HOST_NAME = "host-1"


async def _whoami(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    (pem,) = context.auth_context()["x509_pem_cert"]
    info = identity_of_pem(pem)
    return f"{info.name}/{info.role.value}".encode()


class Served(NamedTuple):
    target: str
    name_override: str  # empty: the target's address itself is in the server's SANs
    credentials: Credentials


@pytest.fixture(params=["engine", "host"])
async def server(
    request: pytest.FixtureRequest, authority: CertificateAuthority
) -> AsyncIterator[Served]:
    """A server with the engine's identity (dialled at 127.0.0.1, in its SANs) or a host's
    (dialled by its name, as the engine will reach agents)."""
    if request.param == "engine":
        credentials, target_name = load_credentials(authority.layout.engine), ""
    else:
        authority.issue_host(HOST_NAME, ["192.0.2.10"])
        credentials = load_credentials(authority.layout.host(HOST_NAME))
        target_name = HOST_NAME
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "miglane.test.Identity", {"WhoAmI": grpc.unary_unary_rpc_method_handler(_whoami)}
            )
        ]
    )
    port = server.add_secure_port(
        "127.0.0.1:0",
        grpc.ssl_server_credentials(
            [(credentials.key_pem, credentials.cert_pem)],
            root_certificates=credentials.ca_pem,
            require_client_auth=True,
        ),
    )
    await server.start()
    yield Served(f"127.0.0.1:{port}", target_name, credentials)
    await server.stop(None)


def _channel(served: Served, client: Credentials | None, ca_pem: bytes) -> grpc.aio.Channel:
    name = served.name_override
    options = [("grpc.ssl_target_name_override", name)] if name else []
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    return grpc.aio.secure_channel(served.target, credentials, options=options)


async def test_an_identity_of_our_ca_is_served_and_known(
    server: Served, authority: CertificateAuthority, tmp_path: Path
) -> None:
    authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    alice = load_credentials(tmp_path / "alice")
    async with _channel(server, alice, alice.ca_pem) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        whoami = channel.unary_unary(WHOAMI, request_serializer=None, response_deserializer=None)
        assert await whoami(b"", timeout=10) == b"alice/admin"


async def test_another_ca_or_no_certificate_is_refused(server: Served, tmp_path: Path) -> None:
    stranger_ca = CertificateAuthority.init(tmp_path / "stranger-pki")
    stranger_ca.issue("mallory", Role.ADMIN, tmp_path / "mallory")
    mallory = load_credentials(tmp_path / "mallory")
    # Mallory trusts our CA (the server's certificate checks out) but presents her own.
    for client in (mallory, None):
        async with _channel(server, client, server.credentials.ca_pem) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
            assert refused.value.code() in {
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.UNAUTHENTICATED,
            }
