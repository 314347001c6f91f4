"""Does the TUI keep up with 500 live migrations?

A stream of progress for N migrations (each updated R times a second) for S seconds is fed to
the TUI, twice in the same run:

- baseline: the same stream consumed into the TUI's `MigrationBoard` without any rendering;
- tui: the real App, headless at 160x50 on the Migrations view, fed by its own worker.

Printed for each: updates produced, CPU (share of one core, whole process, producer included),
and lag from an update's production to the screen that shows it (for the baseline: to its
application). Lag stays bounded when the TUI keeps up; coalescing shows as fewer row redraws
than updates.

The stream comes from `StreamedMigrations`, a transport with no engine rules behind it: what
is measured is the TUI's own cost, and no engine can be made to run 500 migrations at a chosen
rate on demand (its admission limits and its agents pace them).

    .venv/bin/python bench/bench_tui.py [--migrations 500] [--rate 2] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from miglane.tui.app import MiglaneApp
from miglane.tui.client import EngineError
from miglane.tui.models import MigrationBoard
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

    def lag_percentile(self, fraction: float) -> float:
        lags = sorted(self.lags_s) or [0.0]
        return lags[min(len(lags) - 1, int(len(lags) * fraction))]

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_s / self.wall_s if self.wall_s else 0.0

    def report(self) -> str:
        lags = sorted(self.lags_s) or [0.0]
        p50 = statistics.median(lags)
        p95 = self.lag_percentile(0.95)
        cpu = self.cpu_percent
        redraws = f"  row batches {self.redraws:6d}" if self.redraws else ""
        return (
            f"{self.name:9s} updates {self.produced:6d} ({self.produced / self.wall_s:6.0f}/s)  "
            f"CPU {cpu:5.1f}%  lag p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
            f"max {lags[-1] * 1000:7.1f} ms  drain {self.drain_s * 1000:6.0f} ms{redraws}"
        )


class StreamedMigrations:
    """An `EngineClient` with no engine behind it: a fixed inventory, and a migrations stream
    that carries whatever `put` is given. Every operator action is refused."""

    address = "bench://stream"

    def __init__(
        self,
        cluster: engine_pb2.Cluster,
        networks: list[engine_pb2.Network],
        hosts: list[engine_pb2.Host],
        vms: list[engine_pb2.Vm],
    ) -> None:
        self._cluster = cluster
        self._networks = networks
        self._hosts = hosts
        self._vms = vms
        self.migrations: dict[str, engine_pb2.Migration] = {}
        self._watchers: list[asyncio.Queue[engine_pb2.Migration]] = []

    def put(self, migration: engine_pb2.Migration) -> None:
        self.migrations[migration.id] = migration
        for queue in self._watchers:
            queue.put_nowait(migration)

    async def list_clusters(self) -> list[engine_pb2.Cluster]:
        return [self._cluster]

    async def list_networks(self, cluster_id: str = "") -> list[engine_pb2.Network]:
        return list(self._networks)

    async def list_hosts(self, cluster_id: str = "") -> list[engine_pb2.Host]:
        return list(self._hosts)

    async def list_vms(self, cluster_id: str = "") -> list[engine_pb2.Vm]:
        return list(self._vms)

    async def list_events(self, after_sequence: int = 0) -> list[engine_pb2.Event]:
        return []

    async def watch_events(self, after_sequence: int = 0) -> AsyncIterator[engine_pb2.Event]:
        await asyncio.Event().wait()  # no events, ever
        yield engine_pb2.Event()

    async def watch_migrations(
        self, include_finished: bool = True
    ) -> AsyncIterator[engine_pb2.WatchMigrationsResponse]:
        queue: asyncio.Queue[engine_pb2.Migration] = asyncio.Queue()
        self._watchers.append(queue)
        try:
            for migration in list(self.migrations.values()):
                yield engine_pb2.WatchMigrationsResponse(migration=migration)
            yield engine_pb2.WatchMigrationsResponse(snapshot_complete=True)
            while True:
                yield engine_pb2.WatchMigrationsResponse(migration=await queue.get())
        finally:
            self._watchers.remove(queue)

    def __getattr__(self, name: str) -> Any:
        async def refused(*args: object, **kwargs: object) -> None:
            raise EngineError("UNIMPLEMENTED", f"{name}: the bench stream serves no actions")

        return refused

    async def close(self) -> None:
        pass


def build_stream(migrations: int) -> StreamedMigrations:
    """One cluster, 20 hosts, one VM per migration; migrations running between neighbours."""
    cluster = engine_pb2.Cluster(id="cl-bench", name="bench")
    mgmt = engine_pb2.Network(
        id="net-mgmt",
        cluster_id=cluster.id,
        name="mgmt",
        subnet="10.0.0.0/16",
        required=True,
        roles=[common_pb2.NETWORK_ROLE_MANAGEMENT],
    )
    mig = engine_pb2.Network(
        id="net-migration",
        cluster_id=cluster.id,
        name="migration",
        subnet="10.1.0.0/16",
        roles=[common_pb2.NETWORK_ROLE_MIGRATION],
    )
    hosts = []
    for i in range(20):
        host = engine_pb2.Host(
            id=f"host-h{i:02d}",
            cluster_id=cluster.id,
            name=f"h{i:02d}",
            status=engine_pb2.HOST_STATUS_UP,
            memory_mib=1 << 20,
            free_memory_mib=1 << 20,
        )
        for network, nic, subnet in ((mgmt, "eth0", "10.0.0"), (mig, "eth1", "10.1.0")):
            host.attachments.add(
                network_id=network.id,
                network_name=network.name,
                nic=nic,
                address=f"{subnet}.{i + 1}",
                link_up=True,
                speed_mbit_per_second=10000,
            )
        hosts.append(host)
    vms = []
    stream = StreamedMigrations(cluster, [mgmt, mig], hosts, vms)
    for n in range(migrations):
        source, destination = hosts[n % 20], hosts[(n + 1) % 20]
        vm = engine_pb2.Vm(
            id=f"vm-{n:04d}",
            name=f"vm{n:04d}",
            cluster_id=cluster.id,
            host_id=source.id,
            state=common_pb2.VM_STATE_RUNNING,
            memory_mib=4096,
        )
        vms.append(vm)
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
        stream.migrations[migration.id] = migration
    return stream


class Producer:
    """Updates every migration `rate` times a second for `seconds`, in even slices; notes when
    each (migration, iteration) was produced. `iteration` counts the updates."""

    def __init__(self, stream: StreamedMigrations, rate: float, seconds: float) -> None:
        self.stream = stream
        self.rate = rate
        self.seconds = seconds
        self.produced_at: dict[tuple[str, int], float] = {}
        self.count = 0

    async def run(self) -> None:
        """Keeps to the rate by the clock: a slice that wakes late sends what is due, as an
        engine in another process would have sent it meanwhile."""
        ids = list(self.stream.migrations)
        per_second = len(ids) * self.rate
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < self.seconds:
            due = int(per_second * elapsed) - self.count
            for _ in range(due):
                self._update(ids[self.count % len(ids)])
            await asyncio.sleep(0.02)

    def _update(self, migration_id: str) -> None:
        update = engine_pb2.Migration()
        update.CopyFrom(self.stream.migrations[migration_id])
        update.iteration += 1
        update.progress_percent = min(99, update.iteration % 100)
        update.data_processed_bytes += 50 * MIB
        update.data_remaining_bytes = max(0, update.data_remaining_bytes - 50 * MIB)
        update.throughput_bytes_per_second = 100 * MIB
        update.dirty_rate_bytes_per_second = 8 * MIB
        update.eta.FromSeconds(30)
        self.produced_at[(migration_id, update.iteration)] = time.perf_counter()
        self.stream.put(update)
        self.count += 1


async def baseline(migrations: int, rate: float, seconds: float) -> Run:
    stream = build_stream(migrations)
    producer = Producer(stream, rate, seconds)
    board = MigrationBoard()
    run = Run("baseline")
    last_produced: dict[str, int] = {}

    async def consume() -> None:
        complete = False
        async for response in stream.watch_migrations():
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
    while any(last_produced.get(m.id, 0) < m.iteration for m in stream.migrations.values()):
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
    stream = build_stream(migrations)
    producer = Producer(stream, rate, seconds)
    run = Run("tui")
    app = MeasuredApp(stream, refresh_interval_s=2.0)
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
            for m in stream.migrations.values()
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
        f"{args.seconds:g} s (in-memory stream, headless 160x50, Migrations view)"
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
    # The line automation reads (its wording is part of the product's contract).
    print(
        f"tui lag p99 {shown.lag_percentile(0.99) * 1000:.0f} ms, "
        f"CPU {shown.cpu_percent:.0f}% of a core "
        f"({args.migrations} migrations x {args.rate:g} updates/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
