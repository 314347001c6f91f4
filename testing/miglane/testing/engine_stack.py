"""An in-process engine for tests and benchmarks: built by `build_engine` on a loopback port 0
with short intervals, and a cluster over fake-driver agents (`miglane.agent.testing`).

    _, agents = await start_fake_agents(3, authority=engine_authority(tmp / "engine"))
    engine = await start_engine(tmp / "engine")
    channel = engine_channel(engine.address, admin_credentials(engine.authority))
    cluster_id, host_ids = await fake_agent_cluster(engine, agents)
    await wait_until_polled(engine, cluster_id, hosts=3, vms=6)
    ...
    await engine.stop(0.5)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from miglane.engine.app import Engine, build_engine
from miglane.engine.config import EngineConfig
from miglane.engine.domain.model import (
    ClusterSpec,
    HostSpec,
    HostStatus,
    MigrationPolicy,
    NetworkRole,
    NetworkSpec,
)
from miglane.engine.inventory import new_id as random_id
from miglane.engine.inventory import utc_now
from miglane.metrics.listen import METRICS_OFF
from miglane.pki import CertificateAuthority

LOOPBACK_ANY_PORT = "127.0.0.1:0"
# The fake agents' NICs (`miglane.agent.testing.default_nics`): eth0 and mig0 on these.
MANAGEMENT_SUBNET = "10.0.0.0/16"
MIGRATION_SUBNET = "10.1.0.0/16"


class AgentEndpoint(Protocol):
    """A fake agent as the cluster needs it (`miglane.agent.testing.FakeAgent`, or one served
    by another process)."""

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> str: ...


def _own_sqlite_file(state_dir: Path) -> str:
    return ""  # EngineConfig's default: the state dir's SQLite file


# The database an engine on a given state dir keeps its state in (see `engines_on`).
_database_of: Callable[[Path], str] = _own_sqlite_file


@contextlib.contextmanager
def engines_on(database_of: Callable[[Path], str]) -> Iterator[None]:
    """Inside the block, engines configured by `quick_config` (so started by `start_engine`)
    keep their state in `database_of(state_dir)`, a database URL, instead of the state dir's
    SQLite file: the store-backend fixture runs whole engine tests on PostgreSQL this way.
    `database_of` must give a state dir the same database each time (engines restart)."""
    global _database_of
    previous, _database_of = _database_of, database_of
    try:
        yield
    finally:
        _database_of = previous


def quick_config(state_dir: Path, **overrides: object) -> EngineConfig:
    """A config whose intervals suit tests: polls, retries, flushes and passes within a
    fraction of a second; the database is the state dir's own unless `engines_on` chose one."""
    config = EngineConfig(
        state_dir=state_dir,
        database=_database_of(state_dir),
        listen=LOOPBACK_ANY_PORT,
        grace_s=0.5,
        poll_interval_s=0.2,
        busy_retry_s=0.5,
        agent_timeout_s=3.0,
        persist_interval_s=0.2,
        queue_interval_s=0.2,
        follow_retry_s=0.2,
        event_queue_size=100_000,
        # Tests run side by side: a test that scrapes gives an address (port 0).
        metrics_listen=METRICS_OFF,
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


def engine_authority(state_dir: Path, **overrides: object) -> CertificateAuthority:
    """The CA the engine of `quick_config(state_dir, **overrides)` will use (made now if
    missing): fake agents started before the engine get their host credentials from it."""
    return CertificateAuthority.init(quick_config(state_dir, **overrides).pki_path)


async def start_engine(
    state_dir: Path,
    *,
    clock: Callable[[], datetime] = utc_now,
    new_id: Callable[[str], str] = random_id,
    poll_hosts: bool = True,
    **overrides: object,
) -> Engine:
    """An engine built from `quick_config(state_dir, **overrides)`, started (`poll_hosts`:
    see `Engine.start`)."""
    engine = await build_engine(quick_config(state_dir, **overrides), clock=clock, new_id=new_id)
    await engine.start(poll_hosts=poll_hosts)
    return engine


async def fake_agent_cluster(
    engine: Engine,
    agents: Sequence[AgentEndpoint],
    *,
    name: str = "c1",
    policy: MigrationPolicy | None = None,
    compatibility_version: str = "",
    migration_network: bool = True,
    qos_mbps: int | None = None,
) -> tuple[str, list[str]]:
    """A cluster with the fake agents' management network (required) and, unless told
    otherwise, their migration network, and one host per agent. Returns the cluster id and the
    host ids in the agents' order."""
    inventory = engine.inventory
    cluster = await inventory.clusters.create_cluster(
        ClusterSpec(name=name, compatibility_version=compatibility_version, policy=policy)
    )
    await inventory.networks.create_network(
        NetworkSpec(
            cluster_id=cluster.id,
            name="mgmt",
            subnet=MANAGEMENT_SUBNET,
            required=True,
            roles=(NetworkRole.MANAGEMENT,),
        )
    )
    if migration_network:
        await inventory.networks.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="migration",
                subnet=MIGRATION_SUBNET,
                roles=(NetworkRole.MIGRATION,),
                qos_mbps=qos_mbps,
            )
        )
    host_ids = []
    for agent in agents:
        view = await engine.migrations.add_host(
            HostSpec(cluster_id=cluster.id, name=agent.name, agent_address=agent.address)
        )
        host_ids.append(view.host.id)
    return cluster.id, host_ids


async def wait_until_polled(
    engine: Engine, cluster_id: str, *, hosts: int, vms: int, timeout_s: float = 60.0
) -> None:
    """Until the cluster's `hosts` hosts answered (none unreachable) and `vms` VMs are known.
    The deadline only bounds a failing run: a loaded machine is slow, never wrong."""
    deadline = time.monotonic() + timeout_s
    while True:
        listing = await engine.inventory.hosts.list_hosts(cluster_id, page_size=1000)
        up = sum(1 for h in listing.items if h.host.status is not HostStatus.UNREACHABLE)
        known = await engine.inventory.vms.list_vms(cluster_id, page_size=10_000)
        if (up, len(known.items)) == (hosts, vms):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{up}/{hosts} hosts up and {len(known.items)}/{vms} VMs known after {timeout_s} s"
            )
        await asyncio.sleep(0.05)
