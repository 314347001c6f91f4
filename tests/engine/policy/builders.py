"""Small builders of inventory values for the policy tables: a cluster with a management
network (10.0.0.0/24, mgmt0) and a migration network (10.0.2.0/24, mig0), and hosts attached
to both unless told otherwise."""

from __future__ import annotations

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
    Vm,
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
) -> HostView:
    """host<index>, id h<index>, management address 10.0.0.<index>."""
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
) -> Vm:
    return Vm(
        id=f"vm-{name}",
        name=name,
        host_id=f"h{on}",
        cluster_id=CLUSTER_ID,
        state=state,
        memory_mib=memory_mib,
        migration_id=migration_id,
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
