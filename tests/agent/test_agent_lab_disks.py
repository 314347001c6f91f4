"""Guests with disks migrate through the agent over real libvirt + QEMU (root; marker `lab`
through the fixture): a local disk is copied over the migration network with its data intact,
or refused when the request does not allow the copy; a shared disk is not copied; a cancelled
copy leaves the guest and its disk on the source and nothing on the destination."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from agent_support import agent_stub, unique_name, watch_progress
from test_agent_lab import LabAgent, lab_agent

from miglane.agent.domain.model import MIB
from miglane.agent.domain.validation import COPY_LOCAL_DISKS_FIELD
from miglane.lab import LabError
from miglane.lab.devices import disk_serial
from miglane.lab.linux import check_pattern
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import common_pb2
from miglane.v1.rich_errors import error_details

__all__ = ["lab_agent"]  # the fixture, shared with test_agent_lab

pytestmark = pytest.mark.usefixtures("agent_channels")

Phase = common_pb2.MigrationPhase
MEMORY_MIB = 128
DISK_MIB = 32
DIRTY_MIB = 8
# What the management network may carry during a migration: libvirt's control connection
# and keepalives, never the data.
LITTLE = 1 * MIB


def linux_guest(la: LabAgent, disk: str, dirty_mib: int = 0) -> str:
    name = unique_name("agd")
    la.lab.create_vm(la.h1.name, name, MEMORY_MIB, dirty_mib, guest_os="linux", disks=[disk])
    la.vms.append(name)
    return name


def tx_bytes(la: LabAgent) -> dict[str, int]:
    return {nic: la.lab.nic_counters(la.h1.name, nic).tx_bytes for nic in ("mig", "mgmt")}


async def test_a_local_disk_is_copied_over_the_migration_network(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = linux_guest(la, f"local:{DISK_MIB}M", dirty_mib=DIRTY_MIB)
    serial = disk_serial(name, "vda")
    source_image = la.lab.disk_image(la.h1.name, name)
    assert check_pattern(source_image, serial) == []

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agent_stub(la.target).Migrate(la.request(name, "no-copy", 64))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = error_details(refused.value.trailing_metadata()).field_violations
    assert [field for field, _ in violations] == [COPY_LOCAL_DISKS_FIELD]
    assert "vda" in refused.value.details()
    assert la.where(name) == {la.h1.name}

    before = tx_bytes(la)
    request = la.request(name, "copy", 64, copy_local_disks=True, encrypted=True)
    await agent_stub(la.target).Migrate(request)
    samples = await watch_progress(la.target, "copy", 60)
    after = tx_bytes(la)

    final = samples[-1]
    assert final.phase == Phase.MIGRATION_PHASE_COMPLETED, final.error
    assert la.where(name) == {la.h2.name}
    assert final.disk_total_bytes == DISK_MIB * MIB
    percents = [s.progress_percent for s in samples]
    assert percents == sorted(percents) and percents[-1] == 100
    assert check_pattern(la.lab.disk_image(la.h2.name, name), serial) == []
    # the disk and the memory the guest dirtied went over mig0, nothing of them over mgmt0
    # (QEMU sends a page never written as a few bytes, so the guest's whole memory is not
    # on the wire)
    assert after["mig"] - before["mig"] >= final.disk_total_bytes + DIRTY_MIB * MIB
    assert after["mgmt"] - before["mgmt"] < LITTLE


async def test_a_shared_disk_is_not_copied(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = linux_guest(la, f"shared:{DISK_MIB}M")
    image = la.lab.disk_image(la.h1.name, name)
    await agent_stub(la.target).Migrate(la.request(name, "shared", 64))
    samples = await watch_progress(la.target, "shared", 60)
    assert samples[-1].phase == Phase.MIGRATION_PHASE_COMPLETED, samples[-1].error
    assert all(s.disk_total_bytes == 0 for s in samples)
    assert la.where(name) == {la.h2.name}
    assert la.lab.disk_image(la.h2.name, name) == image  # the one export both hosts use
    assert check_pattern(image, disk_serial(name, "vda")) == []


async def until_disk_copy(la: LabAgent, mid: str, timeout: float = 30) -> None:
    """Returns while the disk is being copied: some of it sent, some left."""
    request = pb.GetMigrationStatusRequest(migration_id=mid)
    async with asyncio.timeout(timeout):
        while True:
            progress = (await agent_stub(la.target).GetMigrationStatus(request)).progress
            assert progress.phase == Phase.MIGRATION_PHASE_RUNNING, progress.error
            if 0 < progress.disk_processed_bytes < progress.disk_total_bytes:
                return
            await asyncio.sleep(0.05)


async def test_cancel_of_a_disk_copy_leaves_the_guest_and_its_disk_on_the_source(
    lab_agent: LabAgent,
) -> None:
    la = lab_agent
    name = linux_guest(la, f"local:{DISK_MIB}M")
    serial = disk_serial(name, "vda")
    source_image = la.lab.disk_image(la.h1.name, name)
    await agent_stub(la.target).Migrate(la.request(name, "cancel", 4, copy_local_disks=True))
    await until_disk_copy(la, "cancel")

    await agent_stub(la.target).MigrateCancel(pb.MigrateCancelRequest(migration_id="cancel"))
    samples = await watch_progress(la.target, "cancel", 30)

    assert samples[-1].phase == Phase.MIGRATION_PHASE_CANCELLED
    assert la.where(name) == {la.h1.name}
    assert check_pattern(source_image, serial) == []
    with pytest.raises(LabError):  # the destination's partial copy was removed
        la.lab.disk_image(la.h2.name, name)
