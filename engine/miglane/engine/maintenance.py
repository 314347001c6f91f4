"""Host maintenance: evacuating a host by automatic migrations, holding it out of service once
empty, and returning it.

The plan is the domain's (`evacuation.plan_evacuation`), one for all the cluster's hosts
preparing for maintenance: every VM some host can take becomes a QUEUED automatic migration
tagged with the host and carrying its rank, planned destination and planned finish (the queue
starts them in rank order, keeps the limits and takes the planned destination while it is
still suitable); a VM no host can take is reported (response `unplaced` and a VM_UNPLACED
event), never looped on. The queued evacuation migrations are re-planned (`EvacuationWatch`)
after each evacuation migration ends, each poll round (dirty rates change) and whenever
another host of the cluster enters maintenance. The host is PREPARING_FOR_MAINTENANCE while
VMs remain, MAINTENANCE once none is left (`EvacuationWatch`, after each evacuation migration
ends and each poll round); enabled=false cancels the evacuations still queued and gives the
host back the status its networks give it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.errors import FailedPrecondition, NotFound
from miglane.engine.domain.evacuation import (
    EvacuationPlan,
    EvacuationState,
    UnplacedVm,
    evacuation_state,
    occupant,
    plan_evacuation,
    plan_marks,
)
from miglane.engine.domain.host_status import status_leaving_maintenance
from miglane.engine.domain.model import (
    Event,
    Host,
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    Vm,
)
from miglane.engine.migrations.audit import MigrationEvents
from miglane.engine.migrations.cluster_view import ClusterState
from miglane.engine.migrations.ports import Clock, HostRecords, IdFactory, StoreAccess
from miglane.engine.store import Store

T = TypeVar("T")


class MigrationWriter(Protocol):
    """The migration ledger, as maintenance uses it."""

    async def write(self, work: Callable[[Store], tuple[T, list[Migration], list[Event]]]) -> T: ...

    def active(self, migration_id: str) -> Migration | None: ...


class ClusterReads(Protocol):
    async def read_state(
        self, cluster_id: str, *, vms_of_host: str = "", with_vms: bool = True
    ) -> ClusterState | None: ...

    def forget_topology(self) -> None: ...


class AdmissionPasses(Protocol):
    async def run_admission_pass(self) -> None: ...


class QueueWakeup(Protocol):
    def ring(self) -> None: ...


class PollTrigger(Protocol):
    def poll_soon(self) -> None: ...


@dataclass(frozen=True)
class MaintenanceResult:
    host: HostView
    # Migrations queued (or started) to evacuate the host.
    migrations: list[Migration]
    unplaced: list[UnplacedVm]


def _status_change(
    store: Store, events: MigrationEvents, host: Host, status: HostStatus, reason: str
) -> list[Event]:
    """On the store's worker thread: the host's new status, with its event (none when it
    already has it)."""
    if (host.status, host.status_reason) == (status, reason):
        return []
    store.update_host(replace(host, status=status, status_reason=reason))
    return events.host_status_changed(host, status, reason)


def queued_evacuations(state: ClusterState) -> list[Migration]:
    return [m for m in state.active if m.phase is MigrationPhase.QUEUED and m.evacuation_host_id]


def shared_plan(
    state: ClusterState,
    now: datetime,
    entering: HostView | None = None,
    entering_vms: Sequence[Vm] = (),
) -> EvacuationPlan:
    """One plan for every host of the cluster preparing for maintenance (and `entering` with
    `entering_vms`, the host entering it now): its queued evacuation migrations' VMs and the new
    host's, the migrations holding slots counted until their predicted finish."""
    sources = [v for v in state.hosts if v.host.status is HostStatus.PREPARING_FOR_MAINTENANCE]
    if entering is not None and entering.host.id not in {v.host.id for v in sources}:
        sources.append(entering)
    source_ids = {view.host.id for view in sources}
    vms: dict[str, Vm] = {}
    for migration in queued_evacuations(state):
        vm = state.vms.get(migration.vm_id)
        if vm is not None and vm.host_id == migration.source_host_id and vm.host_id in source_ids:
            vms[vm.id] = replace(vm, migration_id="")  # its own queued migration is re-planned
    for vm in entering_vms:
        vms.setdefault(vm.id, vm)
    return plan_evacuation(
        sources,
        list(vms.values()),
        state.hosts,
        state.networks,
        loads=state.loads(),
        occupants=[occupant(m, now) for m in state.slot_holders()],
    )


def _marks_written(
    changed: Sequence[Migration],
) -> Callable[[Store], tuple[None, list[Migration], list[Event]]]:
    """The transaction writing re-planned marks on the migrations still queued."""

    def work(store: Store) -> tuple[None, list[Migration], list[Event]]:
        # On the store's worker thread.
        written = []
        for marked in changed:
            current = store.get_migration(marked.id)
            if current is None or current.phase is not MigrationPhase.QUEUED:
                continue
            written.append(
                replace(
                    current,
                    plan_rank=marked.plan_rank,
                    planned_destination_host_id=marked.planned_destination_host_id,
                    planned_finish_at=marked.planned_finish_at,
                    planned_outgoing=marked.planned_outgoing,
                )
            )
        return None, written, []

    return work


class EvacuationWatch:
    """Hosts preparing for maintenance whose live VMs are all gone enter MAINTENANCE; the
    evacuations still queued are re-planned as things change."""

    def __init__(
        self,
        store: StoreAccess,
        ledger: MigrationWriter,
        reader: ClusterReads,
        events: MigrationEvents,
        bell: QueueWakeup,
        clock: Clock,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._reader = reader
        self._events = events
        self._bell = bell
        self._clock = clock

    async def replan(self, cluster_id: str) -> None:
        """The cluster's queued evacuation migrations re-planned with the rates, hosts and
        slots of now; only the marks that moved are written."""
        state = await self._reader.read_state(cluster_id)
        if state is None:
            return
        queued = queued_evacuations(state)
        if not queued:
            return
        now = self._clock()
        # Pure and CPU-bound (a simulation): off the event loop.
        plan = await asyncio.to_thread(shared_plan, state, now)
        changed = plan_marks(queued, plan, now)
        if changed:
            await self._ledger.write(_marks_written(changed))
            self._bell.ring()

    async def check_evacuations(self, cluster_id: str) -> None:
        events = self._events

        def work(store: Store) -> tuple[list[Event], list[Migration], list[Event]]:
            # On the store's worker thread.
            written: list[Event] = []
            active = store.active_migrations(cluster_id)
            for host in store.hosts_of_cluster(cluster_id):
                if host.status is not HostStatus.PREPARING_FOR_MAINTENANCE:
                    continue
                verdict = evacuation_state(host.id, store.vms_of_host(host.id), active)
                if verdict is EvacuationState.EMPTY:
                    written += _status_change(
                        store, events, host, HostStatus.MAINTENANCE, say.EVACUATED
                    )
            return written, [], written

        if await self._ledger.write(work):
            self._reader.forget_topology()

    async def after_poll_round(self) -> None:
        """Hosts changed: decisions read them afresh, evacuated hosts enter maintenance, and
        the queue looks again."""
        self._reader.forget_topology()
        clusters = await self._store.read(
            lambda store: sorted(
                {
                    h.cluster_id
                    for h in store.all_hosts()
                    if h.status is HostStatus.PREPARING_FOR_MAINTENANCE
                }
            )
        )
        for cluster_id in clusters:
            await self.check_evacuations(cluster_id)
            await self.replan(cluster_id)
        self._bell.ring()


def _still_queued(store: Store, marked: Sequence[Migration]) -> list[Migration]:
    """On the store's worker thread: `marked`'s plan marks on those still queued."""
    _, written, _ = _marks_written(marked)(store)
    return written


class HostMaintenance:
    """SetHostMaintenance, carried out through the migration queue."""

    def __init__(
        self,
        hosts: HostRecords,
        ledger: MigrationWriter,
        reader: ClusterReads,
        queue: AdmissionPasses,
        bell: QueueWakeup,
        monitor: PollTrigger,
        events: MigrationEvents,
        clock: Clock,
        new_id: IdFactory,
    ) -> None:
        self._hosts = hosts
        self._ledger = ledger
        self._reader = reader
        self._queue = queue
        self._bell = bell
        self._monitor = monitor
        self._events = events
        self._clock = clock
        self._new_id = new_id

    async def set_host_maintenance(self, host_id: str, enabled: bool) -> MaintenanceResult:
        host = await self._hosts.get_host(host_id)
        cluster_id = host.host.cluster_id
        state = await self._reader.read_state(cluster_id, vms_of_host=host_id)
        if state is None:
            raise NotFound("cluster_id", "cluster", cluster_id)
        view = state.by_id[host.host.id]
        if not enabled:
            return await self._end_maintenance(view)
        if view.host.status is HostStatus.UNREACHABLE:
            raise FailedPrecondition(
                f"host {view.host.name!r} is unreachable ({view.host.status_reason}): its VMs "
                "cannot be migrated off; bring its agent back first"
            )
        vms = [vm for vm in state.vms.values() if vm.host_id == host_id]
        now = self._clock()
        plan = await asyncio.to_thread(shared_plan, state, now, view, vms)
        created = await self._ledger.write(
            self._evacuation(host_id, plan, queued_evacuations(state))
        )
        self._reader.forget_topology()
        self._monitor.poll_soon()
        if created:
            await self._queue.run_admission_pass()
        migrations = [self._ledger.active(m.id) or m for m in created]
        ours = {vm.id for vm in vms}
        return MaintenanceResult(
            await self._hosts.get_host(host_id),
            migrations,
            [UnplacedVm(u.vm_id, u.vm_name, u.reason) for u in plan.unplaced if u.vm_id in ours],
        )

    def _evacuation(
        self, host_id: str, plan: EvacuationPlan, queued: Sequence[Migration]
    ) -> Callable[[Store], tuple[list[Migration], list[Migration], list[Event]]]:
        """The transaction queueing the plan's migrations of `host_id`, re-marking the other
        queued evacuations (`queued`) with the shared plan, and setting the host's status."""
        now = self._clock()
        events = self._events
        new_id = self._new_id

        def work(store: Store) -> tuple[list[Migration], list[Migration], list[Event]]:
            # On the store's worker thread.
            current = store.get_host(host_id)
            if current is None:
                raise NotFound("host_id", "host", host_id)
            written: list[Event] = []
            created: list[Migration] = []
            for item in plan.planned:
                if item.source_host_id != host_id:
                    continue
                vm = store.get_vm(item.vm.id)
                if vm is None or vm.migration_id:
                    continue
                migration = Migration.queued(
                    new_id("mig"),
                    cluster_id=current.cluster_id,
                    vm_id=vm.id,
                    vm_name=vm.name,
                    source_host_id=host_id,
                    created_at=now,
                    evacuation_host_id=host_id,
                    queue_reason=say.EVACUATION_WAITING,
                    priority=vm.priority,
                )
                created.append(migration)
                written.append(events.evacuation_queued(migration, current))
            # The new migrations take their marks; the other hosts' queued ones are re-marked.
            marked = {m.id: m for m in plan_marks([*queued, *created], plan, now)}
            created = [marked.pop(m.id, m) for m in created]
            changed = [*created, *_still_queued(store, list(marked.values()))]
            ours = {vm.id for vm in store.vms_of_host(host_id)}
            unplaced = [u for u in plan.unplaced if u.vm_id in ours]
            migrating = [vm for vm in plan.already_migrating if vm.host_id == host_id]
            written += [events.left_behind(u, current) for u in unplaced]
            busy = created or migrating or unplaced
            status = HostStatus.PREPARING_FOR_MAINTENANCE if busy else HostStatus.MAINTENANCE
            if busy:
                reason = say.evacuating(len(created), len(migrating), len(unplaced))
            elif current.status is HostStatus.MAINTENANCE:
                reason = current.status_reason
            else:
                reason = say.MAINTENANCE_WITHOUT_VMS
            written += _status_change(store, events, current, status, reason)
            return created, changed, written

        return work

    async def _end_maintenance(self, view: HostView) -> MaintenanceResult:
        host_id = view.host.id
        now = self._clock()
        events = self._events

        def work(store: Store) -> tuple[list[Migration], list[Migration], list[Event]]:
            # On the store's worker thread.
            current = store.get_host(host_id)
            if current is None:
                raise NotFound("host_id", "host", host_id)
            changed: list[Migration] = []
            written: list[Event] = []
            for migration in store.active_migrations(host_id=host_id):
                if (
                    migration.evacuation_host_id == host_id
                    and migration.phase is MigrationPhase.QUEUED
                ):
                    cancelled = replace(
                        migration, phase=MigrationPhase.CANCELLED, queue_reason="", finished_at=now
                    )
                    changed.append(cancelled)
                    written.append(events.evacuation_cancelled(cancelled, current))
            if current.status in (HostStatus.MAINTENANCE, HostStatus.PREPARING_FOR_MAINTENANCE):
                networks = store.networks_of_cluster(current.cluster_id)
                verdict = status_leaving_maintenance(current, networks)
                written += _status_change(store, events, current, verdict.status, verdict.reason)
            return changed, changed, written

        await self._ledger.write(work)
        self._reader.forget_topology()
        self._monitor.poll_soon()
        self._bell.ring()
        return MaintenanceResult(await self._hosts.get_host(host_id), [], [])
