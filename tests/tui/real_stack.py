"""A real engine in-process (port 0, state in a tmp dir) for the TUI tests, seeded over gRPC.

The engine is built as `miglane engine` builds it (`build_engine`, through
`miglane.testing.engine_stack` with short intervals).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import grpc.aio

from miglane.engine.app import Engine
from miglane.engine.inventory import Inventory
from miglane.testing.engine_stack import start_engine
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

MANAGEMENT = common_pb2.NETWORK_ROLE_MANAGEMENT
DISPLAY = common_pb2.NETWORK_ROLE_DISPLAY
MIGRATION = common_pb2.NETWORK_ROLE_MIGRATION

_numbers = itertools.count(1)


@dataclass
class RealEngine:
    state_dir: Path
    engine: Engine
    stub: engine_pb2_grpc.EngineServiceStub
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.engine.address

    @property
    def inventory(self) -> Inventory:
        return self.engine.inventory

    async def stop(self) -> None:
        await self.engine.stop(0.2)

    async def restart(self) -> None:
        """The engine process again, same state dir, same port."""
        self.engine = await start_engine(self.state_dir, listen=self.address)


@asynccontextmanager
async def real_engine(state_dir: Path) -> AsyncIterator[RealEngine]:
    engine = await start_engine(state_dir)
    channel = grpc.aio.insecure_channel(engine.address)
    real = RealEngine(state_dir, engine, engine_pb2_grpc.EngineServiceStub(channel))
    try:
        await seed(real)
        yield real
    finally:
        await channel.close(None)
        await real.stop()


async def seed(engine: RealEngine) -> None:
    """Cluster `prod`: `mgmt` (management, display), `migration` (the migration role) and
    `backup` (no role), on the fake agents' subnets; one host `spare` whose agent never answers."""
    stub = engine.stub
    cluster = (await stub.CreateCluster(engine_pb2.CreateClusterRequest(name="prod"))).cluster
    engine.ids["prod"] = cluster.id
    for name, subnet, roles, required in (
        ("mgmt", "10.0.0.0/16", [MANAGEMENT, DISPLAY], True),
        ("migration", "10.1.0.0/16", [MIGRATION], False),
        ("backup", "10.2.0.0/16", [], False),
    ):
        network = (
            await stub.CreateNetwork(
                engine_pb2.CreateNetworkRequest(
                    cluster_id=cluster.id, name=name, subnet=subnet, roles=roles, required=required
                )
            )
        ).network
        engine.ids[name] = network.id
    host = (
        await stub.AddHost(
            engine_pb2.AddHostRequest(
                cluster_id=cluster.id, name="spare", agent_address="127.0.0.1:9"
            )
        )
    ).host
    engine.ids["spare"] = host.id


async def holder_of_migration_role(engine: RealEngine) -> str:
    networks = (
        await engine.stub.ListNetworks(
            engine_pb2.ListNetworksRequest(cluster_id=engine.ids["prod"])
        )
    ).networks
    return next((n.name for n in networks if MIGRATION in n.roles), "")


async def record_running_migration(engine: RealEngine) -> str:
    """A VM of host `spare` (whose agent never answers) with a running migration record, written
    into the engine's store directly. Returns the VM's name."""
    from miglane.engine.domain.model import Migration, MigrationPhase, Vm, VmState

    number = next(_numbers)
    host_id, cluster_id = engine.ids["spare"], engine.ids["prod"]
    vm = Vm(
        id=f"00000000-0000-0000-0000-{number:012d}",
        name=f"web-{number}",
        host_id=host_id,
        cluster_id=cluster_id,
        state=VmState.RUNNING,
        memory_mib=1024,
    )

    def add_vm(store):  # type: ignore[no-untyped-def]
        store.replace_host_vms(host_id, [*store.vms_of_host(host_id), vm])
        return vm, []

    await engine.inventory.worker.transact(add_vm)
    migration = Migration(
        id=f"mig-tui-{number}",
        cluster_id=cluster_id,
        vm_id=vm.id,
        vm_name=vm.name,
        source_host_id=host_id,
        phase=MigrationPhase.RUNNING,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    def add_migration(store):  # type: ignore[no-untyped-def]
        store.insert_migration(migration)
        return migration, []

    await engine.inventory.worker.transact(add_migration)
    return vm.name
