"""Admission by the model, end to end: fake-driver agents measure a hot guest's dirty rate, the
engine reads it, and its migration waits for bandwidth or starts with the help the cluster's
policy allows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from orchestration_support import World, orchestrated, wait_for

from miglane.agent.domain.model import DirtyRate
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.model import MIB, Help, MigrationPolicy
from miglane.v1 import common_pb2, engine_pb2

pytestmark = pytest.mark.both_store_backends

# The migration network's QoS gives one migration ~47 MiB/s; the guest dirties more.
QOS_MBPS = 400
DIRTY_MIBPS = 80
QUEUED = common_pb2.MIGRATION_PHASE_QUEUED


async def _heat(world: World) -> str:
    """The first VM of the first host dirties DIRTY_MIBPS, as its agent measured; returns it
    once the engine knows the measurement."""
    agent = world.agents[0]
    vm_id = agent.vm_ids[0]
    agent.host.set_dirty_rate(vm_id, DIRTY_MIBPS)
    agent.agent.dirty_rates.rates[vm_id] = DirtyRate(DIRTY_MIBPS * MIB, time.time())

    async def measured() -> int:
        rate = (await world.engine.inventory.vms.get_vm(vm_id)).dirty_rate
        return rate.bytes_per_second if rate is not None else 0

    await wait_for(measured, lambda bps: bps == DIRTY_MIBPS * MIB)
    return vm_id


async def _migrate(world: World, vm_id: str) -> engine_pb2.Migration:
    request = engine_pb2.MigrateVmRequest(vm_id=vm_id, destination_host_id=world.host_ids[1])
    return (await world.stub.MigrateVm(request)).migration


async def test_a_hot_vms_migration_waits_saying_the_bandwidth_it_needs(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, qos_mbps=QOS_MBPS) as world:
        vm_id = await _heat(world)
        queued = await _migrate(world, vm_id)
        waiting = await wait_for(
            lambda: world.migration(queued.id),
            lambda m: m.queue_reason.startswith("waits"),
        )
        assert waiting.phase == QUEUED
        assert waiting.verdict == engine_pb2.CONVERGENCE_VERDICT_NEVER_CONVERGES
        assert f"dirties {DIRTY_MIBPS} MiB/s" in waiting.queue_reason
        assert "needs " in waiting.queue_reason
        # Re-evaluated every pass, it keeps waiting.
        await world.engine.queue.wait_passes(2)
        assert (await world.migration(queued.id)).phase == QUEUED


async def test_a_cluster_allowing_auto_converge_starts_it_with_auto_converge(
    tmp_path: Path,
) -> None:
    policy = MigrationPolicy(auto_converge=True)
    async with orchestrated(
        tmp_path, hosts=2, vms_per_host=1, qos_mbps=QOS_MBPS, policy=policy
    ) as world:
        vm_id = await _heat(world)
        queued = await _migrate(world, vm_id)

        async def started() -> list[engine_pb2.Event]:
            events = await world.events(engine_pb2.EVENT_TYPE_MIGRATION_STARTED)
            return [e for e in events if e.migration_id == queued.id]

        [event] = await wait_for(started, bool)
        assert event.attributes["convergence_help"] == Help.AUTO_CONVERGE.value
        assert say.started_with_help(Help.AUTO_CONVERGE.value, "dirties ") in event.message
