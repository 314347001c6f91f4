"""A paused VM live-migrates through the engine and the agents, and arrives paused."""

from __future__ import annotations

from pathlib import Path

import pytest
from orchestration_support import orchestrated, wait_for

from miglane.agent.domain.model import VmState as AgentVmState
from miglane.v1 import common_pb2, engine_pb2

pytestmark = pytest.mark.both_store_backends


async def test_a_paused_vm_migrates_and_arrives_paused(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1) as world:
        vm_id = world.vm_ids[0][0]
        world.agents[0].host.pause_domain(vm_id)

        async def vm() -> engine_pb2.Vm:
            return (await world.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id))).vm

        await wait_for(vm, lambda v: v.state == common_pb2.VM_STATE_PAUSED)
        request = engine_pb2.MigrateVmRequest(vm_id=vm_id)
        migration = (await world.stub.MigrateVm(request)).migration
        done = await world.wait_final(migration.id)
        assert done.phase == common_pb2.MIGRATION_PHASE_COMPLETED, done.error
        assert done.destination_host_id == world.host_ids[1]
        arrived = world.agents[1].host.domains[vm_id]
        assert arrived.state is AgentVmState.PAUSED
        assert vm_id not in world.agents[0].host.domains or (
            world.agents[0].host.domains[vm_id].state is AgentVmState.SHUT_OFF
        )
        await wait_for(
            vm,
            lambda v: v.host_id == world.host_ids[1] and v.state == common_pb2.VM_STATE_PAUSED,
        )
