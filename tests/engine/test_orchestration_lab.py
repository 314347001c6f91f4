"""The engine end to end on the lab: 3 real libvirtd hosts, a real `miglane agent` on each,
an in-process engine (marker `lab` through the fixtures; root).

Each test builds its own engine and cluster over the shared agents and leaves the lab as it
found it: links up, its guests destroyed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from lab_engine_support import GUEST_MIB, guests, lab_engine, new_guest
from orchestration_support import wait_for

from miglane.engine.domain.model import MigrationPolicy
from miglane.v1 import common_pb2, engine_pb2

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

__all__ = ["guests"]  # the fixture, shared with the other lab tests of the engine

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED


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
        # Gone from the source: libvirt removes a migrated domain there just after the
        # switch-over (it may still list it paused for a moment).
        await wait_for(
            lambda: asyncio.to_thread(lab.list_vms, source),
            lambda vms: not [vm for vm in vms if vm.name in names],
            30,
        )
        for migration in reply.migrations:
            # The VM reached its destination (the host is empty); the engine's record of the
            # migration follows the agent's final report.
            await wait_for(
                lambda m=migration: engine.migration(m.id), lambda m: m.phase == COMPLETED, 30
            )
        reply = await engine.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=engine.host_ids[source], enabled=False)
        )
        assert reply.host.status == engine_pb2.HOST_STATUS_UP
        assert time.monotonic() - started < 120
