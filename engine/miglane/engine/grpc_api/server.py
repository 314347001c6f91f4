"""The engine's gRPC server: EngineService, the standard health service and reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import _async as health_aio  # what `health.aio` re-exports
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from miglane.engine.grpc_api.servicer import EngineServicer
from miglane.v1 import engine_pb2, engine_pb2_grpc

ENGINE_SERVICE_NAME: str = engine_pb2.DESCRIPTOR.services_by_name["EngineService"].full_name
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

SERVER_OPTIONS = (
    # Linux's SO_REUSEPORT would let a second engine bind the same port and split traffic.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


async def create_server(
    address: str,
    servicer: EngineServicer,
    *,
    health_servicer: health_aio.HealthServicer | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A server bound to `address` (port 0: any free port), not yet started; returns it with
    the port it bound. Raises OSError when the address cannot be bound."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    engine_pb2_grpc.add_EngineServiceServicer_to_server(servicer, server)
    health_servicer = health_servicer or health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", ENGINE_SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (ENGINE_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def bound_address(address: str, port: int) -> str:
    """`address` with its port replaced by the one actually bound."""
    host = address.rpartition(":")[0]
    return f"{host}:{port}"
