"""One engine over a fleet of fake-driver agents (each on its own loopback address, mutual
TLS), its hosts' state streamed (WatchHost): every host's state reaches the engine, and so does
every change after it; an agent without WatchHost is polled instead. Timings are the
benchmark's (bench/bench_scale.py); here only what the engine knows is checked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from miglane.agent.grpc_api.servicer import AgentServicer
from miglane.agent.testing import FakeAgent, start_fleet, stop_fake_agents
from miglane.engine.app import Engine
from miglane.engine.domain.model import HostStatus
from miglane.testing.engine_stack import (
    engine_authority,
    fake_agent_cluster,
    start_engine,
    wait_until_polled,
)
from miglane.v1 import agent_pb2_grpc

FLEET_HOSTS = 200
VMS_PER_HOST = 2
POLL_INTERVAL_S = 0.5
# Bounds a failing run only: a loaded machine is slow, never wrong.
DEADLINE_S = 180.0


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.1)


async def hosts_of_vms(engine: Engine, cluster_id: str) -> dict[str, str]:
    """VM id -> its host's name, as the engine knows it."""

    def read(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
        names = {host.id: host.name for host in store.all_hosts()}
        vms, after = {}, 0
        while True:
            page = store.list_vms(cluster_id, "", after, 1000)
            vms.update({vm.id: names[vm.host_id] for vm in page.items})
            if page.next_after is None:
                return vms
            after = page.next_after

    return await engine.inventory.worker.read(read)


async def statuses(engine: Engine) -> dict[str, HostStatus]:
    hosts = await engine.inventory.worker.read(lambda store: store.all_hosts())
    return {host.name: host.status for host in hosts}


@pytest.fixture
async def fleet_world(tmp_path: Path) -> AsyncIterator[tuple[Engine, str, list[FakeAgent]]]:
    _, agents = await start_fleet(
        FLEET_HOSTS,
        VMS_PER_HOST,
        state_root=str(tmp_path / "agents"),
        authority=engine_authority(tmp_path / "engine"),
    )
    engine = await start_engine(tmp_path / "engine", poll_interval_s=POLL_INTERVAL_S)
    try:
        cluster_id, _ = await fake_agent_cluster(engine, agents)
        yield engine, cluster_id, agents
    finally:
        await engine.stop(0)
        await stop_fake_agents(agents, grace=0)


async def test_every_host_and_every_change_of_a_fleet_reaches_the_engine(
    fleet_world: tuple[Engine, str, list[FakeAgent]],
) -> None:
    engine, cluster_id, agents = fleet_world
    await wait_until_polled(
        engine,
        cluster_id,
        hosts=FLEET_HOSTS,
        vms=FLEET_HOSTS * VMS_PER_HOST,
        timeout_s=DEADLINE_S,
    )
    expected = {vm: agent.name for agent in agents for vm in agent.vm_ids}
    assert await hosts_of_vms(engine, cluster_id) == expected

    # A change on every seventh host, all at once: each reaches the engine, on its host.
    for agent in agents[::7]:
        expected[agent.host.add_domain(f"{agent.name}-late", memory_mib=128)] = agent.name

    async def all_changes_known() -> bool:
        return await hosts_of_vms(engine, cluster_id) == expected

    await until(all_changes_known, "every VM added on the fleet known on its host")

    # An agent gone: its host unreachable; the others stay up.
    gone = agents[FLEET_HOSTS // 2]
    await gone.stop(0)

    async def only_that_host_unreachable() -> bool:
        down = {n for n, s in (await statuses(engine)).items() if s is HostStatus.UNREACHABLE}
        return down == {gone.name}

    await until(only_that_host_unreachable, f"{gone.name} unreachable, the others up")


async def test_an_agent_without_watch_host_is_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The servicer of an agent that predates WatchHost: UNIMPLEMENTED.
    monkeypatch.setattr(AgentServicer, "WatchHost", agent_pb2_grpc.AgentServiceServicer.WatchHost)
    _, agents = await start_fleet(
        2, 1, state_root=str(tmp_path / "agents"), authority=engine_authority(tmp_path / "engine")
    )
    engine = await start_engine(tmp_path / "engine", poll_interval_s=0.2)
    try:
        cluster_id, _ = await fake_agent_cluster(engine, agents)
        await wait_until_polled(engine, cluster_id, hosts=2, vms=2, timeout_s=DEADLINE_S)
        added = agents[1].host.add_domain("polled-late", memory_mib=128)

        async def known() -> bool:
            return (await hosts_of_vms(engine, cluster_id)).get(added) == agents[1].name

        await until(known, "a VM added on a polled agent known")
    finally:
        await engine.stop(0)
        await stop_fake_agents(agents, grace=0)
