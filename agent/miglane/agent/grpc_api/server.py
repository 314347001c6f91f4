"""The agent's gRPC server: AgentService and the standard health service, over mutual TLS with
the host's credentials. Only the engine's identity may call AgentService (a person's, even an
admin's, and another host's are refused); revoked certificates (the host's crl.pem) too; and
only under the highest engine term seen (a deposed leader's calls are refused).
`credentials_dir` None: plaintext, for development only."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from miglane.agent.domain.errors import PermissionDenied
from miglane.agent.grpc_api.errors import rich_status
from miglane.agent.grpc_api.fencing import EngineTermCheck
from miglane.agent.grpc_api.servicer import AgentServicer
from miglane.agent.service import Agent
from miglane.grpctls import CallerCheck, Refusal, ReloadingServerCredentials
from miglane.pki import CRL, CertificateInfo, RevocationList, Role, load_credentials
from miglane.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


def authorize(method: str, identity: CertificateInfo) -> Refusal | None:
    """The engine's identity only."""
    if identity.role is Role.ENGINE:
        return None
    role = identity.role.value
    article = "an" if role[0] in "aeiou" else "a"
    status = rich_status(
        PermissionDenied(f"only the engine may call an agent; {identity.name} is {article} {role}")
    )
    return Refusal(status.code, status.details, tuple(status.trailing_metadata))


def _caller_check(credentials_dir: Path | None) -> CallerCheck:
    revocations = None
    if credentials_dir is not None:
        ca_pem = load_credentials(credentials_dir).ca_pem
        revocations = RevocationList(credentials_dir / CRL, ca_pem=ca_pem)
    return CallerCheck(
        authorize,
        revocations=revocations,
        open_services=(health.SERVICE_NAME,),
        insecure=credentials_dir is None,
    )


async def create_server(
    agent: Agent,
    address: str = "127.0.0.1:0",
    *,
    credentials_dir: Path | None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> tuple[grpc.aio.Server, int]:
    """A started server for `agent` (with the standard health service), and its bound port;
    bind port 0 to get a free one. `credentials_dir`: the host's credentials (`miglane pki
    issue-host`), re-read when re-issued; None serves plaintext (development only). Raises
    PkiError when the credentials cannot be loaded. `interceptors` see each call before the
    caller check (metrics count its refusals too)."""
    fence = EngineTermCheck(agent.engine_terms, SERVICE_NAME)
    server = grpc.aio.server(interceptors=[*interceptors, _caller_check(credentials_dir), fence])
    agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(agent), server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if credentials_dir is None:
        log.warning(
            "serving PLAINTEXT on %s (--insecure): anyone who reaches it can migrate this "
            "host's VMs; for development only",
            address,
        )
        port = server.add_insecure_port(address)
    else:
        credentials = ReloadingServerCredentials(credentials_dir).server_credentials()
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    await server.start()
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port
