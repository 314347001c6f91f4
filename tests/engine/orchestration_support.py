"""A real engine (inventory + migration service + gRPC server) over real fake-driver agents.

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
from miglane.engine.agent_client import AgentClients
from miglane.engine.domain.model import (
    ClusterSpec,
    HostSpec,
    HostStatus,
    MigrationPolicy,
    NetworkRole,
    NetworkSpec,
)
from miglane.engine.events import EventHub
from miglane.engine.grpc_api.server import create_server
from miglane.engine.inventory import InventoryService
from miglane.engine.orchestrator import MigrationService
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

# Engine gRPC server (by id) -> the address it serves on.
ADDRESSES: dict[int, str] = {}

FINAL = {
    common_pb2.MIGRATION_PHASE_COMPLETED,
    common_pb2.MIGRATION_PHASE_FAILED,
    common_pb2.MIGRATION_PHASE_CANCELLED,
}


@dataclass
class World:
    tmp: Path
    agents: list[FakeAgent]
    inventory: InventoryService
    migrations: MigrationService
    server: grpc.aio.Server
    channel: grpc.aio.Channel
    stub: engine_pb2_grpc.EngineServiceStub
    cluster_id: str
    host_ids: list[str]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def server_address(self) -> str:
        return ADDRESSES[id(self.server)]

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
        await stop_engine(self.inventory, self.migrations, self.server, self.channel)
        parts = await start_engine(self.tmp / "engine")
        self.inventory, self.migrations, self.server, self.channel = parts
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


async def start_engine(
    state_dir: Path,
    *,
    poll_interval_s: float = 0.2,
    busy_retry_s: float = 0.5,
    persist_interval_s: float = 0.2,
    queue_interval_s: float = 0.2,
    call_timeout_s: float = 3.0,
) -> tuple[InventoryService, MigrationService, grpc.aio.Server, grpc.aio.Channel]:
    inventory = InventoryService.open(state_dir, hub=EventHub(100_000))
    migrations = MigrationService(
        inventory,
        AgentClients(call_timeout_s=call_timeout_s),
        poll_interval_s=poll_interval_s,
        busy_retry_s=busy_retry_s,
        persist_interval_s=persist_interval_s,
        queue_interval_s=queue_interval_s,
        follow_retry_s=0.2,
    )
    server, port = await create_server("127.0.0.1:0", inventory, migrations=migrations)
    await migrations.start()
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    ADDRESSES[id(server)] = f"127.0.0.1:{port}"
    return inventory, migrations, server, channel


async def stop_engine(
    inventory: InventoryService,
    migrations: MigrationService,
    server: grpc.aio.Server,
    channel: grpc.aio.Channel,
) -> None:
    await channel.close()
    inventory.end_streams()
    migrations.end_streams()
    await server.stop(0.5)
    await migrations.stop()
    await inventory.close()


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
    )
    inventory, migrations, server, channel = await start_engine(
        tmp / "engine", call_timeout_s=call_timeout_s
    )
    world: World | None = None
    try:
        cluster = await inventory.create_cluster(
            ClusterSpec(name="c1", compatibility_version=compatibility_version, policy=policy)
        )
        await inventory.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="mgmt",
                subnet="10.0.0.0/16",
                required=True,
                roles=(NetworkRole.MANAGEMENT,),
            )
        )
        if migration_network:
            await inventory.create_network(
                NetworkSpec(
                    cluster_id=cluster.id,
                    name="migration",
                    subnet="10.1.0.0/16",
                    roles=(NetworkRole.MIGRATION,),
                    qos_mbps=qos_mbps,
                )
            )
        host_ids = []
        for agent in agents:
            view = await inventory.add_host(
                HostSpec(cluster_id=cluster.id, name=agent.name, agent_address=agent.address)
            )
            host_ids.append(view.host.id)
        migrations.monitor.poll_soon()
        world = World(
            tmp,
            agents,
            inventory,
            migrations,
            server,
            channel,
            engine_pb2_grpc.EngineServiceStub(channel),
            cluster.id,
            host_ids,
        )
        expected = hosts * vms_per_host

        async def known() -> tuple[int, int]:
            listing = await inventory.list_hosts(cluster.id, page_size=1000)
            up = sum(1 for h in listing.items if h.host.status is not HostStatus.UNREACHABLE)
            vms = await inventory.list_vms(cluster.id, page_size=1000)
            return up, len(vms.items)

        await wait_for(known, lambda v: v == (hosts, expected), 60.0)
        yield world
    finally:
        if world is not None:
            inventory, migrations, server, channel = (
                world.inventory,
                world.migrations,
                world.server,
                world.channel,
            )
        await stop_engine(inventory, migrations, server, channel)
        await stop_fake_agents(agents, grace=0)
