"""The engine's application service: every inventory operation, validated, written in one
transaction with its audit events, and published to event watchers once committed.

The gRPC servicer calls it; so will the migration half (issue 5), which builds on
`transact`, the migration-record methods and `record_agent_report`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import TypeVar

from miglane.engine.domain.attachments import derive_attachments, operational_status
from miglane.engine.domain.errors import (
    AlreadyExists,
    ConsumerTooSlow,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from miglane.engine.domain.model import (
    ACTIVE_PHASES,
    Cluster,
    ClusterPatch,
    ClusterSpec,
    Event,
    EventSeverity,
    EventType,
    Host,
    HostFacts,
    HostSpec,
    HostStatus,
    HostView,
    Migration,
    MigrationFilter,
    MigrationPhase,
    MigrationPolicy,
    Network,
    NetworkPatch,
    NetworkRole,
    NetworkSpec,
    Nic,
    Vm,
)
from miglane.engine.domain.networks import check_network_fits, normalize_subnet
from miglane.engine.domain.paging import Listing, next_page_token, parse_page
from miglane.engine.domain.roles import (
    MIGRATION_NETWORK_MIN_VERSION,
    RoleChange,
    RoleChangeKind,
    level_change_moves_migrations,
    migration_network_supported,
    plan_role_grant,
    plan_role_unset,
    refuse_while_migrating,
    validate_role,
)
from miglane.engine.domain.validation import (
    resolve_policy,
    validate_agent_address,
    validate_compatibility_version,
    validate_description,
    validate_id,
    validate_name,
    validate_optional_id,
    validate_qos_mbps,
)
from miglane.engine.events import EventHub, SubscriptionOverflow
from miglane.engine.store import Page, Store

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741

# Work run inside one store transaction: returns its result and the events to append.
Work = Callable[[Store], tuple[T, Sequence[Event]]]

_REPLAY_BATCH = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class AgentReport:
    """What one poll of a host's agent learned (issue 5 fills it)."""

    reachable: bool
    # Why the agent could not be reached, when it could not.
    error: str = ""
    nics: tuple[Nic, ...] = ()
    facts: HostFacts | None = None
    # None: the poll did not list VMs (keep the known ones).
    vms: tuple[Vm, ...] | None = None


class InventoryService:
    def __init__(
        self,
        store: Store,
        *,
        hub: EventHub | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[str], str] = new_id,
    ) -> None:
        self._store = store
        self.hub = hub or EventHub()
        self._clock = clock
        self._make_id = make_id
        # One worker: store work is serialized (check-then-write needs no locks) and the event
        # loop never waits on fsync.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="miglane-store")

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        hub: EventHub | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[str], str] = new_id,
    ) -> InventoryService:
        return cls(Store.open(state_dir), hub=hub, clock=clock, make_id=make_id)

    def end_streams(self) -> None:
        """Ends every WatchEvents stream (first step of a graceful stop)."""
        self.hub.close()

    async def close(self) -> None:
        """Waits for store work in progress, then closes the database."""
        self.hub.close()
        await asyncio.get_running_loop().run_in_executor(None, self._worker.shutdown, True)
        self._store.close()

    # ------------------------------------------------------------ store access

    async def transact(self, work: Work[T], *, on_commit: Callable[[T], None] | None = None) -> T:
        """Runs `work` in one transaction on the store worker, appends the events it returns,
        commits, then publishes the events to watchers.

        A domain error raised by `work` rolls everything back: nothing is half-written.
        `on_commit(result)` runs on the event loop right after the events are published, in
        commit order across all transactions (for fan-outs such as WatchMigrations, where an
        older snapshot must never overtake a newer one).
        """
        result, _ = await self._transact(work, on_commit)
        return result

    async def _transact(
        self, work: Work[T], on_commit: Callable[[T], None] | None = None
    ) -> tuple[T, list[Event]]:
        loop = asyncio.get_running_loop()

        def run() -> tuple[T, list[Event]]:
            with self._store.transaction():
                result, events = work(self._store)
                stored = self._store.append_events(events)
            # Scheduled from this one worker thread, so the loop runs them in commit order.
            if stored:
                loop.call_soon_threadsafe(self.hub.publish, stored)
            if on_commit is not None:
                loop.call_soon_threadsafe(on_commit, result)
            return result, stored

        return await loop.run_in_executor(self._worker, run)

    async def read(self, work: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, self._store)

    async def emit(self, events: Sequence[Event]) -> list[Event]:
        """Persists and publishes events that go with no other change; returns them with their
        sequence numbers."""
        _, stored = await self._transact(lambda store: (None, events), None)
        return stored

    def make_event(  # an Event stamped with the service's clock, for work to return
        self,
        type_: EventType,
        message: str,
        *,
        severity: EventSeverity = EventSeverity.INFO,
        cluster_id: str = "",
        network_id: str = "",
        host_id: str = "",
        vm_id: str = "",
        migration_id: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> Event:
        return Event(
            type=type_,
            message=message,
            created_at=self._clock(),
            severity=severity,
            cluster_id=cluster_id,
            network_id=network_id,
            host_id=host_id,
            vm_id=vm_id,
            migration_id=migration_id,
            attributes=dict(attributes or {}),
        )

    async def _list(
        self,
        scope: str,
        page_size: int,
        page_token: str,
        fetch: Callable[[Store, int, int], Page[I]],
    ) -> Listing[I]:
        page = parse_page(page_size, page_token, scope)
        result = await self.read(lambda store: fetch(store, page.after, page.size))
        token = "" if result.next_after is None else next_page_token(scope, result.next_after)
        return Listing(result.items, token)

    # ------------------------------------------------------------ lookups (inside work)

    @staticmethod
    def _cluster(store: Store, cluster_id: str, field: str = "cluster_id") -> Cluster:
        cluster = store.get_cluster(validate_id(field, cluster_id, "cluster"))
        if cluster is None:
            raise NotFound(field, "cluster", cluster_id)
        return cluster

    @staticmethod
    def _network(store: Store, network_id: str, field: str = "network_id") -> Network:
        network = store.get_network(validate_id(field, network_id, "network"))
        if network is None:
            raise NotFound(field, "network", network_id)
        return network

    @staticmethod
    def _host(store: Store, host_id: str, field: str = "host_id") -> Host:
        host = store.get_host(validate_id(field, host_id, "host"))
        if host is None:
            raise NotFound(field, "host", host_id)
        return host

    # ------------------------------------------------------------ clusters

    async def create_cluster(self, spec: ClusterSpec) -> Cluster:
        name = validate_name("name", spec.name)
        version = validate_compatibility_version(
            "compatibility_version", spec.compatibility_version
        )
        policy = resolve_policy("policy", spec.policy)
        description = validate_description("description", spec.description)

        def work(store: Store) -> tuple[Cluster, list[Event]]:
            taken = store.find_cluster_by_name(name)
            if taken is not None:
                raise AlreadyExists("name", f"a cluster named {name!r} exists (id {taken.id})")
            cluster = Cluster(
                id=self._make_id("cl"),
                name=name,
                compatibility_version=version,
                policy=policy,
                description=description,
                created_at=self._clock(),
            )
            store.insert_cluster(cluster)
            legacy = (
                ""
                if migration_network_supported(version)
                else f"; level {version} predates migration networks, so its migrations use "
                "the management network"
            )
            event = self.make_event(
                EventType.CLUSTER_CREATED,
                f"cluster {name!r} created at level {version}{legacy}",
                cluster_id=cluster.id,
                attributes={"name": name, "compatibility_version": version},
            )
            return cluster, [event]

        return await self.transact(work)

    async def get_cluster(self, cluster_id: str) -> Cluster:
        return await self.read(lambda store: self._cluster(store, cluster_id))

    async def list_clusters(self, page_size: int = 0, page_token: str = "") -> Listing[Cluster]:
        return await self._list("clusters", page_size, page_token, Store.list_clusters)

    async def update_cluster(self, patch: ClusterPatch) -> Cluster:
        name = None if patch.name is None else validate_name("name", patch.name)
        version = (
            None
            if patch.compatibility_version is None
            else validate_compatibility_version(
                "compatibility_version", patch.compatibility_version
            )
        )
        policy = None if patch.policy is None else resolve_policy("policy", patch.policy)
        description = (
            None
            if patch.description is None
            else validate_description("description", patch.description)
        )

        def work(store: Store) -> tuple[Cluster, list[Event]]:
            cluster = self._cluster(store, patch.cluster_id)
            updated = replace(
                cluster,
                name=cluster.name if name is None else name,
                compatibility_version=cluster.compatibility_version if version is None else version,
                policy=cluster.policy if policy is None else policy,
                description=cluster.description if description is None else description,
            )
            changed = [
                field
                for field in ("name", "compatibility_version", "policy", "description")
                if getattr(updated, field) != getattr(cluster, field)
            ]
            if not changed:
                return cluster, []
            if updated.name != cluster.name:
                taken = store.find_cluster_by_name(updated.name)
                if taken is not None:
                    raise AlreadyExists(
                        "name", f"a cluster named {updated.name!r} exists (id {taken.id})"
                    )
            if level_change_moves_migrations(
                cluster.compatibility_version, updated.compatibility_version
            ):
                refuse_while_migrating(
                    f"change cluster {cluster.name!r} from level "
                    f"{cluster.compatibility_version} to {updated.compatibility_version} "
                    "(it changes which network carries migrations)",
                    store.active_migrations(cluster.id),
                )
            store.update_cluster(updated)
            attributes = {field: _shown_value(getattr(updated, field)) for field in changed}
            event = self.make_event(
                EventType.CLUSTER_UPDATED,
                f"cluster {updated.name!r} updated: {', '.join(changed)}",
                cluster_id=cluster.id,
                attributes=attributes,
            )
            return updated, [event]

        return await self.transact(work)

    async def delete_cluster(self, cluster_id: str) -> None:
        def work(store: Store) -> tuple[None, list[Event]]:
            cluster = self._cluster(store, cluster_id)
            networks, hosts = store.count_networks(cluster.id), store.count_hosts(cluster.id)
            if networks or hosts:
                raise FailedPrecondition(
                    f"cluster {cluster.name!r} still has {networks} network(s) and {hosts} "
                    "host(s); remove them first"
                )
            store.delete_cluster(cluster.id)
            event = self.make_event(
                EventType.CLUSTER_DELETED,
                f"cluster {cluster.name!r} deleted",
                cluster_id=cluster.id,
                attributes={"name": cluster.name},
            )
            return None, [event]

        await self.transact(work)

    async def create_example_cluster(self) -> Cluster | None:
        """When the engine holds no cluster: a cluster "Default" with a management and a
        migration network (the lab's first subnets), so that a fresh engine shows something."""
        if await self.read(Store.count_clusters):
            return None
        cluster = await self.create_cluster(
            ClusterSpec(
                name="Default", description="example cluster (miglane engine --example-cluster)"
            )
        )
        await self.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="mgmt",
                subnet="10.231.1.0/24",
                required=True,
                roles=(NetworkRole.MANAGEMENT, NetworkRole.DISPLAY),
                description="management: the engine reaches agents over it",
            )
        )
        await self.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="migration",
                subnet="10.231.2.0/24",
                roles=(NetworkRole.MIGRATION,),
                description="carries live-migration data",
            )
        )
        return await self.get_cluster(cluster.id)

    # ------------------------------------------------------------ networks and roles

    def _role_events(
        self, store: Store, cluster: Cluster, change: RoleChange, networks: Mapping[str, Network]
    ) -> list[Event]:
        role = change.role.label

        def name_of(network_id: str) -> str:
            network = networks.get(network_id) or store.get_network(network_id)
            return network.name if network else network_id

        legacy_note, severity = "", EventSeverity.INFO
        if change.role is NetworkRole.MIGRATION:
            if change.kind is RoleChangeKind.TAKEN:
                legacy_note = "; migrations now use the management network"
                severity = EventSeverity.WARNING
            elif not migration_network_supported(cluster.compatibility_version):
                low = ".".join(str(n) for n in MIGRATION_NETWORK_MIN_VERSION)
                legacy_note = (
                    f"; cluster level {cluster.compatibility_version} predates migration "
                    f"networks ({low}), so its migrations keep using the management network"
                )
                severity = EventSeverity.WARNING
        if change.kind is RoleChangeKind.GRANTED:
            target = name_of(change.to_network_id)
            return [
                self.make_event(
                    EventType.ROLE_GRANTED,
                    f"network {target!r} now holds the {role} role in cluster "
                    f"{cluster.name!r}{legacy_note}",
                    severity=severity,
                    cluster_id=cluster.id,
                    network_id=change.to_network_id,
                    attributes={"role": role, "network_name": target},
                )
            ]
        if change.kind is RoleChangeKind.MOVED:
            source, target = name_of(change.from_network_id), name_of(change.to_network_id)
            return [
                self.make_event(
                    EventType.ROLE_MOVED,
                    f"the {role} role moved from network {source!r} to {target!r} in cluster "
                    f"{cluster.name!r}{legacy_note}",
                    severity=severity,
                    cluster_id=cluster.id,
                    network_id=change.to_network_id,
                    attributes={
                        "role": role,
                        "from_network_id": change.from_network_id,
                        "from_network_name": source,
                        "to_network_id": change.to_network_id,
                        "to_network_name": target,
                    },
                )
            ]
        if change.kind is RoleChangeKind.TAKEN:
            source = name_of(change.from_network_id)
            return [
                self.make_event(
                    EventType.ROLE_TAKEN,
                    f"network {source!r} no longer holds the {role} role in cluster "
                    f"{cluster.name!r}{legacy_note}",
                    severity=severity,
                    cluster_id=cluster.id,
                    network_id=change.from_network_id,
                    attributes={"role": role, "network_name": source},
                )
            ]
        return []

    @staticmethod
    def _guard_migration_role(store: Store, cluster: Cluster, change: RoleChange) -> None:
        if change.role is NetworkRole.MIGRATION and change.changes_holder:
            verb = {
                RoleChangeKind.GRANTED: "grant",
                RoleChangeKind.MOVED: "move",
                RoleChangeKind.TAKEN: "take",
            }[change.kind]
            refuse_while_migrating(
                f"{verb} the migration role in cluster {cluster.name!r}",
                store.active_migrations(cluster.id),
            )

    async def create_network(self, spec: NetworkSpec) -> Network:
        cluster_field = "cluster_id"
        validate_id(cluster_field, spec.cluster_id, "cluster")
        name = validate_name("name", spec.name)
        subnet = normalize_subnet("subnet", spec.subnet)
        qos = validate_qos_mbps("qos_mbit_per_second", spec.qos_mbps)
        description = validate_description("description", spec.description)
        roles = sorted({validate_role(f"roles[{i}]", r) for i, r in enumerate(spec.roles)})

        def work(store: Store) -> tuple[Network, list[Event]]:
            cluster = self._cluster(store, spec.cluster_id)
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
                self.make_event(
                    EventType.NETWORK_CREATED,
                    f"network {name!r} ({subnet}) created in cluster {cluster.name!r}",
                    cluster_id=cluster.id,
                    network_id=network.id,
                    attributes={"name": name, "subnet": subnet, "required": str(spec.required)},
                )
            ]
            holders = store.role_holders(cluster.id)
            for role in roles:
                change = plan_role_grant(holders, network.id, role)
                self._guard_migration_role(store, cluster, change)
                store.set_role_holder(cluster.id, role, network.id)
                events += self._role_events(store, cluster, change, {network.id: network})
            created = store.get_network(network.id)
            assert created is not None
            return created, events

        return await self.transact(work)

    async def get_network(self, network_id: str) -> Network:
        return await self.read(lambda store: self._network(store, network_id))

    async def list_networks(
        self, cluster_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Listing[Network]:
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if cluster_id:
            await self.get_cluster(cluster_id)
        return await self._list(
            f"networks?cluster={cluster_id}",
            page_size,
            page_token,
            lambda store, after, size: store.list_networks(cluster_id, after, size),
        )

    async def update_network(self, patch: NetworkPatch) -> Network:
        validate_id("network_id", patch.network_id, "network")
        name = None if patch.name is None else validate_name("name", patch.name)
        subnet = None if patch.subnet is None else normalize_subnet("subnet", patch.subnet)
        description = (
            None
            if patch.description is None
            else validate_description("description", patch.description)
        )
        # qos_mbps: None leaves it, 0 clears it.
        qos_given = patch.qos_mbps is not None
        qos = validate_qos_mbps("qos_mbit_per_second", patch.qos_mbps)

        def work(store: Store) -> tuple[Network, list[Event]]:
            network = self._network(store, patch.network_id)
            cluster = self._cluster(store, network.cluster_id)
            updated = replace(
                network,
                name=network.name if name is None else name,
                subnet=network.subnet if subnet is None else subnet,
                required=network.required if patch.required is None else patch.required,
                qos_mbps=qos if qos_given else network.qos_mbps,
                description=network.description if description is None else description,
            )
            changed = [
                field
                for field in ("name", "subnet", "required", "qos_mbps", "description")
                if getattr(updated, field) != getattr(network, field)
            ]
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
            event = self.make_event(
                EventType.NETWORK_UPDATED,
                f"network {updated.name!r} of cluster {cluster.name!r} updated: "
                + ", ".join(
                    f"{field} {_shown_value(getattr(network, field))} → "
                    f"{_shown_value(getattr(updated, field))}"
                    for field in changed
                    if field != "description"
                )
                + (", description" if "description" in changed else ""),
                cluster_id=cluster.id,
                network_id=network.id,
                attributes={field: _shown_value(getattr(updated, field)) for field in changed},
            )
            return updated, [event]

        return await self.transact(work)

    async def delete_network(self, network_id: str) -> None:
        def work(store: Store) -> tuple[None, list[Event]]:
            network = self._network(store, network_id)
            cluster = self._cluster(store, network.cluster_id)
            events: list[Event] = []
            for role in network.roles:
                change = RoleChange(role, RoleChangeKind.TAKEN, "", network.id)
                if role is NetworkRole.MIGRATION:
                    refuse_while_migrating(
                        f"delete network {network.name!r}, which holds the migration role",
                        store.active_migrations(cluster.id),
                    )
                events += self._role_events(store, cluster, change, {network.id: network})
            store.delete_network(network.id)
            events.append(
                self.make_event(
                    EventType.NETWORK_DELETED,
                    f"network {network.name!r} ({network.subnet}) deleted from cluster "
                    f"{cluster.name!r}",
                    cluster_id=cluster.id,
                    network_id=network.id,
                    attributes={"name": network.name, "subnet": network.subnet},
                )
            )
            return None, events

        await self.transact(work)

    async def set_network_role(self, network_id: str, role: NetworkRole) -> tuple[Network, str]:
        """Grants `role` to the network, moving it from the network that held it. Returns the
        network and the previous holder's id ("" when none, or when it already held it)."""
        validate_id("network_id", network_id, "network")
        role = validate_role("role", role)

        def work(store: Store) -> tuple[tuple[Network, str], list[Event]]:
            network = self._network(store, network_id)
            cluster = self._cluster(store, network.cluster_id)
            change = plan_role_grant(store.role_holders(cluster.id), network.id, role)
            if not change.changes_holder:
                return (network, ""), []
            self._guard_migration_role(store, cluster, change)
            store.set_role_holder(cluster.id, role, network.id)
            events = self._role_events(store, cluster, change, {network.id: network})
            granted = store.get_network(network.id)
            assert granted is not None
            return (granted, change.from_network_id), events

        return await self.transact(work)

    async def unset_network_role(self, network_id: str, role: NetworkRole) -> Network:
        validate_id("network_id", network_id, "network")
        role = validate_role("role", role)

        def work(store: Store) -> tuple[Network, list[Event]]:
            network = self._network(store, network_id)
            cluster = self._cluster(store, network.cluster_id)
            holders = store.role_holders(cluster.id)
            holder = store.get_network(holders[role]) if role in holders else None
            change = plan_role_unset(holders, network, role, holder.name if holder else "")
            self._guard_migration_role(store, cluster, change)
            store.clear_role(cluster.id, role)
            events = self._role_events(store, cluster, change, {network.id: network})
            taken = store.get_network(network.id)
            assert taken is not None
            return taken, events

        return await self.transact(work)

    # ------------------------------------------------------------ hosts

    @staticmethod
    def _host_views(store: Store, hosts: Sequence[Host]) -> list[HostView]:
        networks: dict[str, list[Network]] = {}
        counts = store.migration_counts(h.id for h in hosts)
        views = []
        for host in hosts:
            if host.cluster_id not in networks:
                networks[host.cluster_id] = store.networks_of_cluster(host.cluster_id)
            outgoing, incoming = counts[host.id]
            views.append(
                HostView(
                    host=host,
                    attachments=tuple(derive_attachments(networks[host.cluster_id], host.nics)),
                    outgoing_migrations=outgoing,
                    incoming_migrations=incoming,
                )
            )
        return views

    async def add_host(self, spec: HostSpec) -> HostView:
        validate_id("cluster_id", spec.cluster_id, "cluster")
        name = validate_name("name", spec.name)
        address = validate_agent_address("agent_address", spec.agent_address)

        def work(store: Store) -> tuple[HostView, list[Event]]:
            cluster = self._cluster(store, spec.cluster_id)
            taken = store.find_host(cluster_id=cluster.id, name=name)
            if taken is not None:
                raise AlreadyExists(
                    "name",
                    f"cluster {cluster.name!r} already has a host named {name!r} (id {taken.id})",
                )
            other = store.find_host_by_agent(address)
            if other is not None:
                raise AlreadyExists(
                    "agent_address",
                    f"host {other.name!r} (id {other.id}) already uses the agent at {address}",
                )
            host = Host(
                id=self._make_id("host"),
                cluster_id=cluster.id,
                name=name,
                agent_address=address,
                status=HostStatus.UNREACHABLE,
                status_reason=(
                    f"agent at {address} not contacted yet: the first poll is on its way"
                ),
                created_at=self._clock(),
            )
            store.insert_host(host)
            event = self.make_event(
                EventType.HOST_ADDED,
                f"host {name!r} (agent {address}) added to cluster {cluster.name!r}",
                cluster_id=cluster.id,
                host_id=host.id,
                attributes={"name": name, "agent_address": address},
            )
            return self._host_views(store, [host])[0], [event]

        return await self.transact(work)

    async def get_host(self, host_id: str) -> HostView:
        return await self.read(
            lambda store: self._host_views(store, [self._host(store, host_id)])[0]
        )

    async def list_hosts(
        self, cluster_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Listing[HostView]:
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if cluster_id:
            await self.get_cluster(cluster_id)

        def fetch(store: Store, after: int, size: int) -> Page[HostView]:
            page = store.list_hosts(cluster_id, after, size)
            return Page(self._host_views(store, page.items), page.next_after)

        return await self._list(f"hosts?cluster={cluster_id}", page_size, page_token, fetch)

    async def remove_host(self, host_id: str) -> None:
        def work(store: Store) -> tuple[None, list[Event]]:
            host = self._host(store, host_id)
            active = store.active_migrations(host_id=host.id)
            if active:
                ids = ", ".join(m.id for m in active[:5])
                raise FailedPrecondition(
                    f"host {host.name!r} takes part in {len(active)} queued or running "
                    f"migration(s) ({ids}); wait for them or cancel them first"
                )
            cluster = store.get_cluster(host.cluster_id)
            vms = len(store.vms_of_host(host.id))
            store.delete_host(host.id)
            event = self.make_event(
                EventType.HOST_REMOVED,
                f"host {host.name!r} removed from cluster "
                f"{cluster.name if cluster else host.cluster_id!r}"
                + (f" with the records of its {vms} VM(s)" if vms else ""),
                cluster_id=host.cluster_id,
                host_id=host.id,
                attributes={"name": host.name, "agent_address": host.agent_address},
            )
            return None, [event]

        await self.transact(work)

    async def record_agent_report(self, host_id: str, report: AgentReport) -> HostView:
        """Applies one agent poll: NICs, facts, VMs, and the host's status — UNREACHABLE with
        the error, else UP / NON_OPERATIONAL from the required networks. Maintenance states
        are kept (the maintenance flow owns them). A status change is an event."""

        def work(store: Store) -> tuple[HostView, list[Event]]:
            host = self._host(store, host_id)
            now = self._clock()
            if not report.reachable:
                status = HostStatus.UNREACHABLE
                reason = f"agent at {host.agent_address} unreachable: {report.error or 'no answer'}"
                updated = replace(host, status=status, status_reason=reason)
            else:
                networks = store.networks_of_cluster(host.cluster_id)
                verdict = operational_status(networks, derive_attachments(networks, report.nics))
                status, reason = verdict.status, verdict.reason
                if host.status in (HostStatus.MAINTENANCE, HostStatus.PREPARING_FOR_MAINTENANCE):
                    status, reason = host.status, host.status_reason
                updated = replace(
                    host,
                    status=status,
                    status_reason=reason,
                    nics=report.nics,
                    facts=report.facts or host.facts,
                    last_seen_at=now,
                )
                if report.vms is not None:
                    store.replace_host_vms(
                        host.id,
                        [
                            replace(vm, host_id=host.id, cluster_id=host.cluster_id)
                            for vm in report.vms
                        ],
                    )
            store.update_host(updated)
            events = []
            if (updated.status, updated.status_reason) != (host.status, host.status_reason):
                events.append(
                    self.make_event(
                        EventType.HOST_STATUS_CHANGED,
                        f"host {host.name!r} is {updated.status.label}"
                        + (f": {updated.status_reason}" if updated.status_reason else ""),
                        severity=(
                            EventSeverity.INFO
                            if updated.status is HostStatus.UP
                            else EventSeverity.WARNING
                        ),
                        cluster_id=host.cluster_id,
                        host_id=host.id,
                        attributes={
                            "from": host.status.label,
                            "to": updated.status.label,
                        },
                    )
                )
            return self._host_views(store, [updated])[0], events

        return await self.transact(work)

    # ------------------------------------------------------------ VMs

    async def get_vm(self, vm_id: str) -> Vm:
        validate_id("vm_id", vm_id, "VM")

        def work(store: Store) -> Vm:
            vm = store.get_vm(vm_id)
            if vm is None:
                raise NotFound("vm_id", "VM", vm_id)
            return vm

        return await self.read(work)

    async def list_vms(
        self, cluster_id: str = "", host_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Listing[Vm]:
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        host_id = validate_optional_id("host_id", host_id, "host")
        if cluster_id:
            await self.get_cluster(cluster_id)
        if host_id:
            await self.get_host(host_id)
        return await self._list(
            f"vms?cluster={cluster_id}&host={host_id}",
            page_size,
            page_token,
            lambda store, after, size: store.list_vms(cluster_id, host_id, after, size),
        )

    # ------------------------------------------------------------ migrations (records)

    async def get_migration(self, migration_id: str) -> Migration:
        validate_id("migration_id", migration_id, "migration")

        def work(store: Store) -> Migration:
            migration = store.get_migration(migration_id)
            if migration is None:
                raise NotFound("migration_id", "migration", migration_id)
            return migration

        return await self.read(work)

    async def list_migrations(
        self, where: MigrationFilter, page_size: int = 0, page_token: str = ""
    ) -> Listing[Migration]:
        """History included: the filters are not checked against existing clusters/hosts."""
        where = MigrationFilter(
            cluster_id=validate_optional_id("cluster_id", where.cluster_id, "cluster"),
            vm_id=validate_optional_id("vm_id", where.vm_id, "VM"),
            host_id=validate_optional_id("host_id", where.host_id, "host"),
            phases=frozenset(_validate_phases(where.phases)),
        )
        phases = ",".join(str(int(p)) for p in sorted(where.phases))
        scope = (
            f"migrations?cluster={where.cluster_id}&vm={where.vm_id}&host={where.host_id}"
            f"&phases={phases}"
        )
        return await self._list(
            scope,
            page_size,
            page_token,
            lambda store, after, size: store.list_migrations(where, after, size),
        )

    async def record_migration(
        self,
        migration: Migration,
        events: Sequence[Event] = (),
        *,
        on_commit: Callable[[Migration], None] | None = None,
    ) -> Migration:
        """Writes a new migration record with its events (issue 5's MigrateVm)."""

        def work(store: Store) -> tuple[Migration, Sequence[Event]]:
            store.insert_migration(migration)
            return migration, events

        return await self.transact(work, on_commit=on_commit)

    async def save_migration(
        self,
        migration: Migration,
        events: Sequence[Event] = (),
        *,
        on_commit: Callable[[Migration], None] | None = None,
    ) -> Migration:
        """Replaces a migration record (phase, progress, ...) with its events."""

        def work(store: Store) -> tuple[Migration, Sequence[Event]]:
            store.update_migration(migration)
            return migration, events

        return await self.transact(work, on_commit=on_commit)

    async def active_migrations(self, cluster_id: str = "", host_id: str = "") -> list[Migration]:
        return await self.read(lambda store: store.active_migrations(cluster_id, host_id))

    # ------------------------------------------------------------ events

    async def list_events(
        self,
        cluster_id: str = "",
        after_sequence: int = 0,
        page_size: int = 0,
        page_token: str = "",
    ) -> Listing[Event]:
        """History included: a deleted cluster's events stay listable by its id."""
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if after_sequence < 0:
            raise InvalidArgument("after_sequence", f"{after_sequence} is negative")
        scope = f"events?cluster={cluster_id}&after={after_sequence}"

        def fetch(store: Store, after: int, size: int) -> Page[Event]:
            return store.list_events(cluster_id, max(after, after_sequence), size)

        return await self._list(scope, page_size, page_token, fetch)

    async def watch_events(
        self, cluster_id: str = "", after_sequence: int = 0
    ) -> AsyncGenerator[Event, None]:
        """Events as they are committed; first those after `after_sequence` when it is not 0.

        No gap and no duplicate between replay and live events: the subscription starts
        before the replay reads the store, and anything at or below the last sent sequence is
        skipped. A client that falls `EventHub` queue-size events behind gets ConsumerTooSlow
        (after everything buffered) with the sequence to resume after.
        """
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if after_sequence < 0:
            raise InvalidArgument("after_sequence", f"{after_sequence} is negative")
        if cluster_id:
            await self.get_cluster(cluster_id)
        subscription = self.hub.subscribe(
            lambda event: not cluster_id or event.cluster_id == cluster_id
        )
        last = after_sequence
        try:
            if after_sequence:
                while True:
                    page = await self.read(
                        partial(_replay_batch, cluster_id=cluster_id, after=last)
                    )
                    for replayed in page.items:
                        yield replayed
                        last = replayed.sequence
                    if page.next_after is None:
                        break
            while True:
                try:
                    live = await subscription.next()
                except SubscriptionOverflow:
                    raise ConsumerTooSlow(
                        f"this event stream fell more than {subscription.limit} events behind "
                        f"and was closed; reconnect with after_sequence={last} to resume "
                        "without a gap",
                        resume_after=last,
                    ) from None
                if live is None:
                    return
                if live.sequence <= last:
                    continue
                yield live
                last = live.sequence
        finally:
            subscription.close()


def _replay_batch(store: Store, *, cluster_id: str, after: int) -> Page[Event]:
    return store.list_events(cluster_id, after, _REPLAY_BATCH)


def _validate_phases(phases: frozenset[MigrationPhase]) -> list[MigrationPhase]:
    for phase in phases:
        if phase is MigrationPhase.UNSPECIFIED:
            raise InvalidArgument("phases", "holds MIGRATION_PHASE_UNSPECIFIED; list real phases")
    return sorted(phases)


def _shown_value(value: object) -> str:
    if isinstance(value, MigrationPolicy):
        return ", ".join(f"{f.name}={_shown_value(getattr(value, f.name))}" for f in fields(value))
    if isinstance(value, IntEnum):
        return value.name.lower()
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


__all__ = ["ACTIVE_PHASES", "AgentReport", "InventoryService", "Work", "new_id", "utc_now"]
