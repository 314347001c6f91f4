"""The engine's composition root: `build_engine(config)` builds the inventory, the migration
side, the host monitor and the gRPC server, and wires each part to what it needs. The runner,
the tests and the benchmarks all assemble the engine here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import grpc
from grpc_health.v1 import _async as health_aio  # what `grpc_health.v1.health.aio` re-exports
from grpc_health.v1 import health_pb2
from prometheus_client import CollectorRegistry

from miglane.engine.agent_client import AgentClients
from miglane.engine.certificate_watch import CertificateWatch
from miglane.engine.config import DEFAULT_METRICS_LISTEN, EngineConfig
from miglane.engine.events import EventHub
from miglane.engine.grpc_api.server import (
    ENGINE_HEALTH_NAMES,
    ServerTls,
    bound_address,
    create_server,
)
from miglane.engine.grpc_api.servicer import EngineServicer
from miglane.engine.host_monitor import HostMonitor
from miglane.engine.hosts import HostViewMemo
from miglane.engine.inventory import Inventory, new_id, open_inventory, utc_now
from miglane.engine.leadership import LeaseLeadership, SoleLeadership, engine_identity
from miglane.engine.lease_store import PostgresLease
from miglane.engine.maintenance import EvacuationWatch, HostMaintenance
from miglane.engine.metrics import EngineMetrics
from miglane.engine.migrations.arrivals import ArrivalLog
from miglane.engine.migrations.audit import MigrationEvents
from miglane.engine.migrations.bandwidth import BandwidthBalancer
from miglane.engine.migrations.busy import BusyMarks
from miglane.engine.migrations.cluster_view import ClusterReader
from miglane.engine.migrations.following import JobFollower
from miglane.engine.migrations.jobs import JobRunner
from miglane.engine.migrations.ledger import ChangeObservers, MigrationLedger
from miglane.engine.migrations.path_costs import PathCosts
from miglane.engine.migrations.queue import AdmissionQueue, QueueBell
from miglane.engine.migrations.requests import MigrationRequests
from miglane.engine.migrations.tasks import BackgroundTasks
from miglane.engine.progress_hub import ProgressHub
from miglane.engine.store import Store
from miglane.engine.store_dialect import POSTGRES_SCHEMES, scheme_of
from miglane.engine.unit_of_work import hand_the_gil_over_sooner
from miglane.grpctls import ReloadingServerCredentials
from miglane.metrics.endpoint import MetricsEndpoint, start_metrics_endpoint
from miglane.metrics.grpc_server import GrpcServerMetrics
from miglane.metrics.listen import parse_metrics_listen
from miglane.pki import CertificateAuthority, RevocationList

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """A built engine: `start`, then `stop` (or `end_streams` first, for a graceful stop)."""

    config: EngineConfig
    authority: CertificateAuthority
    inventory: Inventory
    certificates: CertificateWatch
    migrations: MigrationRequests
    ledger: MigrationLedger
    queue: AdmissionQueue
    monitor: HostMonitor
    servicer: EngineServicer
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    port: int
    # Whether this engine leads (always, alone on SQLite) and under which term it commands.
    leadership: SoleLeadership | LeaseLeadership
    _jobs: JobRunner
    _follower: JobFollower
    _tasks: BackgroundTasks
    _clients: AgentClients
    metrics: EngineMetrics
    metrics_registry: CollectorRegistry
    # None: no metrics endpoint (`metrics_listen` off, or its default address taken).
    metrics_endpoint: MetricsEndpoint | None = None
    # What its completed migrations taught of the engine path's fixed cost.
    path_costs: PathCosts = field(default_factory=PathCosts)
    _migrations_stopped: bool = False
    _in_charge: bool = False
    _poll_hosts: bool = True

    @property
    def address(self) -> str:
        """The address served on, with the port actually bound."""
        return bound_address(self.config.listen, self.port)

    @property
    def hub(self) -> ProgressHub:
        return self.ledger.hub

    async def start(self, *, poll_hosts: bool = True) -> None:
        """Takes charge when it leads (alone on its store it does; sharing PostgreSQL, when the
        lease is free), then serves; a follower serves at once (health NOT_SERVING,
        EngineService refused naming the leader) and takes charge when elected."""
        self._poll_hosts = poll_hosts
        if not isinstance(self.leadership, SoleLeadership):
            await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        term = await self.leadership.first_look(self._deposed)
        # The keeper renews from now on, even while taking charge takes long.
        self._tasks.spawn(self.leadership.run(self._take_charge), "leadership")
        if term:
            await self._take_charge(term)
        await self.server.start()

    async def _take_charge(self, term: int) -> None:
        """What a restarted engine does: reads back what its completed migrations taught of
        the path's fixed cost, takes up the migrations an earlier engine left active, starts
        polling hosts (unless told not to: tests of the inventory alone), the queue and
        the progress flushes; then answers SERVING."""
        self._in_charge = True
        await self.path_costs.read_back(self.inventory.worker)
        active = await self.ledger.load()
        self._jobs.take_up(active)
        if active:
            log.info("took up %d active migration(s) from the records", len(active))
        if self._poll_hosts:
            self.monitor.start()
        self._tasks.spawn(self.queue.run(), "queue")
        self._tasks.spawn(self.ledger.run_flushes(self.config.persist_interval_s), "flush")
        self._tasks.spawn(self.certificates.run(), "certificate-expiry")
        self.leadership.mark_in_charge()
        if self.leadership.leading:
            await self._set_health(health_pb2.HealthCheckResponse.SERVING)
            log.info("in charge under term %d", term)

    def _deposed(self) -> None:
        """The lease is lost: nothing more is commanded (the agent calls' fence already
        refuses), health says NOT_SERVING; the runner ends the process."""
        self._tasks.spawn(
            self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING), "health-deposed"
        )

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for name in ENGINE_HEALTH_NAMES:
            await self.health.set(name, status)

    def end_streams(self) -> None:
        """Ends every WatchEvents and WatchMigrations stream (first step of a graceful stop)."""
        self.inventory.audit.end_streams()
        self.hub.close()

    async def stop_migrations(self) -> None:
        """Stops following and polling; the agents' jobs go on (a new engine takes them up)."""
        if self._migrations_stopped:
            return
        self._migrations_stopped = True
        self.hub.close()
        # No new sample, launch or rebalance from here on; then the last progress is written.
        await self._follower.stop()
        await self._tasks.stop()
        await self.monitor.stop()
        # A follower has nothing to write; a deposed leader must not overwrite its successor's.
        if self._in_charge and self.leadership.leading:
            try:
                await self.ledger.flush()
            except Exception:  # the agents still have it: a restarted engine reads it back
                log.exception("last progress not written at stop")
        await self._clients.close()
        await self.leadership.close()

    async def stop(self, grace_s: float | None = None) -> None:
        """Health NOT_SERVING, streams ended, in-flight calls given `grace_s` (default the
        config's), migrations stopped, store closed."""
        await self.health.enter_graceful_shutdown()
        self.end_streams()
        await self.server.stop(self.config.grace_s if grace_s is None else grace_s)
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.close()
        await self.stop_migrations()
        await self.inventory.close()


@dataclass(frozen=True)
class _MigrationSide:
    ledger: MigrationLedger
    queue: AdmissionQueue
    monitor: HostMonitor
    jobs: JobRunner
    follower: JobFollower
    tasks: BackgroundTasks
    requests: MigrationRequests
    path_costs: PathCosts


def _migration_side(
    config: EngineConfig,
    inventory: Inventory,
    clients: AgentClients,
    clock: Callable[[], datetime],
    new_id: Callable[[str], str],
    metrics: EngineMetrics,
) -> _MigrationSide:
    """The migration side and the host monitor, each part given what it uses."""
    arrivals = ArrivalLog(hint_window_s=3 * config.poll_interval_s + 1.0)
    store = inventory.worker
    ledger = MigrationLedger(
        store, inventory.migration_records, ProgressHub(), ChangeObservers(arrivals, metrics)
    )
    metrics.read_active_from(ledger.all_active)
    path_costs = PathCosts()
    reader = ClusterReader(store, ledger, HostViewMemo(), path_costs)
    busy = BusyMarks(clock, config.busy_retry_s)
    events = MigrationEvents(inventory.audit, clock)
    tasks = BackgroundTasks()
    bell = QueueBell()
    evacuations = EvacuationWatch(store, ledger, reader, events, bell, clock)
    monitor = HostMonitor(
        store,
        inventory.reports,
        clients,
        interval_s=config.poll_interval_s,
        whereabouts=arrivals,
        on_round=evacuations.after_poll_round,
        watch_hosts=True,
    )
    balancer = BandwidthBalancer(ledger, reader, clients, tasks, clock)
    follower = JobFollower(
        ledger, reader, clients, balancer, evacuations, events, bell, clock, new_id,
        retry_s=config.follow_retry_s,
    )  # fmt: skip
    jobs = JobRunner(ledger, reader, clients, follower, balancer, busy, events, bell, tasks, clock)
    queue = AdmissionQueue(
        ledger, reader, busy, events, jobs, evacuations, bell, clock,
        interval_s=config.queue_interval_s,
    )  # fmt: skip
    maintenance = HostMaintenance(
        inventory.hosts, ledger, reader, queue, bell, monitor, events, clock, new_id
    )
    requests = MigrationRequests(
        store=store,
        hosts=inventory.hosts,
        ledger=ledger,
        reader=reader,
        queue=queue,
        jobs=jobs,
        follower=follower,
        balancer=balancer,
        maintenance=maintenance,
        monitor=monitor,
        busy=busy,
        events=events,
        clock=clock,
        new_id=new_id,
    )
    return _MigrationSide(ledger, queue, monitor, jobs, follower, tasks, requests, path_costs)


def _agent_clients(
    config: EngineConfig, authority: CertificateAuthority, inventory: Inventory
) -> AgentClients:
    """Mutual TLS with the engine's identity, each agent checked to be the host added under its
    address (plaintext when the engine is --insecure)."""
    if config.insecure:
        return AgentClients(call_timeout_s=config.agent_timeout_s)

    async def host_name_of(address: str) -> str | None:
        host = await inventory.worker.read(lambda store: Store.find_host_by_agent(store, address))
        return host.name if host is not None else None

    return AgentClients(
        call_timeout_s=config.agent_timeout_s,
        credentials_dir=authority.layout.engine,
        host_name_of=host_name_of,
    )


def _leadership(config: EngineConfig) -> SoleLeadership | LeaseLeadership:
    """Engines sharing PostgreSQL elect a leader through its lease; one alone leads."""
    if scheme_of(config.database) in POSTGRES_SCHEMES:
        return LeaseLeadership(
            PostgresLease(config.database),
            address="",
            timings=config.lease_timings,
            me=engine_identity(config.state_dir),
        )
    return SoleLeadership()


async def build_engine(
    config: EngineConfig,
    *,
    clock: Callable[[], datetime] = utc_now,
    new_id: Callable[[str], str] = new_id,
    agent_clients: AgentClients | None = None,
) -> Engine:
    """The engine of `config`, built and bound (not started). `clock` and `new_id` stamp and
    name every record (tests freeze them). Raises StoreError when the database cannot be
    opened, OSError when the address cannot be bound."""
    # The store worker's thread runs beside the event loop: it should get the GIL back soon.
    hand_the_gil_over_sooner()
    hub = EventHub() if config.event_queue_size is None else EventHub(config.event_queue_size)
    # Created on first start (idempotent): a fresh engine needs no extra step to have one.
    authority = CertificateAuthority.init(config.pki_path)
    tls = None
    if not config.insecure:
        tls = ServerTls(
            ReloadingServerCredentials(authority.layout.engine),
            RevocationList(authority.layout.crl, ca_pem=authority.ca_pem),
        )
    inventory = open_inventory(
        config.database_url, hub=hub, clock=clock, make_id=new_id, authority=authority
    )
    clients = agent_clients or _agent_clients(config, authority, inventory)
    registry = CollectorRegistry()
    metrics = EngineMetrics(inventory.worker, registry)
    leadership = _leadership(config)
    clients.command_under(leadership.commanding_term)
    fence = leadership.write_fence()
    if fence is not None:
        await inventory.worker.read(lambda store: store.fence_writes(fence))
    side = _migration_side(config, inventory, clients, clock, new_id, metrics)
    servicer = EngineServicer(inventory, side.requests)
    health = health_aio.HealthServicer()
    try:
        server, port = await create_server(
            config.listen,
            servicer,
            tls=tls,
            health_servicer=health,
            interceptors=[GrpcServerMetrics(registry, "miglane_engine")],
            leadership=leadership,
        )
    except OSError:
        await inventory.close()
        raise
    leadership.address = config.advertise_address or bound_address(config.listen, port)
    try:
        endpoint = await _metrics_endpoint(config, registry, metrics)
    except OSError:
        await server.stop(None)
        await inventory.close()
        raise
    certificates = CertificateWatch(
        inventory.worker, authority, clock, config.certificate_check_interval_s
    )
    return Engine(
        config,
        authority,
        inventory,
        certificates,
        side.requests,
        side.ledger,
        side.queue,
        side.monitor,
        servicer,
        server,
        health,
        port,
        leadership,
        _jobs=side.jobs,
        _follower=side.follower,
        _tasks=side.tasks,
        _clients=clients,
        metrics=metrics,
        metrics_registry=registry,
        metrics_endpoint=endpoint,
        path_costs=side.path_costs,
    )


async def _metrics_endpoint(
    config: EngineConfig, registry: CollectorRegistry, metrics: EngineMetrics
) -> MetricsEndpoint | None:
    """The Prometheus endpoint of `config.metrics_listen`; None when off, or when the default
    address is taken (another engine on this machine has it: a warning, not a failure)."""
    address = parse_metrics_listen(config.metrics_listen)
    if address is None:
        return None
    try:
        endpoint = await start_metrics_endpoint(*address, registry, metrics.refresh)
    except OSError as error:
        if config.metrics_listen != DEFAULT_METRICS_LISTEN:
            raise OSError(f"cannot serve metrics on {config.metrics_listen}: {error}") from None
        log.warning("no metrics: %s is taken (%s); give --metrics-listen", address, error)
        return None
    log.info("metrics on %s", endpoint.url)
    return endpoint
