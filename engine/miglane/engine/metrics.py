"""The engine's Prometheus metrics (`miglane engine --metrics-listen`), read from the engine's
state at scrape time: the ledger's active migrations, the hosts and cluster policies (read from
the store just before each scrape), and the migrations that ended lately, which this collector
observes as the ledger commits them (the one place counters and histograms move).

Names follow KubeVirt's where the meaning is the same, with `miglane_` for `kubevirt_`:

    miglane_vmi_migration_data_processed_bytes    kubevirt_vmi_migration_data_processed_bytes
    miglane_vmi_migration_data_remaining_bytes    kubevirt_vmi_migration_data_remaining_bytes
    miglane_vmi_migration_data_total_bytes        kubevirt_vmi_migration_data_total_bytes
    miglane_vmi_migration_dirty_memory_rate_bytes kubevirt_vmi_migration_dirty_memory_rate_bytes
    miglane_vmi_migration_memory_transfer_rate_bytes
                                          kubevirt_vmi_migration_memory_transfer_rate_bytes
    miglane_vmi_migration_start_time_seconds      kubevirt_vmi_migration_start_time_seconds
    miglane_vmi_migration_end_time_seconds        kubevirt_vmi_migration_end_time_seconds
    miglane_vmi_migration_succeeded               kubevirt_vmi_migration_succeeded
    miglane_vmi_migration_failed                  kubevirt_vmi_migration_failed
    miglane_vmi_migrations_in_queued_phase        kubevirt_vmi_migrations_in_pending_phase
    miglane_vmi_migrations_in_preparing_phase     kubevirt_vmi_migrations_in_scheduling_phase
    miglane_vmi_migrations_in_running_phase       kubevirt_vmi_migrations_in_running_phase

The per-migration gauges (labels migration, vm, source, destination, network) cover the active
migrations and the last `KEPT_ENDED` that ended since the engine started. Miglane's own:
`miglane_migration_queue_length{reason}`, `miglane_host_migrations_{outgoing,incoming}` and
their `_limit`, `miglane_migration_carried_bytes_total{network,host,nic}` (data of ended
migrations by the network chosen and the source NIC its proof of path saw it leave by),
`miglane_migration_fallbacks_total{reason}`, `miglane_migrations_ended_total{phase}`,
`miglane_migration_off_path_total`, and the `miglane_migration_duration_seconds` and
`miglane_migration_downtime_seconds` histograms. gRPC requests and latency come from
`miglane.metrics.GrpcServerMetrics` (prefix `miglane_engine`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.model import (
    FallbackReason,
    Host,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    PathVerdict,
)
from miglane.engine.domain.progress import FINAL_PHASES, duration_s
from miglane.engine.migrations.ports import StoreAccess
from miglane.engine.store import Store

# Ended migrations whose per-migration gauges are still exported.
KEPT_ENDED = 200
DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
DOWNTIME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5)
_SLOT_PHASES = (MigrationPhase.PREPARING, MigrationPhase.RUNNING)
_ACTIVE_PHASES = (MigrationPhase.QUEUED, MigrationPhase.PREPARING, MigrationPhase.RUNNING)

# Why a migration waits, from its queue reason, first match wins: a label of few values.
_QUEUE_REASON_KINDS = (
    ("answered busy", "agent_busy"),
    ("outgoing migrations", "source_limit"),
    ("incoming migrations", "destination_limit"),
    ("max_concurrent_per_cluster", "cluster_limit"),
    ("refused or was unreachable", "destination_refused"),
    ("MiB/s", "bandwidth"),
    ("is migrating", "vm_busy"),
    ("waiting for the queue runner", "not_yet_considered"),
    ("'s agent", "source_unreachable"),
)


def queue_reason_kind(reason: str) -> str:
    """The kind of a queue reason sentence, e.g. "source_limit"; "other" when none fits."""
    return next((kind for words, kind in _QUEUE_REASON_KINDS if words in reason), "other")


@dataclass
class _Inventory:
    """What the store knows that the ledger does not, as of the last scrape."""

    hosts: dict[str, Host] = field(default_factory=dict)
    policies: dict[str, MigrationPolicy] = field(default_factory=dict)
    cluster_names: dict[str, str] = field(default_factory=dict)
    network_names: dict[str, str] = field(default_factory=dict)


def _read_inventory(store: Store) -> _Inventory:
    # On the store's worker thread.
    inventory = _Inventory()
    for host in store.all_hosts():
        inventory.hosts[host.id] = host
    for cluster_id in {host.cluster_id for host in inventory.hosts.values()}:
        cluster = store.get_cluster(cluster_id)
        if cluster is not None:
            inventory.policies[cluster_id] = cluster.policy
            inventory.cluster_names[cluster_id] = cluster.name
        for network in store.networks_of_cluster(cluster_id):
            inventory.network_names[network.id] = network.name
    return inventory


def _seconds(migration: Migration, name: str) -> float | None:
    moment = getattr(migration, name)
    return moment.timestamp() if moment is not None else None


class EngineMetrics(Collector):
    """Register with `registry` on construction; `observe` is the ledger's change observer;
    `refresh` runs before each scrape. Used from the event loop's thread only."""

    def __init__(self, store: StoreAccess, registry: CollectorRegistry) -> None:
        self._store = store
        self._active: Callable[[], Sequence[Migration]] = list
        self._inventory = _Inventory()
        self._ended: OrderedDict[str, Migration] = OrderedDict()
        self.ended_total = Counter(
            "miglane_migrations_ended",
            "Migrations that ended, by final phase.",
            ("phase",),
            registry=registry,
        )
        self.fallbacks = Counter(
            "miglane_migration_fallbacks",
            "Migrations that ended having fallen back to the management network, by reason.",
            ("reason",),
            registry=registry,
        )
        self.carried = Counter(
            "miglane_migration_carried_bytes",
            "Data of ended migrations, by the network chosen to carry it and the source host's "
            'NIC its proof of path saw it leave by ("" when not measured).',
            ("network", "host", "nic"),
            registry=registry,
        )
        self.off_path = Counter(
            "miglane_migration_off_path",
            "Migrations whose data did not leave the source by the chosen network's NIC.",
            registry=registry,
        )
        self.duration = Histogram(
            "miglane_migration_duration_seconds",
            "From start to end of completed migrations.",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.downtime = Histogram(
            "miglane_migration_downtime_seconds",
            "Switch-over downtime of completed migrations.",
            buckets=DOWNTIME_BUCKETS,
            registry=registry,
        )
        registry.register(self)

    def read_active_from(self, active: Callable[[], Sequence[Migration]]) -> None:
        """Where the active migrations are read at scrape time (the ledger, once built)."""
        self._active = active

    async def refresh(self) -> None:
        self._inventory = await self._store.read(_read_inventory)

    # ------------------------------------------------------------ observing ends

    def observe(self, changed: Sequence[Migration]) -> None:
        for migration in changed:
            if migration.phase in FINAL_PHASES and migration.id not in self._ended:
                self._count_end(migration)
                self._ended[migration.id] = migration
                while len(self._ended) > KEPT_ENDED:
                    self._ended.popitem(last=False)

    def _count_end(self, migration: Migration) -> None:
        self.ended_total.labels(migration.phase.label).inc()
        if migration.fallback_reason not in (FallbackReason.UNSPECIFIED, FallbackReason.NONE):
            self.fallbacks.labels(migration.fallback_reason.name.lower()).inc()
        proof = migration.path_proof
        if proof.off_path:
            self.off_path.inc()
        if migration.data_processed_bytes:
            left_by = {
                PathVerdict.CONFIRMED: proof.nic,
                PathVerdict.TOO_LITTLE_DATA: proof.nic,
                PathVerdict.OFF_PATH: proof.other_nic,
            }.get(proof.verdict, "")
            self.carried.labels(
                self._network_name(migration.network_id),
                self._host_name(migration.source_host_id),
                left_by,
            ).inc(migration.data_processed_bytes)
        if migration.phase is MigrationPhase.COMPLETED:
            self.duration.observe(duration_s(migration))
            self.downtime.observe(migration.downtime_ms / 1000)

    # ------------------------------------------------------------ scraping

    def _host_name(self, host_id: str) -> str:
        host = self._inventory.hosts.get(host_id)
        return host.name if host is not None else host_id

    def _network_name(self, network_id: str) -> str:
        return self._inventory.network_names.get(network_id, network_id)

    def collect(self) -> Iterator[Metric]:
        active = list(self._active())
        yield from self._per_migration([*active, *self._ended.values()])
        yield from self._phases(active)
        yield self._queue(active)
        yield from self._host_slots(active)

    def _labels(self, m: Migration) -> list[str]:
        return [
            m.id,
            m.vm_name or m.vm_id,
            self._host_name(m.source_host_id),
            self._host_name(m.destination_host_id) if m.destination_host_id else "",
            self._network_name(m.network_id) if m.network_id else "",
        ]

    def _per_migration(self, migrations: Iterable[Migration]) -> Iterator[Metric]:
        names = ("migration", "vm", "source", "destination", "network")

        def gauge(suffix: str, documentation: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"miglane_vmi_migration_{suffix}", documentation, labels=names)

        families = {
            "processed": gauge("data_processed_bytes", "Data the migration has sent so far."),
            "remaining": gauge("data_remaining_bytes", "Data the migration has still to send."),
            "total": gauge("data_total_bytes", "Data the migration has to send in all."),
            "dirty": gauge("dirty_memory_rate_bytes", "How fast the guest dirties memory, B/s."),
            "rate": gauge("memory_transfer_rate_bytes", "How fast memory is sent, B/s."),
            "start": gauge("start_time_seconds", "When the migration started (UNIX time)."),
            "end": gauge("end_time_seconds", "When the migration ended (UNIX time)."),
            "succeeded": gauge("succeeded", "1 when the migration completed."),
            "failed": gauge("failed", "1 when the migration failed."),
        }
        for m in migrations:
            labels = self._labels(m)
            families["processed"].add_metric(labels, m.data_processed_bytes)
            families["remaining"].add_metric(labels, m.data_remaining_bytes)
            families["total"].add_metric(labels, m.data_total_bytes)
            families["dirty"].add_metric(labels, m.dirty_rate_bps)
            families["rate"].add_metric(labels, m.throughput_bps)
            started = _seconds(m, "started_at")
            if started is not None:
                families["start"].add_metric(labels, started)
            if m.phase in FINAL_PHASES:
                families["end"].add_metric(labels, _seconds(m, "finished_at") or 0.0)
                families["succeeded"].add_metric(labels, m.phase is MigrationPhase.COMPLETED)
                families["failed"].add_metric(labels, m.phase is MigrationPhase.FAILED)
        yield from families.values()

    def _phases(self, active: Sequence[Migration]) -> Iterator[Metric]:
        for phase in _ACTIVE_PHASES:
            yield GaugeMetricFamily(
                f"miglane_vmi_migrations_in_{phase.label}_phase",
                f"Migrations in phase {phase.label} now.",
                value=sum(1 for m in active if m.phase is phase),
            )

    def _queue(self, active: Sequence[Migration]) -> Metric:
        family = GaugeMetricFamily(
            "miglane_migration_queue_length",
            "Queued migrations, by why they wait.",
            labels=("reason",),
        )
        counts: dict[str, int] = {}
        for m in active:
            if m.phase is MigrationPhase.QUEUED:
                kind = queue_reason_kind(m.queue_reason)
                counts[kind] = counts.get(kind, 0) + 1
        for kind, count in sorted(counts.items()):
            family.add_metric([kind], count)
        return family

    def _host_slots(self, active: Sequence[Migration]) -> Iterator[Metric]:
        labels = ("host", "cluster")
        families = {
            direction: (
                GaugeMetricFamily(
                    f"miglane_host_migrations_{direction}",
                    f"{direction.capitalize()} migrations holding a slot of the host now.",
                    labels=labels,
                ),
                GaugeMetricFamily(
                    f"miglane_host_migrations_{direction}_limit",
                    f"How many {direction} migrations the host may hold at once.",
                    labels=labels,
                ),
            )
            for direction in ("outgoing", "incoming")
        }
        outgoing: dict[str, int] = {}
        incoming: dict[str, int] = {}
        for m in active:
            if m.phase in _SLOT_PHASES:
                outgoing[m.source_host_id] = outgoing.get(m.source_host_id, 0) + 1
                incoming[m.destination_host_id] = incoming.get(m.destination_host_id, 0) + 1
        for host in self._inventory.hosts.values():
            limits = MigrationLimits.of(
                self._inventory.policies.get(host.cluster_id, MigrationPolicy())
            )
            names = [host.name, self._inventory.cluster_names.get(host.cluster_id, "")]
            in_use, limit = families["outgoing"]
            in_use.add_metric(names, outgoing.get(host.id, 0))
            limit.add_metric(names, limits.outgoing_for(host))
            in_use, limit = families["incoming"]
            in_use.add_metric(names, incoming.get(host.id, 0))
            limit.add_metric(names, limits.incoming_per_host)
        for in_use, limit in families.values():
            yield in_use
            yield limit
