"""What the TUI knows about the engine, kept between updates. No textual here: plain state."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from miglane.v1 import common_pb2, engine_pb2

MIGRATION = common_pb2.NETWORK_ROLE_MIGRATION
MANAGEMENT = common_pb2.NETWORK_ROLE_MANAGEMENT

ACTIVE_PHASES = frozenset(
    {
        common_pb2.MIGRATION_PHASE_QUEUED,
        common_pb2.MIGRATION_PHASE_PREPARING,
        common_pb2.MIGRATION_PHASE_RUNNING,
    }
)

# A host in these states is out of service: the operator's action on it is "maintenance off".
IN_MAINTENANCE = frozenset(
    {
        engine_pb2.HOST_STATUS_MAINTENANCE,
        engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE,
    }
)

EVENT_HISTORY = 500
# The App's tabs, in the order of their keys 1-5.
TABS = ("networks", "hosts", "vms", "migrations", "events")


@dataclass
class Inventory:
    """Clusters, networks, hosts and VMs as of the last refresh, by id."""

    clusters: dict[str, engine_pb2.Cluster] = field(default_factory=dict)
    networks: dict[str, engine_pb2.Network] = field(default_factory=dict)
    hosts: dict[str, engine_pb2.Host] = field(default_factory=dict)
    vms: dict[str, engine_pb2.Vm] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        clusters: Iterable[engine_pb2.Cluster],
        networks: Iterable[engine_pb2.Network],
        hosts: Iterable[engine_pb2.Host],
        vms: Iterable[engine_pb2.Vm],
    ) -> Inventory:
        return cls(
            clusters={c.id: c for c in clusters},
            networks={n.id: n for n in networks},
            hosts={h.id: h for h in hosts},
            vms={v.id: v for v in vms},
        )

    def cluster_name(self, cluster_id: str) -> str:
        cluster = self.clusters.get(cluster_id)
        return cluster.name if cluster else _short(cluster_id)

    def network_name(self, network_id: str) -> str:
        network = self.networks.get(network_id)
        return network.name if network else _short(network_id)

    def host_name(self, host_id: str) -> str:
        host = self.hosts.get(host_id)
        return host.name if host else _short(host_id)

    def vm_name(self, vm_id: str) -> str:
        vm = self.vms.get(vm_id)
        return vm.name if vm else _short(vm_id)

    def networks_sorted(self) -> list[engine_pb2.Network]:
        return sorted(
            self.networks.values(), key=lambda n: (self.cluster_name(n.cluster_id), n.name)
        )

    def hosts_sorted(self) -> list[engine_pb2.Host]:
        return sorted(self.hosts.values(), key=lambda h: (self.cluster_name(h.cluster_id), h.name))

    def vms_sorted(self) -> list[engine_pb2.Vm]:
        return sorted(self.vms.values(), key=lambda v: (self.cluster_name(v.cluster_id), v.name))

    def role_holder(
        self, cluster_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.Network | None:
        for network in self.networks.values():
            if network.cluster_id == cluster_id and role in network.roles:
                return network
        return None

    def attachments_of(
        self, network_id: str
    ) -> list[tuple[engine_pb2.Host, engine_pb2.NetworkAttachment | None]]:
        """Each host of the network's cluster with its attachment to it (None: not attached)."""
        network = self.networks.get(network_id)
        if network is None:
            return []
        rows: list[tuple[engine_pb2.Host, engine_pb2.NetworkAttachment | None]] = []
        for host in self.hosts_sorted():
            if host.cluster_id != network.cluster_id:
                continue
            attachment = next((a for a in host.attachments if a.network_id == network_id), None)
            rows.append((host, attachment))
        return rows


class MigrationBoard:
    """The migrations the TUI has seen, newest state of each.

    Progress shown never goes backwards: a reconnect's snapshot or a late update can carry a
    lower percentage than one already shown, and the operator must not see the bar shrink.
    A completed migration shows 100.
    """

    def __init__(self) -> None:
        self._migrations: dict[str, engine_pb2.Migration] = {}
        self._active_by_vm: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._migrations)

    def __iter__(self) -> Iterator[engine_pb2.Migration]:
        return iter(self._migrations.values())

    def __contains__(self, migration_id: object) -> bool:
        return migration_id in self._migrations

    def get(self, migration_id: str) -> engine_pb2.Migration | None:
        return self._migrations.get(migration_id)

    def apply(self, update: engine_pb2.Migration) -> engine_pb2.Migration:
        """Takes one update; returns the migration as it is to be shown."""
        shown = engine_pb2.Migration()
        shown.CopyFrom(update)
        previous = self._migrations.get(update.id)
        if previous is not None and previous.progress_percent > shown.progress_percent:
            shown.progress_percent = previous.progress_percent
        if shown.phase == common_pb2.MIGRATION_PHASE_COMPLETED:
            shown.progress_percent = 100
        self._migrations[update.id] = shown
        if shown.phase in ACTIVE_PHASES:
            self._active_by_vm[shown.vm_id] = shown.id
        elif self._active_by_vm.get(shown.vm_id) == shown.id:
            del self._active_by_vm[shown.vm_id]
        return shown

    def replace_all(self, migrations: Iterable[engine_pb2.Migration]) -> set[str]:
        """Takes a full snapshot; returns the ids that are gone from it."""
        fresh = {m.id for m in migrations}
        gone = set(self._migrations) - fresh
        for migration_id in gone:
            gone_vm = self._migrations.pop(migration_id).vm_id
            if self._active_by_vm.get(gone_vm) == migration_id:
                del self._active_by_vm[gone_vm]
        for migration in migrations:
            self.apply(migration)
        return gone

    def active(self) -> list[engine_pb2.Migration]:
        return [m for m in self._migrations.values() if m.phase in ACTIVE_PHASES]

    def active_for_vm(self, vm_id: str) -> engine_pb2.Migration | None:
        migration_id = self._active_by_vm.get(vm_id)
        return self._migrations.get(migration_id) if migration_id else None


class EventLog:
    """The last events, oldest first, and where to resume the stream from."""

    def __init__(self, capacity: int = EVENT_HISTORY) -> None:
        self.events: deque[engine_pb2.Event] = deque(maxlen=capacity)
        self.last_sequence = 0

    def add(self, event: engine_pb2.Event) -> bool:
        """Keeps the event unless it was already seen (a replay after reconnecting)."""
        if event.sequence and event.sequence <= self.last_sequence:
            return False
        self.events.append(event)
        self.last_sequence = max(self.last_sequence, event.sequence)
        return True


def is_active(migration: engine_pb2.Migration) -> bool:
    return migration.phase in ACTIVE_PHASES


def _short(identifier: str) -> str:
    return identifier[:8] if identifier else "-"
