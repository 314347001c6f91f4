"""Proof of path end to end on fake agents: the source agent's NIC counters reach the engine's
record; a migration whose data leaves by another NIC is flagged with an event."""

from __future__ import annotations

from pathlib import Path

from metrics_support import summary_of
from orchestration_support import orchestrated

from miglane.engine.domain.model import MIB
from miglane.v1 import common_pb2, engine_pb2

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
MEMORY_MIB = 256


async def test_a_migration_is_proven_on_the_migration_nic(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, vm_memory_mib=MEMORY_MIB) as world:
        reply = await world.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=world.vm_ids[0][0]))
        done = await world.wait_final(reply.migration.id)
        assert done.phase == COMPLETED, done.error
        proof = done.path_proof
        assert proof.verdict == engine_pb2.PATH_VERDICT_CONFIRMED, proof
        assert proof.nic == "mig0"
        assert proof.data_bytes == done.data_processed_bytes
        assert proof.nic_tx_bytes >= done.data_processed_bytes
        assert proof.memory_bytes == MEMORY_MIB * MIB
        assert proof.summary == summary_of(proof)
        assert proof.summary.endswith(f"over mig0 for {MEMORY_MIB} MiB of memory")
        assert not await world.events(engine_pb2.EVENT_TYPE_MIGRATION_OFF_PATH)


async def test_a_misrouted_migration_is_flagged(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, vm_memory_mib=MEMORY_MIB) as world:
        world.agents[0].host.misroute_via = "eth0"
        reply = await world.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=world.vm_ids[0][0]))
        done = await world.wait_final(reply.migration.id)
        assert done.phase == COMPLETED, done.error
        assert done.network_id != "" and done.migration_uri.startswith("tcp://10.1.")
        proof = done.path_proof
        assert proof.verdict == engine_pb2.PATH_VERDICT_OFF_PATH, proof
        assert (proof.nic, proof.other_nic) == ("mig0", "eth0")
        assert proof.other_nic_tx_bytes >= done.data_processed_bytes
        assert proof.summary == summary_of(proof) and "NOT the chosen path" in proof.summary
        flagged = await world.events(engine_pb2.EVENT_TYPE_MIGRATION_OFF_PATH)
        assert [e.migration_id for e in flagged] == [done.id]
        assert flagged[0].severity == engine_pb2.EVENT_SEVERITY_WARNING
        assert "did not leave host0 by mig0" in flagged[0].message
        assert flagged[0].attributes["other_nic"] == "eth0"
