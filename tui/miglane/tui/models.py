"""What the TUI knows about the engine, kept between updates. No textual here: plain state."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

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
# A migration's figures are kept one sample a second for the last minute: what its chart shows.
SAMPLE_INTERVAL_S = 1.0
HISTORY_SAMPLES = 60
# A link's capacity in bytes/s per Mbit/s of its speed.
BYTES_PER_MBIT = 1_000_000 // 8
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


@dataclass(frozen=True)
class MigrationSample:
    """A running migration's figures at one moment (`at`: seconds on the board's clock)."""

    at: float
    throughput_bytes_per_second: int
    remaining_bytes: int
    dirty_rate_bytes_per_second: int


class MigrationHistory:
    """One migration's figures over time, one sample per `interval_s`, the last `capacity`.

    Updates arrive as often as the engine sends them, and not at all while nothing changes:
    an update within the interval of the newest sample replaces it (the newest figures win),
    and an update after a silence first repeats the figures that held during it, so each
    sample stands for the same span of time and a stall shows as a flat line.
    """

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S, capacity: int = HISTORY_SAMPLES):
        self.interval_s = interval_s
        self.samples: deque[MigrationSample] = deque(maxlen=capacity)

    def add(self, sample: MigrationSample) -> None:
        samples = self.samples
        if not samples:
            samples.append(sample)
            return
        last = samples[-1]
        steps = int((sample.at - last.at) // self.interval_s)
        if steps <= 0:
            samples[-1] = MigrationSample(
                last.at,
                sample.throughput_bytes_per_second,
                sample.remaining_bytes,
                sample.dirty_rate_bytes_per_second,
            )
            return
        held = min(steps - 1, samples.maxlen or 0)
        for step in range(1, held + 1):
            samples.append(
                MigrationSample(
                    last.at + step * self.interval_s,
                    last.throughput_bytes_per_second,
                    last.remaining_bytes,
                    last.dirty_rate_bytes_per_second,
                )
            )
        samples.append(
            MigrationSample(
                last.at + steps * self.interval_s,
                sample.throughput_bytes_per_second,
                sample.remaining_bytes,
                sample.dirty_rate_bytes_per_second,
            )
        )


class MigrationBoard:
    """The migrations the TUI has seen, newest state of each, and the figures of each over
    time while it ran (`history`).

    Progress shown never goes backwards: a reconnect's snapshot or a late update can carry a
    lower percentage than one already shown, and the operator must not see the bar shrink.
    A completed migration shows 100.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # When an update arrived: the engine's updates carry no time of their own. Tests give
        # a clock that stands still, so that charts do not change from run to run.
        self.clock = clock
        self._migrations: dict[str, engine_pb2.Migration] = {}
        self._active_by_vm: dict[str, str] = {}
        self._histories: dict[str, MigrationHistory] = {}

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
        if shown.phase == common_pb2.MIGRATION_PHASE_RUNNING:
            self._record(shown)
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
            self._histories.pop(migration_id, None)
            if self._active_by_vm.get(gone_vm) == migration_id:
                del self._active_by_vm[gone_vm]
        for migration in migrations:
            self.apply(migration)
        return gone

    def history(self, migration_id: str) -> list[MigrationSample]:
        """The migration's figures while it ran, oldest first; empty before it ran."""
        history = self._histories.get(migration_id)
        return list(history.samples) if history else []

    def _record(self, migration: engine_pb2.Migration) -> None:
        history = self._histories.get(migration.id)
        if history is None:
            history = self._histories[migration.id] = MigrationHistory()
        history.add(
            MigrationSample(
                self.clock(),
                migration.throughput_bytes_per_second,
                migration.data_remaining_bytes,
                migration.dirty_rate_bytes_per_second,
            )
        )

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


@dataclass(frozen=True)
class EvacuationProgress:
    """Where the VMs of one host's evacuation are: each VM counted once, by its newest
    migration tagged with the host."""

    # Moved: migrated off the host.
    left: int = 0
    running: int = 0
    queued: int = 0
    # Failed or cancelled: the VM is still on the host.
    failed: int = 0
    # When the last of them should be gone; None when nothing is predicted.
    predicted_finish: Timestamp | None = None
    # Migrations under way without a predicted finish (the finish above may come later).
    unpredicted: int = 0

    @property
    def total(self) -> int:
        return self.left + self.running + self.queued + self.failed


def evacuation_progress(
    host: engine_pb2.Host, migrations: Iterable[engine_pb2.Migration]
) -> EvacuationProgress:
    newest_by_vm: dict[str, engine_pb2.Migration] = {}
    for migration in migrations:
        if migration.evacuation_host_id != host.id:
            continue
        known = newest_by_vm.get(migration.vm_id)
        if known is None or _created(migration) >= _created(known):
            newest_by_vm[migration.vm_id] = migration
    counts = Counter(migration.phase for migration in newest_by_vm.values())
    under_way = [m for m in newest_by_vm.values() if m.phase in ACTIVE_PHASES]
    finish = evacuation_predicted_finish(host, under_way)
    return EvacuationProgress(
        left=counts[common_pb2.MIGRATION_PHASE_COMPLETED],
        running=counts[common_pb2.MIGRATION_PHASE_RUNNING]
        + counts[common_pb2.MIGRATION_PHASE_PREPARING],
        queued=counts[common_pb2.MIGRATION_PHASE_QUEUED],
        failed=counts[common_pb2.MIGRATION_PHASE_FAILED]
        + counts[common_pb2.MIGRATION_PHASE_CANCELLED],
        predicted_finish=finish,
        unpredicted=sum(1 for m in under_way if not m.HasField("expected_finish_at")),
    )


def evacuation_predicted_finish(
    host: engine_pb2.Host, under_way: Iterable[engine_pb2.Migration]
) -> Timestamp | None:
    """When the evacuation should be over: the engine's plan for it (which counts the
    queue's waits), else, from an engine without one, the latest predicted finish of its
    migrations still queued or running."""
    if host.HasField("evacuation_finish_at"):
        return host.evacuation_finish_at
    finishes = [m.expected_finish_at for m in under_way if m.HasField("expected_finish_at")]
    return max(finishes, key=lambda t: (t.seconds, t.nanos), default=None)


@dataclass(frozen=True)
class LinkTraffic:
    """Migration data crossing one NIC of a host now, each way, and what the link can carry
    each way (full duplex); capacity 0: the link's speed is unknown."""

    egress_bytes_per_second: int
    ingress_bytes_per_second: int
    capacity_bytes_per_second: int


def link_traffic(
    host_id: str,
    attachment: engine_pb2.NetworkAttachment,
    migrations: Iterable[engine_pb2.Migration],
) -> LinkTraffic:
    """The throughput of the running migrations whose data crosses the attachment's NIC:
    those carried by its network, leaving the host (egress) or arriving at it (ingress)."""
    egress = ingress = 0
    for migration in migrations:
        if (
            migration.phase != common_pb2.MIGRATION_PHASE_RUNNING
            or migration.network_id != attachment.network_id
        ):
            continue
        if migration.source_host_id == host_id:
            egress += migration.throughput_bytes_per_second
        elif migration.destination_host_id == host_id:
            ingress += migration.throughput_bytes_per_second
    return LinkTraffic(egress, ingress, attachment.speed_mbit_per_second * BYTES_PER_MBIT)


def _created(migration: engine_pb2.Migration) -> tuple[int, int, str]:
    return (migration.created_at.seconds, migration.created_at.nanos, migration.id)


def is_active(migration: engine_pb2.Migration) -> bool:
    return migration.phase in ACTIVE_PHASES


def _short(identifier: str) -> str:
    return identifier[:8] if identifier else "-"
