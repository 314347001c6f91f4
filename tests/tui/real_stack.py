"""The TUI tests' engine: a real engine in-process (port 0, state in a tmp dir) with fake-driver
agents (`miglane.agent.testing`), holding the example cluster every TUI test and snapshot uses.

Screens must not change from run to run, so the engine gets a clock that stands still unless a
test moves it, and ids that count up (`cl-0001`, `mig-0003`); the VMs get fixed UUIDs. The
engine is built by the composition root, `build_engine`, in `start_engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import grpc.aio

from miglane.agent.domain.model import MIB, DirtyRate, DiskKind, Nic, VmDisk
from miglane.agent.fake_driver import FakeClock, FakeFabric
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.engine.app import Engine, build_engine
from miglane.engine.inventory import Inventory
from miglane.testing.engine_stack import quick_config
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.tui.grpc_client import GrpcEngineClient
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

MANAGEMENT = common_pb2.NETWORK_ROLE_MANAGEMENT
DISPLAY = common_pb2.NETWORK_ROLE_DISPLAY
MIGRATION = common_pb2.NETWORK_ROLE_MIGRATION
ENDED_PHASES = frozenset(
    {
        common_pb2.MIGRATION_PHASE_COMPLETED,
        common_pb2.MIGRATION_PHASE_FAILED,
        common_pb2.MIGRATION_PHASE_CANCELLED,
    }
)
# The fake hosts' memory runs this many times faster than real time.
FABRIC_SPEED = 20.0
# What the snapshots show in place of the engine's port (chosen by the OS, 5 digits).
SHOWN_ADDRESS = "127.0.0.1:50051"
_PORT = re.compile(r"127\.0\.0\.1:\d{5}")


class ManualClock:
    """The engine's clock: stands still at 2026-01-01 09:00 UTC until a test advances it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def counting_ids() -> Callable[[str], str]:
    """`prefix-0001`, `prefix-0002`, … one count per prefix."""
    counters: dict[str, itertools.count[int]] = {}

    def make_id(prefix: str) -> str:
        return f"{prefix}-{next(counters.setdefault(prefix, itertools.count(1))):04d}"

    return make_id


async def start_engine(
    state_dir: Path, address: str, clock: ManualClock, make_id: Callable[[str], str]
) -> Engine:
    """The engine as `miglane engine` builds it (short poll intervals), serving on `address`."""
    config = replace(quick_config(state_dir), listen=address, grace_s=0.2)
    engine = await build_engine(config, clock=clock, new_id=make_id)
    await engine.start()
    return engine


# ------------------------------------------------------------------ the example cluster


@dataclass(frozen=True)
class HostPlan:
    cluster: str
    name: str
    # (network, NIC, address on the network's subnet, link up)
    nics: tuple[tuple[str, str, str, bool], ...]
    # (VM name, memory MiB)
    vms: tuple[tuple[str, int], ...] = ()


# (cluster, compatibility level ("": the newest))
CLUSTERS = (("prod", ""), ("legacy", "3.2"))
# (cluster, network, subnet, required, roles)
NETWORKS = (
    ("prod", "ovirtmgmt", "10.0.1.0/24", True, (MANAGEMENT, DISPLAY)),
    ("prod", "migration", "10.0.2.0/24", False, (MIGRATION,)),
    ("prod", "storage", "10.0.3.0/24", True, ()),
    ("legacy", "ovirtmgmt", "10.1.1.0/24", True, (MANAGEMENT,)),
    ("legacy", "mig-legacy", "10.1.2.0/24", False, ()),
)
HOSTS = (
    HostPlan(
        "prod",
        "host1",
        (
            ("ovirtmgmt", "eth0", "10.0.1.11", True),
            ("migration", "eth1", "10.0.2.11", True),
            ("storage", "eth2", "10.0.3.11", True),
        ),
        (("web-1", 2048), ("web-2", 4096), ("db-1", 8192)),
    ),
    HostPlan(
        "prod",
        "host2",
        (
            ("ovirtmgmt", "eth0", "10.0.1.12", True),
            ("migration", "eth1", "10.0.2.12", True),
            ("storage", "eth2", "10.0.3.12", True),
        ),
        (("cache-1", 1024),),
    ),
    HostPlan(
        "prod",
        "host3",
        (
            ("ovirtmgmt", "eth0", "10.0.1.13", True),
            ("migration", "eth1", "10.0.2.13", False),
            ("storage", "eth2", "10.0.3.13", True),
        ),
        (("batch-1", 2048),),
    ),
    # Lacks the required network `storage`: non-operational.
    HostPlan(
        "prod",
        "host4",
        (("ovirtmgmt", "eth0", "10.0.1.14", True), ("migration", "eth1", "10.0.2.14", True)),
    ),
    HostPlan(
        "legacy",
        "old1",
        (("ovirtmgmt", "eno1", "10.1.1.11", True), ("mig-legacy", "eno2", "10.1.2.11", True)),
        (("legacy-app", 1024),),
    ),
    HostPlan(
        "legacy",
        "old2",
        (("ovirtmgmt", "eno1", "10.1.1.12", True), ("mig-legacy", "eno2", "10.1.2.12", True)),
    ),
)


# Disks of some VMs, on network storage (any host may take them).
VM_DISKS = {
    "web-1": (VmDisk("vda", DiskKind.SHARED, 20 * 1024**3, "raw", "nbd://10.0.3.250/web-1"),),
    "db-1": (VmDisk("vda", DiskKind.SHARED, 100 * 1024**3, "raw", "nbd://10.0.3.250/db-1"),),
}
# Dirty rates (MiB/s) of some VMs, as if their agents had measured them at one fixed moment;
# the others show as not measured.
VM_DIRTY_MIBPS = {"web-1": 12.5, "db-1": 140.0, "cache-1": 0.0}
DIRTY_RATES_MEASURED_AT = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _nics(index: int) -> list[Nic]:
    plan = HOSTS[index]
    prefix = {network: subnet.split("/")[1] for _, network, subnet, _, _ in NETWORKS}
    return [
        Nic(
            nic,
            f"52:54:00:00:{index:02x}:{k:02x}",
            (f"{address}/{prefix[network]}",),
            up,
            10000,
            1500,
        )
        for k, (network, nic, address, up) in enumerate(plan.nics)
    ]


@dataclass
class RealEngine:
    """The engine, its fake hosts, and the ids of everything by name ("prod", "host3", "web-1";
    networks as "prod/migration")."""

    state_dir: Path
    clock: ManualClock
    make_id: Callable[[str], str]
    engine: Engine
    stub: engine_pb2_grpc.EngineServiceStub
    fabric: FakeFabric
    agents: dict[str, FakeAgent] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.engine.address

    @property
    def inventory(self) -> Inventory:
        return self.engine.inventory

    def client(self) -> GrpcEngineClient:
        return GrpcEngineClient(self.address, admin_credentials(self.engine.authority))

    async def stop(self) -> None:
        await self.engine.stop()

    async def restart(self) -> None:
        """The engine process again, same state dir, same port."""
        self.engine = await start_engine(self.state_dir, self.address, self.clock, self.make_id)

    async def migrate(
        self, vm: str, destination: str = "", max_bandwidth_mibps: int | None = None
    ) -> engine_pb2.Migration:
        request = engine_pb2.MigrateVmRequest(
            vm_id=self.ids[vm],
            destination_host_id=self.ids[destination] if destination else "",
            max_bandwidth_mib_per_second=max_bandwidth_mibps,
        )
        return (await self.stub.MigrateVm(request)).migration

    async def migration(self, migration_id: str) -> engine_pb2.Migration:
        request = engine_pb2.GetMigrationRequest(migration_id=migration_id)
        return (await self.stub.GetMigration(request)).migration

    async def cancel_or_let_end(self, migration_id: str, timeout_s: float = 30.0) -> None:
        """Cancels the migration unless it ended first; returns once it has ended either way."""
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self.stub.CancelMigration(
                engine_pb2.CancelMigrationRequest(migration_id=migration_id)
            )
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (await self.migration(migration_id)).phase not in ENDED_PHASES:
            assert asyncio.get_running_loop().time() < deadline, f"{migration_id} never ended"
            await asyncio.sleep(0.05)

    async def vm(self, name: str) -> engine_pb2.Vm:
        return (await self.stub.GetVm(engine_pb2.GetVmRequest(vm_id=self.ids[name]))).vm

    async def host(self, name: str) -> engine_pb2.Host:
        return (await self.stub.GetHost(engine_pb2.GetHostRequest(host_id=self.ids[name]))).host

    async def role_holder(self, cluster: str) -> str:
        """The name of the network holding the migration role in `cluster` ("" for none)."""
        request = engine_pb2.ListNetworksRequest(cluster_id=self.ids[cluster])
        networks = (await self.stub.ListNetworks(request)).networks
        return next((n.name for n in networks if MIGRATION in n.roles), "")

    async def slow_down(self, cluster: str = "prod") -> None:
        """New migrations of `cluster` crawl at 1 MiB/s: long enough to act on while they run."""
        policy = engine_pb2.MigrationPolicy(
            bandwidth_mode=engine_pb2.BANDWIDTH_MODE_CUSTOM, custom_mib_per_second=1
        )
        await self.stub.UpdateCluster(
            engine_pb2.UpdateClusterRequest(cluster_id=self.ids[cluster], policy=policy)
        )

    def freeze_memory_copies(self) -> None:
        """Migrations stay where they are (the fake hosts' clock all but stops)."""
        # Not 0: the fake driver divides by it. At this speed a copy moves less than a byte
        # in a day.
        self.fabric.clock.set_speed(1e-15)

    async def wait_until(
        self, predicate: Callable[[], Awaitable[object]], what: str, timeout: float = 30.0
    ) -> None:
        """Polls the engine until `predicate` holds; fails after `timeout` s naming `what`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)


def shown(text: str) -> str:
    """Screen text with the engine's port replaced by `SHOWN_ADDRESS`, for snapshots."""
    return _PORT.sub(SHOWN_ADDRESS, text)


async def _build_example_cluster(engine: RealEngine) -> None:
    stub = engine.stub
    for name, level in CLUSTERS:
        request = engine_pb2.CreateClusterRequest(name=name, compatibility_version=level)
        engine.ids[name] = (await stub.CreateCluster(request)).cluster.id
    for cluster, name, subnet, required, roles in NETWORKS:
        request = engine_pb2.CreateNetworkRequest(
            cluster_id=engine.ids[cluster],
            name=name,
            subnet=subnet,
            required=required,
            roles=list(roles),
        )
        engine.ids[f"{cluster}/{name}"] = (await stub.CreateNetwork(request)).network.id
    engine.fabric, agents = await start_fake_agents(
        len(HOSTS),
        fabric=engine.fabric,
        nics=_nics,
        name_prefix="fake",
        authority=engine.engine.authority,
        identities=[plan.name for plan in HOSTS],
        measure_dirty_rates=False,
    )
    numbers = itertools.count(1)
    for plan, agent in zip(HOSTS, agents, strict=True):
        engine.agents[plan.name] = agent
        for vm, memory_mib in plan.vms:
            vm_id = f"00000000-0000-4000-8000-{next(numbers):012d}"
            engine.ids[vm] = agent.host.add_domain(
                vm, memory_mib=memory_mib, vm_id=vm_id, disks=VM_DISKS.get(vm, ())
            )
            if vm in VM_DIRTY_MIBPS:  # fixed figures, as if the agent had measured them
                agent.agent.dirty_rates.rates[vm_id] = DirtyRate(
                    int(VM_DIRTY_MIBPS[vm] * MIB), DIRTY_RATES_MEASURED_AT
                )
        request = engine_pb2.AddHostRequest(
            cluster_id=engine.ids[plan.cluster], name=plan.name, agent_address=agent.address
        )
        engine.ids[plan.name] = (await stub.AddHost(request)).host.id
        # Each host's first report before the next host: the events come in the same order
        # every run.
        await _wait_for_report(engine, plan)


async def _wait_for_report(engine: RealEngine, plan: HostPlan) -> None:
    """Until the host's VMs are listed and it no longer waits for its agent's first answer."""

    async def reported() -> bool:
        host = await engine.host(plan.name)
        request = engine_pb2.ListVmsRequest(cluster_id=engine.ids[plan.cluster])
        vms = {vm.name for vm in (await engine.stub.ListVms(request)).vms}
        return host.status in (
            engine_pb2.HOST_STATUS_UP,
            engine_pb2.HOST_STATUS_NON_OPERATIONAL,
        ) and all(vm in vms for vm, _ in plan.vms)

    await engine.wait_until(reported, f"{plan.name}'s first report")


@asynccontextmanager
async def example_engine(state_dir: Path) -> AsyncIterator[RealEngine]:
    """A real engine holding the example cluster, its fake hosts reporting.

    `prod` (the newest level): `ovirtmgmt` (management, display), `migration` (the migration
    role), `storage` (required). host1 and host2 are fully attached; host3's migration link is
    down, so migrations to or from it fall back to management; host4 lacks the required
    `storage` network and is non-operational. `legacy` (level 3.2): management only, its
    migrations fall back for the cluster level.
    """
    clock, make_id = ManualClock(), counting_ids()
    built = await start_engine(state_dir, "127.0.0.1:0", clock, make_id)
    channel = engine_channel(built.address, admin_credentials(built.authority))
    engine = RealEngine(
        state_dir,
        clock,
        make_id,
        built,
        engine_pb2_grpc.EngineServiceStub(channel),
        FakeFabric(FakeClock(FABRIC_SPEED)),
    )
    try:
        await _build_example_cluster(engine)
        yield engine
    finally:
        await channel.close(None)
        await engine.stop()
        await stop_fake_agents(list(engine.agents.values()))
