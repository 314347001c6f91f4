"""VM migration priority over the real API: an admin sets it (audited, with the actor), bad
values are refused naming the field, and with fake agents a HIGH VM queued last starts first
and gets the larger AUTO share of its link, and a warm VM whose fair share would never converge
gets the larger share an idle neighbour can spare."""

from __future__ import annotations

import math
from pathlib import Path

import grpc
import pytest
from engine_support import Engine, insert_migration, insert_vm
from orchestration_support import orchestrated, wait_for

from miglane.engine.domain.bandwidth import mbps_to_mibps
from miglane.engine.domain.errors import Reason
from miglane.engine.domain.forecast import needed_bandwidth_mibps
from miglane.engine.domain.model import MIB, MigrationPhase, MigrationPolicy, MigrationPriority
from miglane.engine.domain.prediction import MigrationLoad
from miglane.engine.domain.priority import PRIORITY_WEIGHTS
from miglane.testing.identities import TEST_ADMIN
from miglane.v1 import common_pb2, engine_pb2
from miglane.v1.rich_errors import error_details

HIGH = engine_pb2.MIGRATION_PRIORITY_HIGH
LOW = engine_pb2.MIGRATION_PRIORITY_LOW
NORMAL = engine_pb2.MIGRATION_PRIORITY_NORMAL
RUNNING = common_pb2.MIGRATION_PHASE_RUNNING
QUEUED = common_pb2.MIGRATION_PHASE_QUEUED


async def a_vm(engine: Engine) -> str:
    stub = engine.stub
    cluster = (await stub.CreateCluster(engine_pb2.CreateClusterRequest(name="c1"))).cluster
    host = (
        await stub.AddHost(
            engine_pb2.AddHostRequest(
                cluster_id=cluster.id, name="h1", agent_address="10.0.1.11:50052"
            )
        )
    ).host
    return (await insert_vm(engine.inventory, host.id, cluster.id, "web")).id


async def test_an_admin_sets_a_vms_priority_and_it_is_audited(engine: Engine) -> None:
    vm_id = await a_vm(engine)
    got = await engine.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id))
    assert got.vm.migration_priority == NORMAL
    reply = await engine.stub.SetVmMigrationPriority(
        engine_pb2.SetVmMigrationPriorityRequest(vm_id=vm_id, priority=HIGH)
    )
    assert reply.vm.migration_priority == HIGH
    listed = await engine.stub.ListVms(engine_pb2.ListVmsRequest())
    assert [v.migration_priority for v in listed.vms] == [HIGH]
    events = (await engine.stub.ListEvents(engine_pb2.ListEventsRequest())).events
    [changed] = [e for e in events if e.type == engine_pb2.EVENT_TYPE_VM_PRIORITY_CHANGED]
    assert changed.actor == TEST_ADMIN and changed.vm_id == vm_id
    assert dict(changed.attributes) == {"priority": "high", "previous": "normal"}
    assert "from normal to high" in changed.message
    # The same value again changes nothing and says nothing.
    await engine.stub.SetVmMigrationPriority(
        engine_pb2.SetVmMigrationPriorityRequest(vm_id=vm_id, priority=HIGH)
    )
    again = (await engine.stub.ListEvents(engine_pb2.ListEventsRequest())).events
    assert len(again) == len(events)


async def test_an_active_migration_follows_its_vms_priority(engine: Engine) -> None:
    vm_id = await a_vm(engine)
    vm = await engine.inventory.vms.get_vm(vm_id)
    migration = await insert_migration(engine.inventory, vm, phase=MigrationPhase.QUEUED)
    await engine.stub.SetVmMigrationPriority(
        engine_pb2.SetVmMigrationPriorityRequest(vm_id=vm_id, priority=LOW)
    )
    got = await engine.stub.GetMigration(engine_pb2.GetMigrationRequest(migration_id=migration.id))
    assert (got.migration.priority, got.migration.priority_overridden) == (LOW, False)


@pytest.mark.parametrize(
    ("priority", "words"),
    [
        (99, "unknown priority 99; give one of high, normal, low"),
        (engine_pb2.MIGRATION_PRIORITY_UNSPECIFIED, "give a priority: one of high, normal, low"),
    ],
)
async def test_a_bad_priority_is_refused_naming_the_field(
    engine: Engine, priority: int, words: str
) -> None:
    vm_id = await a_vm(engine)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await engine.stub.SetVmMigrationPriority(
            engine_pb2.SetVmMigrationPriorityRequest(vm_id=vm_id, priority=priority)
        )
    said = error_details(refused.value.trailing_metadata())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert said.reason == Reason.INVALID_FIELD
    assert [field for field, _ in said.field_violations] == ["priority"]
    assert words in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as bad_override:
        await engine.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=vm_id, priority=42))
    said = error_details(bad_override.value.trailing_metadata())
    assert bad_override.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in said.field_violations] == ["priority"]


async def test_a_high_vm_queued_last_starts_first_with_the_larger_auto_share(
    tmp_path: Path,
) -> None:
    """host0 may send 2 at once: two NORMAL ones run, two NORMAL ones queue, then a HIGH one.
    When a slot frees, the HIGH one takes it, and gets twice the NORMAL one's share."""
    qos_mbps = 800
    async with orchestrated(
        tmp_path, hosts=3, vms_per_host=5, speed=1, qos_mbps=qos_mbps, policy=MigrationPolicy()
    ) as world:
        stub = world.stub
        first, second, third, fourth, urgent = world.vm_ids[0]

        async def migrate(vm_id: str, to: int, **kw: int) -> engine_pb2.Migration:
            request = engine_pb2.MigrateVmRequest(
                vm_id=vm_id, destination_host_id=world.host_ids[to], **kw
            )
            return (await stub.MigrateVm(request)).migration

        running = [await migrate(first, 1), await migrate(second, 2)]
        waiting = [await migrate(third, 1), await migrate(fourth, 2)]
        await stub.SetVmMigrationPriority(
            engine_pb2.SetVmMigrationPriorityRequest(vm_id=urgent, priority=HIGH)
        )
        high = await migrate(urgent, 1)
        assert (high.phase, high.priority) == (QUEUED, HIGH)
        assert all(m.phase == QUEUED for m in waiting)
        await stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id=running[0].id))
        await wait_for(lambda: world.migration(high.id), lambda m: m.phase == RUNNING)
        for queued in waiting:
            assert (await world.migration(queued.id)).phase == QUEUED
        link = mbps_to_mibps(qos_mbps)
        weights = (
            PRIORITY_WEIGHTS[MigrationPriority.HIGH] + PRIORITY_WEIGHTS[MigrationPriority.NORMAL]
        )
        high_share = math.floor(link * PRIORITY_WEIGHTS[MigrationPriority.HIGH] / weights)
        normal_share = math.floor(link * PRIORITY_WEIGHTS[MigrationPriority.NORMAL] / weights)
        await wait_for(
            lambda: world.migration(high.id),
            lambda m: m.max_bandwidth_mib_per_second == high_share,
        )
        await wait_for(
            lambda: world.migration(running[1].id),
            lambda m: m.max_bandwidth_mib_per_second == normal_share,
        )
        job = world.agents[0].agent.jobs[high.id]
        assert job.status.max_bandwidth_mibps == high_share
        # A per-call override: LOW for this migration, whatever its VM's priority.
        await stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id=waiting[1].id))
        low = await migrate(world.vm_ids[1][0], 2, priority=LOW)
        assert (low.priority, low.priority_overridden) == (LOW, True)
        for migration in (high, running[1], waiting[0], low):
            await stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id=migration.id))


async def test_a_warm_vm_gets_the_larger_share_a_running_idle_one_can_spare(
    tmp_path: Path,
) -> None:
    """At half of host0's link the warm VM would never converge; the idle migration already
    running can spare what it needs: it starts plain with that share, the idle one keeps the
    rest, and its queue reason says so."""
    qos_mbps = 800
    async with orchestrated(
        tmp_path, hosts=3, vms_per_host=1, vm_memory_mib=4096, speed=1, qos_mbps=qos_mbps
    ) as world:
        warm_id = world.agents[0].host.add_domain("warm", memory_mib=1024, dirty_rate_mibps=60)

        async def warm_vm() -> engine_pb2.Vm | None:
            listed = await world.stub.ListVms(engine_pb2.ListVmsRequest())
            return next((v for v in listed.vms if v.id == warm_id), None)

        warm = await wait_for(
            warm_vm, lambda v: v is not None and v.dirty_rate_bytes_per_second > 0, 60
        )
        idle = (
            await world.stub.MigrateVm(
                engine_pb2.MigrateVmRequest(
                    vm_id=world.vm_ids[0][0], destination_host_id=world.host_ids[1]
                )
            )
        ).migration
        await wait_for(lambda: world.migration(idle.id), lambda m: m.phase == RUNNING)
        needed = needed_bandwidth_mibps(
            MigrationLoad(warm.memory_mib * MIB, warm.dirty_rate_bytes_per_second)
        )
        link = mbps_to_mibps(qos_mbps)
        assert needed is not None and link / 2 < needed < link
        started = (
            await world.stub.MigrateVm(
                engine_pb2.MigrateVmRequest(vm_id=warm_id, destination_host_id=world.host_ids[2])
            )
        ).migration
        assert started.granted_bandwidth_mib_per_second == needed
        assert started.queue_reason.startswith("started with a larger share")
        await wait_for(
            lambda: world.migration(started.id),
            lambda m: m.phase == RUNNING and m.max_bandwidth_mib_per_second == needed,
        )
        await wait_for(
            lambda: world.migration(idle.id),
            lambda m: m.max_bandwidth_mib_per_second == math.floor(link - needed),
        )
        for migration in (started, idle):
            await world.stub.CancelMigration(
                engine_pb2.CancelMigrationRequest(migration_id=migration.id)
            )
