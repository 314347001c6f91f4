"""The engine learns the fixed cost of its path from its completed migrations (real agents on
the fake driver): each completion's observation (`domain.path_cost`), kept in the engine's
`PathCosts`, and the next migration's prediction counting it instead of the constants."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from orchestration_support import World, orchestrated

from miglane.engine.domain.model import Migration, MigrationPhase
from miglane.engine.domain.path_cost import (
    MIN_OBSERVATIONS,
    learned_fixed_s,
    observed_fixed_s,
)
from miglane.engine.domain.prediction import DEFAULT_FIXED_S
from miglane.v1 import common_pb2, engine_pb2

pytestmark = pytest.mark.both_store_backends

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
# Small guests at a cap: a few seconds each, so that the agent reports several samples.
VM_MIB = 96
CAP_MIBPS = 32


class AdmittedDurations:
    """Each migration's predicted duration as admission published it (its PREPARING
    snapshot: predicted finish less the moment it was admitted)."""

    def __init__(self, world: World) -> None:
        self.seconds: dict[str, float] = {}
        world.engine.hub.subscribe(self._seen)

    def _seen(self, migration: Migration) -> bool:
        # Called as each snapshot is published: a later one replaces the prediction.
        if (
            migration.phase is MigrationPhase.PREPARING
            and migration.admitted_at is not None
            and migration.predicted_finish_at is not None
            and migration.id not in self.seconds
        ):
            finish: datetime = migration.predicted_finish_at
            self.seconds[migration.id] = (finish - migration.admitted_at).total_seconds()
        return False


async def _migrated(world: World, vm_id: str, to: int) -> str:
    request = engine_pb2.MigrateVmRequest(
        vm_id=vm_id, destination_host_id=world.host_ids[to], max_bandwidth_mib_per_second=CAP_MIBPS
    )
    migration_id = (await world.stub.MigrateVm(request)).migration.id
    final = await world.wait_final(migration_id)
    assert final.phase == COMPLETED, final.error
    return migration_id


async def _stored(world: World, migration_id: str) -> Migration:
    found = await world.engine.inventory.worker.read(lambda s: s.get_migration(migration_id))
    assert found is not None
    return found


async def test_completed_migrations_set_the_fixed_cost_of_the_next_prediction(
    tmp_path: Path,
) -> None:
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, vm_memory_mib=VM_MIB, speed=1) as (
        world
    ):
        admitted = AdmittedDurations(world)
        vms = world.vm_ids
        # Before any completion: the calibrated constants.
        assert world.engine.path_costs.fixed_s == DEFAULT_FIXED_S
        before = await _migrated(world, vms[0][0], to=1)
        others = await asyncio.gather(
            _migrated(world, vms[1][0], to=2), _migrated(world, vms[2][0], to=0)
        )
        completed = [await _stored(world, i) for i in (before, *others)]
        observed = [observed_fixed_s(m) for m in completed]
        assert None not in observed and len(observed) >= MIN_OBSERVATIONS
        learned = learned_fixed_s([o for o in observed if o is not None])
        # The fake driver's path is far quicker than the lab's: a value to tell apart.
        assert abs(learned - DEFAULT_FIXED_S) > 0.1
        assert world.engine.path_costs.fixed_s == pytest.approx(learned)

        # The same size of guest, same route and cap, alone on its link as the first was:
        # only the fixed cost differs.
        after = await _migrated(world, vms[0][1], to=1)
        assert admitted.seconds[after] - admitted.seconds[before] == pytest.approx(
            learned - DEFAULT_FIXED_S, abs=1e-6
        )


async def test_a_restarted_engine_predicts_with_what_it_learned_before(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, vm_memory_mib=VM_MIB, speed=1) as (
        world
    ):
        before_restart = AdmittedDurations(world)
        vms = world.vm_ids
        done = [
            await _migrated(world, vms[0][0], to=1),
            await _migrated(world, vms[1][0], to=2),
            await _migrated(world, vms[2][0], to=0),
        ]
        observed = [observed_fixed_s(await _stored(world, i)) for i in done]
        assert None not in observed
        learned = learned_fixed_s([o for o in observed if o is not None])
        assert abs(learned - DEFAULT_FIXED_S) > 0.1

        await world.restart_engine()

        # Read back from the store's completed migrations, not started over from the constants.
        assert world.engine.path_costs.fixed_s == pytest.approx(learned)
        after_restart = AdmittedDurations(world)
        after = await _migrated(world, vms[0][1], to=1)
        # The same size of guest, route and cap as the first, alone on its link as it was.
        assert after_restart.seconds[after] - before_restart.seconds[done[0]] == pytest.approx(
            learned - DEFAULT_FIXED_S, abs=1e-6
        )
