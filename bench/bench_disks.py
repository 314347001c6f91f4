"""Benchmark of a local disk's copy during a live migration, against the migration link's rate.

    .venv/bin/python bench/bench_disks.py      (root; `make bench` runs it)

Runs a 2-host lab of its own (a free slot in 10-39, claimed like the test sessions' slots, base
dir /tmp/miglane-bench-disks-lab-N) with each host's mig0 link shaped to LINK_MBIT Mbit/s and a
`miglane agent` per host, and takes it down at the end. A tiny guest (it leaves its disk
untouched) gets a 1 GiB local raw disk, filled with non-zero data before the copy so that every
byte is on the wire (a sparse image would be copied as holes). The source host's agent migrates
it with `copy_local_disks` (libvirt NON_SHARED_DISK, the disk routed over the migration
network), clear text, no bandwidth cap of its own: the shaped link is the limit. Printed: the
disk bytes the agent reported copied, the whole migration's seconds (Migrate call to COMPLETED,
memory included), the disk throughput over those seconds and its ratio to the link's rate; then
what host1's mig0 sent (disk, memory and protocol) over the same seconds, and the disk copy's
own span as the agent's progress samples saw it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field

import grpc
import libvirt

from miglane.grpctls import secure_channel
from miglane.lab import Lab, LabError, Network
from miglane.pki import CertificateAuthority, load_credentials
from miglane.testing.lab_slots import claim_lab_slot
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc, common_pb2

BENCH_LAB_BASE_PREFIX = "/tmp/miglane-bench-disks-lab-"
MIB = 1024 * 1024
LINK_MBIT = 1000
LINK_MIBPS = LINK_MBIT * 1_000_000 / 8 / MIB
DISK_MIB = 1024
GUEST_MIB = 64
FILL_CHUNK = b"\x5a" * (4 * MIB)
MIGRATION_TIMEOUT_S = 60.0
GUEST = "b-disk"
MIGRATION_ID = "bench-disk-copy"


def fill_image(path: os.PathLike[str] | str, mib: int) -> None:
    """Writes `mib` MiB of non-zero data over the whole image and flushes it to the device
    (the guest's QEMU reads with cache=none, past the page cache)."""
    with open(path, "r+b") as image:
        for _ in range(mib * MIB // len(FILL_CHUNK)):
            image.write(FILL_CHUNK)
        image.flush()
        os.fsync(image.fileno())


def agent_channel(lab: Lab, address: str, host_name: str) -> grpc.aio.Channel:
    """A channel to a lab agent with the engine's identity of the lab's CA."""
    engine = load_credentials(CertificateAuthority.open(lab.pki_dir).layout.engine)
    return secure_channel(address, engine, server_name=host_name)


def vm_uuid(libvirt_uri: str, name: str) -> str:
    conn = libvirt.open(libvirt_uri)
    try:
        return str(conn.lookupByName(name).UUIDString())
    finally:
        conn.close()


@dataclass
class DiskMigration:
    seconds: float = 0.0  # the Migrate call to the terminal status
    final: pb.MigrationProgress = field(default_factory=pb.MigrationProgress)
    disk_bytes: int = 0  # the most any sample reported copied: the completed job has no disk_*
    first_disk_at: float | None = None  # offsets of the samples seeing the copy under way ...
    disk_done_at: float | None = None  # ... and complete (agent poll interval 0.5 s)


async def migrate_with_disk(channel: grpc.aio.Channel, request: pb.MigrateRequest) -> DiskMigration:
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    result = DiskMigration()
    started = time.monotonic()
    await stub.Migrate(request, timeout=MIGRATION_TIMEOUT_S)
    watch = pb.WatchMigrationProgressRequest(migration_id=request.migration_id)
    async for item in stub.WatchMigrationProgress(watch, timeout=MIGRATION_TIMEOUT_S):
        p, at = item.progress, time.monotonic() - started
        result.final = p
        result.disk_bytes = max(result.disk_bytes, p.disk_processed_bytes)
        if p.disk_processed_bytes and result.first_disk_at is None:
            result.first_disk_at = at
        done = p.disk_total_bytes and p.disk_processed_bytes >= p.disk_total_bytes
        if done and result.disk_done_at is None:
            result.disk_done_at = at
    result.seconds = time.monotonic() - started
    return result


async def measure(lab: Lab) -> int:
    status = lab.up(hosts=2, mig_mbit=LINK_MBIT, agents=True)
    h1, h2 = status.hosts[0], status.hosts[1]
    if not h1.agent_addr:
        print("bench_disks: the lab's agents are not running")
        return 1
    lab.create_vm(h1.name, GUEST, GUEST_MIB, disks=[f"local:{DISK_MIB}M"])
    fill_image(lab.disk_image(h1.name, GUEST), DISK_MIB)
    request = pb.MigrateRequest(
        migration_id=MIGRATION_ID,
        vm_id=vm_uuid(h1.libvirt_uri, GUEST),
        live=pb.LiveTarget(dst=h2.peer_uri, migration_uri=h2.migration_uri),
        copy_local_disks=True,
    )
    sent_before = lab.nic_counters(h1.name, Network.MIG).tx_bytes
    channel = agent_channel(lab, h1.agent_addr, h1.name)
    try:
        job = await migrate_with_disk(channel, request)
    finally:
        await channel.close(None)
    sent = (lab.nic_counters(h1.name, Network.MIG).tx_bytes - sent_before) / MIB
    final, seconds = job.final, job.seconds
    if final.phase != common_pb2.MIGRATION_PHASE_COMPLETED:
        phase = common_pb2.MigrationPhase.Name(final.phase)
        print(f"bench_disks: the migration ended {phase}: {final.error}")
        return 1
    disk_mib = job.disk_bytes / MIB
    rate = disk_mib / seconds
    print(
        f"local disk copy, {disk_mib:.0f} MiB over mig0 shaped to {LINK_MBIT} Mbit/s: "
        f"{seconds:.1f} s, {rate:.1f} MiB/s = {rate / LINK_MIBPS:.2f} of the link "
        f"({LINK_MIBPS:.1f} MiB/s; {GUEST_MIB} MiB tiny guest, memory included in the time)"
    )
    print(
        f"  mig0 of {h1.name} sent {sent:.0f} MiB (disk, memory, protocol): "
        f"{sent / seconds:.1f} MiB/s = {sent / seconds / LINK_MIBPS:.2f} of the link"
    )
    if job.first_disk_at is not None and job.disk_done_at is not None:
        sampled = job.disk_done_at - job.first_disk_at
        print(
            f"  disk copy as sampled by the agent: under way at {job.first_disk_at:.1f} s, "
            f"complete at {job.disk_done_at:.1f} s: {sampled:.1f} s, "
            f"{disk_mib / sampled:.1f} MiB/s = {disk_mib / sampled / LINK_MIBPS:.2f} of the link "
            "(+-0.5 s per end)"
        )
    lab.destroy_vm(h2.name, GUEST)
    return 0


def main() -> int:
    if os.geteuid() != 0:
        print("bench_disks: needs root (the lab creates namespaces, bridges and daemons)")
        return 1
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    with claim_lab_slot(BENCH_LAB_BASE_PREFIX) as (slot, base):
        lab = Lab(base, slot=slot)
        try:
            lab.down()  # whatever a crashed run left in this slot
            return asyncio.run(measure(lab))
        except (LabError, libvirt.libvirtError, grpc.aio.AioRpcError) as exc:
            print(f"bench_disks: {exc}")
            return 1
        finally:
            lab.down(purge=True)


if __name__ == "__main__":
    sys.exit(main())
