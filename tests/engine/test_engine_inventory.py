"""The inventory's rules against a real store: roles, the migration-role guard, events,
atomicity."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from engine_support import insert_migration, insert_vm
from migration_writers import active_migrations, save_migration

from miglane.engine.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from miglane.engine.domain.host_status import AgentReport
from miglane.engine.domain.model import (
    ClusterPatch,
    ClusterSpec,
    EventSeverity,
    EventType,
    HostFacts,
    HostSpec,
    HostStatus,
    MigrationFilter,
    MigrationPhase,
    NetworkPatch,
    NetworkRole,
    NetworkSpec,
    Nic,
)
from miglane.engine.example_cluster import create_example_cluster
from miglane.engine.inventory import Inventory

pytestmark = pytest.mark.both_store_backends

G = NetworkRole.MIGRATION


async def setup_cluster(inventory: Inventory, version: str = "") -> tuple[str, str, str]:
    cluster = await inventory.clusters.create_cluster(
        ClusterSpec("c1", compatibility_version=version)
    )
    mgmt = await inventory.networks.create_network(
        NetworkSpec(
            cluster.id, "mgmt", "10.0.1.0/24", required=True, roles=(NetworkRole.MANAGEMENT,)
        )
    )
    mig = await inventory.networks.create_network(
        NetworkSpec(cluster.id, "mig", "10.0.2.0/24", roles=(G,))
    )
    return cluster.id, mgmt.id, mig.id


async def event_types(inventory: Inventory, after: int = 0) -> list[EventType]:
    return [e.type for e in (await inventory.audit.list_events(after_sequence=after)).items]


async def last_sequence(inventory: Inventory) -> int:
    return await inventory.worker.read(lambda store: store.last_event_sequence())


async def test_create_cluster_and_networks_record_events(inventory: Inventory) -> None:
    cluster_id, mgmt_id, mig_id = await setup_cluster(inventory)
    cluster = await inventory.clusters.get_cluster(cluster_id)
    assert (cluster.management_network_id, cluster.migration_network_id) == (mgmt_id, mig_id)
    assert await event_types(inventory) == [
        EventType.CLUSTER_CREATED,
        EventType.NETWORK_CREATED,
        EventType.ROLE_GRANTED,
        EventType.NETWORK_CREATED,
        EventType.ROLE_GRANTED,
    ]


async def test_granting_a_held_role_moves_it_atomically(inventory: Inventory) -> None:
    cluster_id, _, mig_id = await setup_cluster(inventory)
    other = await inventory.networks.create_network(NetworkSpec(cluster_id, "mig2", "10.0.3.0/24"))
    before = await last_sequence(inventory)

    network, previous = await inventory.networks.set_network_role(other.id, G)

    assert network.roles == (G,) and previous == mig_id
    assert (await inventory.networks.get_network(mig_id)).roles == ()
    assert (await inventory.clusters.get_cluster(cluster_id)).migration_network_id == other.id
    events = (await inventory.audit.list_events(after_sequence=before)).items
    assert [e.type for e in events] == [EventType.ROLE_MOVED]
    assert events[0].attributes == {
        "role": "migration",
        "from_network_id": mig_id,
        "from_network_name": "mig",
        "to_network_id": other.id,
        "to_network_name": "mig2",
    }
    assert (
        events[0].message == "the migration role moved from network 'mig' to 'mig2' in cluster 'c1'"
    )


async def test_granting_again_changes_nothing(inventory: Inventory) -> None:
    _, _, mig_id = await setup_cluster(inventory)
    before = await last_sequence(inventory)
    network, previous = await inventory.networks.set_network_role(mig_id, G)
    assert network.roles == (G,) and previous == ""
    assert await last_sequence(inventory) == before


async def test_unset_role_takes_it_with_a_warning(inventory: Inventory) -> None:
    cluster_id, _, mig_id = await setup_cluster(inventory)
    before = await last_sequence(inventory)
    network = await inventory.networks.unset_network_role(mig_id, G)
    assert network.roles == ()
    assert (await inventory.clusters.get_cluster(cluster_id)).migration_network_id == ""
    (event,) = (await inventory.audit.list_events(after_sequence=before)).items
    assert event.type is EventType.ROLE_TAKEN and event.severity is EventSeverity.WARNING
    assert "migrations now use the management network" in event.message
    with pytest.raises(FailedPrecondition, match="does not hold the migration role"):
        await inventory.networks.unset_network_role(mig_id, G)


async def test_roles_are_per_cluster(inventory: Inventory) -> None:
    cluster_a, _, mig_a = await setup_cluster(inventory)
    cluster_b = await inventory.clusters.create_cluster(ClusterSpec("c2"))
    mig_b = await inventory.networks.create_network(NetworkSpec(cluster_b.id, "mig", "10.0.2.0/24"))
    _, previous = await inventory.networks.set_network_role(mig_b.id, G)
    assert previous == ""  # cluster a's holder is not cluster b's
    assert (await inventory.clusters.get_cluster(cluster_a)).migration_network_id == mig_a
    assert (await inventory.clusters.get_cluster(cluster_b.id)).migration_network_id == mig_b.id


async def test_legacy_cluster_may_hold_the_role_with_a_warning(inventory: Inventory) -> None:
    cluster_id, _, mig_id = await setup_cluster(inventory, version="3.2")
    assert (await inventory.clusters.get_cluster(cluster_id)).migration_network_id == mig_id
    granted = [
        e for e in (await inventory.audit.list_events()).items
        if e.type is EventType.ROLE_GRANTED and e.network_id == mig_id
    ]  # fmt: skip
    assert granted[0].severity is EventSeverity.WARNING
    assert "predates migration networks (3.3)" in granted[0].message


# ---------------------------------------------------------------- the migration-role guard


@pytest.fixture
async def migrating(inventory: Inventory) -> dict[str, str]:
    """A cluster with a migration network and one running migration."""
    cluster_id, mgmt_id, mig_id = await setup_cluster(inventory)
    host = await inventory.hosts.add_host(HostSpec(cluster_id, "h1", "10.0.1.11:50052"))
    vm = await insert_vm(inventory, host.host.id, cluster_id, name="web1")
    migration = await insert_migration(inventory, vm)
    spare = await inventory.networks.create_network(NetworkSpec(cluster_id, "spare", "10.0.9.0/24"))
    return {
        "cluster": cluster_id,
        "mgmt": mgmt_id,
        "mig": mig_id,
        "spare": spare.id,
        "host": host.host.id,
        "migration": migration.id,
    }


GUARDED = [
    pytest.param(
        lambda inv, ids: inv.networks.set_network_role(ids["spare"], G), id="move the role"
    ),
    pytest.param(
        lambda inv, ids: inv.networks.unset_network_role(ids["mig"], G), id="take the role"
    ),
    pytest.param(lambda inv, ids: inv.networks.delete_network(ids["mig"]), id="delete its network"),
    pytest.param(
        lambda inv, ids: inv.networks.update_network(
            NetworkPatch(ids["mig"], subnet="10.0.4.0/24")
        ),
        id="change its subnet",
    ),
    pytest.param(
        lambda inv, ids: inv.clusters.update_cluster(
            ClusterPatch(ids["cluster"], compatibility_version="3.2")
        ),
        id="drop the cluster below 3.3",
    ),
    pytest.param(
        lambda inv, ids: inv.networks.create_network(
            NetworkSpec(ids["cluster"], "n", "10.0.5.0/24", roles=(G,))
        ),
        id="create a network taking the role",
    ),
]


@pytest.mark.parametrize(
    "phase", [MigrationPhase.QUEUED, MigrationPhase.PREPARING, MigrationPhase.RUNNING]
)
@pytest.mark.parametrize("change", GUARDED)
async def test_migration_role_is_frozen_while_migrating(
    inventory: Inventory,
    migrating: dict[str, str],
    change,
    phase: MigrationPhase,  # type: ignore[no-untyped-def]
) -> None:
    migration = await inventory.migration_records.get_migration(migrating["migration"])
    await save_migration(inventory.worker, replace(migration, phase=phase))
    before = await last_sequence(inventory)
    networks_before = (await inventory.networks.list_networks()).items

    with pytest.raises(FailedPrecondition) as caught:
        await change(inventory, migrating)

    assert f"VM web1 (migration {migrating['migration']}, {phase.label})" in caught.value.message
    # Nothing half-written.
    assert await last_sequence(inventory) == before
    assert (await inventory.networks.list_networks()).items == networks_before
    cluster = await inventory.clusters.get_cluster(migrating["cluster"])
    assert cluster.migration_network_id == migrating["mig"]


@pytest.mark.parametrize(
    "phase", [MigrationPhase.COMPLETED, MigrationPhase.FAILED, MigrationPhase.CANCELLED]
)
async def test_finished_migrations_do_not_freeze_the_role(
    inventory: Inventory, migrating: dict[str, str], phase: MigrationPhase
) -> None:
    migration = await inventory.migration_records.get_migration(migrating["migration"])
    await save_migration(inventory.worker, replace(migration, phase=phase))
    _, previous = await inventory.networks.set_network_role(migrating["spare"], G)
    assert previous == migrating["mig"]


async def test_other_changes_are_allowed_while_migrating(
    inventory: Inventory, migrating: dict[str, str]
) -> None:
    # Other roles, other networks, the migration network's other fields.
    spare, _ = await inventory.networks.set_network_role(migrating["spare"], NetworkRole.DISPLAY)
    assert NetworkRole.DISPLAY in spare.roles
    mig = await inventory.networks.update_network(
        NetworkPatch(migrating["mig"], qos_mbps=5000, required=True)
    )
    assert mig.qos_mbps == 5000 and mig.required and NetworkRole.MIGRATION in mig.roles
    cluster = await inventory.clusters.update_cluster(
        ClusterPatch(migrating["cluster"], compatibility_version="4.0")
    )
    assert cluster.compatibility_version == "4.0"
    await inventory.networks.delete_network(migrating["spare"])
    with pytest.raises(NotFound):
        await inventory.networks.get_network(migrating["spare"])


async def test_a_migration_in_another_cluster_does_not_freeze_this_one(
    inventory: Inventory, migrating: dict[str, str]
) -> None:
    other = await inventory.clusters.create_cluster(ClusterSpec("c2"))
    net = await inventory.networks.create_network(
        NetworkSpec(other.id, "m", "10.0.2.0/24", roles=(G,))
    )
    assert G in net.roles
    assert G not in (await inventory.networks.unset_network_role(net.id, G)).roles


async def test_host_with_active_migration_cannot_be_removed(
    inventory: Inventory, migrating: dict[str, str]
) -> None:
    with pytest.raises(FailedPrecondition, match=migrating["migration"]):
        await inventory.hosts.remove_host(migrating["host"])


# ---------------------------------------------------------------- networks and clusters


async def test_network_update_and_delete(inventory: Inventory) -> None:
    cluster_id, _, mig_id = await setup_cluster(inventory)
    updated = await inventory.networks.update_network(
        NetworkPatch(mig_id, name="migration", qos_mbps=2500, required=True, description="fast")
    )
    assert (updated.name, updated.qos_mbps, updated.required) == ("migration", 2500, True)
    assert (
        await inventory.networks.update_network(NetworkPatch(mig_id, qos_mbps=0))
    ).qos_mbps is None
    before = await last_sequence(inventory)
    await inventory.networks.delete_network(mig_id)
    assert await event_types(inventory, before) == [EventType.ROLE_TAKEN, EventType.NETWORK_DELETED]
    with pytest.raises(NotFound, match="network_id: no network with id"):
        await inventory.networks.get_network(mig_id)
    assert (await inventory.clusters.get_cluster(cluster_id)).migration_network_id == ""


async def test_new_clusters_encrypt_migrations_and_turning_it_off_is_recorded(
    inventory: Inventory,
) -> None:
    cluster = await inventory.clusters.create_cluster(ClusterSpec("c1"))
    assert cluster.policy.encrypted
    before = await last_sequence(inventory)
    clear = replace(cluster.policy, encrypted=False)
    updated = await inventory.clusters.update_cluster(ClusterPatch(cluster.id, policy=clear))
    assert not updated.policy.encrypted
    (event,) = (await inventory.audit.list_events(after_sequence=before)).items
    assert event.type is EventType.CLUSTER_UPDATED
    assert "migration encryption OFF" in event.message and "clear text" in event.message
    assert event.attributes["encrypted"] == "no"
    # another policy change says nothing about encryption
    before = await last_sequence(inventory)
    await inventory.clusters.update_cluster(
        ClusterPatch(cluster.id, policy=replace(clear, compressed=True))
    )
    (event,) = (await inventory.audit.list_events(after_sequence=before)).items
    assert "encryption" not in event.message and "encrypted" not in event.attributes


async def test_update_without_changes_records_nothing(inventory: Inventory) -> None:
    cluster_id, _, mig_id = await setup_cluster(inventory)
    before = await last_sequence(inventory)
    await inventory.networks.update_network(NetworkPatch(mig_id, name="mig", subnet="10.0.2.0/24"))
    await inventory.clusters.update_cluster(ClusterPatch(cluster_id, name="c1"))
    assert await last_sequence(inventory) == before


async def test_network_names_and_subnets_clash_only_within_a_cluster(
    inventory: Inventory,
) -> None:
    cluster_id, _, mig_id = await setup_cluster(inventory)
    with pytest.raises(
        AlreadyExists, match=r"^name: cluster 'c1' already has a network named 'mgmt'"
    ):
        await inventory.networks.create_network(NetworkSpec(cluster_id, "mgmt", "10.9.0.0/24"))
    with pytest.raises(
        FailedPrecondition, match=r"^subnet: 10\.0\.0\.0/16 overlaps network 'mgmt'"
    ):
        await inventory.networks.update_network(NetworkPatch(mig_id, subnet="10.0.0.0/16"))
    other = await inventory.clusters.create_cluster(ClusterSpec("c2"))
    await inventory.networks.create_network(NetworkSpec(other.id, "mgmt", "10.0.1.0/24"))


async def test_cluster_rules(inventory: Inventory) -> None:
    cluster_id, mgmt_id, mig_id = await setup_cluster(inventory)
    with pytest.raises(AlreadyExists, match=r"^name: a cluster named 'c1' exists"):
        await inventory.clusters.create_cluster(ClusterSpec("c1"))
    with pytest.raises(FailedPrecondition, match="still has 2 network"):
        await inventory.clusters.delete_cluster(cluster_id)
    await inventory.networks.delete_network(mgmt_id)
    await inventory.networks.delete_network(mig_id)
    await inventory.clusters.delete_cluster(cluster_id)
    with pytest.raises(NotFound):
        await inventory.clusters.get_cluster(cluster_id)
    # History stays listable by the deleted cluster's id.
    events = (await inventory.audit.list_events(cluster_id=cluster_id)).items
    assert events[-1].type is EventType.CLUSTER_DELETED


async def test_bad_role_in_create_writes_nothing(inventory: Inventory) -> None:
    cluster_id, _, _ = await setup_cluster(inventory)
    before = await last_sequence(inventory)
    with pytest.raises(InvalidArgument, match=r"^roles\[1\]: is unset"):
        await inventory.networks.create_network(
            NetworkSpec(cluster_id, "n", "10.0.7.0/24", roles=(G, NetworkRole.UNSPECIFIED))
        )
    assert await last_sequence(inventory) == before
    assert len((await inventory.networks.list_networks(cluster_id)).items) == 2


# ---------------------------------------------------------------- hosts, agent reports


async def test_add_host_is_unreachable_until_polled(inventory: Inventory) -> None:
    cluster_id, _, _ = await setup_cluster(inventory)
    view = await inventory.hosts.add_host(HostSpec(cluster_id, "h1", "[FD00::11]:50052"))
    assert view.host.agent_address == "[fd00::11]:50052"
    assert view.host.status is HostStatus.UNREACHABLE
    assert "not contacted yet" in view.host.status_reason
    with pytest.raises(AlreadyExists, match=r"^agent_address: host 'h1'"):
        await inventory.hosts.add_host(HostSpec(cluster_id, "h2", "[fd00::11]:50052"))
    with pytest.raises(AlreadyExists, match=r"^name: cluster 'c1' already has a host named 'h1'"):
        await inventory.hosts.add_host(HostSpec(cluster_id, "h1", "10.0.1.12:50052"))


async def test_agent_report_derives_attachments_and_status(inventory: Inventory) -> None:
    cluster_id, mgmt_id, mig_id = await setup_cluster(inventory)
    host = (await inventory.hosts.add_host(HostSpec(cluster_id, "h1", "10.0.1.11:50052"))).host
    before = await last_sequence(inventory)

    view = await inventory.reports.record(
        host.id,
        AgentReport(
            reachable=True,
            nics=(Nic("mgmt0", ("10.0.1.11/24",)), Nic("mig0", ("10.0.2.11/24",), link_up=False)),
            facts=HostFacts(hostname="h1.lab", cpus=4),
        ),
    )
    assert view.host.status is HostStatus.UP  # mig is not required
    assert [(a.network_id, a.nic, a.link_up) for a in view.attachments] == [
        (mgmt_id, "mgmt0", True),
        (mig_id, "mig0", False),
    ]
    await inventory.networks.update_network(NetworkPatch(mig_id, required=True))
    view = await inventory.reports.record(host.id, AgentReport(reachable=True, nics=view.host.nics))
    assert view.host.status is HostStatus.NON_OPERATIONAL
    assert view.host.status_reason == "required network 'mig' is down: the link of mig0 is down"
    assert view.host.facts.hostname == "h1.lab"  # kept when the report has none
    view = await inventory.reports.record(host.id, AgentReport(reachable=False, error="timeout"))
    assert view.host.status is HostStatus.UNREACHABLE
    changes = [
        e for e in (await inventory.audit.list_events(after_sequence=before)).items
        if e.type is EventType.HOST_STATUS_CHANGED
    ]  # fmt: skip
    assert [c.attributes["to"] for c in changes] == ["up", "non-operational", "unreachable"]


async def test_vms_and_migration_records(inventory: Inventory) -> None:
    cluster_id, _, _ = await setup_cluster(inventory)
    h1 = (await inventory.hosts.add_host(HostSpec(cluster_id, "h1", "10.0.1.11:50052"))).host
    h2 = (await inventory.hosts.add_host(HostSpec(cluster_id, "h2", "10.0.1.12:50052"))).host
    vm = await insert_vm(inventory, h1.id, cluster_id)
    migration = await insert_migration(inventory, vm, destination_host_id=h2.id)

    assert (await inventory.vms.get_vm(vm.id)).migration_id == migration.id
    assert (await inventory.hosts.get_host(h1.id)).outgoing_migrations == 1
    assert (await inventory.hosts.get_host(h2.id)).incoming_migrations == 1
    assert [m.id for m in await active_migrations(inventory.worker, cluster_id)] == [migration.id]
    listed = await inventory.migration_records.list_migrations(MigrationFilter(host_id=h2.id))
    assert [m.id for m in listed.items] == [migration.id]
    assert (
        await inventory.migration_records.list_migrations(
            MigrationFilter(phases=frozenset({MigrationPhase.COMPLETED}))
        )
    ).items == []

    await save_migration(
        inventory.worker, replace(migration, phase=MigrationPhase.COMPLETED, progress_percent=100)
    )
    assert (await inventory.vms.get_vm(vm.id)).migration_id == ""
    assert (await inventory.migration_records.get_migration(migration.id)).progress_percent == 100
    assert await active_migrations(inventory.worker, cluster_id) == []


async def test_example_cluster_only_when_empty(inventory: Inventory) -> None:
    cluster = await create_example_cluster(inventory)
    assert cluster is not None and cluster.name == "Default"
    assert cluster.migration_network_id and cluster.management_network_id
    assert await create_example_cluster(inventory) is None
    assert len((await inventory.clusters.list_clusters()).items) == 1


async def test_on_commit_runs_in_commit_order_after_the_events(inventory: Inventory) -> None:
    cluster_id, _, _ = await setup_cluster(inventory)
    host = (await inventory.hosts.add_host(HostSpec(cluster_id, "h1", "10.0.1.11:50052"))).host
    vm = await insert_vm(inventory, host.id, cluster_id)
    migration = await insert_migration(inventory, vm, phase=MigrationPhase.QUEUED)
    subscription = inventory.audit.hub.subscribe()
    seen: list[tuple[int, int]] = []  # (progress, events already published)

    def on_commit(saved) -> None:  # type: ignore[no-untyped-def]
        seen.append((saved.progress_percent, subscription._buffer.__len__()))

    await asyncio.gather(
        *(
            save_migration(
                inventory.worker,
                replace(migration, progress_percent=p),
                [
                    inventory.audit.make_event(
                        EventType.MIGRATION_STARTED, f"p{p}", cluster_id=cluster_id
                    )
                ],
                on_commit=on_commit,
            )
            for p in range(1, 51)
        )
    )
    await asyncio.sleep(0)
    assert [p for p, _ in seen] == list(range(1, 51))
    assert [n for _, n in seen] == list(range(1, 51))  # each after its own event
    assert (await inventory.migration_records.get_migration(migration.id)).progress_percent == 50
    subscription.close()
