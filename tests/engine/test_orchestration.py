"""Orchestration against real agent gRPC servers on the fake driver."""

from __future__ import annotations

from pathlib import Path

from orchestration_support import orchestrated

from miglane.v1 import common_pb2, engine_pb2


async def test_automatic_migration_goes_over_the_migration_network(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=3, vms_per_host=1) as world:
        vm_id = world.vm_ids[0][0]
        reply = await world.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=vm_id))
        migration = reply.migration
        assert migration.automatic
        done = await world.wait_final(migration.id)
        assert done.phase == common_pb2.MIGRATION_PHASE_COMPLETED, done
        assert done.fallback_reason == common_pb2.FALLBACK_REASON_NONE
        assert done.migration_uri.startswith("tcp://10.1.")
        assert done.destination_host_id in world.host_ids[1:]
        assert done.progress_percent == 100
        vm = (await world.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id))).vm
        assert vm.host_id == done.destination_host_id
        types = [e.type for e in await world.events() if e.migration_id == migration.id]
        assert types == [
            engine_pb2.EVENT_TYPE_MIGRATION_QUEUED,
            engine_pb2.EVENT_TYPE_MIGRATION_STARTED,
            engine_pb2.EVENT_TYPE_MIGRATION_COMPLETED,
        ]
