"""Networks and their roles: create, read, list, update and delete networks, grant and take
roles, each with its audit events; the migration role (and its network's subnet) stays put
while the cluster migrates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.model import (
    Cluster,
    Event,
    Network,
    NetworkPatch,
    NetworkRole,
    NetworkSpec,
)
from miglane.engine.domain.networks import check_network_fits, normalize_subnet
from miglane.engine.domain.paging import Listing
from miglane.engine.domain.roles import (
    RoleChange,
    RoleChangeKind,
    plan_role_grant,
    plan_role_unset,
    refuse_while_migrating,
    validate_role,
)
from miglane.engine.domain.validation import (
    validate_description,
    validate_id,
    validate_name,
    validate_optional_id,
    validate_qos_mbps,
)
from miglane.engine.store import Store
from miglane.engine.store_lookups import (
    check_cluster_exists,
    read_page,
    require_cluster,
    require_network,
)
from miglane.engine.unit_of_work import StoreWorker

_UPDATABLE = ("name", "subnet", "required", "qos_mbps", "description")
_VERBS = {
    RoleChangeKind.GRANTED: "grant",
    RoleChangeKind.MOVED: "move",
    RoleChangeKind.TAKEN: "take",
}


class NetworkService:
    def __init__(
        self,
        worker: StoreWorker,
        *,
        clock: Callable[[], datetime],
        make_id: Callable[[str], str],
    ) -> None:
        self._worker = worker
        self._clock = clock
        self._make_id = make_id

    async def create_network(self, spec: NetworkSpec) -> Network:
        validate_id("cluster_id", spec.cluster_id, "cluster")
        name = validate_name("name", spec.name)
        subnet = normalize_subnet("subnet", spec.subnet)
        qos = validate_qos_mbps("qos_mbit_per_second", spec.qos_mbps)
        description = validate_description("description", spec.description)
        roles = sorted({validate_role(f"roles[{i}]", r) for i, r in enumerate(spec.roles)})

        def work(store: Store) -> tuple[Network, list[Event]]:
            cluster = require_cluster(store, spec.cluster_id)
            check_network_fits(
                store.networks_of_cluster(cluster.id),
                name=name,
                subnet=subnet,
                cluster_name=cluster.name,
            )
            network = Network(
                id=self._make_id("net"),
                cluster_id=cluster.id,
                name=name,
                subnet=subnet,
                required=spec.required,
                qos_mbps=qos,
                description=description,
                created_at=self._clock(),
            )
            store.insert_network(network)
            events = [
                say.network_created(cluster, network, self._clock(), actor=current_actor.get())
            ]
            holders = store.role_holders(cluster.id)
            for role in roles:
                change = plan_role_grant(holders, network.id, role)
                events += self._apply_role_change(store, cluster, change, network)
            return _reread(store, network.id), events

        return await self._worker.transact(work)

    async def get_network(self, network_id: str) -> Network:
        return await self._worker.read(lambda store: require_network(store, network_id))

    async def list_networks(
        self, cluster_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Listing[Network]:
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if cluster_id:
            await check_cluster_exists(self._worker, cluster_id)
        return await read_page(
            self._worker,
            f"networks?cluster={cluster_id}",
            page_size,
            page_token,
            lambda store, after, size: store.list_networks(cluster_id, after, size),
        )

    async def update_network(self, patch: NetworkPatch) -> Network:
        validate_id("network_id", patch.network_id, "network")
        validated = _validated_patch(patch)

        def work(store: Store) -> tuple[Network, list[Event]]:
            network = require_network(store, patch.network_id)
            cluster = require_cluster(store, network.cluster_id)
            updated = replace(network, **validated)
            changed = [f for f in _UPDATABLE if getattr(updated, f) != getattr(network, f)]
            if not changed:
                return network, []
            if updated.name != network.name or updated.subnet != network.subnet:
                check_network_fits(
                    store.networks_of_cluster(cluster.id),
                    name=updated.name,
                    subnet=updated.subnet,
                    cluster_name=cluster.name,
                    exclude_id=network.id,
                )
            if updated.subnet != network.subnet and network.holds(NetworkRole.MIGRATION):
                refuse_while_migrating(
                    f"change the subnet of network {network.name!r}, which holds the "
                    "migration role",
                    store.active_migrations(cluster.id),
                )
            store.update_network(updated)
            event = say.network_updated(
                cluster, network, updated, changed, self._clock(), actor=current_actor.get()
            )
            return updated, [event]

        return await self._worker.transact(work)

    async def delete_network(self, network_id: str) -> None:
        def work(store: Store) -> tuple[None, list[Event]]:
            network = require_network(store, network_id)
            cluster = require_cluster(store, network.cluster_id)
            events: list[Event] = []
            for role in network.roles:
                change = RoleChange(role, RoleChangeKind.TAKEN, "", network.id)
                if role is NetworkRole.MIGRATION:
                    refuse_while_migrating(
                        f"delete network {network.name!r}, which holds the migration role",
                        store.active_migrations(cluster.id),
                    )
                events += self._role_events(store, cluster, change, network)
            store.delete_network(network.id)
            events.append(
                say.network_deleted(cluster, network, self._clock(), actor=current_actor.get())
            )
            return None, events

        await self._worker.transact(work)

    async def set_network_role(self, network_id: str, role: NetworkRole) -> tuple[Network, str]:
        """Grants `role` to the network, moving it from the network that held it. Returns the
        network and the previous holder's id ("" when none, or when it already held it)."""
        validate_id("network_id", network_id, "network")
        role = validate_role("role", role)

        def work(store: Store) -> tuple[tuple[Network, str], list[Event]]:
            network = require_network(store, network_id)
            cluster = require_cluster(store, network.cluster_id)
            change = plan_role_grant(store.role_holders(cluster.id), network.id, role)
            if not change.changes_holder:
                return (network, ""), []
            events = self._apply_role_change(store, cluster, change, network)
            return (_reread(store, network.id), change.from_network_id), events

        return await self._worker.transact(work)

    async def unset_network_role(self, network_id: str, role: NetworkRole) -> Network:
        validate_id("network_id", network_id, "network")
        role = validate_role("role", role)

        def work(store: Store) -> tuple[Network, list[Event]]:
            network = require_network(store, network_id)
            cluster = require_cluster(store, network.cluster_id)
            holders = store.role_holders(cluster.id)
            holder = store.get_network(holders[role]) if role in holders else None
            change = plan_role_unset(holders, network, role, holder.name if holder else "")
            _guard_migration_role(store, cluster, change)
            store.clear_role(cluster.id, role)
            events = self._role_events(store, cluster, change, network)
            return _reread(store, network.id), events

        return await self._worker.transact(work)

    def _apply_role_change(  # on the store worker
        self, store: Store, cluster: Cluster, change: RoleChange, network: Network
    ) -> list[Event]:
        """Writes a grant (or move) of a role to `network`; returns its events."""
        _guard_migration_role(store, cluster, change)
        store.set_role_holder(cluster.id, change.role, network.id)
        return self._role_events(store, cluster, change, network)

    def _role_events(  # on the store worker
        self, store: Store, cluster: Cluster, change: RoleChange, network: Network
    ) -> list[Event]:
        names = {network.id: network.name}
        for other_id in (change.from_network_id, change.to_network_id):
            if other_id and other_id not in names:
                other = store.get_network(other_id)
                if other is not None:
                    names[other_id] = other.name
        return say.role_events(cluster, change, names, self._clock(), actor=current_actor.get())


def _guard_migration_role(store: Store, cluster: Cluster, change: RoleChange) -> None:
    if change.role is NetworkRole.MIGRATION and change.changes_holder:
        refuse_while_migrating(
            f"{_VERBS[change.kind]} the migration role in cluster {cluster.name!r}",
            store.active_migrations(cluster.id),
        )


def _reread(store: Store, network_id: str) -> Network:
    """The network as stored now (with the roles just written)."""
    network = store.get_network(network_id)
    assert network is not None
    return network


def _validated_patch(patch: NetworkPatch) -> dict[str, Any]:
    """The fields the patch changes, validated (qos_mbps: None leaves it, 0 clears it)."""
    changes: dict[str, Any] = {}
    if patch.name is not None:
        changes["name"] = validate_name("name", patch.name)
    if patch.subnet is not None:
        changes["subnet"] = normalize_subnet("subnet", patch.subnet)
    if patch.required is not None:
        changes["required"] = patch.required
    if patch.description is not None:
        changes["description"] = validate_description("description", patch.description)
    if patch.qos_mbps is not None:
        changes["qos_mbps"] = validate_qos_mbps("qos_mbit_per_second", patch.qos_mbps)
    return changes
