"""Orchestration against real agent gRPC servers on the fake driver: placement, fallback,
storm control, cancel, rerun, busy agents, bandwidth, maintenance, restart, progress."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from orchestration_support import FINAL, World, orchestrated, wait_for

from miglane.agent.domain.model import BandwidthChange, Nic
from miglane.agent.domain.model import MigrateRequest as AgentMigrateRequest
from miglane.agent.driver import DriverErrorKind
from miglane.agent.testing import FakeAgent, default_nics
from miglane.engine.domain.model import MIB, BandwidthMode, MigrationPhase, MigrationPolicy
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

pytestmark = pytest.mark.both_store_backends

RUNNING = common_pb2.MIGRATION_PHASE_RUNNING
COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
QUEUED = common_pb2.MIGRATION_PHASE_QUEUED


async def migrate(
    world: World, vm_id: str, to: int | None = None, **kw: int
) -> engine_pb2.Migration:
    request = engine_pb2.MigrateVmRequest(vm_id=vm_id, **kw)
    if to is not None:
        request.destination_host_id = world.host_ids[to]
    return (await world.stub.MigrateVm(request)).migration


def event_types(events: list[engine_pb2.Event], migration_id: str) -> list[int]:
    return [e.type for e in events if e.migration_id == migration_id]


# ---------------------------------------------------------------- placement and paths


async def test_automatic_migration_goes_over_the_migration_network(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=3, vms_per_host=1) as world:
        vm_id = world.vm_ids[0][0]
        migration = await migrate(world, vm_id)
        assert migration.automatic
        done = await world.wait_final(migration.id)
        assert done.phase == COMPLETED, done
        assert done.fallback_reason == common_pb2.FALLBACK_REASON_UNSPECIFIED
        assert done.migration_uri.startswith("tcp://10.1.")
        assert done.destination_host_id in world.host_ids[1:]
        assert done.progress_percent == 100 and done.finished_at.seconds
        vm = (await world.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id))).vm
        assert vm.host_id == done.destination_host_id
        events = await world.events()
        assert event_types(events, migration.id) == [
            engine_pb2.EVENT_TYPE_MIGRATION_QUEUED,
            engine_pb2.EVENT_TYPE_MIGRATION_STARTED,
            engine_pb2.EVENT_TYPE_MIGRATION_COMPLETED,
        ]
        completed = [e for e in events if e.type == engine_pb2.EVENT_TYPE_MIGRATION_COMPLETED]
        assert {"duration_s", "downtime_ms"} <= set(completed[0].attributes)


def _mig0_down_on(index: int):  # type: ignore[no-untyped-def]
    def nics(i: int) -> list[Nic]:
        found = default_nics(i)
        if i == index:
            eth0, mig0 = found
            return [eth0, Nic(mig0.name, mig0.mac, mig0.addresses, False, 0, mig0.mtu)]
        return found

    return nics


async def test_link_down_destination_is_skipped_and_manual_falls_back(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=3, vms_per_host=1, nics=_mig0_down_on(2)) as world:
        host2 = await world.host(2)
        assert host2.status == engine_pb2.HOST_STATUS_UP  # migration is not required
        attachment = {a.network_name: a for a in host2.attachments}["migration"]
        assert attachment.nic == "mig0" and not attachment.link_up
        candidates = (
            await world.stub.ListMigrationCandidates(
                engine_pb2.ListMigrationCandidatesRequest(vm_id=world.vm_ids[0][0])
            )
        ).candidates
        by_host = {c.host_id: c for c in candidates}
        rejected = by_host[world.host_ids[2]]
        assert not rejected.suitable and rejected.manual_allowed
        assert "link down" in " ".join(rejected.rejections)
        assert rejected.fallback_reason == common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN
        assert by_host[world.host_ids[1]].suitable

        automatic = await world.wait_final((await migrate(world, world.vm_ids[0][0])).id)
        assert automatic.destination_host_id == world.host_ids[1]

        manual = await migrate(world, world.vm_ids[1][0], to=2)
        done = await world.wait_final(manual.id)
        assert done.phase == COMPLETED
        assert done.fallback_reason == common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN
        assert "mig0" in done.fallback_detail and "management" in done.fallback_detail
        assert done.migration_uri.startswith("tcp://10.0.")
        fell_back = [
            e
            for e in await world.events(engine_pb2.EVENT_TYPE_MIGRATION_FELL_BACK)
            if e.migration_id == manual.id
        ]
        assert len(fell_back) == 1
        assert fell_back[0].attributes["fallback_reason"] == "DESTINATION_LINK_DOWN"


async def test_no_migration_network_falls_back_with_an_event(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, migration_network=False) as world:
        done = await world.wait_final((await migrate(world, world.vm_ids[0][0])).id)
        assert done.phase == COMPLETED
        assert done.fallback_reason == common_pb2.FALLBACK_REASON_NO_MIGRATION_NETWORK
        assert done.fallback_detail
        assert any(
            e.migration_id == done.id
            for e in await world.events(engine_pb2.EVENT_TYPE_MIGRATION_FELL_BACK)
        )


async def test_no_host_fails_with_reasons_host_by_host(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, nics=_mig0_down_on(1)) as world:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await migrate(world, world.vm_ids[0][0])
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "host1" in (caught.value.details() or "")
        assert "link down" in (caught.value.details() or "")


async def test_host_status_from_polling(tmp_path: Path) -> None:
    def nics(i: int) -> list[Nic]:
        return default_nics(i)[1:] if i == 1 else default_nics(i)

    async with orchestrated(tmp_path, hosts=3, vms_per_host=1, nics=nics) as world:
        host0, host1 = await world.host(0), await world.host(1)
        assert host0.status == engine_pb2.HOST_STATUS_UP and host0.peer_libvirt_uri
        assert host0.free_memory_mib and host0.last_seen_at.seconds
        assert {a.network_name for a in host0.attachments} == {"mgmt", "migration"}
        assert host1.status == engine_pb2.HOST_STATUS_NON_OPERATIONAL
        assert "mgmt" in host1.status_reason
        await world.agents[2].stop(0)
        down = await wait_for(
            lambda: world.host(2), lambda h: h.status == engine_pb2.HOST_STATUS_UNREACHABLE
        )
        assert "unreachable" in down.status_reason
        changes = await world.events(engine_pb2.EVENT_TYPE_HOST_STATUS_CHANGED)
        assert any(
            e.host_id == world.host_ids[2] and e.attributes["to"] == "unreachable" for e in changes
        )


# ---------------------------------------------------------------- storm control


def _fabric_counts(agents: list[FakeAgent]) -> tuple[Counter[str], Counter[str], int]:
    fabric = agents[0].host.fabric
    outgoing: Counter[str] = Counter()
    incoming: Counter[str] = Counter()
    with fabric.lock:
        for agent in agents:
            for job in agent.host.jobs.values():
                if job.kind == "migration" and not job.done:
                    outgoing[agent.host.name] += 1
                    assert job.destination is not None
                    incoming[job.destination.name] += 1
    return outgoing, incoming, sum(outgoing.values())


async def test_storm_of_200_vms_over_20_hosts_keeps_every_limit(tmp_path: Path) -> None:
    policy = MigrationPolicy(
        max_outgoing_per_host=2, max_incoming_per_host=2, max_concurrent_per_cluster=16
    )
    async with orchestrated(
        tmp_path, hosts=20, vms_per_host=10, vm_memory_mib=1024, speed=50, policy=policy
    ) as world:
        worst = {"out": 0, "in": 0, "total": 0, "rec_out": 0, "rec_in": 0, "rec_total": 0}
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                outgoing, incoming, total = _fabric_counts(world.agents)
                worst["out"] = max(worst["out"], *outgoing.values(), 0)
                worst["in"] = max(worst["in"], *incoming.values(), 0)
                worst["total"] = max(worst["total"], total)
                holding = [
                    m
                    for m in world.engine.ledger.all_active()
                    if m.phase in (MigrationPhase.PREPARING, MigrationPhase.RUNNING)
                ]
                out_rec = Counter(m.source_host_id for m in holding)
                in_rec = Counter(m.destination_host_id for m in holding)
                worst["rec_out"] = max(worst["rec_out"], *out_rec.values(), 0)
                worst["rec_in"] = max(worst["rec_in"], *in_rec.values(), 0)
                worst["rec_total"] = max(worst["rec_total"], len(holding))
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        # Every VM moves: 200 automatic migrations asked at once, each host both a source
        # and a destination.
        vm_ids = [vm for host in world.vm_ids for vm in host]
        started = await asyncio.gather(*(migrate(world, vm) for vm in vm_ids))
        # A reply that was not QUEUED took a slot of the 16; a slot is given again only once
        # its migration has ended, so those replies number at most 16 plus the migrations that
        # had already ended (on a loaded machine the 200 calls take long enough for some).
        ended = len(vm_ids) - len(world.engine.ledger.all_active())
        queued = [m for m in started if m.phase == QUEUED]
        assert len(vm_ids) - len(queued) <= policy.max_concurrent_per_cluster + ended, ended
        assert all(m.queue_reason for m in queued)
        results = await asyncio.gather(*(world.wait_final(m.id, timeout=120) for m in started))
        stop.set()
        await sampler
        assert Counter(r.phase for r in results) == {COMPLETED: len(vm_ids)}
        assert 0 < worst["out"] <= 2 and 0 < worst["in"] <= 2 and worst["total"] <= 16, worst
        assert worst["rec_out"] <= 2 and worst["rec_in"] <= 2 and worst["rec_total"] <= 16, worst
        assert worst["rec_total"] >= 6, worst  # the limits are used, not just kept
        # Once the hosts' streams have told the engine, the inventory shows every VM moved,
        # none lost (source and destination report on their own streams, not in one round).
        origin = {vm: world.host_ids[i] for i, host in enumerate(world.vm_ids) for vm in host}
        await wait_for(
            lambda: _all_vms(world),
            lambda listed: (
                len(listed) == len(vm_ids)
                and not any(vm.host_id == origin[vm.id] for vm in listed if vm.id in origin)
            ),
            timeout=60,
        )


SHARED_LINK_MBPS = 1000  # slower than one migration's cap: concurrent flows must share links


def _slow_nics(index: int) -> list[Nic]:
    return [dataclasses.replace(n, speed_mbps=SHARED_LINK_MBPS) for n in default_nics(index)]


async def test_storm_never_puts_a_link_above_its_capacity(tmp_path: Path) -> None:
    policy = MigrationPolicy(
        max_outgoing_per_host=2, max_incoming_per_host=2, max_concurrent_per_cluster=8
    )
    async with orchestrated(
        tmp_path, hosts=4, vms_per_host=4, speed=50, policy=policy, nics=_slow_nics
    ) as world:
        fabric = world.agents[0].host.fabric
        capacities = fabric.capacities()
        fullest = 0.0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal fullest
            while not stop.is_set():
                for link, rate in fabric.link_rates().items():
                    fullest = max(fullest, rate / capacities[link])
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        vm_ids = [vm for host in world.vm_ids for vm in host]
        started = await asyncio.gather(*(migrate(world, vm) for vm in vm_ids))
        results = await asyncio.gather(*(world.wait_final(m.id, timeout=120) for m in started))
        stop.set()
        await sampler
        assert Counter(r.phase for r in results) == {COMPLETED: len(vm_ids)}
        assert fullest <= 1 + 1e-9, fullest
        # The links were used, not idle: caps are whole MiB/s, so a link given to one or two
        # migrations may leave up to 1 MiB/s of each unused.
        assert fullest >= 1 - 2 * MIB / min(capacities.values()), fullest


async def test_storm_reasons_name_the_limit(tmp_path: Path) -> None:
    policy = MigrationPolicy(max_outgoing_per_host=1, max_concurrent_per_cluster=1)
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=5, policy=policy) as world:
        first = await migrate(world, world.vm_ids[0][0], max_bandwidth_mib_per_second=100)
        second = await migrate(world, world.vm_ids[1][0])
        assert second.phase == QUEUED
        assert "max_concurrent_per_cluster" in second.queue_reason
        await world.wait_final(first.id)
        assert (await world.wait_final(second.id)).phase == COMPLETED


async def test_queued_and_running_migrations_carry_their_prediction(tmp_path: Path) -> None:
    policy = MigrationPolicy(max_outgoing_per_host=1)
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=1, policy=policy) as world:
        running = await migrate(world, world.vm_ids[0][0], max_bandwidth_mib_per_second=10)
        queued = await migrate(world, world.vm_ids[0][1])
        assert queued.phase == QUEUED
        assert queued.verdict == engine_pb2.CONVERGENCE_VERDICT_CONVERGES
        assert "dirties no memory" in queued.verdict_reason
        assert queued.expected_finish_at.ToDatetime() > queued.created_at.ToDatetime()
        sampled = await wait_for(
            lambda: world.migration(running.id),
            lambda m: m.phase == RUNNING and m.data_processed_bytes > 0,
        )
        assert sampled.verdict == engine_pb2.CONVERGENCE_VERDICT_CONVERGES
        assert sampled.HasField("expected_finish_at")
        done = await world.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=running.id)
        )
        assert done.migration.verdict == engine_pb2.CONVERGENCE_VERDICT_UNSPECIFIED
        assert not done.migration.HasField("expected_finish_at")


# ---------------------------------------------------------------- cancel, rerun, busy


async def test_cancel_queued_and_running(tmp_path: Path) -> None:
    policy = MigrationPolicy(max_outgoing_per_host=1)
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=1, policy=policy) as world:
        running = await migrate(world, world.vm_ids[0][0], max_bandwidth_mib_per_second=10)
        queued = await migrate(world, world.vm_ids[0][1])
        assert queued.phase == QUEUED and "max_outgoing_per_host" in queued.queue_reason
        reply = await world.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=queued.id)
        )
        assert reply.migration.phase == common_pb2.MIGRATION_PHASE_CANCELLED
        await wait_for(lambda: world.migration(running.id), lambda m: m.phase == RUNNING)
        await wait_for(lambda: world.migration(running.id), lambda m: m.data_processed_bytes > 0)
        reply = await world.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=running.id)
        )
        assert reply.migration.phase == common_pb2.MIGRATION_PHASE_CANCELLED
        vm = (await world.stub.GetVm(engine_pb2.GetVmRequest(vm_id=world.vm_ids[0][0]))).vm
        assert vm.host_id == world.host_ids[0] and not vm.migration_id
        events = await world.events(engine_pb2.EVENT_TYPE_MIGRATION_CANCELLED)
        assert {e.migration_id for e in events} == {queued.id, running.id}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await world.stub.SetMigrationBandwidth(
                engine_pb2.SetMigrationBandwidthRequest(
                    migration_id=running.id, max_bandwidth_mib_per_second=5
                )
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_failed_automatic_migration_is_rerun_on_up_to_three_hosts(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=5, vms_per_host=1) as world:
        world.agents[0].host.fail_migrations_with = DriverErrorKind.NETWORK
        first = await migrate(world, world.vm_ids[0][0])

        async def attempts() -> list[engine_pb2.Migration]:
            reply = await world.stub.ListMigrations(
                engine_pb2.ListMigrationsRequest(vm_id=world.vm_ids[0][0])
            )
            return list(reply.migrations)

        tries = await wait_for(
            attempts, lambda ms: len(ms) == 3 and all(m.phase in FINAL for m in ms), 30
        )
        assert tries[0].id == first.id
        assert all(m.phase == common_pb2.MIGRATION_PHASE_FAILED for m in tries)
        destinations = [m.destination_host_id for m in tries]
        assert len(set(destinations)) == 3 and world.host_ids[0] not in destinations
        assert list(tries[2].tried_host_ids) == destinations[:2]
        reruns = await world.events(engine_pb2.EVENT_TYPE_MIGRATION_RERUN)
        assert len(reruns) == 2 and "attempt 2 of 3" in reruns[0].message
        await asyncio.wait_for(world.engine.queue.wait_passes(3), 30)
        assert len(await attempts()) == 3  # given up: never looped on


async def test_the_agents_own_outgoing_limit_is_kept(tmp_path: Path) -> None:
    # The agent allows 1 outgoing job, the policy 2: the second waits for the agent's limit.
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=10, max_outgoing=1) as world:
        # The first copies slowly (over a minute) until the second was seen waiting: however
        # slow the machine, the agent stays busy meanwhile.
        first = await migrate(world, world.vm_ids[0][0], to=1, max_bandwidth_mib_per_second=1)
        second = await migrate(world, world.vm_ids[0][1], to=2)
        seen = await wait_for(
            lambda: world.migration(second.id),
            lambda m: "1 of 1 outgoing" in m.queue_reason or m.phase in FINAL,
        )
        assert seen.phase == QUEUED, seen
        assert "busy" not in seen.queue_reason  # never asked: the engine knew the limit
        await wait_for(lambda: world.migration(first.id), lambda m: m.phase == RUNNING)
        await world.stub.SetMigrationBandwidth(
            engine_pb2.SetMigrationBandwidthRequest(
                migration_id=first.id, max_bandwidth_mib_per_second=200
            )
        )
        assert (await world.wait_final(first.id)).phase == COMPLETED
        assert (await world.wait_final(second.id)).phase == COMPLETED


async def test_busy_source_agent_is_retried_not_failed(tmp_path: Path) -> None:
    # A job the engine did not start fills the agent's only outgoing slot: the engine's
    # Migrate is answered RESOURCE_EXHAUSTED, and retried once the job has ended.
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=10, max_outgoing=1) as world:
        source, destination = world.agents[0], world.agents[2]
        [_, mig0] = default_nics(2)
        await source.agent.migrate(
            AgentMigrateRequest(
                migration_id="not-the-engines",
                vm_id=source.vm_ids[1],
                dst=destination.peer_uri,
                migration_uri="tcp://" + mig0.addresses[0].split("/")[0],
                max_bandwidth_mibps=1,
            )
        )
        migration = await migrate(world, source.vm_ids[0], to=1)
        seen = await wait_for(
            lambda: world.migration(migration.id),
            lambda m: "busy" in m.queue_reason or m.phase in FINAL,
        )
        assert seen.phase == QUEUED, seen
        await source.agent.change_params(BandwidthChange("not-the-engines", 200))
        assert (await world.wait_final(migration.id)).phase == COMPLETED


async def test_unreachable_destination_is_retried_later(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=3, vms_per_host=1) as world:
        world.agents[2].host.reachable = False
        migration = await migrate(world, world.vm_ids[0][0], to=2)
        waiting = await wait_for(
            lambda: world.migration(migration.id),
            lambda m: "host2" in m.queue_reason or m.phase in FINAL,
        )
        assert waiting.phase == QUEUED, waiting
        world.agents[2].host.reachable = True
        done = await world.wait_final(migration.id)
        assert done.phase == COMPLETED and done.destination_host_id == world.host_ids[2]


# ---------------------------------------------------------------- bandwidth


async def test_auto_bandwidth_is_shared_and_resent_as_migrations_end(tmp_path: Path) -> None:
    # QoS 800 Mbit/s on the migration network: 95 MiB/s for the link, shared.
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=1, qos_mbps=800) as world:
        a = await migrate(world, world.vm_ids[0][0], to=1)
        b = await migrate(world, world.vm_ids[0][1], to=2)
        for migration in (a, b):
            await wait_for(
                lambda m=migration: world.migration(m.id),
                lambda m: m.phase == RUNNING and m.max_bandwidth_mib_per_second == 47,
            )
        await world.stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id=a.id))
        await wait_for(
            lambda: world.migration(b.id), lambda m: m.max_bandwidth_mib_per_second == 95
        )
        job = world.agents[0].agent.jobs[b.id]
        assert job.status.max_bandwidth_mibps == 95
        reply = await world.stub.SetMigrationBandwidth(
            engine_pb2.SetMigrationBandwidthRequest(
                migration_id=b.id, max_bandwidth_mib_per_second=30
            )
        )
        assert reply.migration.max_bandwidth_mib_per_second == 30
        await wait_for(lambda: asyncio.sleep(0, job.status.max_bandwidth_mibps), lambda v: v == 30)
        await world.stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id=b.id))


async def test_custom_bandwidth_and_override(tmp_path: Path) -> None:
    policy = MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=40)
    async with orchestrated(tmp_path, hosts=2, vms_per_host=2, speed=1, policy=policy) as world:
        a = await migrate(world, world.vm_ids[0][0])
        b = await migrate(world, world.vm_ids[0][1], max_bandwidth_mib_per_second=25)
        await wait_for(
            lambda: world.migration(a.id), lambda m: m.max_bandwidth_mib_per_second == 40
        )
        await wait_for(
            lambda: world.migration(b.id), lambda m: m.max_bandwidth_mib_per_second == 25
        )
        for migration in (a, b):
            await world.stub.CancelMigration(
                engine_pb2.CancelMigrationRequest(migration_id=migration.id)
            )


# ---------------------------------------------------------------- guards and maintenance


async def test_role_change_refused_while_migrating(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, speed=1) as world:
        migration = await migrate(world, world.vm_ids[0][0], max_bandwidth_mib_per_second=10)
        networks = (
            await world.stub.ListNetworks(
                engine_pb2.ListNetworksRequest(cluster_id=world.cluster_id)
            )
        ).networks
        mgmt = next(n for n in networks if n.name == "mgmt")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await world.stub.SetNetworkRole(
                engine_pb2.SetNetworkRoleRequest(
                    network_id=mgmt.id, role=common_pb2.NETWORK_ROLE_MIGRATION
                )
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await world.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=migration.id)
        )
        await world.stub.SetNetworkRole(
            engine_pb2.SetNetworkRoleRequest(
                network_id=mgmt.id, role=common_pb2.NETWORK_ROLE_MIGRATION
            )
        )


async def test_maintenance_evacuates_within_limits_then_returns(tmp_path: Path) -> None:
    policy = MigrationPolicy(max_outgoing_per_host=2)
    async with orchestrated(tmp_path, hosts=4, vms_per_host=4, speed=20, policy=policy) as world:
        worst = 0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal worst
            while not stop.is_set():
                outgoing, _, _ = _fabric_counts(world.agents)
                worst = max(worst, outgoing["host0"])
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        reply = await world.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=world.host_ids[0], enabled=True)
        )
        assert reply.host.status == engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE
        assert len(reply.migrations) == 4 and not reply.unplaced
        assert all(m.evacuation_host_id == world.host_ids[0] for m in reply.migrations)
        host = await wait_for(
            lambda: world.host(0), lambda h: h.status == engine_pb2.HOST_STATUS_MAINTENANCE, 30
        )
        stop.set()
        await sampler
        assert worst == 2
        assert host.status == engine_pb2.HOST_STATUS_MAINTENANCE
        vms = (await world.stub.ListVms(engine_pb2.ListVmsRequest(host_id=world.host_ids[0]))).vms
        assert not vms
        # In maintenance the host takes no VM.
        candidates = (
            await world.stub.ListMigrationCandidates(
                engine_pb2.ListMigrationCandidatesRequest(vm_id=world.vm_ids[1][0])
            )
        ).candidates
        assert not next(c for c in candidates if c.host_id == world.host_ids[0]).suitable
        reply = await world.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=world.host_ids[0], enabled=False)
        )
        assert reply.host.status == engine_pb2.HOST_STATUS_UP


async def test_maintenance_reports_a_vm_nothing_can_take(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1) as world:
        big = world.agents[0].host.add_domain("huge", memory_mib=60_000)
        await wait_for(
            lambda: world.stub.ListVms(engine_pb2.ListVmsRequest(host_id=world.host_ids[0])),
            lambda r: len(r.vms) == 2,
        )
        reply = await world.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=world.host_ids[0], enabled=True)
        )
        assert [u.vm_id for u in reply.unplaced] == [big]
        assert "MiB" in reply.unplaced[0].reason
        assert len(reply.migrations) == 1
        await world.wait_final(reply.migrations[0].id)
        unplaced = await world.events(engine_pb2.EVENT_TYPE_VM_UNPLACED)
        assert [e.vm_id for e in unplaced] == [big]
        # Poll rounds look for evacuated hosts and wake the queue: none reconsiders the VM.
        rounds = world.engine.monitor.rounds
        await wait_for(
            lambda: asyncio.sleep(0, world.engine.monitor.rounds), lambda r: r >= rounds + 2
        )
        await asyncio.wait_for(world.engine.queue.wait_passes(2), 30)
        host = await world.host(0)
        assert host.status == engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE
        assert len(await world.events(engine_pb2.EVENT_TYPE_VM_UNPLACED)) == 1  # not looped on
        reply = await world.stub.SetHostMaintenance(
            engine_pb2.SetHostMaintenanceRequest(host_id=world.host_ids[0], enabled=False)
        )
        assert reply.host.status == engine_pb2.HOST_STATUS_UP


# ---------------------------------------------------------------- restart


async def test_engine_restart_mid_migration_finds_running_and_queued(tmp_path: Path) -> None:
    policy = MigrationPolicy(max_outgoing_per_host=1)
    async with orchestrated(tmp_path, hosts=3, vms_per_host=2, speed=10, policy=policy) as world:
        running = await migrate(world, world.vm_ids[0][0], to=1, max_bandwidth_mib_per_second=200)
        queued = await migrate(world, world.vm_ids[0][1], to=2)
        await wait_for(lambda: world.migration(running.id), lambda m: m.phase == RUNNING)
        assert (await world.migration(queued.id)).phase == QUEUED
        await world.restart_engine()
        done = await world.wait_final(running.id)
        assert done.phase == COMPLETED and done.downtime.ToMilliseconds() > 0
        assert (await world.wait_final(queued.id)).phase == COMPLETED
        await wait_for(
            lambda: world.stub.GetVm(engine_pb2.GetVmRequest(vm_id=world.vm_ids[0][0])),
            lambda r: r.vm.host_id == world.host_ids[1],
        )


async def test_restart_while_the_engine_was_away_the_job_finished(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, speed=10) as world:
        migration = await migrate(world, world.vm_ids[0][0], max_bandwidth_mib_per_second=300)
        await wait_for(lambda: world.migration(migration.id), lambda m: m.phase == RUNNING)
        await world.engine.stop_migrations()  # the engine dies; the agent's job goes on and ends
        await wait_for(
            lambda: asyncio.sleep(0, world.agents[0].agent.jobs[migration.id].status.finished),
            bool,
        )
        await world.restart_engine()
        done = await world.wait_final(migration.id)
        assert done.phase == COMPLETED


# ---------------------------------------------------------------- progress to clients


async def _collect(stream: AsyncIterator[engine_pb2.WatchMigrationsResponse], into: list) -> None:  # type: ignore[type-arg]
    async for reply in stream:
        into.append(reply)


async def test_watch_migrations_snapshot_then_changes(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=2, speed=5) as world:
        earlier = await world.wait_final((await migrate(world, world.vm_ids[0][0])).id)
        seen: list[engine_pb2.WatchMigrationsResponse] = []
        stream = world.stub.WatchMigrations(
            engine_pb2.WatchMigrationsRequest(cluster_id=world.cluster_id, include_finished=True)
        )
        task = asyncio.create_task(_collect(stream, seen))
        await wait_for(
            lambda: asyncio.sleep(0, seen), lambda s: any(r.snapshot_complete for r in s)
        )
        assert [r.migration.id for r in seen[:-1]] == [earlier.id]
        migration = await migrate(world, world.vm_ids[1][0], max_bandwidth_mib_per_second=200)
        await world.wait_final(migration.id)
        updates = await wait_for(
            lambda: asyncio.sleep(0, [r.migration for r in seen if r.migration.id == migration.id]),
            lambda ms: ms and ms[-1].phase == COMPLETED,
        )
        phases = [m.phase for m in updates]
        assert phases[0] in (QUEUED, common_pb2.MIGRATION_PHASE_PREPARING)
        assert RUNNING in phases
        percents = [m.progress_percent for m in updates]
        assert percents == sorted(percents) and percents[-1] == 100
        assert len(updates) >= 4  # progress samples, not just phase changes
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_stuck_watcher_delays_nobody(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=4, vms_per_host=5, speed=20) as world:
        stuck = world.engine.migrations.watch()
        assert await stuck.__anext__() is None  # snapshot complete, then never read again
        # A gRPC client that opens the stream and never reads it.
        stuck_channel = engine_channel(
            world.server_address, admin_credentials(world.engine.authority)
        )
        stuck_call = engine_pb2_grpc.EngineServiceStub(stuck_channel).WatchMigrations(
            engine_pb2.WatchMigrationsRequest(include_finished=True)
        )
        await wait_for(lambda: asyncio.sleep(0, world.engine.hub.watcher_count), lambda n: n == 2)
        seen: list[engine_pb2.WatchMigrationsResponse] = []
        stream = world.stub.WatchMigrations(engine_pb2.WatchMigrationsRequest())
        task = asyncio.create_task(_collect(stream, seen))
        started = await asyncio.gather(*(migrate(world, vm) for vm in world.vm_ids[0]))
        await asyncio.gather(*(world.wait_final(m.id) for m in started))
        ids = {m.id for m in started}
        await wait_for(
            lambda: asyncio.sleep(
                0, {r.migration.id for r in seen if r.migration.phase == COMPLETED}
            ),
            lambda done: ids <= done,
        )
        # The stuck watchers hold at most one newest snapshot per migration.
        assert world.engine.hub.watcher_count == 3
        assert max(w.pending for w in world.engine.hub._watchers) <= len(ids)
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stuck.aclose()
        stuck_call.cancel()
        await stuck_channel.close()


async def test_source_agent_restart_mid_migration_is_followed_through(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, speed=10) as world:
        migration = await migrate(world, world.vm_ids[0][0], max_bandwidth_mib_per_second=200)
        await wait_for(
            lambda: world.migration(migration.id),
            lambda m: m.phase == RUNNING and m.data_processed_bytes > 0,
        )
        await world.agents[0].restart()
        done = await world.wait_final(migration.id)
        assert done.phase == COMPLETED and done.progress_percent == 100
        assert done.destination_host_id == world.host_ids[1]


async def test_refusals_say_why(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, speed=1) as world:
        vm_id = world.vm_ids[0][0]

        async def code_of(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            return caught.value.code(), caught.value.details() or ""

        code, why = await code_of(migrate(world, vm_id, to=0))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "already" in why
        code, _ = await code_of(migrate(world, "not-a-vm"))
        assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        running = await migrate(world, vm_id, max_bandwidth_mib_per_second=5)
        code, why = await code_of(migrate(world, vm_id))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and running.id in why
        await wait_for(lambda: world.migration(running.id), lambda m: m.phase == RUNNING)
        code, _ = await code_of(
            world.stub.SetMigrationBandwidth(
                engine_pb2.SetMigrationBandwidthRequest(migration_id=running.id)
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = await code_of(
            world.stub.CancelMigration(engine_pb2.CancelMigrationRequest(migration_id="mig-nope"))
        )
        assert code == grpc.StatusCode.NOT_FOUND
        cancelled = await world.stub.CancelMigration(
            engine_pb2.CancelMigrationRequest(migration_id=running.id)
        )
        assert cancelled.migration.phase == common_pb2.MIGRATION_PHASE_CANCELLED
        # Watching one finished migration: its final snapshot, then the marker.
        stream = world.stub.WatchMigrations(
            engine_pb2.WatchMigrationsRequest(migration_id=running.id)
        )
        first = await stream.read()
        second = await stream.read()
        assert first.migration.id == running.id and first.migration.phase == (
            common_pb2.MIGRATION_PHASE_CANCELLED
        )
        assert second.snapshot_complete
        stream.cancel()


async def test_maintenance_of_an_unreachable_host_is_refused(tmp_path: Path) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1) as world:
        await world.agents[0].stop(0)
        await wait_for(
            lambda: world.host(0), lambda h: h.status == engine_pb2.HOST_STATUS_UNREACHABLE
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await world.stub.SetHostMaintenance(
                engine_pb2.SetHostMaintenanceRequest(host_id=world.host_ids[0], enabled=True)
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "unreachable" in (caught.value.details() or "")


async def test_a_hanging_agent_does_not_hold_up_polling(tmp_path: Path) -> None:
    # A call deadline far beyond the test: host1's one poll stays in flight throughout, so
    # rounds that complete meanwhile did not wait for it, however slow the machine.
    async with orchestrated(tmp_path, hosts=3, vms_per_host=1, call_timeout_s=600) as world:
        hanging = world.agents[1].agent
        release = asyncio.Event()
        calls = 0

        async def hang() -> None:
            nonlocal calls
            calls += 1
            await release.wait()

        hanging.capabilities = hang  # type: ignore[method-assign]
        rounds = world.engine.monitor.rounds
        seen = (await world.host(0)).last_seen_at.ToDatetime()
        await wait_for(lambda: asyncio.sleep(0, calls), lambda n: n == 1)
        await wait_for(
            lambda: asyncio.sleep(0, world.engine.monitor.rounds), lambda r: r >= rounds + 3
        )
        assert calls == 1 and not release.is_set()  # still that first poll of host1
        assert (await world.host(0)).last_seen_at.ToDatetime() > seen
        assert (await world.host(1)).status == engine_pb2.HOST_STATUS_UP
        release.set()


async def test_a_hanging_agent_is_unreachable_once_its_call_deadline_passes(
    tmp_path: Path,
) -> None:
    async with orchestrated(tmp_path, hosts=2, vms_per_host=1, call_timeout_s=1) as world:
        release = asyncio.Event()

        async def hang() -> None:
            await release.wait()

        world.agents[1].agent.capabilities = hang  # type: ignore[method-assign]
        down = await wait_for(
            lambda: world.host(1), lambda h: h.status == engine_pb2.HOST_STATUS_UNREACHABLE
        )
        assert "in time" in down.status_reason
        assert (await world.host(0)).status == engine_pb2.HOST_STATUS_UP
        release.set()


async def _all_vms(world: World) -> list[engine_pb2.Vm]:
    return list((await world.stub.ListVms(engine_pb2.ListVmsRequest(page_size=1000))).vms)
