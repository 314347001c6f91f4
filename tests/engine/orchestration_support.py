"""A real engine (`build_engine`, `miglane.testing.engine_stack`) over real fake-driver agents.

    async with orchestrated(tmp_path, hosts=3, vms_per_host=2) as world:
        reply = await world.stub.MigrateVm(pb.MigrateVmRequest(vm_id=world.vm_ids[0][0]))

Host i's agent has eth0 on the management network 10.0.0.0/16 (required) and mig0 on the
migration network 10.1.0.0/16 (`start_fake_agents`' defaults); the fake clock runs `speed`
times faster than real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from miglane.agent.domain.model import Nic
from miglane.agent.testing import FakeAgent, default_nics, start_fake_agents, stop_fake_agents
from miglane.engine.app import Engine
from miglane.engine.domain.model import MigrationPolicy
from miglane.engine.inventory import Inventory
from miglane.testing.engine_stack import (
    engine_authority,
    fake_agent_cluster,
    start_engine,
    wait_until_polled,
)
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

FINAL = {
    common_pb2.MIGRATION_PHASE_COMPLETED,
    common_pb2.MIGRATION_PHASE_FAILED,
    common_pb2.MIGRATION_PHASE_CANCELLED,
}


@dataclass
class World:
    tmp: Path
    agents: list[FakeAgent]
    engine: Engine
    channel: grpc.aio.Channel
    stub: engine_pb2_grpc.EngineServiceStub
    cluster_id: str
    host_ids: list[str]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def server_address(self) -> str:
        return self.engine.address

    @property
    def inventory(self) -> Inventory:
        return self.engine.inventory

    @property
    def vm_ids(self) -> list[list[str]]:
        return [agent.vm_ids for agent in self.agents]

    async def migration(self, migration_id: str) -> engine_pb2.Migration:
        reply = await self.stub.GetMigration(
            engine_pb2.GetMigrationRequest(migration_id=migration_id)
        )
        return reply.migration

    async def wait_final(self, migration_id: str, timeout: float = 30.0) -> engine_pb2.Migration:
        return await wait_for(
            lambda: self.migration(migration_id), lambda m: m.phase in FINAL, timeout
        )

    async def events(self, type_: int | None = None) -> list[engine_pb2.Event]:
        reply = await self.stub.ListEvents(engine_pb2.ListEventsRequest(page_size=1000))
        return [e for e in reply.events if type_ is None or e.type == type_]

    async def restart_engine(self) -> None:
        """A new engine on the same state dir; the old one stops following its migrations
        without ending any record, as a killed engine would."""
        await stop_engine(self.engine, self.channel)
        self.engine = await start_engine(self.tmp / "engine")
        self.channel = engine_channel(self.engine.address, admin_credentials(self.engine.authority))
        self.stub = engine_pb2_grpc.EngineServiceStub(self.channel)

    async def host(self, index: int) -> engine_pb2.Host:
        reply = await self.stub.GetHost(engine_pb2.GetHostRequest(host_id=self.host_ids[index]))
        return reply.host


async def wait_for(
    fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0
) -> Any:
    """Polls `fetch` until `done` holds of its value. The deadline only bounds a failing
    test: a loaded machine is slow, never wrong."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value}")
        await asyncio.sleep(0.05)


async def stop_engine(engine: Engine, channel: grpc.aio.Channel) -> None:
    await channel.close()
    await engine.stop(0.5)


@contextlib.asynccontextmanager
async def orchestrated(
    tmp: Path,
    *,
    hosts: int = 3,
    vms_per_host: int = 2,
    vm_memory_mib: int = 1024,
    speed: float = 50.0,
    max_outgoing: int = 2,
    policy: MigrationPolicy | None = None,
    nics: Callable[[int], Sequence[Nic]] = default_nics,
    migration_network: bool = True,
    compatibility_version: str = "",
    qos_mbps: int | None = None,
    call_timeout_s: float = 3.0,
) -> AsyncIterator[World]:
    _, agents = await start_fake_agents(
        hosts,
        vms_per_host=vms_per_host,
        vm_memory_mib=vm_memory_mib,
        speed=speed,
        poll_interval=0.05,
        max_outgoing=max_outgoing,
        nics=nics,
        state_root=str(tmp / "agents"),
        authority=engine_authority(tmp / "engine"),
    )
    engine = await start_engine(tmp / "engine", agent_timeout_s=call_timeout_s)
    channel = engine_channel(engine.address, admin_credentials(engine.authority))
    world = World(tmp, agents, engine, channel, engine_pb2_grpc.EngineServiceStub(channel), "", [])
    try:
        world.cluster_id, world.host_ids = await fake_agent_cluster(
            engine,
            agents,
            policy=policy,
            compatibility_version=compatibility_version,
            migration_network=migration_network,
            qos_mbps=qos_mbps,
        )
        await wait_until_polled(
            engine, world.cluster_id, hosts=hosts, vms=hosts * vms_per_host, timeout_s=60.0
        )
        yield world
    finally:
        await stop_engine(world.engine, world.channel)
        await stop_fake_agents(agents, grace=0)
