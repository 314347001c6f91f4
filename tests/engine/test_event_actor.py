"""Who caused each event: the identity of the call (the `current_actor` the authorization
wrapper sets per call, set here around direct service calls) for what the call itself does,
the engine for what follows on its own (launches, completions, evacuation reruns)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest
from orchestration_support import FINAL, orchestrated, wait_for

from miglane.agent.driver import DriverErrorKind
from miglane.engine.actor import ENGINE_ACTOR, as_engine, current_actor
from miglane.engine.domain.model import HostStatus
from miglane.engine.migrations.tasks import BackgroundTasks
from miglane.v1 import common_pb2, engine_pb2

pytestmark = pytest.mark.both_store_backends

T = TypeVar("T")
USER = "alice"
QUEUED = engine_pb2.EVENT_TYPE_MIGRATION_QUEUED


async def as_user(call: Awaitable[T]) -> T:
    token = current_actor.set(USER)
    try:
        return await call
    finally:
        current_actor.reset(token)


async def test_a_users_migration_is_queued_in_their_name_and_run_by_the_engine(
    tmp_path: Path,
) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1) as world:
        migration = await as_user(world.engine.migrations.migrate_vm(world.vm_ids[0][0]))
        done = await world.wait_final(migration.id)
        assert done.phase == common_pb2.MIGRATION_PHASE_COMPLETED
        actors = [(e.type, e.actor) for e in await world.events() if e.migration_id == done.id]
        assert actors == [
            (QUEUED, USER),
            (engine_pb2.EVENT_TYPE_MIGRATION_STARTED, ENGINE_ACTOR),
            (engine_pb2.EVENT_TYPE_MIGRATION_COMPLETED, ENGINE_ACTOR),
        ]


async def test_evacuation_reruns_are_the_engines_though_a_user_started_maintenance(
    tmp_path: Path,
) -> None:
    async with orchestrated(tmp_path, hosts=4, vms_per_host=1) as world:
        world.agents[0].host.fail_migrations_with = DriverErrorKind.NETWORK
        vm_id = world.vm_ids[0][0]
        reply = await as_user(world.engine.migrations.set_host_maintenance(world.host_ids[0], True))
        [first] = reply.migrations

        async def attempts() -> list[engine_pb2.Migration]:
            listed = await world.stub.ListMigrations(engine_pb2.ListMigrationsRequest(vm_id=vm_id))
            return list(listed.migrations)

        await wait_for(attempts, lambda ms: len(ms) == 3 and all(m.phase in FINAL for m in ms), 30)
        events = await world.events()
        reruns = [e for e in events if e.type == engine_pb2.EVENT_TYPE_MIGRATION_RERUN]
        assert len(reruns) == 2
        assert {e.actor for e in reruns} == {ENGINE_ACTOR}
        # The user's call queued the evacuation; the engine queued each rerun on its own.
        assert {e.migration_id: e.actor for e in events if e.type == QUEUED} == {first.id: USER}
        assert first.id not in {e.migration_id for e in reruns}
        preparing = [
            e
            for e in events
            if e.type == engine_pb2.EVENT_TYPE_HOST_STATUS_CHANGED
            and e.host_id == world.host_ids[0]
            and e.attributes["to"] == HostStatus.PREPARING_FOR_MAINTENANCE.label
        ]
        assert [e.actor for e in preparing] == [USER]


async def test_background_tasks_act_as_the_engine_whoever_spawned_them() -> None:
    tasks = BackgroundTasks()
    seen: list[str] = []

    async def record() -> None:
        seen.append(current_actor.get())

    async def spawn() -> None:
        task = tasks.spawn(record(), "record")
        assert task is not None
        await task

    await as_user(spawn())
    assert seen == [ENGINE_ACTOR]
    token = current_actor.set(USER)
    try:
        assert as_engine().run(current_actor.get) == ENGINE_ACTOR
        assert current_actor.get() == USER  # the caller's own context is left as it was
    finally:
        current_actor.reset(token)
    await asyncio.sleep(0)
