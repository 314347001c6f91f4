"""Host maintenance: evacuating a host by automatic migrations, holding it out of service once
empty, and returning it.

The plan is the domain's (`evacuation.plan_evacuation`): every VM some host can take becomes a
QUEUED automatic migration tagged with the host (the queue keeps the limits and chooses each
destination when it starts); a VM no host can take is reported (response `unplaced` and a
VM_UNPLACED event), never looped on. The host is PREPARING_FOR_MAINTENANCE while VMs remain,
MAINTENANCE once none is left (`EvacuationWatch`, after each evacuation migration ends and each
poll round); enabled=false cancels the evacuations still queued and gives the host back the
status its networks give it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.errors import FailedPrecondition, NotFound
from miglane.engine.domain.evacuation import (
    EvacuationPlan,
    EvacuationState,
    UnplacedVm,
    evacuation_state,
    plan_evacuation,
)
from miglane.engine.domain.host_status import status_leaving_maintenance
from miglane.engine.domain.model import Event, Host, HostStatus, HostView, Migration, MigrationPhase
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


class EvacuationWatch:
    """Hosts preparing for maintenance whose live VMs are all gone enter MAINTENANCE."""

    def __init__(
        self,
        store: StoreAccess,
        ledger: MigrationWriter,
        reader: ClusterReads,
        events: MigrationEvents,
        bell: QueueWakeup,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._reader = reader
        self._events = events
        self._bell = bell

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
        self._bell.ring()


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
        plan = plan_evacuation(view, vms, state.hosts, state.networks, loads=state.loads())
        created = await self._ledger.write(self._evacuation(host_id, plan))
        self._reader.forget_topology()
        self._monitor.poll_soon()
        if created:
            await self._queue.run_admission_pass()
        migrations = [self._ledger.active(m.id) or m for m in created]
        return MaintenanceResult(
            await self._hosts.get_host(host_id),
            migrations,
            [UnplacedVm(u.vm_id, u.vm_name, u.reason) for u in plan.unplaced],
        )

    def _evacuation(
        self, host_id: str, plan: EvacuationPlan
    ) -> Callable[[Store], tuple[list[Migration], list[Migration], list[Event]]]:
        """The transaction queueing the plan's migrations and setting the host's status."""
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
            for item in plan.migrations:
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
            written += [events.left_behind(unplaced, current) for unplaced in plan.unplaced]
            busy = created or plan.already_migrating or plan.unplaced
            status = HostStatus.PREPARING_FOR_MAINTENANCE if busy else HostStatus.MAINTENANCE
            if busy:
                reason = say.evacuating(
                    len(created), len(plan.already_migrating), len(plan.unplaced)
                )
            elif current.status is HostStatus.MAINTENANCE:
                reason = current.status_reason
            else:
                reason = say.MAINTENANCE_WITHOUT_VMS
            written += _status_change(store, events, current, status, reason)
            return created, created, written

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
