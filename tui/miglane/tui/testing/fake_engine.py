"""An in-memory engine behind the `EngineClient` interface, for tests, the bench and demos.

It keeps the engine's rules whose consequences the TUI shows: one holder per role and cluster;
the migration role refused while a VM of the cluster migrates; fallback to management below
cluster level 3.3 or when a link or attachment is missing; candidates with their rejections;
per-host outgoing limits (queueing); progress that holds at 99 until done; cancel; bandwidth
changes; host maintenance evacuating by automatic migration. Time is its own: `tick(seconds)`
moves it, so what it produces is the same on every run. `disconnect()` / `reconnect()` play a
lost engine.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TypeVar

from miglane.tui.client import EngineError
from miglane.v1 import common_pb2, engine_pb2

MIB = 1024 * 1024
# 2026-01-01 09:00:00 UTC: where the fake's clock starts.
EPOCH_S = 1767258000
DEFAULT_THROUGHPUT_MIBPS = 110
DEFAULT_LIMIT = 2
LEGACY_BELOW = (3, 3)

M = TypeVar(
    "M",
    engine_pb2.Cluster,
    engine_pb2.Network,
    engine_pb2.Host,
    engine_pb2.Vm,
    engine_pb2.Event,
    engine_pb2.Migration,
)
ACTIVE = (
    common_pb2.MIGRATION_PHASE_QUEUED,
    common_pb2.MIGRATION_PHASE_PREPARING,
    common_pb2.MIGRATION_PHASE_RUNNING,
)


@dataclass
class _Route:
    network_id: str
    reason: int
    detail: str


class FakeEngineClient:
    """See the module docstring. Build one with `miglane.tui.testing.demo_engine()` or fill
    it with the `add_*` methods."""

    def __init__(
        self,
        address: str = "fake://engine",
        *,
        unimplemented: Iterable[str] = (),
        autoplay_interval_s: float | None = None,
        dirty_rate_mibps: int = 8,
    ) -> None:
        self._address = address
        self.unimplemented = set(unimplemented)
        self.reachable = True
        self.now = float(EPOCH_S)
        self.clusters: dict[str, engine_pb2.Cluster] = {}
        self.networks: dict[str, engine_pb2.Network] = {}
        self.hosts: dict[str, engine_pb2.Host] = {}
        self.vms: dict[str, engine_pb2.Vm] = {}
        self.migrations: dict[str, engine_pb2.Migration] = {}
        self.events: list[engine_pb2.Event] = []
        self.calls: list[str] = []
        self._dirty_rate = dirty_rate_mibps * MIB
        self._ids = itertools.count(1)
        self._migration_watchers: list[asyncio.Queue[engine_pb2.Migration | EngineError]] = []
        self._event_watchers: list[asyncio.Queue[engine_pb2.Event | EngineError]] = []
        self._autoplay_interval_s = autoplay_interval_s
        self._autoplay: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ building the inventory

    def add_cluster(self, name: str, compatibility_version: str = "4.8") -> engine_pb2.Cluster:
        cluster = engine_pb2.Cluster(
            id=f"cluster-{name}", name=name, compatibility_version=compatibility_version
        )
        cluster.policy.bandwidth_mode = engine_pb2.BANDWIDTH_MODE_AUTO
        self.clusters[cluster.id] = cluster
        return cluster

    def add_network(
        self,
        cluster: engine_pb2.Cluster,
        name: str,
        subnet: str,
        *,
        required: bool = False,
        roles: Iterable[int] = (),
        qos_mbps: int | None = None,
    ) -> engine_pb2.Network:
        network = engine_pb2.Network(
            id=f"net-{cluster.name}-{name}",
            cluster_id=cluster.id,
            name=name,
            subnet=subnet,
            required=required,
        )
        if qos_mbps is not None:
            network.qos_mbit_per_second = qos_mbps
        self.networks[network.id] = network
        for role in roles:
            self._grant(network, role)  # type: ignore[arg-type]
        return network

    def add_host(
        self,
        cluster: engine_pb2.Cluster,
        name: str,
        *,
        memory_mib: int = 65536,
        nics: Iterable[tuple[engine_pb2.Network, str, str, bool, int]] = (),
        status: int = engine_pb2.HOST_STATUS_UP,
        status_reason: str = "",
    ) -> engine_pb2.Host:
        """`nics`: (network, nic name, address, link up, speed in Mb/s) per attachment."""
        index = len(self.hosts) + 1
        host = engine_pb2.Host(
            id=f"host-{name}",
            name=name,
            cluster_id=cluster.id,
            agent_address=f"127.0.0.1:{7000 + index}",
            status=status,  # type: ignore[arg-type]
            status_reason=status_reason,
            hostname=name,
            cpu_count=16,
            memory_mib=memory_mib,
            free_memory_mib=memory_mib,
        )
        for network, nic, address, link_up, speed in nics:
            host.attachments.add(
                network_id=network.id,
                network_name=network.name,
                nic=nic,
                address=address,
                link_up=link_up,
                speed_mbit_per_second=speed,
                mtu=1500,
            )
            host.nics.add(
                name=nic,
                mac=f"52:54:00:00:{index:02x}:{len(host.nics):02x}",
                addresses=[f"{address}/24"],
                link_up=link_up,
                speed_mbit_per_second=speed,
                mtu=1500,
            )
        self.hosts[host.id] = host
        return host

    def add_vm(self, host: engine_pb2.Host, name: str, memory_mib: int = 2048) -> engine_pb2.Vm:
        vm = engine_pb2.Vm(
            id=f"vm-{name}",
            name=name,
            host_id=host.id,
            cluster_id=host.cluster_id,
            state=common_pb2.VM_STATE_RUNNING,
            memory_mib=memory_mib,
        )
        self.vms[vm.id] = vm
        host.free_memory_mib -= memory_mib
        return vm

    def set_link(self, host_id: str, network_id: str, up: bool) -> None:
        """Pulls a host's link on a network down (or back up), as `ip link set` would."""
        host = self.hosts[host_id]
        for attachment in host.attachments:
            if attachment.network_id == network_id:
                attachment.link_up = up
                for nic in host.nics:
                    if nic.name == attachment.nic:
                        nic.link_up = up
        self._update_host_status(host)

    # ------------------------------------------------------------ playing the engine

    def disconnect(self) -> None:
        """The engine goes away: calls fail with UNAVAILABLE and open streams break."""
        self.reachable = False
        error = self._unavailable()
        for queue in self._migration_watchers:
            queue.put_nowait(error)
        for event_queue in self._event_watchers:
            event_queue.put_nowait(error)

    def reconnect(self) -> None:
        self.reachable = True

    async def tick(self, seconds: float = 1.0) -> None:
        """Moves the fake's clock: queued migrations start, running ones copy memory."""
        self.now += seconds
        for migration in list(self.migrations.values()):
            if migration.phase == common_pb2.MIGRATION_PHASE_PREPARING:
                migration.phase = common_pb2.MIGRATION_PHASE_RUNNING
                migration.started_at.FromSeconds(int(self.now))
                self._vm_of(migration).state = common_pb2.VM_STATE_MIGRATING
                self._publish(migration)
            elif migration.phase == common_pb2.MIGRATION_PHASE_RUNNING:
                self._send_memory(migration, seconds)
        self._start_queued()
        self._finish_evacuations()

    def put_migration(self, migration: engine_pb2.Migration) -> None:
        """Stores a migration as given and sends it to the watchers (for benches)."""
        self.migrations[migration.id] = migration
        self._publish(migration)

    # ------------------------------------------------------------ EngineClient

    @property
    def address(self) -> str:
        return self._address

    async def list_clusters(self) -> list[engine_pb2.Cluster]:
        self._check("ListClusters")
        return [_copy(c) for c in self.clusters.values()]

    async def list_networks(self, cluster_id: str = "") -> list[engine_pb2.Network]:
        self._check("ListNetworks")
        return [_copy(n) for n in self.networks.values() if _in(n.cluster_id, cluster_id)]

    async def list_hosts(self, cluster_id: str = "") -> list[engine_pb2.Host]:
        self._check("ListHosts")
        return [_copy(h) for h in self.hosts.values() if _in(h.cluster_id, cluster_id)]

    async def list_vms(self, cluster_id: str = "") -> list[engine_pb2.Vm]:
        self._check("ListVms")
        return [_copy(v) for v in self.vms.values() if _in(v.cluster_id, cluster_id)]

    async def list_events(self, after_sequence: int = 0) -> list[engine_pb2.Event]:
        self._check("ListEvents")
        return [_copy(e) for e in self.events if e.sequence > after_sequence]

    async def set_network_role(
        self, network_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.SetNetworkRoleResponse:
        self._check("SetNetworkRole")
        network = self._network(network_id)
        cluster = self.clusters[network.cluster_id]
        if role == common_pb2.NETWORK_ROLE_MIGRATION:
            # Granted even below level 3.3, as the engine does; its migrations still fall back.
            self._refuse_while_migrating(cluster)
        previous = self._grant(network, role)
        if (
            role == common_pb2.NETWORK_ROLE_MIGRATION
            and _version(cluster.compatibility_version) < LEGACY_BELOW
        ):
            self._event(
                engine_pb2.EVENT_TYPE_CLUSTER_UPDATED,
                f"cluster level {cluster.compatibility_version} of {cluster.name!r} predates "
                "migration networks (3.3), so its migrations keep using the management network",
                severity=engine_pb2.EVENT_SEVERITY_WARNING,
                cluster_id=cluster.id,
                network_id=network.id,
            )
        return engine_pb2.SetNetworkRoleResponse(
            network=_copy(network), previous_network_id=previous
        )

    async def unset_network_role(
        self, network_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.Network:
        self._check("UnsetNetworkRole")
        network = self._network(network_id)
        cluster = self.clusters[network.cluster_id]
        if role not in network.roles:
            raise EngineError(
                "FAILED_PRECONDITION",
                f"network {network.name!r} does not hold the {_role_name(role)} role",
            )
        if role == common_pb2.NETWORK_ROLE_MIGRATION:
            self._refuse_while_migrating(cluster)
        network.roles.remove(role)
        self._sync_cluster_roles(cluster)
        self._event(
            engine_pb2.EVENT_TYPE_ROLE_TAKEN,
            f"{_role_name(role)} role taken from network {network.name!r}",
            cluster_id=cluster.id,
            network_id=network.id,
        )
        return _copy(network)

    async def migrate_vm(
        self,
        vm_id: str,
        destination_host_id: str = "",
        max_bandwidth_mibps: int | None = None,
    ) -> engine_pb2.Migration:
        self._check("MigrateVm")
        vm = self._vm(vm_id)
        migration = self._start_migration(vm, destination_host_id, max_bandwidth_mibps)
        return _copy(migration)

    async def list_migration_candidates(self, vm_id: str) -> list[engine_pb2.MigrationCandidate]:
        self._check("ListMigrationCandidates")
        return self._candidates(self._vm(vm_id))

    async def cancel_migration(self, migration_id: str) -> engine_pb2.Migration:
        self._check("CancelMigration")
        migration = self._migration(migration_id)
        if migration.phase not in ACTIVE:
            raise EngineError(
                "FAILED_PRECONDITION",
                f"migration of {migration.vm_name} is already {_phase_name(migration.phase)}",
            )
        self._finish(migration, common_pb2.MIGRATION_PHASE_CANCELLED)
        return _copy(migration)

    async def set_migration_bandwidth(
        self, migration_id: str, max_bandwidth_mibps: int
    ) -> engine_pb2.Migration:
        self._check("SetMigrationBandwidth")
        migration = self._migration(migration_id)
        if migration.phase not in ACTIVE:
            raise EngineError(
                "FAILED_PRECONDITION",
                f"migration of {migration.vm_name} is already {_phase_name(migration.phase)}",
            )
        migration.max_bandwidth_mib_per_second = max_bandwidth_mibps
        self._publish(migration)
        return _copy(migration)

    async def set_host_maintenance(
        self, host_id: str, enabled: bool
    ) -> engine_pb2.SetHostMaintenanceResponse:
        self._check("SetHostMaintenance")
        host = self._host(host_id)
        response = engine_pb2.SetHostMaintenanceResponse()
        if not enabled:
            self._set_status(host, engine_pb2.HOST_STATUS_UP, "")
            self._update_host_status(host)
            response.host.CopyFrom(host)
            return response
        self._set_status(
            host, engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE, "evacuating its VMs"
        )
        for vm in [v for v in self.vms.values() if v.host_id == host.id]:
            if vm.migration_id:
                continue
            try:
                migration = self._start_migration(vm, "", None, evacuating=host.id)
            except EngineError as error:
                response.unplaced.add(vm_id=vm.id, vm_name=vm.name, reason=error.detail)
                self._event(
                    engine_pb2.EVENT_TYPE_VM_UNPLACED,
                    f"VM {vm.name} cannot leave {host.name}: {error.detail}",
                    severity=engine_pb2.EVENT_SEVERITY_WARNING,
                    cluster_id=vm.cluster_id,
                    host_id=host.id,
                    vm_id=vm.id,
                )
                continue
            response.migrations.append(_copy(migration))
        self._finish_evacuations()
        response.host.CopyFrom(host)
        return response

    async def watch_migrations(
        self, include_finished: bool = True
    ) -> AsyncIterator[engine_pb2.WatchMigrationsResponse]:
        self._check("WatchMigrations")
        queue: asyncio.Queue[engine_pb2.Migration | EngineError] = asyncio.Queue()
        self._migration_watchers.append(queue)
        try:
            for migration in list(self.migrations.values()):
                if include_finished or migration.phase in ACTIVE:
                    yield engine_pb2.WatchMigrationsResponse(migration=_copy(migration))
            yield engine_pb2.WatchMigrationsResponse(snapshot_complete=True)
            while True:
                item = await queue.get()
                if isinstance(item, EngineError):
                    raise item
                yield engine_pb2.WatchMigrationsResponse(migration=item)
        finally:
            self._migration_watchers.remove(queue)

    async def watch_events(self, after_sequence: int = 0) -> AsyncIterator[engine_pb2.Event]:
        self._check("WatchEvents")
        queue: asyncio.Queue[engine_pb2.Event | EngineError] = asyncio.Queue()
        self._event_watchers.append(queue)
        try:
            if after_sequence:
                for event in list(self.events):
                    if event.sequence > after_sequence:
                        yield _copy(event)
            while True:
                item = await queue.get()
                if isinstance(item, EngineError):
                    raise item
                yield item
        finally:
            self._event_watchers.remove(queue)

    async def close(self) -> None:
        if self._autoplay is not None:
            self._autoplay.cancel()
            self._autoplay = None

    # ------------------------------------------------------------ rules

    def _check(self, rpc: str) -> None:
        self.calls.append(rpc)
        if self._autoplay_interval_s and self._autoplay is None:
            self._autoplay = asyncio.get_running_loop().create_task(self._play())
        if not self.reachable:
            raise self._unavailable()
        if rpc in self.unimplemented:
            raise EngineError("UNIMPLEMENTED", f"Method {rpc} not implemented", self._address)

    async def _play(self) -> None:
        interval = self._autoplay_interval_s or 1.0
        while True:
            await asyncio.sleep(interval)
            if self.reachable:
                await self.tick(interval)

    def _unavailable(self) -> EngineError:
        return EngineError("UNAVAILABLE", "failed to connect to all addresses", self._address)

    def _grant(self, network: engine_pb2.Network, role: int) -> str:
        cluster = self.clusters[network.cluster_id]
        previous = ""
        for other in self.networks.values():
            if other.cluster_id == cluster.id and role in other.roles and other is not network:
                other.roles.remove(role)  # type: ignore[arg-type]
                previous = other.id
        if role not in network.roles:
            network.roles.append(role)  # type: ignore[arg-type]
        self._sync_cluster_roles(cluster)
        if previous:
            previous_name = self.networks[previous].name
            message = (
                f"{_role_name(role)} role moved from network {previous_name!r} to {network.name!r}"
            )
            kind = engine_pb2.EVENT_TYPE_ROLE_MOVED
        else:
            message = f"{_role_name(role)} role granted to network {network.name!r}"
            kind = engine_pb2.EVENT_TYPE_ROLE_GRANTED
        self._event(kind, message, cluster_id=cluster.id, network_id=network.id)
        return previous

    def _sync_cluster_roles(self, cluster: engine_pb2.Cluster) -> None:
        cluster.migration_network_id = ""
        cluster.management_network_id = ""
        for network in self.networks.values():
            if network.cluster_id != cluster.id:
                continue
            if common_pb2.NETWORK_ROLE_MIGRATION in network.roles:
                cluster.migration_network_id = network.id
            if common_pb2.NETWORK_ROLE_MANAGEMENT in network.roles:
                cluster.management_network_id = network.id

    def _refuse_while_migrating(self, cluster: engine_pb2.Cluster) -> None:
        moving = [
            m.vm_name
            for m in self.migrations.values()
            if m.cluster_id == cluster.id and m.phase in ACTIVE
        ]
        if moving:
            raise EngineError(
                "FAILED_PRECONDITION",
                f"cluster {cluster.name!r} has {len(moving)} migration(s) in progress "
                f"({', '.join(sorted(moving))}); the migration role can change when none is",
            )

    def _route(self, source: engine_pb2.Host, destination: engine_pb2.Host) -> _Route:
        cluster = self.clusters[source.cluster_id]
        management = cluster.management_network_id
        migration_net = self.networks.get(cluster.migration_network_id)
        if _version(cluster.compatibility_version) < LEGACY_BELOW:
            return _Route(
                management,
                common_pb2.FALLBACK_REASON_LEGACY_CLUSTER,
                f"cluster {cluster.name!r} is at level {cluster.compatibility_version}; "
                "migration networks need 3.3",
            )
        if migration_net is None:
            return _Route(
                management,
                common_pb2.FALLBACK_REASON_NO_MIGRATION_NETWORK,
                f"cluster {cluster.name!r} has no network with the migration role",
            )
        checks = (
            (source, common_pb2.FALLBACK_REASON_SOURCE_NOT_ATTACHED, "source"),
            (destination, common_pb2.FALLBACK_REASON_DESTINATION_NOT_ATTACHED, "destination"),
        )
        for host, reason, side in checks:
            attachment = _attachment(host, migration_net.id)
            if attachment is None:
                return _Route(
                    management,
                    reason,
                    f"{side} {host.name} has no NIC on network {migration_net.name!r}",
                )
            if not attachment.link_up:
                reason = (
                    common_pb2.FALLBACK_REASON_SOURCE_LINK_DOWN
                    if side == "source"
                    else common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN
                )
                return _Route(
                    management,
                    reason,
                    f"{side} {host.name}'s {attachment.nic} on network "
                    f"{migration_net.name!r} is down",
                )
        return _Route(migration_net.id, common_pb2.FALLBACK_REASON_UNSPECIFIED, "")

    def _candidates(self, vm: engine_pb2.Vm) -> list[engine_pb2.MigrationCandidate]:
        source = self.hosts[vm.host_id]
        candidates = []
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            if host.cluster_id != vm.cluster_id:
                continue
            rejections: list[str] = []
            if host.id == source.id:
                rejections.append("the VM runs on it")
            if host.status != engine_pb2.HOST_STATUS_UP:
                status = engine_pb2.HostStatus.Name(host.status).removeprefix("HOST_STATUS_")
                reason = f": {host.status_reason}" if host.status_reason else ""
                rejections.append(f"host is {status.lower().replace('_', '-')}{reason}")
            if host.free_memory_mib < vm.memory_mib and host.id != source.id:
                rejections.append(f"needs {vm.memory_mib} MiB, {host.free_memory_mib} MiB free")
            manual_allowed = not rejections
            incoming = self._count(host.id, incoming=True)
            limit = self._limit(host, incoming=True)
            if manual_allowed and incoming >= limit:
                # Manual migrations queue behind the limit; the scheduler avoids such hosts.
                rejections.append(f"{incoming} of {limit} incoming migrations")
            route = self._route(source, host)
            candidates.append(
                engine_pb2.MigrationCandidate(
                    host_id=host.id,
                    host_name=host.name,
                    suitable=not rejections,
                    rejections=rejections,
                    manual_allowed=manual_allowed,
                    network_id=route.network_id,
                    fallback_reason=route.reason,  # type: ignore[arg-type]
                    fallback_detail=route.detail,
                    score=host.free_memory_mib / max(host.memory_mib, 1),
                )
            )
        return candidates

    def _start_migration(
        self,
        vm: engine_pb2.Vm,
        destination_host_id: str,
        max_bandwidth_mibps: int | None,
        evacuating: str = "",
    ) -> engine_pb2.Migration:
        if vm.migration_id:
            raise EngineError("FAILED_PRECONDITION", f"VM {vm.name} is already migrating")
        candidates = self._candidates(vm)
        if destination_host_id:
            chosen = next((c for c in candidates if c.host_id == destination_host_id), None)
            if chosen is None:
                raise EngineError("NOT_FOUND", f"no host {destination_host_id} in the cluster")
            if not chosen.manual_allowed:
                raise EngineError(
                    "FAILED_PRECONDITION",
                    f"{chosen.host_name} cannot take VM {vm.name}: " + "; ".join(chosen.rejections),
                )
        else:
            suitable = sorted(
                (c for c in candidates if c.suitable),
                key=lambda c: (
                    -(c.fallback_reason == common_pb2.FALLBACK_REASON_UNSPECIFIED),
                    -c.score,
                ),
            )
            if not suitable:
                why = "; ".join(
                    f"{c.host_name}: {', '.join(c.rejections)}"
                    for c in candidates
                    if c.host_id != vm.host_id
                )
                raise EngineError(
                    "FAILED_PRECONDITION", f"no host can take VM {vm.name} ({why or 'no hosts'})"
                )
            chosen = suitable[0]
        cluster = self.clusters[vm.cluster_id]
        source = self.hosts[vm.host_id]
        destination = self.hosts[chosen.host_id]
        route = self._route(source, destination)
        migration = engine_pb2.Migration(
            id=f"mig-{next(self._ids):04d}",
            vm_id=vm.id,
            vm_name=vm.name,
            cluster_id=cluster.id,
            source_host_id=source.id,
            destination_host_id=destination.id,
            automatic=not destination_host_id,
            phase=common_pb2.MIGRATION_PHASE_QUEUED,
            data_total_bytes=vm.memory_mib * MIB,
            data_remaining_bytes=vm.memory_mib * MIB,
            network_id=route.network_id,
            fallback_reason=route.reason,  # type: ignore[arg-type]
            fallback_detail=route.detail,
            evacuation_host_id=evacuating,
        )
        carrier = self._address_on(destination, route.network_id)
        migration.migration_uri = f"tcp://{carrier}" if carrier else ""
        if max_bandwidth_mibps is not None:
            migration.max_bandwidth_mib_per_second = max_bandwidth_mibps
        elif cluster.policy.bandwidth_mode == engine_pb2.BANDWIDTH_MODE_AUTO:
            migration.max_bandwidth_mib_per_second = self._auto_bandwidth(
                source, destination, route
            )
        migration.created_at.FromSeconds(int(self.now))
        vm.migration_id = migration.id
        self.migrations[migration.id] = migration
        self._event(
            engine_pb2.EVENT_TYPE_MIGRATION_QUEUED,
            f"migration of {vm.name} from {source.name} to {destination.name} queued"
            + (" (automatic)" if migration.automatic else ""),
            cluster_id=cluster.id,
            vm_id=vm.id,
            migration_id=migration.id,
        )
        if route.reason != common_pb2.FALLBACK_REASON_UNSPECIFIED:
            self._event(
                engine_pb2.EVENT_TYPE_MIGRATION_FELL_BACK,
                f"migration of {vm.name} uses the management network: {route.detail}",
                severity=engine_pb2.EVENT_SEVERITY_WARNING,
                cluster_id=cluster.id,
                vm_id=vm.id,
                migration_id=migration.id,
            )
        self._publish(migration)
        self._start_queued()
        return migration

    def _auto_bandwidth(
        self, source: engine_pb2.Host, destination: engine_pb2.Host, route: _Route
    ) -> int:
        network = self.networks.get(route.network_id)
        if network is not None and network.HasField("qos_mbit_per_second"):
            return max(1, network.qos_mbit_per_second // 8)
        speeds = [
            a.speed_mbit_per_second
            for host in (source, destination)
            for a in host.attachments
            if a.network_id == route.network_id and a.speed_mbit_per_second
        ]
        return max(1, min(speeds) // 8) if speeds else 0

    def _start_queued(self) -> None:
        for migration in self.migrations.values():
            if migration.phase != common_pb2.MIGRATION_PHASE_QUEUED:
                continue
            source = self.hosts[migration.source_host_id]
            destination = self.hosts[migration.destination_host_id]
            out = self._count(source.id, incoming=False)
            into = self._count(destination.id, incoming=True)
            out_limit = self._limit(source, incoming=False)
            in_limit = self._limit(destination, incoming=True)
            if out >= out_limit:
                reason = f"source {source.name} has {out} of {out_limit} outgoing"
            elif into >= in_limit:
                reason = f"destination {destination.name} has {into} of {in_limit} incoming"
            else:
                migration.phase = common_pb2.MIGRATION_PHASE_PREPARING
                migration.queue_reason = ""
                self._refresh_counts()
                self._event(
                    engine_pb2.EVENT_TYPE_MIGRATION_STARTED,
                    f"migration of {migration.vm_name} started over "
                    f"{self.networks[migration.network_id].name!r}"
                    if migration.network_id in self.networks
                    else f"migration of {migration.vm_name} started",
                    cluster_id=migration.cluster_id,
                    vm_id=migration.vm_id,
                    migration_id=migration.id,
                )
                self._publish(migration)
                continue
            if migration.queue_reason != reason:
                migration.queue_reason = reason
                self._publish(migration)

    def _send_memory(self, migration: engine_pb2.Migration, seconds: float) -> None:
        cap = migration.max_bandwidth_mib_per_second or DEFAULT_THROUGHPUT_MIBPS
        throughput = min(cap, DEFAULT_THROUGHPUT_MIBPS) * MIB
        dirty = min(self._dirty_rate, throughput // 2)
        sent = int(throughput * seconds)
        total = migration.data_total_bytes
        remaining = max(0, migration.data_remaining_bytes - sent + int(dirty * seconds))
        migration.data_processed_bytes += sent
        migration.data_remaining_bytes = remaining
        migration.throughput_bytes_per_second = throughput
        migration.dirty_rate_bytes_per_second = dirty
        migration.iteration = 1 + migration.data_processed_bytes // max(total, 1)
        if remaining <= dirty * seconds:
            migration.data_remaining_bytes = 0
            migration.downtime.FromMilliseconds(38)
            self._finish(migration, common_pb2.MIGRATION_PHASE_COMPLETED)
            return
        percent = 100 - (100 * remaining) // max(total, 1)
        migration.progress_percent = max(migration.progress_percent, min(99, int(percent)))
        net = throughput - dirty
        if net > 0:
            migration.eta.FromSeconds(int(remaining / net) + 1)
        else:
            migration.ClearField("eta")
        self._publish(migration)

    def _finish(self, migration: engine_pb2.Migration, phase: int) -> None:
        migration.phase = phase  # type: ignore[assignment]
        migration.finished_at.FromSeconds(int(self.now))
        migration.ClearField("eta")
        migration.queue_reason = ""
        vm = self._vm_of(migration)
        vm.migration_id = ""
        vm.state = common_pb2.VM_STATE_RUNNING
        source = self.hosts[migration.source_host_id]
        destination = self.hosts[migration.destination_host_id]
        if phase == common_pb2.MIGRATION_PHASE_COMPLETED:
            migration.progress_percent = 100
            vm.host_id = destination.id
            source.free_memory_mib += vm.memory_mib
            destination.free_memory_mib -= vm.memory_mib
            kind = engine_pb2.EVENT_TYPE_MIGRATION_COMPLETED
            downtime_ms = migration.downtime.ToMilliseconds()
            message = f"{vm.name} now runs on {destination.name} (downtime {downtime_ms} ms)"
            severity = engine_pb2.EVENT_SEVERITY_INFO
        else:
            kind = engine_pb2.EVENT_TYPE_MIGRATION_CANCELLED
            message = f"migration of {vm.name} cancelled; it keeps running on {source.name}"
            severity = engine_pb2.EVENT_SEVERITY_WARNING
        self._refresh_counts()
        self._event(
            kind,
            message,
            severity=severity,
            cluster_id=migration.cluster_id,
            vm_id=vm.id,
            migration_id=migration.id,
        )
        self._publish(migration)
        self._start_queued()

    def _finish_evacuations(self) -> None:
        for host in self.hosts.values():
            if host.status != engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE:
                continue
            pending = [
                m
                for m in self.migrations.values()
                if m.evacuation_host_id == host.id and m.phase in ACTIVE
            ]
            if not pending:
                self._set_status(host, engine_pb2.HOST_STATUS_MAINTENANCE, "")

    def _update_host_status(self, host: engine_pb2.Host) -> None:
        if host.status in (
            engine_pb2.HOST_STATUS_MAINTENANCE,
            engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE,
        ):
            return
        for network in self.networks.values():
            if network.cluster_id != host.cluster_id or not network.required:
                continue
            attachment = _attachment(host, network.id)
            if attachment is None:
                self._set_status(
                    host,
                    engine_pb2.HOST_STATUS_NON_OPERATIONAL,
                    f"required network {network.name!r} is missing",
                )
                return
            if not attachment.link_up:
                self._set_status(
                    host,
                    engine_pb2.HOST_STATUS_NON_OPERATIONAL,
                    f"link of {attachment.nic} on required network {network.name!r} is down",
                )
                return
        self._set_status(host, engine_pb2.HOST_STATUS_UP, "")

    def _set_status(self, host: engine_pb2.Host, status: int, reason: str) -> None:
        if host.status == status and host.status_reason == reason:
            return
        host.status = status  # type: ignore[assignment]
        host.status_reason = reason
        label = engine_pb2.HostStatus.Name(status).removeprefix("HOST_STATUS_").lower()
        self._event(
            engine_pb2.EVENT_TYPE_HOST_STATUS_CHANGED,
            f"host {host.name} is {label.replace('_', ' ')}" + (f": {reason}" if reason else ""),
            severity=(
                engine_pb2.EVENT_SEVERITY_WARNING
                if status == engine_pb2.HOST_STATUS_NON_OPERATIONAL
                else engine_pb2.EVENT_SEVERITY_INFO
            ),
            cluster_id=host.cluster_id,
            host_id=host.id,
        )

    def _count(self, host_id: str, incoming: bool) -> int:
        running = (common_pb2.MIGRATION_PHASE_PREPARING, common_pb2.MIGRATION_PHASE_RUNNING)
        return sum(
            1
            for m in self.migrations.values()
            if m.phase in running
            and (m.destination_host_id if incoming else m.source_host_id) == host_id
        )

    def _limit(self, host: engine_pb2.Host, incoming: bool) -> int:
        policy = self.clusters[host.cluster_id].policy
        value = policy.max_incoming_per_host if incoming else policy.max_outgoing_per_host
        return value or DEFAULT_LIMIT

    def _refresh_counts(self) -> None:
        for host in self.hosts.values():
            host.outgoing_migration_count = self._count(host.id, incoming=False)
            host.incoming_migration_count = self._count(host.id, incoming=True)

    def _address_on(self, host: engine_pb2.Host, network_id: str) -> str:
        attachment = _attachment(host, network_id)
        return attachment.address if attachment else ""

    def _event(
        self,
        kind: int,
        message: str,
        *,
        severity: int = engine_pb2.EVENT_SEVERITY_INFO,
        **ids: str,
    ) -> None:
        event = engine_pb2.Event(
            sequence=len(self.events) + 1,
            type=kind,  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            message=message,
        )
        for field, value in ids.items():
            setattr(event, field, value)
        event.created_at.FromSeconds(int(self.now))
        self.events.append(event)
        for queue in self._event_watchers:
            queue.put_nowait(_copy(event))

    def _publish(self, migration: engine_pb2.Migration) -> None:
        for queue in self._migration_watchers:
            queue.put_nowait(_copy(migration))

    def _network(self, network_id: str) -> engine_pb2.Network:
        try:
            return self.networks[network_id]
        except KeyError:
            raise EngineError("NOT_FOUND", f"no network {network_id}") from None

    def _host(self, host_id: str) -> engine_pb2.Host:
        try:
            return self.hosts[host_id]
        except KeyError:
            raise EngineError("NOT_FOUND", f"no host {host_id}") from None

    def _vm(self, vm_id: str) -> engine_pb2.Vm:
        try:
            return self.vms[vm_id]
        except KeyError:
            raise EngineError("NOT_FOUND", f"no VM {vm_id}") from None

    def _vm_of(self, migration: engine_pb2.Migration) -> engine_pb2.Vm:
        return self.vms[migration.vm_id]

    def _migration(self, migration_id: str) -> engine_pb2.Migration:
        try:
            return self.migrations[migration_id]
        except KeyError:
            raise EngineError("NOT_FOUND", f"no migration {migration_id}") from None


def _copy(message: M) -> M:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


def _in(value: str, wanted: str) -> bool:
    return not wanted or value == wanted


def _attachment(host: engine_pb2.Host, network_id: str) -> engine_pb2.NetworkAttachment | None:
    return next((a for a in host.attachments if a.network_id == network_id), None)


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (99, 0)


def _role_name(role: int) -> str:
    return common_pb2.NetworkRole.Name(role).removeprefix("NETWORK_ROLE_").lower()  # type: ignore[arg-type]


def _phase_name(phase: int) -> str:
    return common_pb2.MigrationPhase.Name(phase).removeprefix("MIGRATION_PHASE_").lower()  # type: ignore[arg-type]
