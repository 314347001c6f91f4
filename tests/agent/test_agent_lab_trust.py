"""The lab's agents obey the engine only: over the real lab network, into the agents `miglane lab
up --agents` starts with the lab CA's host credentials, the engine's identity is served, and a
plaintext client, a client of another CA, an admin of the lab's own CA, another host's identity
and a revoked engine identity are all refused before anything is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest

from miglane.grpctls import secure_channel
from miglane.lab import LabStatus
from miglane.pki import CertificateAuthority, Role, load_credentials
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc

AGENT_PORT = 50061

pytestmark = pytest.mark.lab


def _stub(channel: grpc.aio.Channel) -> agent_pb2_grpc.AgentServiceStub:
    return agent_pb2_grpc.AgentServiceStub(channel)


async def _code_of(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """The status of a ListVms call on `channel` (OK when served)."""
    try:
        await _stub(channel).ListVms(pb.ListVmsRequest(), timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code()
    finally:
        await channel.close()
    return grpc.StatusCode.OK


def _lab_authority(status: LabStatus) -> CertificateAuthority:
    return CertificateAuthority.open(Path(status.pki_dir))


async def test_a_lab_agent_serves_the_engine_identity_only(
    lab_with_agents: LabStatus, tmp_path: Path
) -> None:
    host = lab_with_agents.hosts[0]
    other = lab_with_agents.hosts[1]
    address = f"{host.mgmt_addr}:{AGENT_PORT}"
    authority = _lab_authority(lab_with_agents)
    engine = load_credentials(authority.layout.engine)

    def as_(credentials_dir: Path) -> grpc.aio.Channel:
        return secure_channel(address, load_credentials(credentials_dir), server_name=host.name)

    assert await _code_of(secure_channel(address, engine, server_name=host.name)) == (
        grpc.StatusCode.OK
    )
    authority.issue("lab-admin", Role.ADMIN, tmp_path / "admin")
    assert await _code_of(as_(tmp_path / "admin")) == grpc.StatusCode.PERMISSION_DENIED
    assert await _code_of(as_(authority.layout.host(other.name))) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    foreign = CertificateAuthority.init(tmp_path / "foreign-pki")
    foreign_engine = load_credentials(foreign.layout.engine)
    refused = await _code_of(secure_channel(address, foreign_engine, server_name=host.name))
    assert refused in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)
    plaintext = await _code_of(grpc.aio.insecure_channel(address))
    assert plaintext in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


async def test_a_revoked_engine_identity_is_refused_at_once(
    lab_with_agents: LabStatus, tmp_path: Path
) -> None:
    """A second engine identity of the lab's CA, revoked: the agent's host directory holds the
    refreshed CRL, and the very next call is refused."""
    host = lab_with_agents.hosts[0]
    address = f"{host.mgmt_addr}:{AGENT_PORT}"
    authority = _lab_authority(lab_with_agents)
    # A copy of the CA issues the stand-by engine identity, so the lab's own engine identity
    # (and every other test's) stays valid; the copy's CRL is what the agent is handed.
    copy = tmp_path / "pki"
    shutil.copytree(authority.pki_dir, copy)
    spare = CertificateAuthority.open(copy)
    info = spare.issue("engine", Role.ENGINE, tmp_path / "standby")
    standby = load_credentials(tmp_path / "standby")
    assert await _code_of(secure_channel(address, standby, server_name=host.name)) == (
        grpc.StatusCode.OK
    )
    crl = authority.layout.host(host.name) / "crl.pem"
    saved = crl.read_bytes()
    try:
        spare.revoke(info.serial)
        crl.write_bytes(spare.crl_pem())
        refused = await _code_of(secure_channel(address, standby, server_name=host.name))
        assert refused in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    finally:
        crl.write_bytes(saved)
