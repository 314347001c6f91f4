"""An in-process engine over the session lab's real agents, for the engine's lab tests.

    async with lab_engine(tmp_path, lab, lab_with_agents) as engine:
        reply = await engine.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=...))

The engine is built with the lab's PKI (the lab's agents obey the engine of the lab's CA), in a
cluster of its own with the lab's management (required) and migration networks and every lab
host added. Guests made with `new_guest` into the `guests` fixture's list are destroyed after
the test, wherever they ended, and every link is set up again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from orchestration_support import FINAL, stop_engine, wait_for

from miglane.engine.app import Engine
from miglane.engine.domain.model import (
    ClusterSpec,
    HostSpec,
    MigrationPolicy,
    NetworkRole,
    NetworkSpec,
)
from miglane.lab import GuestOs
from miglane.metrics.listen import METRICS_OFF
from miglane.testing.engine_stack import start_engine
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import engine_pb2, engine_pb2_grpc

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

GUEST_MIB = 96


@dataclass
class LabEngine:
    lab: Lab
    status: LabStatus
    engine: Engine
    stub: engine_pb2_grpc.EngineServiceStub
    cluster_id: str
    host_ids: dict[str, str]  # lab host name -> engine host id
    networks: dict[str, str]  # "mgmt"/"migration" -> network id

    def name_of(self, host_id: str) -> str:
        return next(name for name, hid in self.host_ids.items() if hid == host_id)

    async def vm_id(self, name: str) -> str:
        reply = await wait_for(
            lambda: self.stub.ListVms(engine_pb2.ListVmsRequest(cluster_id=self.cluster_id)),
            lambda r: any(vm.name == name for vm in r.vms),
            30,
        )
        return next(vm.id for vm in reply.vms if vm.name == name)

    async def migration(self, migration_id: str) -> engine_pb2.Migration:
        reply = await self.stub.GetMigration(
            engine_pb2.GetMigrationRequest(migration_id=migration_id)
        )
        return reply.migration

    async def wait_final(self, migration_id: str, timeout: float = 60) -> engine_pb2.Migration:
        return await wait_for(
            lambda: self.migration(migration_id), lambda m: m.phase in FINAL, timeout
        )

    async def host(self, name: str) -> engine_pb2.Host:
        return (
            await self.stub.GetHost(engine_pb2.GetHostRequest(host_id=self.host_ids[name]))
        ).host

    def where(self, name: str) -> set[str]:
        """The lab hosts the guest `name` runs on (libvirt's view, not the engine's)."""
        return {vm.host for vm in self.lab.list_vms() if vm.name == name}


def _cleanup(lab: Lab, names: list[str]) -> None:
    for host in lab.status().hosts:
        for network in ("mgmt", "mig"):
            with contextlib.suppress(Exception):
                lab.set_link(host.name, network, True)
    for vm in lab.list_vms():
        if vm.name in names:
            with contextlib.suppress(Exception):
                lab.destroy_vm(vm.host, vm.name)


@pytest.fixture
def guests(lab: Lab) -> Iterator[list[str]]:
    """The names of the guests the test made; destroyed after it (and links set up)."""
    names: list[str] = []
    try:
        yield names
    finally:
        _cleanup(lab, names)


@contextlib.asynccontextmanager
async def lab_engine(
    tmp: Path,
    lab: Lab,
    status: LabStatus,
    policy: MigrationPolicy | None = None,
    *,
    metrics_listen: str = METRICS_OFF,
) -> AsyncIterator[LabEngine]:
    built = await start_engine(
        tmp / "engine", poll_interval_s=0.3, pki_dir=lab.pki_dir, metrics_listen=metrics_listen
    )
    inventory = built.inventory
    channel = engine_channel(built.address, admin_credentials(built.authority))
    try:
        cluster = await inventory.clusters.create_cluster(ClusterSpec(name="lab", policy=policy))
        mgmt = await inventory.networks.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="mgmt",
                subnet=status.mgmt_subnet,
                required=True,
                roles=(NetworkRole.MANAGEMENT,),
            )
        )
        migration = await inventory.networks.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="migration",
                subnet=status.mig_subnet,
                roles=(NetworkRole.MIGRATION,),
            )
        )
        host_ids = {}
        for host in status.hosts:
            assert host.agent_addr
            view = await built.migrations.add_host(
                HostSpec(cluster_id=cluster.id, name=host.name, agent_address=host.agent_addr)
            )
            host_ids[host.name] = view.host.id
        engine = LabEngine(
            lab,
            status,
            built,
            engine_pb2_grpc.EngineServiceStub(channel),
            cluster.id,
            host_ids,
            {"mgmt": mgmt.id, "migration": migration.id},
        )
        for name in host_ids:
            await wait_for(
                lambda n=name: engine.host(n), lambda h: h.status == engine_pb2.HOST_STATUS_UP, 30
            )
        yield engine
    finally:
        await stop_engine(built, channel)


def new_guest(
    lab: Lab,
    host: str,
    guests: list[str],
    memory_mib: int = GUEST_MIB,
    *,
    prefix: str = "eng",
    guest_os: GuestOs = GuestOs.TINY,
    disks: Sequence[str] = (),
    nics: Sequence[str] = (),
) -> str:
    """A guest started on `host` under a fresh name, recorded in `guests` for the cleanup."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    guests.append(name)
    lab.create_vm(host, name, memory_mib=memory_mib, guest_os=guest_os, disks=disks, nics=nics)
    return name
