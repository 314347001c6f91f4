"""WatchEvents: many clients, replay without gaps, filters, slow clients, shutdown."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from engine_support import Engine, running_engine
from migration_writers import emit

from miglane.engine.domain.errors import Reason
from miglane.engine.domain.model import Event, EventType
from miglane.engine.events import EventHub, SubscriptionOverflow
from miglane.v1 import common_pb2, engine_pb2_grpc
from miglane.v1 import engine_pb2 as pb
from miglane.v1.rich_errors import error_details

pytestmark = pytest.mark.both_store_backends

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def event(sequence: int, cluster: str = "c") -> Event:
    return Event(
        EventType.CLUSTER_UPDATED, f"e{sequence}", NOW, sequence=sequence, cluster_id=cluster
    )


# ---------------------------------------------------------------- the hub


async def test_hub_fans_out_and_filters() -> None:
    hub = EventHub(queue_size=10)
    everything = hub.subscribe()
    only_b = hub.subscribe(lambda e: e.cluster_id == "b")
    hub.publish([event(1, "a"), event(2, "b")])
    assert [(await everything.next()).sequence for _ in range(2)] == [1, 2]  # type: ignore[union-attr]
    assert (await only_b.next()).sequence == 2  # type: ignore[union-attr]
    hub.close()
    assert await everything.next() is None and await only_b.next() is None
    assert await hub.subscribe().next() is None  # closed hub: ends at once


async def test_hub_drops_a_full_subscriber_after_delivering_what_it_buffered() -> None:
    hub = EventHub(queue_size=3)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish([event(1), event(2)])
    assert [(await fast.next()).sequence for _ in range(2)] == [1, 2]  # type: ignore[union-attr]
    hub.publish([event(3), event(4)])  # slow now holds 4 > 3: dropped, publish did not wait
    assert hub.subscriber_count == 1
    assert [(await slow.next()).sequence for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]
    with pytest.raises(SubscriptionOverflow):
        await slow.next()
    assert [(await fast.next()).sequence for _ in range(2)] == [3, 4]  # type: ignore[union-attr]


# ---------------------------------------------------------------- over gRPC


async def collect(
    stub: engine_pb2_grpc.EngineServiceStub, count: int, **request: object
) -> list[pb.Event]:
    call = stub.WatchEvents(pb.WatchEventsRequest(**request))  # type: ignore[arg-type]
    got = []
    async for item in call:
        got.append(item.event)
        if len(got) == count:
            break
    call.cancel()
    return got


# Deadlines only bound a failing test: a loaded machine is slow, never wrong.
DEADLINE_S = 30.0


async def wait_for_subscribers(engine: Engine, count: int, *, at_most: bool = False) -> None:
    """Until the hub has at least `count` subscribers (at most, with `at_most`)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        have = engine.inventory.audit.hub.subscriber_count
        if (have <= count) if at_most else (have >= count):
            return
        await asyncio.sleep(0.01)
    have = engine.inventory.audit.hub.subscriber_count
    raise AssertionError(f"{have} subscribers after {DEADLINE_S} s, wanted {count}")


async def test_many_clients_see_every_event_in_order(engine: Engine) -> None:
    stub = engine.stub
    cluster = (await stub.CreateCluster(pb.CreateClusterRequest(name="c1"))).cluster
    # Each client starts after sequence 1: whenever it subscribes, replay + live give the rest.
    clients = [asyncio.create_task(collect(stub, 8, after_sequence=1)) for _ in range(5)]
    for i in range(3):
        request = pb.CreateNetworkRequest(
            cluster_id=cluster.id, name=f"n{i}", subnet=f"10.0.{i}.0/24"
        )
        net = (await stub.CreateNetwork(request)).network
        await stub.SetNetworkRole(
            pb.SetNetworkRoleRequest(network_id=net.id, role=common_pb2.NETWORK_ROLE_MIGRATION)
        )
    request = pb.AddHostRequest(cluster_id=cluster.id, name="h", agent_address="h:1")
    host = (await stub.AddHost(request)).host
    await stub.RemoveHost(pb.RemoveHostRequest(host_id=host.id))
    results = await asyncio.wait_for(asyncio.gather(*clients), DEADLINE_S)
    listed = (await stub.ListEvents(pb.ListEventsRequest(after_sequence=1))).events
    assert [e.sequence for e in listed] == list(range(2, 10))
    for got in results:
        assert got == list(listed)
    # Clients that went away no longer hold subscriptions.
    await wait_for_subscribers(engine, 0, at_most=True)
    types = [pb.EventType.Name(e.type)[len("EVENT_TYPE_") :] for e in results[0]]
    assert types == [
        "NETWORK_CREATED", "ROLE_GRANTED", "NETWORK_CREATED", "ROLE_MOVED",
        "NETWORK_CREATED", "ROLE_MOVED", "HOST_ADDED", "HOST_REMOVED",
    ]  # fmt: skip


async def test_zero_sends_only_new_events_and_filters_by_cluster(engine: Engine) -> None:
    stub = engine.stub
    c1 = (await stub.CreateCluster(pb.CreateClusterRequest(name="c1"))).cluster
    watcher = asyncio.create_task(collect(stub, 1, cluster_id=c1.id))
    await wait_for_subscribers(engine, 1)
    await stub.CreateCluster(pb.CreateClusterRequest(name="c2"))  # another cluster: filtered out
    await stub.UpdateCluster(pb.UpdateClusterRequest(cluster_id=c1.id, description="x"))
    (got,) = await asyncio.wait_for(watcher, DEADLINE_S)
    assert got.type == pb.EVENT_TYPE_CLUSTER_UPDATED and got.cluster_id == c1.id


async def test_a_stuck_client_does_not_hold_back_others_or_the_engine(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "state", queue_size=16) as engine:
        stub = engine.stub
        await stub.CreateCluster(pb.CreateClusterRequest(name="c1"))
        # A client that subscribes and never reads, on its own connection without window growth.
        stuck_channel = engine.new_channel(options=[("grpc.http2.bdp_probe", 0)])
        stuck = engine_pb2_grpc.EngineServiceStub(stuck_channel).WatchEvents(
            pb.WatchEventsRequest(after_sequence=1)
        )
        await wait_for_subscribers(engine, 1)
        # A client that keeps up: the producer waits for it between batches, as the engine's
        # real pace (one transaction per change) would let it.
        received: list[int] = []
        progressed = asyncio.Event()

        async def keep_up() -> None:
            async for item in stub.WatchEvents(pb.WatchEventsRequest(after_sequence=1)):
                received.append(item.event.sequence)
                progressed.set()

        reader = asyncio.create_task(keep_up())
        await wait_for_subscribers(engine, 2)
        total, batch, padding = 800, 4, "x" * 2000
        for start in range(0, total, batch):
            events = [
                Event(EventType.CLUSTER_UPDATED, f"{start + k} {padding}", NOW, cluster_id="c")
                for k in range(batch)
            ]
            # Never blocked by `stuck` (a block would hang here until the deadline).
            await asyncio.wait_for(emit(engine.inventory.worker, events), DEADLINE_S)
            while len(received) < start + batch:
                progressed.clear()
                await asyncio.wait_for(progressed.wait(), DEADLINE_S)
        assert received == list(range(2, total + 2))
        reader.cancel()
        # The stuck client was dropped once its buffer filled, not waited for.
        assert engine.inventory.audit.hub.subscriber_count <= 1
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stuck:
                pass
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = caught.value.details() or ""
        said = error_details(caught.value.trailing_metadata())
        assert said.reason == Reason.CONSUMER_TOO_SLOW
        resume = int(said.metadata["resume_after"])
        assert f"reconnect with after_sequence={resume}" in details
        assert 1 < resume < total, resume
        # Resuming from there loses nothing.
        rest = await collect(stub, total + 1 - resume, after_sequence=resume)
        assert [e.sequence for e in rest] == list(range(resume + 1, total + 2))
        await stuck_channel.close()


async def test_overflow_then_resume_without_gap(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "state", queue_size=4) as engine:
        call = engine.stub.WatchEvents(pb.WatchEventsRequest())
        await wait_for_subscribers(engine, 1)
        await emit(
            engine.inventory.worker,
            [Event(EventType.CLUSTER_UPDATED, f"e{i}", NOW) for i in range(10)],
        )
        received = []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for item in call:
                received.append(item.event.sequence)
        assert received == [1, 2, 3, 4]
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "fell more than 4 events behind" in (caught.value.details() or "")
        said = error_details(caught.value.trailing_metadata())
        assert (said.reason, said.metadata["resume_after"]) == (Reason.CONSUMER_TOO_SLOW, "4")
        rest = await collect(engine.stub, 6, after_sequence=4)
        assert [e.sequence for e in rest] == list(range(5, 11))


async def test_streams_end_cleanly_when_the_engine_stops(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "state") as engine:
        call = engine.stub.WatchEvents(pb.WatchEventsRequest())
        await wait_for_subscribers(engine, 1)
        engine.inventory.audit.end_streams()
        assert [item async for item in call] == []
        assert await call.code() == grpc.StatusCode.OK
