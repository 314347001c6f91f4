"""Agent benchmark: progress latency and CPU per running migration (fake hypervisor, then libvirt).

Fake section (in-process agents over the fake driver), each with a baseline measured in the run:
- a bare unary gRPC round trip to the agent (GetMigrationStatus), the baseline;
- progress latency: from the moment the driver returned a job-statistics sample to the moment
  a WatchMigrationProgress client holds it (poll interval 0.5 s, as in production);
- agent CPU per running migration: process CPU while agents watch N migrations, minus the
  same agents idle, per migration.

Libvirt section (root only): a 2-host lab of its own (a free slot in 10-39, claimed with the
same lock files as the test sessions, base dir /tmp/miglane-bench-agent-lab-N) with a real
`miglane agent` process per host (libvirt driver, poll interval 0.5 s). A 256 MiB guest migrates
host1 -> host2 at 32 MiB/s, then back host2 -> host1 (each ~8 s). For each streamed sample:
`observed_at` (the agent's time.time() right after libvirt returned the job stats) to the
client's time.time() on receipt - one machine, both CLOCK_REALTIME. Baseline: unary
GetMigrationStatus round trips to the same agent in the same run. CPU: psutil on the source
agent's process, while its migration runs minus idle. The lab is taken down at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.grpctls import secure_channel
from miglane.pki import CertificateAuthority, load_credentials
from miglane.testing.lab_slots import claim_lab_slot
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc, common_pb2

if TYPE_CHECKING:
    from miglane.lab import Lab

MIB = 1024**2
BENCH_LAB_BASE_PREFIX = "/tmp/miglane-bench-agent-lab-"
LIBVIRT_VM_MIB = 256
LIBVIRT_CAP_MIBPS = 32


def stub(agent: FakeAgent) -> agent_pb2_grpc.AgentServiceStub:
    return agent_pb2_grpc.AgentServiceStub(agent.channel())


def request(src: FakeAgent, dst: FakeAgent, vm: int, mid: str, mibps: int) -> pb.MigrateRequest:
    return pb.MigrateRequest(
        migration_id=mid,
        vm_id=src.vm_ids[vm],
        live=pb.LiveTarget(dst=dst.peer_uri, migration_uri="tcp://10.1.0.9"),
        max_bandwidth_mib_per_second=mibps,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def unary_baseline(agent: FakeAgent, mid: str, n: int = 500) -> list[float]:
    s = stub(agent)
    req = pb.GetMigrationStatusRequest(migration_id=mid)
    await s.GetMigrationStatus(req)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        await s.GetMigrationStatus(req)
        times.append(time.perf_counter() - t)
    return times


async def progress_latency(seconds: float = 10.0) -> tuple[list[float], list[float]]:
    _, agents = await start_fake_agents(2, 1, vm_memory_mib=64 * 1024, poll_interval=0.5)
    a, b = agents
    sampled: dict[int, float] = {}
    job_stats = a.driver.job_stats

    def timed_job_stats(vm_id: str):  # type: ignore[no-untyped-def]
        stats = job_stats(vm_id)
        if stats is not None:
            sampled[stats.data_processed] = time.perf_counter()
        return stats

    a.driver.job_stats = timed_job_stats  # type: ignore[method-assign]
    latencies = []
    try:
        await stub(a).Migrate(request(a, b, 0, "lat", 64))
        baseline = await unary_baseline(a, "lat")
        deadline = time.monotonic() + seconds
        call = stub(a).WatchMigrationProgress(pb.WatchMigrationProgressRequest(migration_id="lat"))
        first = True
        async for item in call:
            received = time.perf_counter()
            at = sampled.get(item.progress.data_processed_bytes)
            if first:  # the current status, sampled before the client subscribed
                first = False
            elif at is not None and item.progress.data_processed_bytes:
                latencies.append(received - at)
            if time.monotonic() > deadline:
                call.cancel()
                break
        await stub(a).MigrateCancel(pb.MigrateCancelRequest(migration_id="lat"))
    finally:
        await stop_fake_agents(agents, grace=0)
    return baseline, latencies


async def cpu_per_migration(hosts: int = 10, per_host: int = 2, seconds: float = 5.0) -> None:
    _, agents = await start_fake_agents(
        hosts, per_host, vm_memory_mib=64 * 1024, poll_interval=0.5, max_outgoing=per_host
    )
    try:
        await asyncio.sleep(0.5)
        c0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        idle = (time.process_time() - c0) / (time.monotonic() - t0)
        for i, agent in enumerate(agents):
            for k in range(per_host):
                dst = agents[(i + 1) % hosts]
                await stub(agent).Migrate(request(agent, dst, k, f"{agent.name}-{k}", 32))
        await asyncio.sleep(0.5)
        c0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        busy = (time.process_time() - c0) / (time.monotonic() - t0)
        n = hosts * per_host
        per = (busy - idle) / n
        print(
            f"CPU of {hosts} agents, idle:                 {idle * 100:6.2f} % of a core (baseline)"
        )
        print(f"CPU of {hosts} agents, {n} migrations running: {busy * 100:6.2f} % of a core")
        print(
            f"agent CPU per running migration:          {per * 100:6.3f} % of a core "
            f"({per * 1000:.2f} ms CPU per second; poll interval 0.5 s)"
        )
        print(f"ratio busy/idle: {busy / idle if idle else float('inf'):.1f}x")
    finally:
        await stop_fake_agents(agents, grace=0)


async def main() -> int:
    baseline, latencies = await progress_latency()
    b50, b95 = statistics.median(baseline) * 1e3, pct(baseline, 0.95) * 1e3
    print(
        f"unary gRPC round trip (baseline):   median {b50:6.3f} ms  p95 {b95:6.3f} ms "
        f"({len(baseline)} calls)"
    )
    if not latencies:
        print("no progress sample reached the stream client")
        return 1
    l50, l95 = statistics.median(latencies) * 1e3, pct(latencies, 0.95) * 1e3
    print(
        f"progress latency sample->client:    median {l50:6.3f} ms  p95 {l95:6.3f} ms "
        f"({len(latencies)} samples)"
    )
    print(f"ratio latency/round trip: median {l50 / b50:.2f}x  p95 {l95 / b95:.2f}x")
    await cpu_per_migration()
    print()
    return await libvirt_section()


# -- libvirt ---------------------------------------------------------------------------------


def observed(progress: pb.MigrationProgress) -> float:
    return progress.observed_at.seconds + progress.observed_at.nanos / 1e9


def vm_uuid(libvirt_uri: str, name: str) -> str:
    from miglane.agent.libvirt_driver import LibvirtDriver

    driver = LibvirtDriver(libvirt_uri)
    try:
        return next(d.id for d in driver.list_domains() if d.name == name)
    finally:
        driver.close()


def cpu_seconds(process) -> float:  # type: ignore[no-untyped-def]
    times = process.cpu_times()
    return float(times.user + times.system)


def lab_agent_channel(pki_dir: Path, address: str, host_name: str) -> grpc.aio.Channel:
    """A channel to a lab agent with the engine's identity of the lab's CA."""
    engine = load_credentials(CertificateAuthority.open(pki_dir).layout.engine)
    return secure_channel(address, engine, server_name=host_name)


async def libvirt_migration(
    channel: grpc.aio.Channel, agent_pid: int, req: pb.MigrateRequest, idle_s: float = 3.0
) -> tuple[list[float], float, float, float, int]:
    """Runs one migration through the agent on `channel` (closed after); returns the latencies
    of its streamed samples, the agent's idle and busy CPU (fraction of a core), the copy's
    seconds and phase."""
    import psutil

    process = psutil.Process(agent_pid)
    c0, t0 = cpu_seconds(process), time.monotonic()
    await asyncio.sleep(idle_s)
    idle = (cpu_seconds(process) - c0) / (time.monotonic() - t0)
    s = agent_pb2_grpc.AgentServiceStub(channel)
    latencies: list[float] = []
    last_phase = 0
    try:
        c0, t0 = cpu_seconds(process), time.monotonic()
        await s.Migrate(req, timeout=60)
        call = s.WatchMigrationProgress(
            pb.WatchMigrationProgressRequest(migration_id=req.migration_id), timeout=120
        )
        first, seen = True, set()
        async for item in call:
            received = time.time()
            p = item.progress
            last_phase = p.phase
            at = observed(p)
            if first:  # the current status, sampled before the client subscribed
                first = False
                seen.add(at)
                continue
            # only samples of the running job; a republish (e.g. new max downtime) keeps the
            # sample's observed_at, the terminal status is stamped before the final stats call
            if p.phase == common_pb2.MIGRATION_PHASE_RUNNING and at not in seen:
                latencies.append(received - at)
            seen.add(at)
        seconds = time.monotonic() - t0
        busy = (cpu_seconds(process) - c0) / seconds
    finally:
        await channel.close(None)
    return latencies, idle, busy, seconds, last_phase


async def unary_baseline_at(channel: grpc.aio.Channel, mid: str, n: int = 500) -> list[float]:
    try:
        s = agent_pb2_grpc.AgentServiceStub(channel)
        req = pb.GetMigrationStatusRequest(migration_id=mid)
        await s.GetMigrationStatus(req)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            await s.GetMigrationStatus(req)
            times.append(time.perf_counter() - t)
        return times
    finally:
        await channel.close(None)


async def libvirt_section() -> int:
    print("-- libvirt driver (lab) --")
    if os.geteuid() != 0:
        print(
            "libvirt section skipped: the lab needs root (network namespaces, bridges, "
            "libvirtd); run this bench as root"
        )
        return 0
    try:
        from miglane.lab import Lab, LabError
    except ImportError as exc:
        print(f"libvirt section skipped: the lab package is not installed ({exc})")
        return 0
    with claim_lab_slot(BENCH_LAB_BASE_PREFIX) as (slot, base):
        lab = Lab(base, slot=slot)
        try:
            lab.down()  # whatever a crashed run left in this slot
            t = time.monotonic()
            try:
                lab.up(hosts=2, agents=True)
            except LabError as exc:
                print(f"libvirt section skipped: the lab could not start: {exc}")
                return 0
            print(f"lab up in slot {slot} ({base}) in {time.monotonic() - t:.1f} s")
            return await libvirt_measure(lab, LabError)
        finally:
            lab.down()
            print(f"lab in slot {slot} down")


async def libvirt_measure(lab: Lab, lab_error: type[Exception]) -> int:
    status = lab.status()
    h1, h2 = status.hosts[0], status.hosts[1]
    if not (h1.agent_addr and h2.agent_addr and h1.agent_pid and h2.agent_pid):
        print("libvirt section: the lab's agents are not running")
        return 1
    name = "bench-lat"
    lab.create_vm(h1.name, name, memory_mib=LIBVIRT_VM_MIB)
    uuid = vm_uuid(h1.libvirt_uri, name)
    legs = [
        (h1, h2, "lv-there"),
        (h2, h1, "lv-back"),
    ]
    latencies: list[float] = []
    per_migration: list[float] = []
    baseline: list[float] = []
    for src, dst, mid in legs:
        assert src.agent_addr and src.agent_pid
        req = pb.MigrateRequest(
            migration_id=mid,
            vm_id=uuid,
            live=pb.LiveTarget(dst=dst.peer_uri, migration_uri=dst.migration_uri),
            max_bandwidth_mib_per_second=LIBVIRT_CAP_MIBPS,
        )
        lat, idle, busy, seconds, phase = await libvirt_migration(
            lab_agent_channel(lab.pki_dir, src.agent_addr, src.name), src.agent_pid, req
        )
        phase_name = common_pb2.MigrationPhase.Name(phase)
        print(
            f"{src.name} -> {dst.name}: {LIBVIRT_VM_MIB} MiB at {LIBVIRT_CAP_MIBPS} MiB/s, "
            f"{seconds:.1f} s, {phase_name}, {len(lat)} samples streamed"
        )
        if phase != common_pb2.MIGRATION_PHASE_COMPLETED:
            print(f"libvirt migration {mid} did not complete")
            return 1
        latencies += lat
        per_migration.append(busy - idle)
        print(
            f"  agent CPU idle {idle * 100:6.3f} % of a core, migrating {busy * 100:6.3f} % "
            f"-> {(busy - idle) * 100:6.3f} % per running libvirt migration"
        )
        channel = lab_agent_channel(lab.pki_dir, src.agent_addr, src.name)
        baseline += await unary_baseline_at(channel, mid)
    with contextlib.suppress(lab_error):
        lab.destroy_vm(h1.name, name)
    b50, b95 = statistics.median(baseline) * 1e3, pct(baseline, 0.95) * 1e3
    print(
        f"unary gRPC round trip (baseline):   median {b50:6.3f} ms  p95 {b95:6.3f} ms "
        f"({len(baseline)} calls, client in the root namespace -> agent in the host's)"
    )
    if not latencies:
        print("no libvirt progress sample reached the stream client")
        return 1
    l50, l95 = statistics.median(latencies) * 1e3, pct(latencies, 0.95) * 1e3
    lmax = max(latencies) * 1e3
    print(
        f"progress latency libvirt sample->client: p50 {l50:6.3f} ms  p95 {l95:6.3f} ms  "
        f"max {lmax:6.3f} ms ({len(latencies)} samples; observed_at -> receipt, CLOCK_REALTIME)"
    )
    print(
        f"ratio latency/round trip: p50 {l50 / b50:.2f}x  p95 {l95 / b95:.2f}x  "
        f"max/p95 round trip {lmax / b95:.2f}x"
    )
    per = statistics.mean(per_migration)
    print(
        f"agent CPU per running libvirt migration: {per * 100:6.3f} % of a core "
        f"({per * 1000:.2f} ms CPU per second; poll interval 0.5 s; mean of {len(per_migration)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
