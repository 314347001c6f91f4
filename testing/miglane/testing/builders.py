"""Builders of engine inventory values for tests and benchmarks: a cluster with a management
network (10.0.0.0/24, mgmt0) and a migration network (10.0.2.0/24, mig0), hosts attached to
both unless told otherwise, and large random clusters mixed like real ones."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import (
    Attachment,
    Cluster,
    Host,
    HostFacts,
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    Network,
    NetworkRole,
    Nic,
    Vm,
    VmDisk,
    VmNic,
    VmState,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CLUSTER_ID = "c1"
MGMT_ID = "net-mgmt"
MIG_ID = "net-mig"

MANAGEMENT = Network(
    id=MGMT_ID,
    cluster_id=CLUSTER_ID,
    name="ovirtmgmt",
    subnet="10.0.0.0/24",
    required=True,
    roles=(NetworkRole.MANAGEMENT,),
)
MIGRATION = Network(
    id=MIG_ID,
    cluster_id=CLUSTER_ID,
    name="migration",
    subnet="10.0.2.0/24",
    roles=(NetworkRole.MIGRATION,),
)


def cluster(
    *,
    version: str = "4.7",
    migration: bool = True,
    policy: MigrationPolicy | None = None,
) -> Cluster:
    return Cluster(
        id=CLUSTER_ID,
        name="prod",
        compatibility_version=version,
        policy=policy or MigrationPolicy(),
        description="",
        created_at=T0,
        migration_network_id=MIG_ID if migration else "",
        management_network_id=MGMT_ID,
    )


def networks(
    *,
    version: str = "4.7",
    migration: bool = True,
    policy: MigrationPolicy | None = None,
    migration_network: Network = MIGRATION,
    management_network: Network = MANAGEMENT,
) -> ClusterNetworks:
    the_cluster = cluster(version=version, migration=migration, policy=policy)
    return ClusterNetworks.of(
        the_cluster,
        [management_network, *([migration_network] if migration else [])],
    )


def mgmt(index: int, *, speed: int = 1000) -> Attachment:
    return Attachment(
        network_id=MGMT_ID,
        network_name="ovirtmgmt",
        nic="mgmt0",
        address=f"10.0.0.{index}",
        link_up=True,
        speed_mbps=speed,
    )


def mig(
    index: int, *, link_up: bool = True, speed: int = 10000, address: str | None = None
) -> Attachment:
    return Attachment(
        network_id=MIG_ID,
        network_name="migration",
        nic="mig0",
        address=f"10.0.2.{index}" if address is None else address,
        link_up=link_up,
        speed_mbps=speed,
    )


def host(
    index: int,
    *,
    status: HostStatus = HostStatus.UP,
    free_mib: int = 64 * 1024,
    memory_mib: int = 128 * 1024,
    attachments: tuple[Attachment, ...] | None = None,
    mig_link_up: bool = True,
    mig_speed: int = 10000,
    mgmt_speed: int = 1000,
    incoming: int = 0,
    outgoing: int = 0,
    cluster_id: str = CLUSTER_ID,
    status_reason: str = "",
    bridges: tuple[str, ...] = (),
) -> HostView:
    """host<index>, id h<index>, management address 10.0.0.<index>; `bridges`: NICs of those
    names its agent reports (the networks VMs' vNICs plug into)."""
    if attachments is None:
        attachments = (
            mgmt(index, speed=mgmt_speed),
            mig(index, link_up=mig_link_up, speed=mig_speed),
        )
    return HostView(
        host=Host(
            id=f"h{index}",
            cluster_id=cluster_id,
            name=f"host{index}",
            agent_address=f"10.0.0.{index}:50061",
            status=status,
            status_reason=status_reason,
            created_at=T0,
            facts=HostFacts(memory_mib=memory_mib, free_memory_mib=free_mib),
            nics=tuple(Nic(name=bridge) for bridge in bridges),
        ),
        attachments=attachments,
        incoming_migrations=incoming,
        outgoing_migrations=outgoing,
    )


def without_migration(view: HostView) -> HostView:
    return replace(view, attachments=tuple(a for a in view.attachments if a.network_id != MIG_ID))


def vm(
    name: str = "web1",
    *,
    on: int = 1,
    memory_mib: int = 4096,
    state: VmState = VmState.RUNNING,
    migration_id: str = "",
    disks: tuple[VmDisk, ...] = (),
    networks: tuple[str, ...] = (),
) -> Vm:
    """`networks`: one vNIC on each."""
    return Vm(
        id=f"vm-{name}",
        name=name,
        host_id=f"h{on}",
        cluster_id=CLUSTER_ID,
        state=state,
        memory_mib=memory_mib,
        migration_id=migration_id,
        disks=disks,
        nics=tuple(
            VmNic(network, f"52:54:00:00:00:{index:02x}") for index, network in enumerate(networks)
        ),
    )


def migration(
    ident: str,
    the_vm: Vm,
    *,
    to: int | None = None,
    phase: MigrationPhase = MigrationPhase.QUEUED,
    automatic: bool | None = None,
    seconds: int = 0,
    tried: tuple[str, ...] = (),
) -> Migration:
    """A migration of `the_vm` from its host; automatic unless a destination `to` is given."""
    return Migration(
        id=ident,
        cluster_id=CLUSTER_ID,
        vm_id=the_vm.id,
        vm_name=the_vm.name,
        source_host_id=the_vm.host_id,
        destination_host_id=f"h{to}" if to is not None else "",
        automatic=(to is None) if automatic is None else automatic,
        phase=phase,
        created_at=T0 + timedelta(seconds=seconds),
        tried_host_ids=tried,
    )


def random_host(rng: random.Random, index: int) -> HostView:
    """A host with every filter's obstacle somewhere in its range (a tenth in cluster c2)."""
    view = host(
        index,
        status=rng.choice([HostStatus.UP] * 4 + [HostStatus.UNREACHABLE, HostStatus.MAINTENANCE]),
        free_mib=rng.choice([0, 2048, 4096, 8192, 65536]),
        mig_link_up=rng.random() > 0.2,
        mig_speed=rng.choice([0, 1000, 10000, 25000]),
        mgmt_speed=rng.choice([0, 100, 1000]),
        incoming=rng.choice([0, 0, 1, 2]),
        cluster_id=rng.choice([CLUSTER_ID] * 9 + ["c2"]),
    )
    if rng.random() < 0.15:
        view = without_migration(view)
    return view


def big_cluster(count: int, seed: int = 7) -> list[HostView]:
    """`count` hosts of cluster c1, mixed like a real one: link speeds 1/10/25 Gbit/s, some
    hosts down or with their migration link down or missing, some short of memory, some
    already receiving migrations. hosts[0] (h0) is preparing for maintenance, with no free
    memory: the source of the evacuation benchmarks."""
    rng = random.Random(seed)
    statuses = [HostStatus.UP] * 97 + [HostStatus.UNREACHABLE, HostStatus.MAINTENANCE]
    views = []
    for i in range(count):
        low = f"{i // 256}.{i % 256}"
        attachments = [Attachment(MGMT_ID, "ovirtmgmt", "mgmt0", f"10.64.{low}", True, 1000)]
        if rng.random() > 0.02:
            attachments.append(
                Attachment(
                    MIG_ID,
                    "migration",
                    "mig0",
                    f"10.128.{low}",
                    rng.random() > 0.05,
                    rng.choice([1000, 10000, 25000]),
                )
            )
        views.append(
            HostView(
                host=Host(
                    id=f"h{i}",
                    cluster_id=CLUSTER_ID,
                    name=f"host{i:05d}",
                    agent_address=f"10.64.{low}:50061",
                    status=rng.choice(statuses),
                    status_reason="",
                    created_at=T0,
                    facts=HostFacts(
                        memory_mib=256 * 1024,
                        free_memory_mib=rng.choice([2048, 16384, 65536, 131072]),
                    ),
                ),
                attachments=tuple(attachments),
                incoming_migrations=rng.choice([0, 0, 0, 1, 2]),
            )
        )
    source = views[0].host
    views[0] = HostView(
        host=replace(
            source,
            status=HostStatus.PREPARING_FOR_MAINTENANCE,
            facts=HostFacts(memory_mib=256 * 1024, free_memory_mib=0),
        ),
        attachments=views[0].attachments,
    )
    return views


def vms_on(
    host_index: int, count: int, memory_choices: tuple[int, ...], seed: int = 11
) -> list[Vm]:
    """`count` running VMs of cluster c1 on host<host_index>, sizes drawn from `memory_choices`."""
    rng = random.Random(seed)
    return [
        Vm(
            f"vm{i}",
            f"vm{i:04d}",
            f"h{host_index}",
            CLUSTER_ID,
            VmState.RUNNING,
            rng.choice(memory_choices),
        )
        for i in range(count)
    ]
