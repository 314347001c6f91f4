"""MigrateVm decides admission in the transaction that makes the migration: its reply says
whether it started or why it waits, requests made together share that transaction, and a
cancellation or a higher priority is respected by the passes that follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from orchestration_support import World, orchestrated, wait_for

from miglane.engine.actor import current_actor
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.errors import FailedPrecondition, NotFound
from miglane.engine.domain.model import Migration, MigrationPhase, MigrationPolicy
from miglane.v1 import common_pb2, engine_pb2

pytestmark = pytest.mark.both_store_backends

QUEUED = common_pb2.MIGRATION_PHASE_QUEUED
PREPARING = common_pb2.MIGRATION_PHASE_PREPARING
CANCELLED = common_pb2.MIGRATION_PHASE_CANCELLED
# One migration leaves a host at a time; slow enough that the first still runs while the
# test asks for the others.
ONE_OUT = MigrationPolicy(max_outgoing_per_host=1, max_incoming_per_host=4)
SLOW = 0.2


async def _migrate(
    world: World, vm_id: str, priority: int = engine_pb2.MIGRATION_PRIORITY_UNSPECIFIED
) -> engine_pb2.Migration:
    request = engine_pb2.MigrateVmRequest(vm_id=vm_id, priority=priority)
    return (await world.stub.MigrateVm(request)).migration


async def _cancel(world: World, migration_id: str) -> None:
    await world.stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id=migration_id))


async def test_the_reply_says_it_started_or_why_it_waits(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=2, speed=SLOW, policy=ONE_OUT) as world:
        first, second = world.vm_ids[0]
        started = await _migrate(world, first)
        assert started.phase == PREPARING
        assert started.destination_host_id == world.host_ids[1]
        assert started.network_id  # its path was chosen with it

        waiting = await _migrate(world, second)
        assert waiting.phase == QUEUED
        # Decided in the same transaction: the reason, not "waiting for the queue runner".
        assert waiting.queue_reason != say.WAITING_FOR_QUEUE
        assert "max_outgoing_per_host" in waiting.queue_reason
        stored = await world.migration(waiting.id)
        assert stored.queue_reason == waiting.queue_reason
        await _cancel(world, started.id)
        await _cancel(world, waiting.id)


async def test_the_same_vm_asked_twice_at_once_gets_one_migration(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, speed=SLOW, policy=ONE_OUT) as world:
        vm_id = world.vm_ids[0][0]
        results = await asyncio.gather(
            _migrate(world, vm_id), _migrate(world, vm_id), return_exceptions=True
        )
        made = [r for r in results if isinstance(r, engine_pb2.Migration)]
        refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(made) == 1 and len(refused) == 1, results
        assert refused[0].code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused[0].details() == say.already_migrating(made[0].vm_name, made[0].id)
        await _cancel(world, made[0].id)


async def test_requests_made_together_share_one_transaction_each_judged_alone(
    tmp_path: Path,
) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=2, speed=SLOW, policy=ONE_OUT) as world:
        first, second = world.vm_ids[0]
        migrations = world.engine.migrations
        # Asked in the same loop turn: one batch, so one transaction.
        results = await asyncio.gather(
            migrations.migrate_vm(first),
            migrations.migrate_vm(first),
            migrations.migrate_vm("vm-nope"),
            migrations.migrate_vm(second),
            return_exceptions=True,
        )
        made, twice, unknown, behind = results
        assert isinstance(made, Migration) and made.phase is MigrationPhase.PREPARING
        assert isinstance(twice, FailedPrecondition)
        assert str(twice) == say.already_migrating(made.vm_name, made.id)
        assert isinstance(unknown, NotFound)
        # Judged after the first in the same pass: its source's one slot is taken.
        assert isinstance(behind, Migration) and behind.phase is MigrationPhase.QUEUED
        assert "max_outgoing_per_host" in behind.queue_reason
        await _cancel(world, made.id)
        await _cancel(world, behind.id)


async def test_each_request_of_a_batch_is_made_in_its_callers_name(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=2, speed=SLOW) as world:
        first, second = world.vm_ids[0]

        async def asked_by(actor: str, vm_id: str) -> Migration:
            current_actor.set(actor)
            return await world.engine.migrations.migrate_vm(vm_id)

        made = await asyncio.gather(asked_by("alice", first), asked_by("bob", second))
        queued = await world.events(engine_pb2.EVENT_TYPE_MIGRATION_QUEUED)
        actors = {event.migration_id: event.actor for event in queued}
        assert [actors[m.id] for m in made] == ["alice", "bob"]
        for migration in made:
            await _cancel(world, migration.id)


async def test_a_queued_migration_cancelled_as_its_slot_frees_never_starts(
    tmp_path: Path,
) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=2, speed=SLOW, policy=ONE_OUT) as world:
        first, second = world.vm_ids[0]
        running = await _migrate(world, first)
        waiting = await _migrate(world, second)
        assert waiting.phase == QUEUED
        # Its slot frees while it is being cancelled: in either order it ends cancelled.
        await asyncio.gather(_cancel(world, waiting.id), _cancel(world, running.id))
        await world.engine.queue.wait_passes(2)
        assert (await world.migration(waiting.id)).phase == CANCELLED
        started = await world.events(engine_pb2.EVENT_TYPE_MIGRATION_STARTED)
        assert not [e for e in started if e.migration_id == waiting.id]


async def test_a_higher_priority_migration_asked_later_starts_first(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=3, speed=SLOW, policy=ONE_OUT) as world:
        a, b, c = world.vm_ids[0]
        running = await _migrate(world, a)
        normal = await _migrate(world, b)
        urgent = await _migrate(world, c, engine_pb2.MIGRATION_PRIORITY_HIGH)
        assert normal.phase == QUEUED and urgent.phase == QUEUED
        await _cancel(world, running.id)
        moved = await wait_for(lambda: world.migration(urgent.id), lambda m: m.phase != QUEUED)
        assert moved.phase != CANCELLED
        assert (await world.migration(normal.id)).phase == QUEUED
        await _cancel(world, urgent.id)
        await _cancel(world, normal.id)
