"""`miglane lab up --agents`: one Miglane agent per host, inside the host's network namespace."""

from __future__ import annotations

import os

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from miglane.grpctls import target_name_options
from miglane.lab import Lab, LabStatus
from miglane.lab.network import netns_path
from miglane.lab.processes import netns_inode
from miglane.pki import CertificateAuthority, load_credentials

pytestmark = pytest.mark.lab


def test_each_host_runs_a_serving_agent_on_its_management_address(
    lab: Lab, lab_with_agents: LabStatus
) -> None:
    for host in lab_with_agents.hosts:
        assert host.agent_addr == f"{host.mgmt_addr}:50061"
        assert host.agent_pid is not None
        assert os.stat(f"/proc/{host.agent_pid}/ns/net").st_ino == netns_inode(
            netns_path(host.netns)
        )
        engine = load_credentials(CertificateAuthority.open(lab.pki_dir).layout.engine)
        credentials = grpc.ssl_channel_credentials(engine.ca_pem, engine.key_pem, engine.cert_pem)
        options = target_name_options(host.name)
        with grpc.secure_channel(host.agent_addr, credentials, options=options) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert [h.agent_addr for h in lab.status().hosts] == [
        h.agent_addr for h in lab_with_agents.hosts
    ]


def test_up_with_agents_keeps_running_agents(lab: Lab, lab_with_agents: LabStatus) -> None:
    again = lab.up(hosts=3, agents=True)
    assert [h.agent_pid for h in again.hosts] == [h.agent_pid for h in lab_with_agents.hosts]
