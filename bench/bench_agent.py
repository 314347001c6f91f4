"""Agent benchmark: progress latency and CPU per running migration (fake hypervisor).

Prints, each with a baseline measured in the same run:
- a bare unary gRPC round trip to the agent (GetMigrationStatus), the baseline;
- progress latency: from the moment the driver returned a job-statistics sample to the moment
  a WatchMigrationProgress client holds it (poll interval 0.5 s, as in production);
- agent CPU per running migration: process CPU while agents watch N migrations, minus the
  same agents idle, per migration.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import grpc

from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc, common_pb2

MIB = 1024**2


def stub(agent: FakeAgent) -> agent_pb2_grpc.AgentServiceStub:
    return agent_pb2_grpc.AgentServiceStub(grpc.aio.insecure_channel(agent.address))


def request(src: FakeAgent, dst: FakeAgent, vm: int, mid: str, mibps: int) -> pb.MigrateRequest:
    return pb.MigrateRequest(
        migration_id=mid,
        vm_id=src.vm_ids[vm],
        dst=dst.peer_uri,
        migration_uri="tcp://10.1.0.9",
        mode=common_pb2.MIGRATION_MODE_LIVE,
        max_bandwidth_mibps=mibps,
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
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
