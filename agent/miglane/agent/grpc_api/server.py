"""The agent's gRPC server factory."""

from __future__ import annotations

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from miglane.agent.grpc_api.servicer import AgentServicer
from miglane.agent.service import Agent
from miglane.v1 import agent_pb2, agent_pb2_grpc

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


async def create_server(agent: Agent, address: str = "127.0.0.1:0") -> tuple[grpc.aio.Server, int]:
    """A started server for `agent` (with the standard health service), and its bound port;
    bind port 0 to get a free one."""
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(agent), server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    await server.start()
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port
