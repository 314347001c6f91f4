"""WatchHost: the host's state streamed to the engine (a snapshot, then a new one on each
change, heartbeats in between), through real grpc.aio servers of a fleet on its own loopback
addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest

from miglane.agent.host_watch import (
    DEFAULT_HOST_WATCH_INTERVAL_S,
    MIN_HOST_WATCH_INTERVAL_S,
    changes,
    watch_interval_s,
)
from miglane.agent.testing import (
    FLEET_FIRST_ADDRESS,
    FakeAgent,
    fleet_address,
    start_fleet,
    stop_fake_agents,
)
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc

INTERVAL_MS = 50


@pytest.fixture
async def fleet(tmp_path) -> AsyncIterator[list[FakeAgent]]:  # type: ignore[no-untyped-def]
    _, agents = await start_fleet(3, 2, state_root=str(tmp_path))
    yield agents
    await stop_fake_agents(agents, grace=0)


@pytest.mark.parametrize(
    ("requested_ms", "interval_s"),
    [
        (0, DEFAULT_HOST_WATCH_INTERVAL_S),
        (1, MIN_HOST_WATCH_INTERVAL_S),
        (250, 0.25),
    ],
)
def test_watch_interval(requested_ms: int, interval_s: float) -> None:
    assert watch_interval_s(requested_ms) == interval_s


async def test_changes_sends_a_sample_once_and_heartbeats_while_it_holds() -> None:
    samples = iter(["a", "a", "b", "b", "a"])

    async def sample() -> str:
        return next(samples)

    stream = changes(sample, 0)
    assert [await anext(stream) for _ in range(5)] == ["a", None, "b", None, "a"]


def test_fleet_addresses_are_consecutive_loopback_addresses() -> None:
    first, next_one = ipaddress.ip_address(fleet_address(0)), fleet_address(1)
    assert first == FLEET_FIRST_ADDRESS and first.is_loopback
    assert ipaddress.ip_address(next_one) == FLEET_FIRST_ADDRESS + 1
    with pytest.raises(ValueError, match="at most"):
        fleet_address(-1)


async def test_a_fleet_serves_each_agent_on_its_own_address(fleet: list[FakeAgent]) -> None:
    hosts = [agent.address.rpartition(":")[0] for agent in fleet]
    assert hosts == [fleet_address(i) for i in range(len(fleet))]
    for agent in fleet:
        async with agent.channel() as channel:
            reply = await agent_pb2_grpc.AgentServiceStub(channel).ListVms(pb.ListVmsRequest())
        assert sorted(vm.id for vm in reply.vms) == sorted(agent.vm_ids)


async def test_watch_host_sends_a_snapshot_heartbeats_then_each_change(
    fleet: list[FakeAgent],
) -> None:
    agent = fleet[0]
    async with agent.channel() as channel:
        call = agent_pb2_grpc.AgentServiceStub(channel).WatchHost(
            pb.WatchHostRequest(interval_ms=INTERVAL_MS)
        )
        replies = aiter(call)
        snapshot = await anext(replies)
        assert not snapshot.unchanged
        assert snapshot.capabilities.hostname and snapshot.capabilities.nics
        assert sorted(vm.id for vm in snapshot.vms) == sorted(agent.vm_ids)
        heartbeat = await anext(replies)
        assert heartbeat.unchanged and not heartbeat.HasField("capabilities")

        added = agent.host.add_domain(f"{agent.name}-new", memory_mib=128)
        reply = heartbeat
        while reply.unchanged:  # the change comes with the next sample
            reply = await anext(replies)
        assert sorted(vm.id for vm in reply.vms) == sorted([*agent.vm_ids, added])
        call.cancel()
