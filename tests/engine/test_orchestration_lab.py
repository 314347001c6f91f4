"""The engine end to end on the lab: 3 real libvirtd hosts, a real `miglane agent` on each,
an in-process engine (marker `lab` through the fixtures; root).

Each test builds its own engine and cluster over the shared agents and leaves the lab as it
found it: links up, its guests destroyed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
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
from miglane.testing.engine_stack import start_engine
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

GUEST_MIB = 96
COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED


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
    names: list[str] = []
    try:
        yield names
    finally:
        _cleanup(lab, names)


@contextlib.asynccontextmanager
async def lab_engine(
    tmp: Path, lab: Lab, status: LabStatus, policy: MigrationPolicy | None = None
) -> AsyncIterator[LabEngine]:
    # The lab's agents obey the engine of the lab's CA.
    built = await start_engine(tmp / "engine", poll_interval_s=0.3, pki_dir=lab.pki_dir)
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


def new_guest(lab: Lab, host: str, guests: list[str], memory_mib: int = GUEST_MIB) -> str:
    name = f"eng-{uuid.uuid4().hex[:8]}"
    guests.append(name)
    lab.create_vm(host, name, memory_mib=memory_mib)
    return name


async def test_automatic_migration_uses_the_migration_network(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    status = lab_with_agents
    source = status.hosts[0].name
    name = new_guest(lab, source, guests)
    async with lab_engine(tmp_path, lab, status) as engine:
        vm_id = await engine.vm_id(name)
        mig_before = lab.nic_counters(source, "mig").tx_bytes
        mgmt_before = lab.nic_counters(source, "mgmt").tx_bytes
        reply = await engine.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=vm_id))
        done = await engine.wait_final(reply.migration.id)
        assert done.phase == COMPLETED, done.error
        assert done.fallback_reason == common_pb2.FALLBACK_REASON_UNSPECIFIED
        assert done.network_id == engine.networks["migration"]
        destination = engine.name_of(done.destination_host_id)
        assert done.migration_uri == f"tcp://{status.host(destination).mig_addr}"
        mig_sent = lab.nic_counters(source, "mig").tx_bytes - mig_before
        mgmt_sent = lab.nic_counters(source, "mgmt").tx_bytes - mgmt_before
        assert mig_sent >= GUEST_MIB * 1024 * 1024, (mig_sent, mgmt_sent)
        assert mgmt_sent < mig_sent / 4, (mig_sent, mgmt_sent)
        assert {vm.host for vm in lab.list_vms() if vm.name == name} == {destination}


async def test_destination_link_down_skipped_then_manual_falls_back(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    status = lab_with_agents
    first, second, third = (h.name for h in status.hosts)
    name = new_guest(lab, first, guests)
    async with lab_engine(tmp_path, lab, status) as engine:
        vm_id = await engine.vm_id(name)
        lab.set_link(third, "mig", False)
        await wait_for(
            lambda: engine.host(third),
            lambda h: any(a.network_name == "migration" and not a.link_up for a in h.attachments),
            30,
        )
        candidates = (
            await engine.stub.ListMigrationCandidates(
                engine_pb2.ListMigrationCandidatesRequest(vm_id=vm_id)
            )
        ).candidates
        down = next(c for c in candidates if c.host_id == engine.host_ids[third])
        assert not down.suitable and down.manual_allowed
        assert down.fallback_reason == common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN

        automatic = await engine.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=vm_id))
        done = await engine.wait_final(automatic.migration.id)
        assert done.phase == COMPLETED, done.error
        assert done.destination_host_id == engine.host_ids[second]

        await wait_for(
            lambda: engine.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id)),
            lambda r: r.vm.host_id == engine.host_ids[second] and not r.vm.migration_id,
            30,
        )
        mgmt_before = lab.nic_counters(second, "mgmt").tx_bytes
        manual = await engine.stub.MigrateVm(
            engine_pb2.MigrateVmRequest(vm_id=vm_id, destination_host_id=engine.host_ids[third])
        )
        done = await engine.wait_final(manual.migration.id)
        assert done.phase == COMPLETED, done.error
        assert done.fallback_reason == common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN
        assert done.network_id == engine.networks["mgmt"]
        assert done.migration_uri == f"tcp://{status.host(third).mgmt_addr}"
        mgmt_sent = lab.nic_counters(second, "mgmt").tx_bytes - mgmt_before
        assert mgmt_sent >= GUEST_MIB * 1024 * 1024, mgmt_sent
        events = (await engine.stub.ListEvents(engine_pb2.ListEventsRequest(page_size=1000))).events
        fell_back = [
            e
            for e in events
            if e.type == engine_pb2.EVENT_TYPE_MIGRATION_FELL_BACK
            and e.migration_id == manual.migration.id
        ]
        assert len(fell_back) == 1 and "link down" in fell_back[0].message


async def test_role_change_refused_during_a_migration(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    status = lab_with_agents
    name = new_guest(lab, status.hosts[0].name, guests)
    async with lab_engine(tmp_path, lab, status) as engine:
        vm_id = await engine.vm_id(name)
        reply = await engine.stub.MigrateVm(
            engine_pb2.MigrateVmRequest(vm_id=vm_id, max_bandwidth_mib_per_second=4)
        )
        await wait_for(
            lambda: engine.migration(reply.migration.id),
            lambda m: m.phase == common_pb2.MIGRATION_PHASE_RUNNING,
            30,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await engine.stub.SetNetworkRole(
                engine_pb2.SetNetworkRoleRequest(
                    network_id=engine.networks["mgmt"], role=common_pb2.NETWORK_ROLE_MIGRATION
                )
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "migrat" in (caught.value.details() or "")
        cancelled = await engine.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=reply.migration.id)
        )
        assert cancelled.migration.phase == common_pb2.MIGRATION_PHASE_CANCELLED
        assert {vm.host for vm in lab.list_vms() if vm.name == name} == {status.hosts[0].name}


async def test_maintenance_of_a_host_with_4_vms_and_outgoing_limit_2(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    status = lab_with_agents
    source = status.hosts[0].name
    names = [new_guest(lab, source, guests, memory_mib=64) for _ in range(4)]
    policy = MigrationPolicy(max_outgoing_per_host=2)
    async with lab_engine(tmp_path, lab, status, policy) as engine:
        for name in names:
            await engine.vm_id(name)
        worst = 0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal worst
            while not stop.is_set():
                holding = [
                    m
                    for m in engine.engine.ledger.all_active()
                    if m.source_host_id == engine.host_ids[source]
                    and m.phase.name in ("PREPARING", "RUNNING")
                ]
                worst = max(worst, len(holding))
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        reply = await engine.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=engine.host_ids[source], enabled=True)
        )
        assert len(reply.migrations) == 4 and not reply.unplaced
        host = await wait_for(
            lambda: engine.host(source),
            lambda h: h.status == engine_pb2.HOST_STATUS_MAINTENANCE,
            120,
        )
        stop.set()
        await sampler
        assert worst == 2, worst
        assert host.status == engine_pb2.HOST_STATUS_MAINTENANCE
        assert not [vm for vm in lab.list_vms(source) if vm.name in names]
        for migration in reply.migrations:
            assert (await engine.migration(migration.id)).phase == COMPLETED
        reply = await engine.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=engine.host_ids[source], enabled=False)
        )
        assert reply.host.status == engine_pb2.HOST_STATUS_UP
        assert time.monotonic() - started < 120
