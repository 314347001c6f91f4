"""ClusterReader: one consistent read of a cluster as the decisions need it (networks, hosts,
active migrations, the VMs they concern), with the cluster's topology reused between polls."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from miglane.engine.domain.errors import FailedPrecondition, NotFound
from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import HostView, Migration, Vm
from miglane.engine.domain.placement import (
    SLOT_PHASES,
    HostLoad,
    host_loads,
    prepare_for_placement,
)
from miglane.engine.domain.prediction import DEFAULT_FIXED_S
from miglane.engine.domain.validation import validate_id
from miglane.engine.migrations.path_costs import PathCosts
from miglane.engine.migrations.ports import HostViews, StoreAccess
from miglane.engine.store import Store

# A page size no listing reaches: the whole listing in one page.
WHOLE_LISTING = 1 << 30
# How long the queue may reuse a cluster's networks and hosts between poll rounds.
TOPOLOGY_TTL_S = 1.0

Topology = tuple[ClusterNetworks, list[HostView]]


class ActiveMigrations(Protocol):
    def active_of(self, cluster_id: str = "") -> list[Migration]: ...


@dataclass(frozen=True)
class ClusterState:
    """One consistent read of what the decisions need about a cluster."""

    networks: ClusterNetworks
    hosts: list[HostView]
    vms: dict[str, Vm]
    active: list[Migration]

    @property
    def by_id(self) -> dict[str, HostView]:
        return {view.host.id: view for view in self.hosts}

    @property
    def host_names(self) -> dict[str, str]:
        return {view.host.id: view.host.name for view in self.hosts}

    def slot_holders(self) -> list[Migration]:
        return [m for m in self.active if m.phase in SLOT_PHASES]

    def loads(self) -> dict[str, HostLoad]:
        return host_loads(self.slot_holders(), {k: v.memory_mib for k, v in self.vms.items()})


# A read of a VM, its cluster and its host, run on the store's worker.
VmReading = Callable[[Store, Sequence[Migration]], tuple[Vm, ClusterState, HostView]]


def read_cluster(
    store: Store,
    cluster_id: str,
    *,
    host_views: HostViews,
    active: Sequence[Migration],
    vms_of_host: str = "",
    vm_id: str = "",
    with_vms: bool = True,
    topology: Topology | None = None,
    path_fixed_s: float = DEFAULT_FIXED_S,
) -> ClusterState | None:
    """On the store's worker thread. The cluster, its hosts, its active migrations (`active`,
    as the ledger holds them) and the VMs those concern (plus the VMs of `vms_of_host` and
    `vm_id` when given). `with_vms=False`: only the VMs of migrations holding a slot (their
    memory is promised to destinations). `topology`: the cluster's networks and hosts when the
    caller holds a fresh copy. `path_fixed_s`: the fixed cost its predictions count
    (`PathCosts`)."""
    if topology is not None:
        networks, hosts = topology
    else:
        cluster = store.get_cluster(cluster_id)
        if cluster is None:
            return None
        networks = ClusterNetworks.of(cluster, store.networks_of_cluster(cluster_id))
        hosts = host_views(store, store.hosts_of_cluster(cluster_id))
        # Here, on the store's worker, once per read: every decision over these views (one
        # per request, one per queued migration) then reads rows only.
        prepare_for_placement(hosts)
    vms: dict[str, Vm] = {}
    if vms_of_host:
        vms.update((vm.id, vm) for vm in store.vms_of_host(vms_of_host))
    holders = active if with_vms else [m for m in active if m.phase in SLOT_PHASES]
    wanted = {m.vm_id for m in holders} | ({vm_id} if vm_id else set())
    wanted -= set(vms)
    vms.update((vm.id, vm) for vm in store.get_vms(wanted))
    if networks.path_fixed_s != path_fixed_s:
        networks = replace(networks, path_fixed_s=path_fixed_s)
    return ClusterState(networks, hosts, vms, list(active))


@dataclass(frozen=True)
class StateReading:
    """A read of one cluster's state, run on the store's worker (`read`)."""

    read: Callable[[Store], ClusterState | None]
    cluster_id: str
    # The networks and hosts are a copy kept from an earlier read.
    reused_topology: bool

    def __call__(self, store: Store) -> ClusterState | None:
        return self.read(store)


class ClusterReader:
    """Used from the event loop's thread only."""

    def __init__(
        self,
        store: StoreAccess,
        migrations: ActiveMigrations,
        host_views: HostViews,
        path_costs: PathCosts | None = None,
    ) -> None:
        self._store = store
        self._migrations = migrations
        self._host_views = host_views
        # What completed migrations taught of the engine path's fixed cost: every state read
        # carries it to the predictions made from it.
        self.path_costs = path_costs or PathCosts()
        self._topology: dict[str, tuple[float, Topology]] = {}

    def forget_topology(self) -> None:
        """Hosts changed (poll round, maintenance): decisions read them afresh."""
        self._topology.clear()

    async def read_state(
        self, cluster_id: str, *, vms_of_host: str = "", with_vms: bool = True
    ) -> ClusterState | None:
        """The cluster as the queue and the jobs need it. Its networks and hosts change only
        with agent polls, maintenance and inventory calls: they are reused for up to
        `TOPOLOGY_TTL_S` (dropped at each poll round and maintenance change)."""
        reading = self.state_reading(cluster_id, vms_of_host=vms_of_host, with_vms=with_vms)
        state = await self._store.read(reading)
        self.after_reading(reading, state)
        return state

    def state_reading(
        self, cluster_id: str, *, vms_of_host: str = "", with_vms: bool = True
    ) -> StateReading:
        """`read_state`'s read, to run on the store's worker inside a transaction of the
        caller's (who hands the state back to `after_reading` on the loop)."""
        cached = self._topology.get(cluster_id)
        fresh = cached is not None and time.monotonic() - cached[0] < TOPOLOGY_TTL_S
        return StateReading(
            functools.partial(
                read_cluster,
                cluster_id=cluster_id,
                host_views=self._host_views,
                active=self._migrations.active_of(cluster_id),
                vms_of_host=vms_of_host,
                with_vms=with_vms,
                topology=cached[1] if cached is not None and fresh else None,
                path_fixed_s=self.path_costs.fixed_s,
            ),
            cluster_id,
            reused_topology=fresh,
        )

    def after_reading(self, reading: StateReading, state: ClusterState | None) -> None:
        if state is not None and not reading.reused_topology:
            self.remember_topology(reading.cluster_id, state)

    async def cluster(self, cluster_id: str, *, with_vms: bool = True) -> ClusterState:
        state = await self.read_state(cluster_id, with_vms=with_vms)
        if state is None:
            raise NotFound("cluster_id", "cluster", cluster_id)
        return state

    async def vm_and_cluster(self, vm_id: str) -> tuple[Vm, ClusterState, HostView]:
        """The VM, its cluster (slot holders' VMs only) and its host, in one store read.
        Answers to clients read the hosts afresh (no topology reuse)."""
        validate_id("vm_id", vm_id, "VM")
        read = self.vm_reading(vm_id, with_vms=False)
        active = self._migrations.active_of()
        vm, state, source = await self._store.read(lambda store: read(store, active))
        self.remember_topology(vm.cluster_id, state)
        return vm, state, source

    def vm_reading(self, vm_id: str, *, with_vms: bool) -> VmReading:
        """`vm_and_cluster`'s read, to run on the store's worker inside a transaction of the
        caller's, given the active migrations of every cluster (as the ledger holds them);
        `with_vms`: the VMs of every active migration of the VM's cluster too (else the slot
        holders' only). Raises NotFound / FailedPrecondition. The caller hands the state to
        `remember_topology` back on the loop."""
        host_views = self._host_views
        path_fixed_s = self.path_costs.fixed_s

        def work(store: Store, active: Sequence[Migration]) -> tuple[Vm, ClusterState, HostView]:
            # On the store's worker thread.
            vm = store.get_vm(vm_id)
            if vm is None:
                raise NotFound("vm_id", "VM", vm_id)
            state = read_cluster(
                store,
                vm.cluster_id,
                host_views=host_views,
                vm_id=vm.id,
                with_vms=with_vms,
                active=[m for m in active if m.cluster_id == vm.cluster_id],
                path_fixed_s=path_fixed_s,
            )
            if state is None:
                raise NotFound("cluster_id", "cluster", vm.cluster_id)
            source = state.by_id.get(vm.host_id)
            if source is None:
                raise FailedPrecondition(f"VM {vm.name!r} is on host {vm.host_id}, which is gone")
            return vm, state, source

        return work

    def remember_topology(self, cluster_id: str, state: ClusterState) -> None:
        """A fresh read's networks and hosts, for the reads of the next `TOPOLOGY_TTL_S`."""
        self._topology[cluster_id] = (time.monotonic(), (state.networks, state.hosts))

    async def host_names(self, cluster_id: str) -> dict[str, str]:
        return await self._store.read(
            lambda store: {host.id: host.name for host in store.hosts_of_cluster(cluster_id)}
        )

    async def source_address(self, migration: Migration) -> str | None:
        """The agent address of the migration's source host (None: the host is gone)."""
        host = await self._store.read(lambda s: s.get_host(migration.source_host_id))
        return host.agent_address if host is not None else None
