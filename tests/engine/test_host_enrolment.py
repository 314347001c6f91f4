"""Hosts get their identity from the engine's CA when added (credentials in <pki>/hosts/<name>
with the host's name and management address), lose it when removed (revoked), show when it
ends; and the expiry check announces each certificate entering its last days once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import grpc
import pytest

from miglane.engine.app import Engine
from miglane.engine.certificate_watch import CertificateWatch
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.certificates import whole_days_left
from miglane.engine.domain.errors import Reason
from miglane.engine.domain.model import ENGINE_ACTOR
from miglane.pki import (
    EXPIRY_WARNING,
    HOST_LAYOUT,
    CertificateInfo,
    RevocationList,
    Role,
    load_credentials,
)
from miglane.testing.engine_stack import start_engine
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import engine_pb2 as pb
from miglane.v1 import engine_pb2_grpc
from miglane.v1.rich_errors import error_details

pytestmark = pytest.mark.both_store_backends

MANAGEMENT_IP = "192.0.2.10"


@dataclass
class Running:
    engine: Engine
    stub: engine_pb2_grpc.EngineServiceStub
    cluster_id: str

    @property
    def hosts_dir(self) -> Path:
        return self.engine.authority.pki_dir / "hosts"

    async def add(self, name: str, agent_address: str, cluster_id: str = "") -> pb.Host:
        request = pb.AddHostRequest(
            cluster_id=cluster_id or self.cluster_id, name=name, agent_address=agent_address
        )
        return (await self.stub.AddHost(request)).host

    async def events(self, type_: int) -> list[pb.Event]:
        reply = await self.stub.ListEvents(pb.ListEventsRequest(page_size=1000))
        return [e for e in reply.events if e.type == type_]

    def certificates_of(self, name: str) -> list[CertificateInfo]:
        return [info for info in self.engine.authority.list() if info.name == name]


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    engine = await start_engine(tmp_path / "state", poll_hosts=False)
    channel = engine_channel(engine.address, admin_credentials(engine.authority))
    stub = engine_pb2_grpc.EngineServiceStub(channel)
    try:
        cluster = (await stub.CreateCluster(pb.CreateClusterRequest(name="c1"))).cluster
        yield Running(engine, stub, cluster.id)
    finally:
        await channel.close()
        await engine.stop(1)


async def test_an_added_host_gets_its_credentials_with_its_name_and_address(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as world:
        host = await world.add("node1", f"{MANAGEMENT_IP}:50052")
        directory = world.hosts_dir / "node1"
        for file_name in HOST_LAYOUT:
            assert (directory / file_name).is_file(), file_name
        credentials = load_credentials(directory)
        assert credentials.info.role is Role.HOST
        assert credentials.info.sans == ("node1", MANAGEMENT_IP)
        assert credentials.ca_pem == world.engine.authority.ca_pem
        assert (
            host.certificate_not_after.ToDatetime(tzinfo=credentials.info.not_after.tzinfo)
            == credentials.info.not_after
        )
        [listed] = (await world.stub.ListHosts(pb.ListHostsRequest())).hosts
        assert listed.certificate_not_after == host.certificate_not_after
        [added] = await world.events(pb.EVENT_TYPE_HOST_ADDED)
        assert added.attributes["certificate_serial"] == credentials.info.serial_hex
        assert added.severity == pb.EVENT_SEVERITY_INFO


async def test_a_host_named_by_a_dns_agent_address_is_added_without_a_certificate(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as world:
        host = await world.add("node1", "node1.example.org:50052")
        assert not host.HasField("certificate_not_after")
        assert not world.certificates_of("node1")
        [added] = await world.events(pb.EVENT_TYPE_HOST_ADDED)
        assert added.severity == pb.EVENT_SEVERITY_WARNING
        assert added.message.endswith(say.not_enrolled("node1"))


@pytest.mark.parametrize("name", ["node_1", "node..1", "-node"])
async def test_a_name_the_ca_cannot_issue_is_refused(tmp_path: Path, name: str) -> None:
    async with running(tmp_path) as world:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await world.add(name, f"{MANAGEMENT_IP}:50052")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        said = error_details(refused.value.trailing_metadata())
        assert said.reason == Reason.INVALID_FIELD
        assert [field for field, _ in said.field_violations] == ["name"]
        assert not (world.hosts_dir / name).exists()


async def test_host_names_are_unique_across_clusters(tmp_path: Path) -> None:
    async with running(tmp_path) as world:
        await world.add("node1", f"{MANAGEMENT_IP}:50052")
        other = (await world.stub.CreateCluster(pb.CreateClusterRequest(name="c2"))).cluster
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await world.add("node1", "192.0.2.11:50052", cluster_id=other.id)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert len(world.certificates_of("node1")) == 1


async def test_removing_a_host_revokes_its_certificate(tmp_path: Path) -> None:
    async with running(tmp_path) as world:
        host = await world.add("node1", f"{MANAGEMENT_IP}:50052")
        [issued] = world.certificates_of("node1")
        await world.stub.RemoveHost(pb.RemoveHostRequest(host_id=host.id))
        [revoked] = world.certificates_of("node1")
        assert revoked.serial == issued.serial and revoked.revoked
        crl = RevocationList(world.engine.authority.pki_dir / "crl.pem")
        assert crl.is_revoked(issued.serial)
        # Added again, it is enrolled again with a new certificate.
        again = await world.add("node1", f"{MANAGEMENT_IP}:50052")
        assert again.HasField("certificate_not_after")
        assert len([i for i in world.certificates_of("node1") if not i.revoked]) == 1


async def test_the_expiry_check_announces_each_certificate_once(tmp_path: Path) -> None:
    async with running(tmp_path) as world:
        authority = world.engine.authority
        host = await world.add("node1", f"{MANAGEMENT_IP}:50052")
        authority.revoke("node1")
        short = EXPIRY_WARNING.days - 1
        host_cert = authority.issue_host("node1", [MANAGEMENT_IP], days=short)
        viewer = authority.issue("bob", Role.VIEWER, tmp_path / "bob", days=short)
        authority.issue("carol", Role.VIEWER, tmp_path / "carol")  # a year: not yet

        await world.engine.certificates.check()
        await world.engine.certificates.check()
        # An engine started again reads back what was announced.
        restarted = CertificateWatch(
            world.engine.inventory.worker, authority, world.engine.inventory.clock, 3600.0
        )
        assert await restarted.check() == []

        expiring = await world.events(pb.EVENT_TYPE_CERTIFICATE_EXPIRING)
        by_serial = {e.attributes["serial"]: e for e in expiring}
        assert sorted(by_serial) == sorted([host_cert.serial_hex, viewer.serial_hex])
        assert len(expiring) == 2
        host_event = by_serial[host_cert.serial_hex]
        assert (host_event.host_id, host_event.cluster_id) == (host.id, world.cluster_id)
        assert host_event.severity == pb.EVENT_SEVERITY_WARNING
        assert host_event.actor == ENGINE_ACTOR
        assert not by_serial[viewer.serial_hex].host_id
        viewer_event = by_serial[viewer.serial_hex]
        checked_at = viewer_event.created_at.ToDatetime(tzinfo=UTC)
        days = whole_days_left(viewer.not_after, checked_at)
        assert f"({days} day(s) left)" in viewer_event.message
