"""Engine benchmark: migrations through the real engine (gRPC server, store, queue, progress
followers) over real agent gRPC servers on the fake driver, all in this process.

Prints, each against a baseline measured in the same run:
- WatchMigrations lag: from the moment the engine publishes a migration snapshot to the
  moment each of `--watchers` gRPC clients receives it, over `--migrations` migrations (p50,
  p99, max). A snapshot is known by a digest of its whole message: a migration's bandwidth or
  prediction changes without its progress moving, and such a snapshot must be timed from its
  own publishing, not from an earlier one's with the same progress. The baseline is the
  round trip of a bare unary gRPC call (health Check) on the same server during the same
  storm.
- MigrateVm latency (the call returns once the queue has admitted or queued the migration),
  against that bare gRPC call made right after each MigrateVm, p50/p99 and the ratio.

The fake agents, the watchers and the caller (MigrateVm and the bare call) run in helper
processes of their own, as they would on other machines; the four processes share this
machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from miglane.agent.testing import start_fake_agents, stop_fake_agents
from miglane.engine.app import build_engine
from miglane.engine.config import EngineConfig
from miglane.engine.domain.model import Migration, MigrationPolicy
from miglane.engine.grpc_api.converters import migration_to_proto
from miglane.pki import CertificateAuthority, Credentials, load_credentials
from miglane.testing.engine_stack import (
    LOOPBACK_ANY_PORT,
    engine_authority,
    fake_agent_cluster,
    wait_until_polled,
)
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

FINAL = {
    common_pb2.MIGRATION_PHASE_COMPLETED,
    common_pb2.MIGRATION_PHASE_FAILED,
    common_pb2.MIGRATION_PHASE_CANCELLED,
}


def snapshot_digest(migration: engine_pb2.Migration) -> str:
    """What tells one migration snapshot from another, on both sides of the wire."""
    return hashlib.blake2b(
        migration.SerializeToString(deterministic=True), digest_size=12
    ).hexdigest()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(int(p / 100 * len(ordered)), len(ordered) - 1)]


@dataclass
class Storm:
    """What one storm measured: how long until every migration ended, the phases they ended
    in, each MigrateVm call and the bare call right after it, and each watcher delivery's lag
    (seconds)."""

    elapsed_s: float
    phases: dict[int, int]
    migrate_s: list[float]
    bare_s: list[float]
    lags: list[float]


def client_channel(address: str, credentials: Credentials, *, insecure: bool) -> grpc.aio.Channel:
    """A channel to the engine as `credentials`, or a plaintext one to an `insecure` engine."""
    if insecure:
        return grpc.aio.insecure_channel(address)
    return engine_channel(address, credentials)


async def client_process(
    role: str, address: str, credentials: Credentials, *flags: str
) -> asyncio.subprocess.Process:
    """This script again as a helper process playing `role` (a `--serve-*` flag): a client of
    the engine at `address` with `credentials`, talking over stdin and stdout."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        role,
        f"--address={address}",
        f"--credentials={credentials.directory}",
        *flags,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 30,
    )


async def storm(args: argparse.Namespace, *, insecure: bool = False) -> Storm | None:
    """`args.migrations` migrations over `args.hosts` fake hosts watched by `args.watchers`
    clients; `insecure`: engine, agents and clients all plaintext, nobody authorized. None when
    the watchers did not see every migration end within `args.timeout` (said on stdout)."""
    hosts = args.hosts
    per_host = -(-args.migrations // hosts)
    tmp = Path(tempfile.mkdtemp(prefix="miglane-bench-engine-"))
    plaintext = ["--insecure"] if insecure else []
    # The agents run in a process of their own, as they would on their hosts: their work does
    # not share the engine's event loop.
    helper = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-agents",
        f"--hosts={hosts}",
        f"--vms-per-host={per_host}",
        f"--limit={args.limit}",
        f"--speed={args.speed}",
        f"--state-root={tmp / 'agents'}",
        f"--pki-dir={engine_authority(tmp / 'engine').pki_dir}",
        *plaintext,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert helper.stdout is not None and helper.stdin is not None
    agents = [FakeAgentInfo(**record) for record in json.loads(await helper.stdout.readline())]
    engine = await build_engine(
        EngineConfig(
            state_dir=tmp / "engine",
            listen=LOOPBACK_ANY_PORT,
            poll_interval_s=1.0,
            busy_retry_s=1.0,
            queue_interval_s=0.2,
            event_queue_size=1_000_000,
            insecure=insecure,
        )
    )
    # Stamp every publish: the snapshot's digest -> when it left the engine.
    published: dict[str, float] = {}
    publish = engine.hub.publish

    def stamped(batch: object) -> None:
        items: list[Migration] = list(batch)  # type: ignore[call-overload]
        now = time.monotonic()
        for m in items:
            published.setdefault(snapshot_digest(migration_to_proto(m)), now)
        publish(items)

    engine.hub.publish = stamped  # type: ignore[method-assign]
    await engine.start()
    address = engine.address
    admin = admin_credentials(engine.authority)
    channel = client_channel(address, admin, insecure=insecure)
    stub = engine_pb2_grpc.EngineServiceStub(channel)
    try:
        policy = MigrationPolicy(max_outgoing_per_host=args.limit, max_incoming_per_host=args.limit)
        cluster_id, _ = await fake_agent_cluster(engine, agents, name="bench", policy=policy)
        await wait_until_polled(engine, cluster_id, hosts=hosts, vms=hosts * per_host)
        vm_ids = [vm for agent in agents for vm in agent.vm_ids][: args.migrations]

        # The watchers run in a process of their own too (so their decoding does not share
        # the engine's loop); lags compare CLOCK_MONOTONIC readings across the processes.
        watching = await client_process(
            "--serve-watchers",
            address,
            admin,
            f"--watchers={args.watchers}",
            f"--migrations={len(vm_ids)}",
            *plaintext,
        )
        assert watching.stdout is not None and watching.stdin is not None
        assert (await watching.stdout.readline()).strip() == b"ready"

        # The caller too: a client is another process, so its own work (sending, decoding
        # the reply) does not wait in the engine's loop behind the watchers' deliveries.
        calling = await client_process("--serve-caller", address, admin, *plaintext)
        assert calling.stdout is not None and calling.stdin is not None
        started = time.perf_counter()
        calling.stdin.write(json.dumps(vm_ids).encode() + b"\n")
        await calling.stdin.drain()
        try:
            async with asyncio.timeout(args.timeout):
                calls = json.loads(await calling.stdout.readline())
                deliveries = json.loads(await watching.stdout.readline())
        except TimeoutError:
            print("timed out waiting for the watchers to see every migration end")
            watching.kill()
            calling.kill()
            return None
        await watching.wait()
        await calling.wait()
        migrate_s, bare_s, ids = calls["migrate_s"], calls["bare_s"], calls["ids"]
        elapsed = time.perf_counter() - started
        lags = []
        for digest, received in deliveries:
            sent = published.get(digest)
            if sent is not None:
                lags.append(received - sent)
        phases: dict[int, int] = {}
        for migration_id in ids:
            m = (
                await stub.GetMigration(engine_pb2.GetMigrationRequest(migration_id=migration_id))
            ).migration
            phases[m.phase] = phases.get(m.phase, 0) + 1
        return Storm(elapsed, phases, migrate_s, bare_s, lags)
    finally:
        await channel.close(None)
        await engine.stop(0.5)
        helper.stdin.close()
        await helper.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def phase_counts(phases: dict[int, int]) -> str:
    """ "completed 200, failed 1"."""
    return ", ".join(
        f"{common_pb2.MigrationPhase.Name(k).removeprefix('MIGRATION_PHASE_').lower()} {v}"
        for k, v in sorted(phases.items())
    )


async def run(args: argparse.Namespace) -> int:
    measured = await storm(args)
    if measured is None:
        return 1
    migrate_s, bare_s, lags = measured.migrate_s, measured.bare_s, measured.lags
    ms = 1000.0
    bare_p50 = statistics.median(bare_s)
    print(
        f"{args.migrations} migrations over {args.hosts} fake hosts (limit {args.limit} out/in "
        f"per host), {args.watchers} WatchMigrations clients; all ended in "
        f"{measured.elapsed_s:.1f} s: " + phase_counts(measured.phases)
    )
    print(
        f"baseline: bare unary gRPC call (health Check) p50 {bare_p50 * ms:.2f} ms, "
        f"p99 {pct(bare_s, 99) * ms:.2f} ms"
    )
    print(
        f"WatchMigrations lag over {len(lags)} deliveries: p50 {pct(lags, 50) * ms:.2f} ms "
        f"(x{pct(lags, 50) / bare_p50:.1f} bare call), p99 {pct(lags, 99) * ms:.2f} ms "
        f"(x{pct(lags, 99) / bare_p50:.1f}), max {max(lags) * ms:.2f} ms"
    )
    print(
        f"MigrateVm latency: p50 {pct(migrate_s, 50) * ms:.2f} ms "
        f"(x{pct(migrate_s, 50) / bare_p50:.1f} bare call), p99 "
        f"{pct(migrate_s, 99) * ms:.2f} ms (x{pct(migrate_s, 99) / pct(bare_s, 99):.1f} "
        "bare p99)"
    )
    return 0


async def serve_agents(args: argparse.Namespace) -> int:
    """Helper process: fake agents until stdin closes; their addresses and VMs on stdout."""
    _, agents = await start_fake_agents(
        args.hosts,
        vms_per_host=args.vms_per_host,
        vm_memory_mib=512,
        speed=args.speed,
        poll_interval=0.1,
        max_outgoing=args.limit,
        state_root=args.state_root,
        authority=None if args.insecure else CertificateAuthority.open(args.pki_dir),
        insecure=args.insecure,
    )
    records = [{"name": a.name, "address": a.address, "vm_ids": a.vm_ids} for a in agents]
    print(json.dumps(records), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await stop_fake_agents(agents, grace=0)
    return 0


async def serve_watchers(args: argparse.Namespace) -> int:
    """Helper process: `--watchers` WatchMigrations clients; "ready" once every snapshot is
    complete, then, once each has seen `--migrations` migrations end, every delivery as JSON
    [snapshot digest, monotonic time received]."""
    deliveries: list[tuple[str, float]] = []
    ready = [asyncio.Event() for _ in range(args.watchers)]
    done = [asyncio.Event() for _ in range(args.watchers)]

    async def watch(index: int) -> None:
        credentials = load_credentials(args.credentials)
        async with client_channel(args.address, credentials, insecure=args.insecure) as channel:
            stream = engine_pb2_grpc.EngineServiceStub(channel).WatchMigrations(
                engine_pb2.WatchMigrationsRequest()
            )
            ended: set[str] = set()
            async for reply in stream:
                if reply.snapshot_complete:
                    ready[index].set()
                    continue
                received = time.monotonic()
                m = reply.migration
                deliveries.append((snapshot_digest(m), received))
                if m.phase in FINAL:
                    ended.add(m.id)
                    if len(ended) >= args.migrations:
                        done[index].set()
                        return

    tasks = [asyncio.create_task(watch(i)) for i in range(args.watchers)]
    await asyncio.gather(*(event.wait() for event in ready))
    print("ready", flush=True)
    await asyncio.gather(*(event.wait() for event in done))
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(deliveries), flush=True)
    return 0


async def serve_caller(args: argparse.Namespace) -> int:
    """Helper process: reads a JSON list of VM ids on stdin, asks to migrate each in turn,
    each MigrateVm followed by a bare health Check; prints as JSON each call's and each bare
    call's seconds and the migrations' ids."""
    loop = asyncio.get_running_loop()
    vm_ids: list[str] = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    credentials = load_credentials(args.credentials)
    migrate_s: list[float] = []
    bare_s: list[float] = []
    ids: list[str] = []
    async with client_channel(args.address, credentials, insecure=args.insecure) as channel:
        stub = engine_pb2_grpc.EngineServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        await channel.channel_ready()
        for vm_id in vm_ids:
            t0 = time.perf_counter()
            reply = await stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=vm_id))
            t1 = time.perf_counter()
            await health.Check(health_pb2.HealthCheckRequest())
            t2 = time.perf_counter()
            migrate_s.append(t1 - t0)
            bare_s.append(t2 - t1)
            ids.append(reply.migration.id)
    print(json.dumps({"migrate_s": migrate_s, "bare_s": bare_s, "ids": ids}), flush=True)
    return 0


@dataclass(frozen=True)
class FakeAgentInfo:
    name: str
    address: str
    vm_ids: list[str]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-agents", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-watchers", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-caller", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", default="", help=argparse.SUPPRESS)
    parser.add_argument("--vms-per-host", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--state-root", default="", help=argparse.SUPPRESS)
    parser.add_argument("--pki-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--credentials", default="", help=argparse.SUPPRESS)
    parser.add_argument("--insecure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--migrations", type=int, default=500)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--limit", type=int, default=4, help="per-host outgoing/incoming limit")
    parser.add_argument("--speed", type=float, default=10.0, help="fake clock speed-up")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.serve_agents:
        return asyncio.run(serve_agents(args))
    if args.serve_watchers:
        return asyncio.run(serve_watchers(args))
    if args.serve_caller:
        return asyncio.run(serve_caller(args))
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
