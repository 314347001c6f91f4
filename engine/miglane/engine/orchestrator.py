"""Migration orchestration: MigrateVm, the queue, the agents' jobs, progress, cancel,
bandwidth, host maintenance and recovery after an engine restart.

The decisions are the domain's (`placement`, `admission`, `migration_path`, `bandwidth`,
`convergence`, `evacuation`, `progress`); this module carries them out against the agents and
the store:

- A migration is written QUEUED, then a single queue runner (`_pump`) admits queued
  migrations cluster by cluster within the policy's limits. An admitted one becomes PREPARING
  (destination, network, URI, fallback reason and a MIGRATION_FELL_BACK event when it falls
  back) and its source agent is asked to Migrate. An agent that answers busy, or a destination
  it cannot reach, puts it back in the queue for `busy_retry_s`; any other refusal fails it.
- A started migration is RUNNING; a follower consumes the source agent's progress stream,
  keeps the newest sample in memory for watchers and persists it at most every
  `persist_interval_s` (and on every phase change). A finished job ends the record with its
  event; an automatic migration that failed is rerun elsewhere (a new record, the hosts tried
  carried), up to 3 hosts.
- `_live` holds every active migration, newest first-hand: WatchMigrations snapshots come
  from it, so they include progress not yet written.
- After a restart every PREPARING and RUNNING record is asked about at its source agent and
  followed again; queued ones simply wait for the queue runner.

Host maintenance (`maintenance.py`) and host polling (`host_monitor.py`) build on this service;
WatchMigrations fans out through `progress_hub.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from miglane.engine.agent_client import AgentCallError, AgentCallErrorKind, AgentClients
from miglane.engine.domain.admission import AdmissionVerdict, admit_queued, still_busy
from miglane.engine.domain.bandwidth import (
    MigrationFlow,
    bandwidth_caps,
    bandwidth_changes,
    link_budget,
)
from miglane.engine.domain.convergence import migration_tuning
from miglane.engine.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from miglane.engine.domain.evacuation import (
    MigrationFailureKind,
    decide_rerun,
)
from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    agent_host,
    choose_migration_uri,
)
from miglane.engine.domain.model import (
    Event,
    EventSeverity,
    EventType,
    FallbackReason,
    Host,
    HostStatus,
    HostView,
    Migration,
    MigrationFilter,
    MigrationPhase,
    Vm,
    VmState,
)
from miglane.engine.domain.placement import (
    SLOT_PHASES,
    DestinationAssessment,
    HostLoad,
    PlacementOutcome,
    assess_destinations,
    choose_destination,
    host_loads,
    manual_destination_rejections,
)
from miglane.engine.domain.progress import (
    FINAL_PHASES,
    JobSample,
    MigrateCall,
    apply_sample,
    completion_message,
    duration_s,
)
from miglane.engine.domain.validation import validate_id, validate_optional_id
from miglane.engine.host_monitor import DEFAULT_POLL_INTERVAL_S, HostMonitor
from miglane.engine.inventory import InventoryService
from miglane.engine.maintenance import HostMaintenance, MaintenanceResult
from miglane.engine.progress_hub import ProgressHub, WatcherDropped
from miglane.engine.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BUSY_RETRY_S = 10.0
DEFAULT_PERSIST_INTERVAL_S = 1.0
DEFAULT_QUEUE_INTERVAL_S = 1.0
# A destination the source agent cannot reach is retried this many times before the
# migration fails.
MAX_DESTINATION_REFUSALS = 3
_ALL = 1 << 30
# Starts and ends within this long share one bandwidth rebalancing.
REBALANCE_DELAY_S = 0.05
# How long the queue may reuse a cluster's networks and hosts between poll rounds.
TOPOLOGY_TTL_S = 1.0


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

    def slot_holders(self) -> list[Migration]:
        return [m for m in self.active if m.phase in SLOT_PHASES]

    def loads(self) -> dict[str, HostLoad]:
        return host_loads(self.slot_holders(), {k: v.memory_mib for k, v in self.vms.items()})


# Above this many VMs to look up, one pass over the cluster's VMs is cheaper.
_VM_LOOKUPS_MAX = 32


def _read_cluster(
    store: Store,
    cluster_id: str,
    *,
    vms_of_host: str = "",
    vm_id: str = "",
    with_vms: bool = True,
    active: Sequence[Migration] | None = None,
    topology: tuple[ClusterNetworks, list[HostView]] | None = None,
) -> ClusterState | None:
    """The cluster, its hosts, its active migrations and the VMs those concern (plus the VMs
    of `vms_of_host` and `vm_id` when given): what admission, placement and evacuation read.
    `with_vms=False`: only the VMs of migrations holding a slot (their memory is promised to
    destinations), for placement, starting a job, bandwidth. `active`: the cluster's active
    migrations as the service holds them (else read from the store). `topology`: the
    cluster's networks and hosts when the caller holds a fresh copy."""
    if topology is not None:
        networks, hosts = topology
    else:
        cluster = store.get_cluster(cluster_id)
        if cluster is None:
            return None
        networks = ClusterNetworks.of(cluster, store.networks_of_cluster(cluster_id))
        hosts = InventoryService._host_views(store, store.hosts_of_cluster(cluster_id))
    active = list(active) if active is not None else store.active_migrations(cluster_id)
    vms: dict[str, Vm] = {}
    if vms_of_host:
        vms.update((vm.id, vm) for vm in store.vms_of_host(vms_of_host))
    holders = active if with_vms else [m for m in active if m.phase in SLOT_PHASES]
    wanted = {m.vm_id for m in holders} | ({vm_id} if vm_id else set())
    wanted -= set(vms)
    if len(wanted) > _VM_LOOKUPS_MAX:
        vms.update(
            (vm.id, vm) for vm in store.list_vms(cluster_id, "", 0, _ALL).items if vm.id in wanted
        )
    else:
        for ident in wanted:
            found = store.get_vm(ident)
            if found is not None:
                vms[found.id] = found
    return ClusterState(networks, hosts, vms, active)


def _host_names(store: Store, cluster_id: str) -> dict[str, str]:
    return {host.id: host.name for host in store.hosts_of_cluster(cluster_id)}


class MigrationService:
    def __init__(
        self,
        inventory: InventoryService,
        clients: AgentClients | None = None,
        *,
        hub: ProgressHub | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        busy_retry_s: float = DEFAULT_BUSY_RETRY_S,
        persist_interval_s: float = DEFAULT_PERSIST_INTERVAL_S,
        queue_interval_s: float = DEFAULT_QUEUE_INTERVAL_S,
        follow_retry_s: float = 1.0,
    ) -> None:
        self._inventory = inventory
        self._clients = clients or AgentClients()
        self.hub = hub or ProgressHub()
        self._clock = inventory._clock
        self.busy_retry = timedelta(seconds=busy_retry_s)
        self.persist_interval_s = persist_interval_s
        self.queue_interval_s = queue_interval_s
        self.follow_retry_s = follow_retry_s
        self.monitor = HostMonitor(
            inventory,
            self._clients,
            interval_s=poll_interval_s,
            on_round=self._after_poll,
            hints=self.vm_hints,
            moves=lambda: self.arrivals,
            arrived_after=self.arrived_after,
        )
        # VM id -> (destination host, monotonic time) of migrations completed lately.
        self._arrived: dict[str, tuple[str, float]] = {}
        # Completed migrations so far (the host monitor re-polls when one lands mid-round).
        self.arrivals = 0
        # VM id -> (destination host, `arrivals` count) of its latest completed migration.
        self._arrival_marks: dict[str, tuple[str, int]] = {}
        self._hint_window_s = 3 * poll_interval_s + 1.0
        self._live: dict[str, Migration] = {}
        # Migrations whose newest progress is only in memory (written by `_flush_progress`).
        self._unsaved: set[str] = set()
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy_until: dict[str, datetime] = {}
        self._refusals: dict[str, int] = {}
        self._cancel_requested: set[str] = set()
        self._ended: dict[str, asyncio.Event] = {}
        self._wake = asyncio.Event()
        self._pump_requests = 0
        self._pumped_for = 0
        self._pump_done: asyncio.Condition | None = None
        self._runner: asyncio.Task[None] | None = None
        self._rebalance_locks: dict[str, asyncio.Lock] = {}
        self._rebalance_pending: set[str] = set()
        self._topology: dict[str, tuple[float, tuple[ClusterNetworks, list[HostView]]]] = {}
        self.maintenance = HostMaintenance(self)
        self._stopping = False

    # ------------------------------------------------------------ lifecycle

    async def start(self, *, monitor: bool = True) -> None:
        """Loads the active migrations, takes up those an earlier engine left running or
        preparing, then starts polling hosts and running the queue."""
        self._pump_done = asyncio.Condition()
        active = await self._inventory.read(lambda store: store.active_migrations())
        for migration in active:
            self._live[migration.id] = migration
        for migration in active:
            if migration.phase is MigrationPhase.PREPARING:
                self._spawn(self._recover_preparing(migration.id), f"recover-{migration.id}")
            elif migration.phase is MigrationPhase.RUNNING:
                self._follow(migration.id)
        if active:
            log.info("took up %d active migration(s) from the records", len(active))
        if monitor:
            self.monitor.start()
        self._runner = asyncio.get_running_loop().create_task(self._run_queue(), name="queue")
        self._spawn(self._flush_progress(), "flush-progress")

    def end_streams(self) -> None:
        self.hub.close()

    async def stop(self) -> None:
        """Stops following and polling; agents' jobs go on (a new engine takes them up)."""
        self._stopping = True
        self.hub.close()
        await self.monitor.stop()
        if self._unsaved:
            try:
                await self._persist(list(self._unsaved))
            except Exception:  # the agents still have it: a restarted engine reads it back
                log.exception("last progress not written at stop")
        tasks = [t for t in (self._runner, *self._followers.values(), *self._tasks) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._clients.close()

    def _spawn(self, coroutine: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    # ------------------------------------------------------------ writing

    def _absorb(self, changed: Sequence[Migration]) -> None:
        """Runs on the loop in commit order: the in-memory view and watchers follow the
        store."""
        for migration in changed:
            if migration.active:
                self._live[migration.id] = migration
            else:
                self._live.pop(migration.id, None)
                self._unsaved.discard(migration.id)
                ended = self._ended.pop(migration.id, None)
                if ended is not None:
                    ended.set()
                if migration.phase is MigrationPhase.COMPLETED:
                    self.arrivals += 1
                    self._arrival_marks[migration.vm_id] = (
                        migration.destination_host_id,
                        self.arrivals,
                    )
                    self._arrived[migration.vm_id] = (
                        migration.destination_host_id,
                        time.monotonic(),
                    )
        self.hub.publish(changed)

    async def write(self, work: Callable[[Store], tuple[T, list[Migration], list[Event]]]) -> T:
        """One transaction whose changed migrations reach `_live` and watchers in commit
        order, right after its events."""

        def run(store: Store) -> tuple[tuple[T, list[Migration]], list[Event]]:
            result, changed, events = work(store)
            for migration in changed:
                try:
                    store.update_migration(migration)
                except KeyError:
                    store.insert_migration(migration)
            return (result, changed), events

        result, _ = await self._inventory.transact(
            run, on_commit=lambda outcome: self._absorb(outcome[1])
        )
        return result

    def migration_event(
        self, type_: EventType, message: str, migration: Migration, **kw: object
    ) -> Event:
        severity = kw.pop("severity", EventSeverity.INFO)
        attributes = kw.pop("attributes", {})
        return self._inventory.make_event(
            type_,
            message,
            severity=severity,  # type: ignore[arg-type]
            cluster_id=migration.cluster_id,
            host_id=str(kw.pop("host_id", migration.source_host_id)),
            vm_id=migration.vm_id,
            migration_id=migration.id,
            attributes=attributes,  # type: ignore[arg-type]
        )

    def _current(self, store: Store, migration_id: str) -> Migration | None:
        """The newest version: in memory (with unwritten progress) or stored."""
        stored = store.get_migration(migration_id)
        live = self._live.get(migration_id)
        if stored is None or live is None or stored.phase in FINAL_PHASES:
            return stored
        return live if live.phase == stored.phase else stored

    # ------------------------------------------------------------ reads

    async def get(self, migration_id: str) -> Migration:
        validate_id("migration_id", migration_id, "migration")
        live = self._live.get(migration_id)
        if live is not None:
            return live
        return await self._inventory.get_migration(migration_id)

    @property
    def inventory(self) -> InventoryService:
        return self._inventory

    def clock(self) -> datetime:
        return self._clock()

    def live_version(self, migration_id: str) -> Migration | None:
        """The newest version of an active migration (None once it ended)."""
        return self._live.get(migration_id)

    def forget_topology(self) -> None:
        """Hosts changed (maintenance): decisions read them afresh."""
        self._topology.clear()

    async def set_host_maintenance(self, host_id: str, enabled: bool) -> MaintenanceResult:
        return await self.maintenance.set_host_maintenance(host_id, enabled)

    def _active_of(self, cluster_id: str) -> list[Migration]:
        """The cluster's active migrations, oldest first, from memory (`_live` follows every
        committed change)."""
        return sorted(
            (m for m in self._live.values() if m.cluster_id == cluster_id),
            key=lambda m: (m.created_at, m.id),
        )

    async def read_state(self, cluster_id: str, **options: object) -> ClusterState | None:
        """The cluster as the queue and the jobs need it. Its networks and hosts change only
        with agent polls, maintenance and inventory calls: they are reused for up to
        `TOPOLOGY_TTL_S` (dropped at each poll round and maintenance change)."""
        cached = self._topology.get(cluster_id)
        fresh = cached is not None and time.monotonic() - cached[0] < TOPOLOGY_TTL_S
        state = await self._inventory.read(
            functools.partial(
                _read_cluster,
                cluster_id=cluster_id,
                active=self._active_of(cluster_id),
                topology=cached[1] if cached is not None and fresh else None,
                **options,  # type: ignore[arg-type]
            )
        )
        if state is not None and not fresh:
            self._topology[cluster_id] = (time.monotonic(), (state.networks, state.hosts))
        return state

    async def _cluster(self, cluster_id: str, *, with_vms: bool = True) -> ClusterState:
        state = await self.read_state(cluster_id, with_vms=with_vms)
        if state is None:
            raise NotFound("cluster_id", "cluster", cluster_id)
        return state

    async def _vm_and_cluster(self, vm_id: str) -> tuple[Vm, ClusterState, HostView]:
        """The VM, its cluster (slot holders' VMs only) and its host, in one store read.
        Answers to clients read the hosts afresh (no topology reuse)."""
        validate_id("vm_id", vm_id, "VM")
        active = sorted(self._live.values(), key=lambda m: (m.created_at, m.id))

        def work(store: Store) -> tuple[Vm, ClusterState | None] | None:
            vm = store.get_vm(vm_id)
            if vm is None:
                return None
            return vm, _read_cluster(
                store,
                vm.cluster_id,
                with_vms=False,
                active=[m for m in active if m.cluster_id == vm.cluster_id],
            )

        found = await self._inventory.read(work)
        if found is None:
            raise NotFound("vm_id", "VM", vm_id)
        vm, state = found
        if state is None:
            raise NotFound("cluster_id", "cluster", vm.cluster_id)
        self._topology[vm.cluster_id] = (time.monotonic(), (state.networks, state.hosts))
        source = state.by_id.get(vm.host_id)
        if source is None:
            raise FailedPrecondition(f"VM {vm.name!r} is on host {vm.host_id}, which is gone")
        return vm, state, source

    def _busy(self) -> dict[str, datetime]:
        self._busy_until = still_busy(self._busy_until, self._clock())
        return self._busy_until

    async def candidates(self, vm_id: str) -> list[DestinationAssessment]:
        vm, state, source = await self._vm_and_cluster(vm_id)
        return assess_destinations(
            vm,
            source,
            state.hosts,
            state.networks,
            loads=state.loads(),
            now=self._clock(),
            busy_until=self._busy(),
        )

    # ------------------------------------------------------------ MigrateVm

    async def migrate_vm(
        self, vm_id: str, destination_host_id: str = "", max_bandwidth_mibps: int | None = None
    ) -> Migration:
        validate_id("vm_id", vm_id, "VM")
        destination_host_id = validate_optional_id(
            "destination_host_id", destination_host_id, "host"
        )
        vm, state, source = await self._vm_and_cluster(vm_id)
        if vm.migration_id:
            raise FailedPrecondition(
                f"VM {vm.name!r} is already migrating (migration {vm.migration_id}); cancel it "
                "or wait for it"
            )
        if vm.state not in (VmState.RUNNING, VmState.PAUSED):
            raise FailedPrecondition(
                f"VM {vm.name!r} is {vm.state.name.lower()}: only a running VM can be live-migrated"
            )
        if destination_host_id:
            destination = state.by_id.get(destination_host_id)
            if destination is None:
                other = await self._inventory.read(lambda s: s.get_host(destination_host_id))
                if other is None:
                    raise NotFound("destination_host_id", "host", destination_host_id)
                raise FailedPrecondition(
                    f"host {other.name!r} is in another cluster than VM {vm.name!r}"
                )
            refused = manual_destination_rejections(vm, destination, state.networks)
            if refused:
                raise FailedPrecondition(
                    f"VM {vm.name!r} cannot go to host {destination.host.name!r}: "
                    + "; ".join(r.message for r in refused)
                )
        else:
            decision = choose_destination(
                vm,
                source,
                state.hosts,
                state.networks,
                loads=state.loads(),
                now=self._clock(),
                busy_until=self._busy(),
            )
            if decision.outcome is PlacementOutcome.NO_HOST:
                raise FailedPrecondition(decision.reason)
        migration = Migration(
            id=self._inventory._make_id("mig"),
            cluster_id=vm.cluster_id,
            vm_id=vm.id,
            vm_name=vm.name,
            source_host_id=vm.host_id,
            destination_host_id=destination_host_id,
            automatic=not destination_host_id,
            phase=MigrationPhase.QUEUED,
            created_at=self._clock(),
            bandwidth_override_mibps=max_bandwidth_mibps,
            max_bandwidth_mibps=max_bandwidth_mibps or 0,
            queue_reason="waiting for the queue runner",
        )
        names = {view.host.id: view.host.name for view in state.hosts}
        target = names.get(destination_host_id, "") if destination_host_id else ""
        created = await self.write(lambda store: self._enqueue(store, migration, names, target))
        await self.pump_and_wait()
        return self._live.get(created.id) or await self._inventory.get_migration(created.id)

    def _enqueue(
        self, store: Store, migration: Migration, names: dict[str, str], target: str
    ) -> tuple[Migration, list[Migration], list[Event]]:
        vm = store.get_vm(migration.vm_id)
        if vm is not None and vm.migration_id:
            raise FailedPrecondition(
                f"VM {migration.vm_name!r} is already migrating (migration {vm.migration_id})"
            )
        where = f"to {target}" if target else "(the scheduler chooses the destination)"
        event = self.migration_event(
            EventType.MIGRATION_QUEUED,
            f"migration of VM {migration.vm_name!r} from "
            f"{names.get(migration.source_host_id, migration.source_host_id)} {where} requested",
            migration,
            attributes={"automatic": "yes" if migration.automatic else "no"},
        )
        return migration, [migration], [event]

    # ------------------------------------------------------------ the queue

    def wake(self) -> None:
        self._wake.set()

    async def pump_and_wait(self, timeout_s: float = 10.0) -> None:
        """Asks the queue runner for a pass and waits for it (passes requested together are
        served by one)."""
        assert self._pump_done is not None
        self._pump_requests += 1
        ticket = self._pump_requests
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._pump_done:
                await self._pump_done.wait_for(lambda: self._pumped_for >= ticket)

    async def _run_queue(self) -> None:
        assert self._pump_done is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_wait()):
                    await self._wake.wait()
            self._wake.clear()
            served = self._pump_requests
            try:
                await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue pass failed")
            self._pumped_for = served
            async with self._pump_done:
                self._pump_done.notify_all()

    def _next_wait(self) -> float:
        wait = self.queue_interval_s
        now = self._clock()
        for until in self._busy().values():
            wait = min(wait, max((until - now).total_seconds(), 0.01))
        return wait

    async def _pump(self) -> None:
        clusters = sorted(
            {m.cluster_id for m in self._live.values() if m.phase is MigrationPhase.QUEUED}
        )
        for cluster_id in clusters:
            await self._admit(cluster_id)

    async def _admit(self, cluster_id: str) -> None:
        state = await self.read_state(cluster_id)
        if state is None:
            return
        queued = [m for m in state.active if m.phase is MigrationPhase.QUEUED]
        verdicts = admit_queued(
            queued,
            state.slot_holders(),
            state.hosts,
            state.vms,
            state.networks,
            now=self._clock(),
            busy_until=self._busy(),
        )
        names = {view.host.id: view.host.name for view in state.hosts}

        def work(store: Store) -> tuple[list[Migration], list[Migration], list[Event]]:
            changed: list[Migration] = []
            started: list[Migration] = []
            events: list[Event] = []
            for admission in verdicts:
                if (
                    admission.verdict is AdmissionVerdict.WAIT
                    and admission.migration.queue_reason == admission.reason
                ):
                    continue
                current = store.get_migration(admission.migration.id)
                if current is None or current.phase is not MigrationPhase.QUEUED:
                    continue  # cancelled meanwhile
                if admission.verdict is AdmissionVerdict.WAIT:
                    if current.queue_reason != admission.reason:
                        changed.append(replace(current, queue_reason=admission.reason))
                elif admission.verdict is AdmissionVerdict.FAIL:
                    failed = replace(
                        current,
                        phase=MigrationPhase.FAILED,
                        error=admission.reason,
                        queue_reason="",
                        finished_at=self._clock(),
                    )
                    changed.append(failed)
                    events.extend(self._failure_events(failed, admission.reason))
                else:
                    assert admission.path is not None
                    preparing = self._prepared(
                        current, admission.destination_host_id, admission.path
                    )
                    changed.append(preparing)
                    started.append(preparing)
                    if admission.path.fell_back:
                        events.append(self._fell_back_event(preparing, names))
            return started, changed, events

        started = await self.write(work)
        for migration in started:
            self._spawn(self._launch(migration.id), f"launch-{migration.id}")
        if any(m.evacuation_host_id for m in queued):
            await self.maintenance.check_evacuations(cluster_id)

    @staticmethod
    def _prepared(migration: Migration, destination_id: str, path: MigrationPath) -> Migration:
        return replace(
            migration,
            phase=MigrationPhase.PREPARING,
            destination_host_id=destination_id,
            network_id=path.network_id,
            migration_uri=path.migration_uri,
            fallback_reason=path.fallback_reason,
            fallback_detail=path.fallback_detail,
            queue_reason="",
        )

    def _fell_back_event(self, migration: Migration, names: dict[str, str]) -> Event:
        return self.migration_event(
            EventType.MIGRATION_FELL_BACK,
            f"migration of VM {migration.vm_name!r} from "
            f"{names.get(migration.source_host_id, migration.source_host_id)} to "
            f"{names.get(migration.destination_host_id, migration.destination_host_id)} "
            f"falls back to the management network: {migration.fallback_detail}",
            migration,
            severity=EventSeverity.WARNING,
            attributes={
                "fallback_reason": migration.fallback_reason.name,
                "migration_uri": migration.migration_uri,
            },
        )

    def _failure_events(self, migration: Migration, reason: str) -> list[Event]:
        events = [
            self.migration_event(
                EventType.MIGRATION_FAILED,
                f"migration of VM {migration.vm_name!r} failed: {reason}",
                migration,
                severity=EventSeverity.ERROR,
            )
        ]
        if migration.evacuation_host_id:
            events.append(self._unplaced_event(migration, reason))
        return events

    def _unplaced_event(self, migration: Migration, reason: str) -> Event:
        return self.migration_event(
            EventType.VM_UNPLACED,
            f"VM {migration.vm_name!r} cannot leave its host for maintenance: {reason}",
            migration,
            severity=EventSeverity.WARNING,
            host_id=migration.evacuation_host_id,
        )

    # ------------------------------------------------------------ starting a job

    def _flows(self, state: ClusterState) -> list[MigrationFlow]:
        by_id = state.by_id
        flows = []
        for migration in state.slot_holders():
            live = self._live.get(migration.id, migration)
            source = by_id.get(migration.source_host_id)
            destination = by_id.get(migration.destination_host_id)
            if source is None or destination is None:
                continue
            path = choose_migration_uri(state.networks, source, destination)
            flows.append(
                MigrationFlow(
                    migration_id=migration.id,
                    source_host_id=migration.source_host_id,
                    destination_host_id=migration.destination_host_id,
                    network_id=migration.network_id,
                    budget=link_budget(path, state.networks),
                    override_mibps=migration.bandwidth_override_mibps,
                    current_mibps=(
                        live.max_bandwidth_mibps if live.phase is MigrationPhase.RUNNING else None
                    ),
                )
            )
        return flows

    async def _launch(self, migration_id: str) -> None:
        migration = self._live.get(migration_id)
        if migration is None or migration.phase is not MigrationPhase.PREPARING:
            return
        state = await self._cluster(migration.cluster_id, with_vms=False)
        by_id = state.by_id
        source = by_id.get(migration.source_host_id)
        destination = by_id.get(migration.destination_host_id)
        if source is None or destination is None:
            await self._fail(migration_id, "its source or destination host was removed")
            return
        cap = bandwidth_caps(state.networks.cluster.policy, self._flows(state)).get(migration_id)
        mibps = cap.mibps if cap is not None else (migration.bandwidth_override_mibps or 0)
        dst = destination.host.facts.peer_libvirt_uri or (
            f"qemu+tcp://{agent_host(destination.host.agent_address)}/system"
        )
        call = MigrateCall(
            migration_id=migration.id,
            vm_id=migration.vm_id,
            dst=dst,
            migration_uri=migration.migration_uri,
            max_bandwidth_mibps=mibps or None,
            tuning=migration_tuning(state.networks.cluster.policy),
        )
        try:
            sample = await self._clients.migrate(source.host.agent_address, call)
        except AgentCallError as error:
            await self._refused(migration, error, source.host, destination.host, dst)
            return
        sample = replace(sample, max_bandwidth_mibps=sample.max_bandwidth_mibps or mibps)
        await self._started(migration_id, sample, destination.host.name, source.host.name)

    async def _refused(
        self, migration: Migration, error: AgentCallError, source: Host, destination: Host, dst: str
    ) -> None:
        kind = error.kind
        now = self._clock()
        if kind is AgentCallErrorKind.ALREADY_EXISTS:
            # An earlier attempt got through (e.g. a timeout hid its answer): follow it.
            try:
                sample = await self._clients.status(source.agent_address, migration.id)
            except AgentCallError:
                self._follow(migration.id)
                return
            await self._started(migration.id, sample, destination.name, source.name)
            return
        if kind is AgentCallErrorKind.UNREACHABLE:
            try:
                sample = await self._clients.status(source.agent_address, migration.id)
            except AgentCallError:
                self._busy_until[source.id] = now + self.busy_retry
                await self._requeue(
                    migration.id, f"source host {source.name}'s agent: {error.detail}; retrying"
                )
                return
            await self._started(migration.id, sample, destination.name, source.name)
            return
        if kind is AgentCallErrorKind.BUSY:
            self._busy_until[source.id] = now + self.busy_retry
            await self._requeue(
                migration.id,
                f"source host {source.name}'s agent answered busy ({error.detail}); retrying "
                f"after {(now + self.busy_retry).isoformat(timespec='seconds')}",
            )
            return
        if kind is AgentCallErrorKind.REFUSED and dst in error.detail:
            refusals = self._refusals.get(migration.id, 0) + 1
            self._refusals[migration.id] = refusals
            if refusals < MAX_DESTINATION_REFUSALS:
                self._busy_until[destination.id] = now + self.busy_retry
                await self._requeue(
                    migration.id,
                    f"destination host {destination.name} refused or was unreachable "
                    f"({error.detail}); retry {refusals} of {MAX_DESTINATION_REFUSALS - 1}",
                )
                return
        self._refusals.pop(migration.id, None)
        await self._fail(migration.id, f"source host {source.name}'s agent refused: {error.detail}")

    async def _requeue(self, migration_id: str, reason: str) -> None:
        def work(store: Store) -> tuple[None, list[Migration], list[Event]]:
            current = store.get_migration(migration_id)
            if current is None or current.phase is not MigrationPhase.PREPARING:
                return None, [], []
            if migration_id in self._cancel_requested:
                self._cancel_requested.discard(migration_id)
                cancelled = replace(
                    current, phase=MigrationPhase.CANCELLED, finished_at=self._clock()
                )
                event = self.migration_event(
                    EventType.MIGRATION_CANCELLED,
                    f"migration of VM {current.vm_name!r} cancelled before it started",
                    cancelled,
                )
                return None, [cancelled], [event]
            queued = replace(
                current,
                phase=MigrationPhase.QUEUED,
                queue_reason=reason,
                destination_host_id=current.destination_host_id if not current.automatic else "",
            )
            if current.automatic:
                queued = replace(
                    queued,
                    network_id="",
                    migration_uri="",
                    fallback_reason=FallbackReason.UNSPECIFIED,
                    fallback_detail="",
                )
            return None, [queued], []

        await self.write(work)
        self.wake()

    async def _fail(self, migration_id: str, reason: str) -> None:
        def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
            current = store.get_migration(migration_id)
            if current is None or not current.active:
                return None, [], []
            failed = replace(
                current,
                phase=MigrationPhase.FAILED,
                error=reason,
                queue_reason="",
                finished_at=self._clock(),
            )
            return failed, [failed], self._failure_events(failed, reason)

        failed = await self.write(work)
        self.wake()
        await self._after_end(failed)

    async def _started(
        self, migration_id: str, sample: JobSample, destination_name: str, source_name: str
    ) -> None:
        now = self._clock()

        def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
            current = store.get_migration(migration_id)
            if current is None or current.phase is not MigrationPhase.PREPARING:
                return None, [], []
            running = apply_sample(current, sample, now)
            if running.phase in FINAL_PHASES:
                return running, [running], []  # finished before we looked: _finish reports it
            over = (
                "the migration network"
                if running.fallback_reason is FallbackReason.NONE
                else "the management network"
            )
            cap = (
                f"{running.max_bandwidth_mibps} MiB/s"
                if running.max_bandwidth_mibps
                else "no bandwidth cap"
            )
            event = self.migration_event(
                EventType.MIGRATION_STARTED,
                f"migration of VM {running.vm_name!r} from {source_name} to {destination_name} "
                f"started over {over} ({running.migration_uri}, {cap})",
                running,
                attributes={
                    "destination_host_id": running.destination_host_id,
                    "migration_uri": running.migration_uri,
                    "max_bandwidth_mibps": str(running.max_bandwidth_mibps),
                },
            )
            return running, [running], [event]

        self._refusals.pop(migration_id, None)
        running = await self.write(work)
        if running is None:
            return
        if running.phase in FINAL_PHASES:
            await self._on_sample(migration_id, sample)
            return
        self._follow(migration_id)
        if migration_id in self._cancel_requested:
            self._spawn(self._cancel_running(running), f"cancel-{migration_id}")
        self._schedule_rebalance(running.cluster_id)

    # ------------------------------------------------------------ following a job

    def _follow(self, migration_id: str) -> None:
        if migration_id in self._followers or self._stopping:
            return
        task = asyncio.get_running_loop().create_task(
            self._follow_job(migration_id), name=f"follow-{migration_id}"
        )
        self._followers[migration_id] = task
        task.add_done_callback(lambda _: self._followers.pop(migration_id, None))

    async def _source_address(self, migration: Migration) -> str | None:
        host = await self._inventory.read(lambda s: s.get_host(migration.source_host_id))
        return host.agent_address if host is not None else None

    async def _follow_job(self, migration_id: str) -> None:
        """Consumes the source agent's progress stream until the job's final sample; a broken
        stream (agent restarting, unreachable) is picked up again."""
        while migration_id in self._live:
            migration = self._live[migration_id]
            address = await self._source_address(migration)
            if address is None:
                await self._fail(migration_id, "its source host was removed while it ran")
                return
            try:
                async for sample in self._clients.watch(address, migration_id):
                    await self._on_sample(migration_id, sample)
                    if sample.finished:
                        return
                sample = await self._clients.status(address, migration_id)
                await self._on_sample(migration_id, sample)
                if sample.finished:
                    return
            except AgentCallError as error:
                if error.kind is AgentCallErrorKind.NOT_FOUND:
                    await self._fail(
                        migration_id, f"the source agent does not know the job: {error.detail}"
                    )
                    return
                log.info("progress of %s interrupted (%s); retrying", migration_id, error)
            await asyncio.sleep(self.follow_retry_s)

    async def _on_sample(self, migration_id: str, sample: JobSample) -> None:
        current = self._live.get(migration_id)
        if current is None:
            return
        updated = apply_sample(current, sample, self._clock())
        if updated.phase in FINAL_PHASES:
            await self._finish(migration_id, sample)
            return
        if updated == current:
            return
        self._live[migration_id] = updated
        self.hub.publish([updated])
        if updated.phase is not current.phase:
            await self._persist([migration_id])
        else:
            self._unsaved.add(migration_id)

    async def _flush_progress(self) -> None:
        """Writes the progress samples kept in memory: every `persist_interval_s`, all the
        migrations that moved, in one transaction (a storm of samples is not a storm of
        fsyncs; at most that much progress is lost with the process)."""
        while True:
            await asyncio.sleep(self.persist_interval_s)
            if self._unsaved:
                ids, self._unsaved = list(self._unsaved), set()
                try:
                    await self._persist(ids)
                except Exception:
                    log.exception("progress not written; tried again next time")
                    self._unsaved.update(ids)

    async def _persist(self, migration_ids: Sequence[str]) -> None:
        def work(store: Store) -> tuple[None, list[Migration], list[Event]]:
            for migration_id in migration_ids:
                latest = self._live.get(migration_id)
                if latest is None or latest.phase is not MigrationPhase.RUNNING:
                    continue
                stored = store.get_migration(migration_id)
                if stored is None or stored.phase in FINAL_PHASES:
                    continue
                store.update_migration(latest)
            return None, [], []

        await self.write(work)

    async def _finish(self, migration_id: str, sample: JobSample) -> None:
        """Ends the record of a job that finished, with its event; reruns a failed automatic
        migration elsewhere."""
        now = self._clock()

        def work(
            store: Store,
        ) -> tuple[Migration | None, list[Migration], list[Event]]:
            current = self._current(store, migration_id)
            if current is None or current.phase in FINAL_PHASES:
                return None, [], []
            ended = apply_sample(current, sample, now)
            names = {
                h.id: h.name
                for h in (
                    store.get_host(current.source_host_id),
                    store.get_host(current.destination_host_id),
                )
                if h is not None
            }
            source_name = names.get(ended.source_host_id, ended.source_host_id)
            destination_name = names.get(ended.destination_host_id, ended.destination_host_id)
            message = completion_message(ended, ended.vm_name, source_name, destination_name)
            changed = [ended]
            events: list[Event] = []
            if ended.phase is MigrationPhase.COMPLETED:
                events.append(
                    self.migration_event(
                        EventType.MIGRATION_COMPLETED,
                        message,
                        ended,
                        attributes={
                            "duration_s": f"{duration_s(ended):.1f}",
                            "downtime_ms": str(ended.downtime_ms),
                            "destination_host_id": ended.destination_host_id,
                        },
                    )
                )
                self._move_vm(store, ended)
            elif ended.phase is MigrationPhase.CANCELLED:
                events.append(self.migration_event(EventType.MIGRATION_CANCELLED, message, ended))
            else:
                events.append(
                    self.migration_event(
                        EventType.MIGRATION_FAILED,
                        message,
                        ended,
                        severity=EventSeverity.ERROR,
                        attributes={"failure_kind": sample.failure_kind.name},
                    )
                )
                decision = decide_rerun(ended, sample.failure_kind, host_names=names)
                if decision.rerun:
                    rerun = Migration(
                        id=self._inventory._make_id("mig"),
                        cluster_id=ended.cluster_id,
                        vm_id=ended.vm_id,
                        vm_name=ended.vm_name,
                        source_host_id=ended.source_host_id,
                        automatic=True,
                        phase=MigrationPhase.QUEUED,
                        created_at=now,
                        tried_host_ids=decision.tried_host_ids,
                        evacuation_host_id=ended.evacuation_host_id,
                        bandwidth_override_mibps=ended.bandwidth_override_mibps,
                        queue_reason="rerun after a failure; waiting for the queue runner",
                    )
                    changed.append(rerun)
                    events.append(
                        self.migration_event(
                            EventType.MIGRATION_RERUN,
                            decision.reason + f" (migration {rerun.id})",
                            rerun,
                            severity=EventSeverity.WARNING,
                            attributes={"failed_migration_id": ended.id},
                        )
                    )
                elif ended.evacuation_host_id:
                    events.append(self._unplaced_event(ended, decision.reason))
            return ended, changed, events

        ended = await self.write(work)
        if ended is None:
            return
        self._cancel_requested.discard(migration_id)
        self.wake()
        await self._after_end(ended)

    def _move_vm(self, store: Store, migration: Migration) -> None:
        """The VM runs on the destination now (the next poll confirms it)."""
        vm = store.get_vm(migration.vm_id)
        destination = store.get_host(migration.destination_host_id)
        if vm is None or destination is None:
            return
        on_destination = [v for v in store.vms_of_host(destination.id) if v.id != vm.id]
        store.replace_host_vms(
            destination.id,
            [
                *on_destination,
                replace(
                    vm,
                    host_id=destination.id,
                    cluster_id=destination.cluster_id,
                    state=VmState.RUNNING,
                ),
            ],
        )

    async def _after_end(self, migration: Migration | None) -> None:
        """A migration left its slot: shares of the cluster's links change, and the host it
        evacuated may be empty now."""
        if migration is None:
            return
        self._schedule_rebalance(migration.cluster_id)
        if migration.evacuation_host_id:
            await self.maintenance.check_evacuations(migration.cluster_id)

    # ------------------------------------------------------------ recovery

    async def _recover_preparing(self, migration_id: str) -> None:
        """A migration an earlier engine left PREPARING: did its source agent get the job?"""
        while not self._stopping:
            migration = self._live.get(migration_id)
            if migration is None or migration.phase is not MigrationPhase.PREPARING:
                return
            address = await self._source_address(migration)
            if address is None:
                await self._fail(migration_id, "its source host was removed")
                return
            try:
                sample = await self._clients.status(address, migration_id)
            except AgentCallError as error:
                if error.kind is AgentCallErrorKind.NOT_FOUND:
                    await self._requeue(migration_id, "the engine restarted before it started")
                    return
                await asyncio.sleep(self.follow_retry_s)
                continue
            names = await self._inventory.read(
                functools.partial(_host_names, cluster_id=migration.cluster_id)
            )
            await self._started(
                migration_id,
                sample,
                names.get(migration.destination_host_id, migration.destination_host_id),
                names.get(migration.source_host_id, migration.source_host_id),
            )
            return

    # ------------------------------------------------------------ bandwidth

    def _schedule_rebalance(self, cluster_id: str) -> None:
        """Rebalancing soon, once for every start and end of the next moment."""
        if cluster_id in self._rebalance_pending or self._stopping:
            return
        self._rebalance_pending.add(cluster_id)

        async def later() -> None:
            await asyncio.sleep(REBALANCE_DELAY_S)
            self._rebalance_pending.discard(cluster_id)
            await self._rebalance(cluster_id)

        self._spawn(later(), f"rebalance-{cluster_id}")

    async def _rebalance(self, cluster_id: str) -> None:
        """AUTO caps follow the number of migrations sharing each link: re-sent with
        MigrateChangeParams to the running migrations whose share changed."""
        lock = self._rebalance_locks.setdefault(cluster_id, asyncio.Lock())
        async with lock:
            state = await self.read_state(cluster_id, with_vms=False)
            if state is None:
                return
            flows = {flow.migration_id: flow for flow in self._flows(state)}
            by_id = state.by_id
            changes = []
            for change in bandwidth_changes(state.networks.cluster.policy, list(flows.values())):
                live = self._live.get(change.migration_id)
                # One not yet running gets its cap with the migrate verb.
                if (
                    live is None
                    or live.phase is not MigrationPhase.RUNNING
                    or change.cap.mibps <= 0
                ):
                    continue
                source = by_id[flows[change.migration_id].source_host_id]
                changes.append((change.migration_id, source.host.agent_address, change.cap.mibps))
            await asyncio.gather(*(self._resend_cap(*change) for change in changes))

    async def _resend_cap(self, migration_id: str, address: str, mibps: int) -> None:
        try:
            await self._clients.change_bandwidth(address, migration_id, mibps)
        except AgentCallError as error:
            log.info("bandwidth of %s not changed: %s", migration_id, error)
            return
        current = self._live.get(migration_id)
        if current is not None and current.active:
            updated = replace(current, max_bandwidth_mibps=mibps)
            self._live[migration_id] = updated
            self.hub.publish([updated])

    async def set_bandwidth(self, migration_id: str, mibps: int) -> Migration:
        migration = await self.get(migration_id)
        if not migration.active:
            raise FailedPrecondition(
                f"migration {migration_id} is {migration.phase.label}: nothing to change"
            )
        if migration.phase is MigrationPhase.RUNNING:
            if mibps <= 0:
                raise InvalidArgument(
                    "max_bandwidth_mibps",
                    "a running migration's cap can be changed, not removed: give a value > 0",
                )
            address = await self._source_address(migration)
            if address is None:
                raise FailedPrecondition(f"the source host of {migration_id} is gone")
            try:
                await self._clients.change_bandwidth(address, migration_id, mibps)
            except AgentCallError as error:
                raise FailedPrecondition(
                    f"the source agent did not change the cap: {error.detail}"
                ) from None

        def work(store: Store) -> tuple[Migration, list[Migration], list[Event]]:
            current = self._current(store, migration_id)
            if current is None:
                raise NotFound("migration_id", "migration", migration_id)
            if not current.active:
                raise FailedPrecondition(f"migration {migration_id} ended meanwhile")
            updated = replace(current, bandwidth_override_mibps=mibps, max_bandwidth_mibps=mibps)
            return updated, [updated], []

        return await self.write(work)

    # ------------------------------------------------------------ cancel

    async def cancel(self, migration_id: str, timeout_s: float = 60.0) -> Migration:
        migration = await self.get(migration_id)
        if migration.phase is MigrationPhase.QUEUED:

            def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
                current = store.get_migration(migration_id)
                if current is None or current.phase is not MigrationPhase.QUEUED:
                    return None, [], []
                cancelled = replace(
                    current,
                    phase=MigrationPhase.CANCELLED,
                    queue_reason="",
                    finished_at=self._clock(),
                )
                event = self.migration_event(
                    EventType.MIGRATION_CANCELLED,
                    f"queued migration of VM {current.vm_name!r} cancelled",
                    cancelled,
                )
                return cancelled, [cancelled], [event]

            cancelled = await self.write(work)
            if cancelled is not None:
                await self._after_end(cancelled)
                return cancelled
            migration = await self.get(migration_id)
        if not migration.active:
            if migration.phase is MigrationPhase.CANCELLED:
                return migration
            raise FailedPrecondition(
                f"migration {migration_id} is {migration.phase.label}: nothing to cancel"
            )
        ended = self._ended.setdefault(migration_id, asyncio.Event())
        if migration.phase is MigrationPhase.PREPARING:
            self._cancel_requested.add(migration_id)
        else:
            await self._cancel_running(migration)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await ended.wait()
        return await self.get(migration_id)

    async def _cancel_running(self, migration: Migration) -> None:
        address = await self._source_address(migration)
        if address is None:
            raise FailedPrecondition(f"the source host of {migration.id} is gone")
        try:
            sample = await self._clients.cancel(address, migration.id)
        except AgentCallError as error:
            if error.kind is AgentCallErrorKind.REFUSED:
                raise FailedPrecondition(
                    f"the source agent refused to cancel: {error.detail}"
                ) from None
            raise ResourceExhausted(
                f"the source agent could not be asked to cancel ({error.detail}); try again"
            ) from None
        await self._on_sample(migration.id, sample)

    async def _after_poll(self) -> None:
        self._topology.clear()
        clusters = await self._inventory.read(
            lambda store: sorted(
                {
                    h.cluster_id
                    for h in store.all_hosts()
                    if h.status is HostStatus.PREPARING_FOR_MAINTENANCE
                }
            )
        )
        for cluster_id in clusters:
            await self.maintenance.check_evacuations(cluster_id)
        self.wake()

    # ------------------------------------------------------------ watching

    async def watch(
        self,
        cluster_id: str = "",
        vm_id: str = "",
        migration_id: str = "",
        include_finished: bool = False,
    ) -> AsyncIterator[Migration | None]:
        """The migrations matching the filter, then None (the snapshot is complete), then
        every change. Raises ResourceExhausted when the client fell too far behind."""
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        vm_id = validate_optional_id("vm_id", vm_id, "VM")
        migration_id = validate_optional_id("migration_id", migration_id, "migration")

        def accept(migration: Migration) -> bool:
            return (
                (not cluster_id or migration.cluster_id == cluster_id)
                and (not vm_id or migration.vm_id == vm_id)
                and (not migration_id or migration.id == migration_id)
            )

        watcher = self.hub.subscribe(accept)
        # Taken with the subscription, no await between: every later change is buffered.
        snapshot = {m.id: m for m in self._live.values() if accept(m)}
        try:
            if include_finished or migration_id:
                where = MigrationFilter(cluster_id=cluster_id, vm_id=vm_id)
                stored = await self._inventory.read(
                    lambda store: store.list_migrations(where, 0, _ALL).items
                )
                for migration in stored:
                    if not accept(migration):
                        continue
                    newer = migration.phase in FINAL_PHASES or migration.id not in snapshot
                    if newer and (include_finished or migration.active or migration_id):
                        snapshot[migration.id] = migration
            for migration in sorted(snapshot.values(), key=lambda m: (m.created_at, m.id)):
                yield migration
            yield None
            while True:
                try:
                    changed = await watcher.next()
                except WatcherDropped:
                    raise ResourceExhausted(
                        "this migration stream fell too far behind and was closed; "
                        "reconnect for a fresh snapshot"
                    ) from None
                if changed is None:
                    return
                yield changed
        finally:
            watcher.close()

    def vm_hints(self) -> dict[str, str]:
        """Where VMs in flight are: the source while migrating, the destination for a
        while after completing (the host monitor's tie-breaker)."""
        now = time.monotonic()
        self._arrived = {
            vm_id: (host_id, at)
            for vm_id, (host_id, at) in self._arrived.items()
            if now - at < self._hint_window_s
        }
        hints = {vm_id: host_id for vm_id, (host_id, _) in self._arrived.items()}
        for migration in self._live.values():
            if migration.phase in SLOT_PHASES:
                hints[migration.vm_id] = migration.source_host_id
        return hints

    def arrived_after(self, mark: int) -> dict[str, str]:
        """VM id -> destination of the migrations completed after `arrivals` was `mark`."""
        return {
            vm_id: host_id for vm_id, (host_id, seq) in self._arrival_marks.items() if seq > mark
        }

    def live(self) -> Iterable[Migration]:
        return list(self._live.values())


__all__ = ["ClusterState", "MaintenanceResult", "MigrationFailureKind", "MigrationService"]
