"""Does the TUI keep up with 500 live migrations?

An in-memory engine streams progress for N migrations (each updated R times a second) for S
seconds, twice in the same run:

- baseline: the same stream consumed into the TUI's `MigrationBoard` without any rendering;
- tui: the real App, headless at 160x50 on the Migrations view, fed by its own worker.

Printed for each: updates produced, CPU (share of one core, whole process, producer included),
and lag from an update's production to the screen that shows it (for the baseline: to its
application). Lag stays bounded when the TUI keeps up; coalescing shows as fewer row redraws
than updates.

    .venv/bin/python bench/bench_tui.py [--migrations 500] [--rate 2] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from miglane.tui.app import MiglaneApp
from miglane.tui.models import MigrationBoard
from miglane.tui.testing import FakeEngineClient
from miglane.v1 import common_pb2, engine_pb2

MIB = 1024 * 1024


@dataclass
class Run:
    name: str
    produced: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    lags_s: list[float] = field(default_factory=list)
    redraws: int = 0
    drain_s: float = 0.0

    def report(self) -> str:
        lags = sorted(self.lags_s) or [0.0]
        p50 = statistics.median(lags)
        p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
        cpu = 100 * self.cpu_s / self.wall_s if self.wall_s else 0.0
        redraws = f"  row batches {self.redraws:6d}" if self.redraws else ""
        return (
            f"{self.name:9s} updates {self.produced:6d} ({self.produced / self.wall_s:6.0f}/s)  "
            f"CPU {cpu:5.1f}%  lag p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
            f"max {lags[-1] * 1000:7.1f} ms  drain {self.drain_s * 1000:6.0f} ms{redraws}"
        )


def build_engine(migrations: int) -> FakeEngineClient:
    """One cluster, 20 hosts, one VM per migration; migrations running between neighbours."""
    fake = FakeEngineClient("fake://bench")
    cluster = fake.add_cluster("bench")
    mgmt = fake.add_network(
        cluster, "mgmt", "10.0.0.0/16", required=True, roles=(common_pb2.NETWORK_ROLE_MANAGEMENT,)
    )
    mig = fake.add_network(
        cluster, "migration", "10.1.0.0/16", roles=(common_pb2.NETWORK_ROLE_MIGRATION,)
    )
    hosts = [
        fake.add_host(
            cluster,
            f"h{i:02d}",
            memory_mib=1 << 20,
            nics=(
                (mgmt, "eth0", f"10.0.0.{i + 1}", True, 10000),
                (mig, "eth1", f"10.1.0.{i + 1}", True, 10000),
            ),
        )
        for i in range(20)
    ]
    for n in range(migrations):
        source, destination = hosts[n % 20], hosts[(n + 1) % 20]
        vm = fake.add_vm(source, f"vm{n:04d}", 4096)
        migration = engine_pb2.Migration(
            id=f"m{n:04d}",
            vm_id=vm.id,
            vm_name=vm.name,
            cluster_id=cluster.id,
            source_host_id=source.id,
            destination_host_id=destination.id,
            phase=common_pb2.MIGRATION_PHASE_RUNNING,
            data_total_bytes=4096 * MIB,
            data_remaining_bytes=4096 * MIB,
            network_id=mig.id,
            fallback_reason=common_pb2.FALLBACK_REASON_UNSPECIFIED,
            max_bandwidth_mib_per_second=100,
        )
        migration.created_at.FromSeconds(1767258000 + n)
        fake.migrations[migration.id] = migration
    return fake


class Producer:
    """Updates every migration `rate` times a second for `seconds`, in even slices; notes when
    each (migration, iteration) was produced. `iteration` counts the updates."""

    def __init__(self, fake: FakeEngineClient, rate: float, seconds: float) -> None:
        self.fake = fake
        self.rate = rate
        self.seconds = seconds
        self.produced_at: dict[tuple[str, int], float] = {}
        self.count = 0

    async def run(self) -> None:
        """Keeps to the rate by the clock: a slice that wakes late sends what is due, as an
        engine in another process would have sent it meanwhile."""
        ids = list(self.fake.migrations)
        per_second = len(ids) * self.rate
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < self.seconds:
            due = int(per_second * elapsed) - self.count
            for _ in range(due):
                self._update(ids[self.count % len(ids)])
            await asyncio.sleep(0.02)

    def _update(self, migration_id: str) -> None:
        update = engine_pb2.Migration()
        update.CopyFrom(self.fake.migrations[migration_id])
        update.iteration += 1
        update.progress_percent = min(99, update.iteration % 100)
        update.data_processed_bytes += 50 * MIB
        update.data_remaining_bytes = max(0, update.data_remaining_bytes - 50 * MIB)
        update.throughput_bytes_per_second = 100 * MIB
        update.dirty_rate_bytes_per_second = 8 * MIB
        update.eta.FromSeconds(30)
        self.produced_at[(migration_id, update.iteration)] = time.perf_counter()
        self.fake.put_migration(update)
        self.count += 1


async def baseline(migrations: int, rate: float, seconds: float) -> Run:
    fake = build_engine(migrations)
    producer = Producer(fake, rate, seconds)
    board = MigrationBoard()
    run = Run("baseline")
    last_produced: dict[str, int] = {}

    async def consume() -> None:
        complete = False
        async for response in fake.watch_migrations():
            if not complete:
                complete = response.snapshot_complete
                continue
            shown = board.apply(response.migration)
            key = (shown.id, response.migration.iteration)
            run.lags_s.append(time.perf_counter() - producer.produced_at[key])
            last_produced[shown.id] = response.migration.iteration

    consumer = asyncio.get_running_loop().create_task(consume())
    await asyncio.sleep(0.2)
    cpu, wall = time.process_time(), time.perf_counter()
    await producer.run()
    drain_start = time.perf_counter()
    while any(last_produced.get(m.id, 0) < m.iteration for m in fake.migrations.values()):
        await asyncio.sleep(0.005)
    run.drain_s = time.perf_counter() - drain_start
    run.cpu_s, run.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    run.produced = producer.count
    consumer.cancel()
    return run


class MeasuredApp(MiglaneApp):
    """The App, with each batch of redrawn rows timed from production to the next screen."""

    produced_at: dict[tuple[str, int], float]
    on_lag: Callable[[float], None]
    batches = 0

    def _flush_migrations(self) -> None:
        dirty = list(self._dirty_migrations)
        super()._flush_migrations()
        if not dirty:
            return
        self.batches += 1
        oldest = min(
            self.produced_at.get((m, self.board.get(m).iteration), time.perf_counter())  # type: ignore[union-attr]
            for m in dirty
        )
        self.call_after_refresh(lambda: self.on_lag(time.perf_counter() - oldest))


async def tui(migrations: int, rate: float, seconds: float) -> Run:
    fake = build_engine(migrations)
    producer = Producer(fake, rate, seconds)
    run = Run("tui")
    app = MeasuredApp(fake, refresh_interval_s=2.0)
    app.animation_level = "none"
    app.produced_at = producer.produced_at
    app.on_lag = run.lags_s.append
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("4")
        while len(app.board) < migrations:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        run.lags_s.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        await producer.run()
        drain_start = time.perf_counter()
        while any(
            (shown := app.board.get(m.id)) is None or shown.iteration < m.iteration
            for m in fake.migrations.values()
        ):
            await asyncio.sleep(0.005)
        await pilot.pause()
        run.drain_s = time.perf_counter() - drain_start
        run.cpu_s, run.wall_s = time.process_time() - cpu, time.perf_counter() - wall
        run.produced = producer.count
        run.redraws = app.batches
    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2.0, help="updates per migration per s")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(
        f"bench_tui: {args.migrations} migrations x {args.rate:g} updates/s for "
        f"{args.seconds:g} s (in-memory engine, headless 160x50, Migrations view)"
    )
    base = await baseline(args.migrations, args.rate, args.seconds)
    print(base.report())
    shown = await tui(args.migrations, args.rate, args.seconds)
    print(shown.report())
    extra = 100 * (shown.cpu_s / shown.wall_s - base.cpu_s / base.wall_s)
    print(
        f"rendering costs {extra:.1f} points of CPU over the baseline; "
        f"{shown.produced / max(shown.redraws, 1):.0f} updates per redraw batch on average"
    )


if __name__ == "__main__":
    asyncio.run(main())
