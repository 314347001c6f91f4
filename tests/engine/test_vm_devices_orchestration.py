"""A VM's disks and vNICs through a real engine over fake-driver agents: inventory, the
scheduler's vNIC network rule for automatic and manual migrations, the local-disk policy and
the disk copy on the migration address, and an evacuation of shared, local and vNIC VMs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import pytest
from orchestration_support import World, orchestrated, wait_for

from miglane.agent.domain.model import DiskKind as AgentDiskKind
from miglane.agent.domain.model import Nic
from miglane.agent.domain.model import VmDisk as AgentVmDisk
from miglane.agent.domain.model import VmNic as AgentVmNic
from miglane.agent.testing import default_nics
from miglane.engine.agent_client import AgentClients
from miglane.engine.domain.model import MIB, MigrationPolicy
from miglane.engine.domain.progress import JobSample, MigrateCall
from miglane.engine.domain.vm_devices import (
    GIB,
    local_disk_refusal,
    missing_network_sentence,
)
from miglane.v1 import common_pb2, engine_pb2

pytestmark = pytest.mark.both_store_backends

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
NETWORK = "prod-vlan"
LOCAL_DISK = AgentVmDisk("vda", AgentDiskKind.LOCAL, 64 * MIB, "qcow2", "/images/db1-vda.qcow2")
SHARED_DISK = AgentVmDisk("vda", AgentDiskKind.SHARED, GIB, "raw", "nbd://10.0.0.250/vda")


def bridges_on(*indexes: int) -> Callable[[int], Sequence[Nic]]:
    """Hosts `indexes` (0-based) have a bridge named NETWORK besides their default NICs."""

    def nics(index: int) -> list[Nic]:
        found = default_nics(index)
        if index in indexes:
            found.append(Nic(NETWORK, f"52:54:00:02:00:{index:02x}", (), True, 10000, 1500))
        return found

    return nics


async def get_vm(world: World, vm_id: str) -> engine_pb2.Vm:
    return (await world.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id))).vm


async def wait_vm(world: World, host: int, name: str) -> engine_pb2.Vm:
    async def listed() -> list[engine_pb2.Vm]:
        reply = await world.stub.ListVms(engine_pb2.ListVmsRequest(host_id=world.host_ids[host]))
        return [vm for vm in reply.vms if vm.name == name]

    [vm] = await wait_for(listed, lambda found: bool(found))
    return vm


async def test_inventory_shows_disks_and_vnic_networks(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=0) as world:
        world.agents[0].host.add_domain(
            "web1",
            memory_mib=512,
            disks=(SHARED_DISK,),
            nics=(AgentVmNic(NETWORK, "52:54:00:aa:00:01"),),
        )
        listed = await wait_vm(world, 0, "web1")
        [disk] = listed.disks
        assert (disk.target, disk.kind, disk.size_bytes, disk.format, disk.source) == (
            SHARED_DISK.target,
            common_pb2.DISK_KIND_SHARED,
            SHARED_DISK.size_bytes,
            SHARED_DISK.format,
            SHARED_DISK.source,
        )
        assert [(n.network, n.mac) for n in listed.nics] == [(NETWORK, "52:54:00:aa:00:01")]
        got = await get_vm(world, listed.id)
        assert list(got.disks) == list(listed.disks) and list(got.nics) == list(listed.nics)


async def test_scheduler_skips_a_host_without_the_vnic_network(tmp_path: Path) -> None:
    # host1 lacks the bridge, host2 has it.
    async with orchestrated(tmp_path, hosts=3, vms_per_host=0, nics=bridges_on(0, 2)) as world:
        world.agents[0].host.add_domain(
            "web1", memory_mib=512, nics=(AgentVmNic(NETWORK, "52:54:00:aa:00:01"),)
        )
        web1 = await wait_vm(world, 0, "web1")
        sentence = missing_network_sentence("host1", "web1", (NETWORK,))

        candidates = (
            await world.stub.ListMigrationCandidates(
                engine_pb2.ListMigrationCandidatesRequest(vm_id=web1.id)
            )
        ).candidates
        by_host = {c.host_id: c for c in candidates}
        assert not by_host[world.host_ids[1]].suitable
        assert sentence in list(by_host[world.host_ids[1]].rejections)
        assert not by_host[world.host_ids[1]].manual_allowed
        assert by_host[world.host_ids[2]].suitable

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await world.stub.MigrateVm(
                engine_pb2.MigrateVmRequest(vm_id=web1.id, destination_host_id=world.host_ids[1])
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert sentence in (refused.value.details() or "")

        migration = (
            await world.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=web1.id))
        ).migration
        done = await world.wait_final(migration.id)
        assert done.phase == COMPLETED, done
        assert done.destination_host_id == world.host_ids[2]


async def test_local_disk_vm_refused_by_default(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=0) as world:
        world.agents[0].host.add_domain("db1", memory_mib=512, disks=(LOCAL_DISK,))
        db1 = await wait_vm(world, 0, "db1")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await world.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=db1.id))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        cluster = await world.engine.inventory.clusters.get_cluster(world.cluster_id)
        record = await world.engine.inventory.vms.get_vm(db1.id)
        assert record.local_disks and refused.value.details() == local_disk_refusal(record, cluster)


async def test_local_disk_vm_copied_over_the_migration_address_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[MigrateCall] = []
    original = AgentClients.migrate

    async def recording(self: AgentClients, address: str, call: MigrateCall) -> JobSample:
        calls.append(call)
        return await original(self, address, call)

    monkeypatch.setattr(AgentClients, "migrate", recording)
    policy = MigrationPolicy(local_disk_migration=True)
    async with orchestrated(tmp_path, hosts=2, vms_per_host=0, policy=policy) as world:
        world.agents[0].host.add_domain("db1", memory_mib=512, disks=(LOCAL_DISK,))
        db1 = await wait_vm(world, 0, "db1")
        migration = (
            await world.stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=db1.id))
        ).migration
        done = await world.wait_final(migration.id)
        assert done.phase == COMPLETED, done
        [call] = calls
        assert call.copy_local_disks
        assert call.disks_uri == done.migration_uri and done.migration_uri.startswith("tcp://10.1.")
        # The copy counts: data moved is memory and disk.
        assert done.data_total_bytes == 512 * MIB + LOCAL_DISK.size_bytes
        record = await world.engine.migrations.get(migration.id)
        assert record.disk_total_bytes == LOCAL_DISK.size_bytes


async def test_evacuation_moves_all_three_kinds_and_reports_the_rest(tmp_path: Path) -> None:
    # host0 is evacuated; host1 lacks the bridge, host2 has it. Local disks may be copied.
    policy = MigrationPolicy(local_disk_migration=True)
    async with orchestrated(
        tmp_path, hosts=3, vms_per_host=0, nics=bridges_on(0, 2), policy=policy
    ) as world:
        host = world.agents[0].host
        nic = AgentVmNic(NETWORK, "52:54:00:aa:00:01")
        host.add_domain("shared1", memory_mib=512, disks=(SHARED_DISK,))
        host.add_domain("local1", memory_mib=512, disks=(LOCAL_DISK,))
        host.add_domain("web1", memory_mib=512, nics=(nic,))
        host.add_domain("dmz1", memory_mib=512, nics=(AgentVmNic("dmz", "52:54:00:aa:00:02"),))
        for name in ("shared1", "local1", "web1", "dmz1"):
            await wait_vm(world, 0, name)

        reply = await world.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=world.host_ids[0], enabled=True)
        )
        [unplaced] = reply.unplaced
        assert unplaced.vm_name == "dmz1"
        assert missing_network_sentence("host1", "dmz1", ("dmz",)) in unplaced.reason
        assert len(reply.migrations) == 3
        finished = [await world.wait_final(m.id) for m in reply.migrations]
        assert all(m.phase == COMPLETED for m in finished), finished
        by_name = {m.vm_name: m.destination_host_id for m in finished}
        assert set(by_name) == {"shared1", "local1", "web1"}
        assert by_name["web1"] == world.host_ids[2]
