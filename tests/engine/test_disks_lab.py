"""Guests with disks and vNICs moved by the engine on the lab (real libvirt + QEMU, the lab's
agents; root, marker `lab` through the fixtures): a shared disk migrates and its data reads back;
a local disk is copied over the migration network when the cluster's policy allows it and
refused with the engine's reason when not; a cancelled copy leaves the guest and its disk on the
source; a vNIC keeps the guest off a host without its network's bridge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from lab_engine_support import LabEngine, guests, lab_engine, new_guest
from orchestration_support import wait_for

from miglane.engine.domain.model import MIB, MigrationPolicy
from miglane.engine.domain.vm_devices import local_disk_refusal, missing_network_sentence
from miglane.lab import GuestOs, LabError
from miglane.lab.devices import disk_serial
from miglane.lab.linux import check_pattern
from miglane.v1 import common_pb2, engine_pb2

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

__all__ = ["guests"]  # the fixture, from lab_engine_support

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
CANCELLED = common_pb2.MIGRATION_PHASE_CANCELLED
MEMORY_MIB = 128
DISK_MIB = 32
# A cap slow enough that the disk copy is still under way when the test cancels it.
SLOW_MIB_PER_SECOND = 4
# What the management network may carry during a migration: libvirt's control connection,
# keepalives and the engine's calls to the agents, never the data.
LITTLE = 1 * MIB
# A vNIC network of these tests only (the session's lab is shared): bridges on host1 and host3.
VNIC_NETWORK = "eng-vnic"


def linux_guest(lab: Lab, host: str, guests: list[str], disk: str) -> tuple[str, str]:
    """A Linux guest on `host` whose disk `vda` (`disk`: "shared:SIZE", "local:SIZE") holds its
    pattern; its name and the disk's serial (the pattern's key)."""
    name = new_guest(
        lab, host, guests, MEMORY_MIB, prefix="engd", guest_os=GuestOs.LINUX, disks=[disk]
    )
    serial = disk_serial(name, "vda")
    assert check_pattern(lab.disk_image(host, name), serial) == []
    return name, serial


def tx_bytes(lab: Lab, host: str) -> dict[str, int]:
    return {nic: lab.nic_counters(host, nic).tx_bytes for nic in ("mig", "mgmt")}


async def migrate(
    engine: LabEngine,
    vm_id: str,
    destination_host_id: str = "",
    max_bandwidth_mib_per_second: int | None = None,
) -> engine_pb2.Migration:
    request = engine_pb2.MigrateVmRequest(
        vm_id=vm_id,
        destination_host_id=destination_host_id,
        max_bandwidth_mib_per_second=max_bandwidth_mib_per_second,
    )
    return (await engine.stub.MigrateVm(request)).migration


async def test_a_shared_disk_guest_migrates_with_its_data(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    source = lab_with_agents.hosts[0].name
    name, serial = linux_guest(lab, source, guests, f"shared:{DISK_MIB}M")
    image = lab.disk_image(source, name)
    async with lab_engine(tmp_path, lab, lab_with_agents) as engine:
        started = await migrate(engine, await engine.vm_id(name))
        done = await engine.wait_final(started.id)
        assert done.phase == COMPLETED, done.error
        assert done.network_id == engine.networks["migration"]
        destination = engine.name_of(done.destination_host_id)
        assert engine.where(name) == {destination} and destination != source
        assert (await engine.engine.migrations.get(started.id)).disk_total_bytes == 0
    assert lab.disk_image(destination, name) == image  # the one export both hosts use
    assert check_pattern(image, serial) == []


async def test_a_local_disk_is_copied_over_mig0_only_when_the_policy_allows(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    source = lab_with_agents.hosts[0].name
    name, serial = linux_guest(lab, source, guests, f"local:{DISK_MIB}M")
    async with lab_engine(tmp_path, lab, lab_with_agents) as engine:  # policy off by default
        vm_id = await engine.vm_id(name)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await migrate(engine, vm_id)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        cluster = await engine.engine.inventory.clusters.get_cluster(engine.cluster_id)
        record = await engine.engine.inventory.vms.get_vm(vm_id)
        assert record.local_disks
        assert refused.value.details() == local_disk_refusal(record, cluster)
        assert engine.where(name) == {source}

        policy = (
            await engine.stub.GetCluster(engine_pb2.GetClusterRequest(cluster_id=engine.cluster_id))
        ).cluster.policy
        policy.local_disk_migration = True
        await engine.stub.UpdateCluster(
            engine_pb2.UpdateClusterRequest(cluster_id=engine.cluster_id, policy=policy)
        )
        before = tx_bytes(lab, source)
        started = await migrate(engine, vm_id)
        done = await engine.wait_final(started.id)
        after = tx_bytes(lab, source)

        assert done.phase == COMPLETED, done.error
        assert done.network_id == engine.networks["migration"]
        destination = engine.name_of(done.destination_host_id)
        assert engine.where(name) == {destination}
        copied = (await engine.engine.migrations.get(started.id)).disk_total_bytes
        assert copied == DISK_MIB * MIB
    assert check_pattern(lab.disk_image(destination, name), serial) == []
    sent = {nic: after[nic] - before[nic] for nic in after}
    assert sent["mig"] >= copied, sent
    assert sent["mgmt"] < LITTLE, sent


async def test_cancel_of_a_disk_copy_leaves_the_guest_and_its_disk_on_the_source(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    source = lab_with_agents.hosts[0].name
    name, serial = linux_guest(lab, source, guests, f"local:{DISK_MIB}M")
    source_image = lab.disk_image(source, name)
    policy = MigrationPolicy(local_disk_migration=True)
    async with lab_engine(tmp_path, lab, lab_with_agents, policy) as engine:
        started = await migrate(
            engine, await engine.vm_id(name), max_bandwidth_mib_per_second=SLOW_MIB_PER_SECOND
        )
        await wait_for(
            lambda: engine.engine.migrations.get(started.id),
            lambda m: 0 < m.disk_processed_bytes < m.disk_total_bytes,
            30,
        )
        cancelled = await engine.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=started.id)
        )
        assert cancelled.migration.phase == CANCELLED
        done = await engine.wait_final(started.id)
        assert done.phase == CANCELLED
        destination = engine.name_of(done.destination_host_id)
        assert engine.where(name) == {source}
    assert check_pattern(source_image, serial) == []
    with pytest.raises(LabError):  # the destination's partial copy was removed
        lab.disk_image(destination, name)


async def test_a_vnic_keeps_the_guest_off_a_host_without_its_bridge(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    first, second, third = (host.name for host in lab_with_agents.hosts)
    lab.add_vm_network(VNIC_NETWORK, [first, third])
    name = new_guest(lab, first, guests, nics=[VNIC_NETWORK])
    sentence = missing_network_sentence(second, name, (VNIC_NETWORK,))
    async with lab_engine(tmp_path, lab, lab_with_agents) as engine:
        vm_id = await engine.vm_id(name)
        candidates = (
            await engine.stub.ListMigrationCandidates(
                engine_pb2.ListMigrationCandidatesRequest(vm_id=vm_id)
            )
        ).candidates
        by_host = {engine.name_of(c.host_id): c for c in candidates}
        assert not by_host[second].suitable and not by_host[second].manual_allowed
        assert sentence in by_host[second].rejections
        assert by_host[third].suitable

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await migrate(engine, vm_id, destination_host_id=engine.host_ids[second])
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert sentence in (refused.value.details() or "")
        assert engine.where(name) == {first}

        done = await engine.wait_final((await migrate(engine, vm_id)).id)
        assert done.phase == COMPLETED, done.error
        assert done.destination_host_id == engine.host_ids[third]
        assert engine.where(name) == {third}
