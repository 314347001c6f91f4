"""The engine's gRPC server: EngineService behind the authorization wrapper, the standard
health service and reflection. TLS only, with a client certificate of the engine's CA, unless
built `insecure` (development: plaintext, announced in the log and in the health status)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import _async as health_aio  # what `health.aio` re-exports
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from miglane.engine.actor import current_actor
from miglane.engine.domain.authorization import refusal
from miglane.engine.domain.errors import PermissionDenied
from miglane.engine.grpc_api.errors import rich_status
from miglane.engine.grpc_api.servicer import EngineServicer
from miglane.grpctls import CallerCheck, Refusal, ReloadingServerCredentials, rpc_name
from miglane.pki import CertificateInfo, RevocationList
from miglane.v1 import engine_pb2, engine_pb2_grpc

log = logging.getLogger(__name__)

ENGINE_SERVICE_NAME: str = engine_pb2.DESCRIPTOR.services_by_name["EngineService"].full_name
# The health status of this service name is SERVING only on a plaintext (--insecure) engine.
INSECURE_HEALTH_NAME = "miglane.insecure"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

SERVER_OPTIONS = (
    # Linux's SO_REUSEPORT would let a second engine bind the same port and split traffic.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


@dataclass(frozen=True)
class ServerTls:
    """The engine's identity (reloaded when re-issued) and the revocation list it checks
    callers against."""

    credentials: ReloadingServerCredentials
    revocations: RevocationList


def authorize(method: str, identity: CertificateInfo) -> Refusal | None:
    """The role table's answer for an EngineService call, as a rich PERMISSION_DENIED."""
    sentence = refusal(rpc_name(method)[1], identity.name, identity.role)
    if sentence is None:
        return None
    status = rich_status(PermissionDenied(sentence))
    return Refusal(status.code, status.details, tuple(status.trailing_metadata))


async def create_server(
    address: str,
    servicer: EngineServicer,
    *,
    tls: ServerTls | None,
    health_servicer: health_aio.HealthServicer | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> tuple[grpc.aio.Server, int]:
    """A server bound to `address` (port 0: any free port), not yet started; returns it with
    the port it bound. `tls` None: plaintext, for development only. `interceptors` see each
    call before the caller check (metrics count its refusals too). Raises OSError when the
    address cannot be bound."""
    check = CallerCheck(
        authorize,
        revocations=tls.revocations if tls else None,
        open_services=(health.SERVICE_NAME, reflection.SERVICE_NAME),
        actor=current_actor,
        insecure=tls is None,
    )
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=[*interceptors, check])
    engine_pb2_grpc.add_EngineServiceServicer_to_server(servicer, server)
    health_servicer = health_servicer or health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", ENGINE_SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (ENGINE_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        if tls is None:
            log.warning(
                "serving PLAINTEXT on %s (--insecure): anyone who reaches it controls the "
                "cluster; for development only",
                address,
            )
            await health_servicer.set(INSECURE_HEALTH_NAME, health_pb2.HealthCheckResponse.SERVING)
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, tls.credentials.server_credentials())
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def bound_address(address: str, port: int) -> str:
    """`address` with its port replaced by the one actually bound."""
    host = address.rpartition(":")[0]
    return f"{host}:{port}"
