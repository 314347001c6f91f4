"""MigrationRequests: the façade the gRPC servicer calls for migrations and host maintenance
(MigrateVm, ListMigrationCandidates, CancelMigration, SetMigrationBandwidth, WatchMigrations,
GetMigration, SetHostMaintenance, and AddHost, which polls the new host at once)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.errors import FailedPrecondition, NotFound, ResourceExhausted
from miglane.engine.domain.migratable import is_live_migratable, not_live_migratable_reason
from miglane.engine.domain.model import (
    Event,
    HostSpec,
    HostView,
    Migration,
    MigrationFilter,
    MigrationPhase,
    MigrationPriority,
    Vm,
)
from miglane.engine.domain.placement import (
    DestinationAssessment,
    PlacementContext,
    PlacementOutcome,
    assess_in_context,
    choose_in_context,
    manual_destination_rejections,
)
from miglane.engine.domain.priority import following_vm
from miglane.engine.domain.progress import FINAL_PHASES
from miglane.engine.domain.validation import validate_id, validate_optional_id
from miglane.engine.domain.vm_devices import local_disk_refusal
from miglane.engine.maintenance import HostMaintenance, MaintenanceResult
from miglane.engine.migrations.audit import MigrationEvents
from miglane.engine.migrations.bandwidth import BandwidthBalancer
from miglane.engine.migrations.busy import BusyMarks
from miglane.engine.migrations.cluster_view import WHOLE_LISTING, ClusterReader, ClusterState
from miglane.engine.migrations.following import JobFollower
from miglane.engine.migrations.jobs import JobRunner
from miglane.engine.migrations.ledger import MigrationLedger, newest
from miglane.engine.migrations.ports import Clock, HostRecords, IdFactory, StoreAccess
from miglane.engine.migrations.queue import AdmissionQueue, Made
from miglane.engine.progress_hub import WatcherDropped
from miglane.engine.store import Store

# How long CancelMigration waits for the migration to end.
CANCEL_WAIT_S = 60.0


def _check_destination(store: Store, vm: Vm, state: ClusterState, host_id: str) -> None:
    """On the store's worker thread: a destination the operator chose must be in the VM's
    cluster and able to take it."""
    destination = state.by_id.get(host_id)
    if destination is None:
        other = store.get_host(host_id)
        if other is None:
            raise NotFound("destination_host_id", "host", host_id)
        raise FailedPrecondition(f"host {other.name!r} is in another cluster than VM {vm.name!r}")
    refused = manual_destination_rejections(vm, destination, state.networks)
    if refused:
        raise FailedPrecondition(
            f"VM {vm.name!r} cannot go to host {destination.host.name!r}: "
            + "; ".join(r.message for r in refused)
        )


def _decision_context(
    state: ClusterState, now: datetime, busy_until: Mapping[str, datetime]
) -> PlacementContext:
    """What a placement decided at `now` reads besides the hosts."""
    return PlacementContext(state.loads(), (), now, busy_until)


class PollTrigger(Protocol):
    def poll_soon(self) -> None: ...


class MigrationRequests:
    """Used from the event loop's thread only."""

    def __init__(
        self,
        *,
        store: StoreAccess,
        hosts: HostRecords,
        ledger: MigrationLedger,
        reader: ClusterReader,
        queue: AdmissionQueue,
        jobs: JobRunner,
        follower: JobFollower,
        balancer: BandwidthBalancer,
        maintenance: HostMaintenance,
        monitor: PollTrigger,
        busy: BusyMarks,
        events: MigrationEvents,
        clock: Clock,
        new_id: IdFactory,
    ) -> None:
        self._store = store
        self._hosts = hosts
        self._ledger = ledger
        self._reader = reader
        self._queue = queue
        self._jobs = jobs
        self._follower = follower
        self._balancer = balancer
        self._maintenance = maintenance
        self._monitor = monitor
        self._busy = busy
        self._events = events
        self._clock = clock
        self._new_id = new_id

    async def get(self, migration_id: str) -> Migration:
        return await self._ledger.get(migration_id)

    async def add_host(self, spec: HostSpec) -> HostView:
        host = await self._hosts.add_host(spec)
        self._monitor.poll_soon()
        return host

    async def set_host_maintenance(self, host_id: str, enabled: bool) -> MaintenanceResult:
        return await self._maintenance.set_host_maintenance(host_id, enabled)

    async def candidates(self, vm_id: str) -> list[DestinationAssessment]:
        vm, state, source = await self._reader.vm_and_cluster(vm_id)
        return assess_in_context(vm, source, state.hosts, state.networks, self._context(state))

    def _context(self, state: ClusterState) -> PlacementContext:
        return _decision_context(state, self._clock(), self._busy.current())

    async def set_bandwidth(self, migration_id: str, mibps: int) -> Migration:
        return await self._balancer.set_bandwidth(migration_id, mibps)

    # ------------------------------------------------------------ MigrateVm

    async def migrate_vm(
        self,
        vm_id: str,
        destination_host_id: str = "",
        max_bandwidth_mibps: int | None = None,
        priority: MigrationPriority | None = None,
    ) -> Migration:
        """`priority`: this migration's instead of the VM's (None: the VM's)."""
        validate_id("vm_id", vm_id, "VM")
        destination_host_id = validate_optional_id(
            "destination_host_id", destination_host_id, "host"
        )
        read = self._reader.vm_reading(vm_id, with_vms=True)
        new_id = self._new_id("mig")
        now = self._clock()
        busy = self._busy.current()
        events = self._events

        def new(store: Store, active: list[Migration]) -> Made:
            # On the store's worker thread, in the transaction that inserts the migration.
            vm, state, source = read(store, active)
            if vm.migration_id:
                raise FailedPrecondition(say.already_migrating(vm.name, vm.migration_id))
            if not is_live_migratable(vm.state):
                raise FailedPrecondition(not_live_migratable_reason(vm))
            disks_refused = local_disk_refusal(vm, state.networks.cluster)
            if disks_refused is not None:
                raise FailedPrecondition(disks_refused)
            if destination_host_id:
                _check_destination(store, vm, state, destination_host_id)
            else:
                context = _decision_context(state, now, busy)
                decision = choose_in_context(vm, source, state.hosts, state.networks, context)
                if decision.outcome is PlacementOutcome.NO_HOST:
                    raise FailedPrecondition(decision.reason)
            migration = Migration.queued(
                new_id,
                cluster_id=vm.cluster_id,
                vm_id=vm.id,
                vm_name=vm.name,
                source_host_id=vm.host_id,
                destination_host_id=destination_host_id,
                automatic=not destination_host_id,
                created_at=now,
                bandwidth_override_mibps=max_bandwidth_mibps,
                max_bandwidth_mibps=max_bandwidth_mibps or 0,
                queue_reason=say.WAITING_FOR_QUEUE,
                priority=vm.priority,
                priority_override=priority,
            )
            names = state.host_names
            target = names.get(destination_host_id, "") if destination_host_id else ""
            return migration, state, [events.queued(migration, names, target)]

        return await self._queue.admit_new(new)

    # ------------------------------------------------------------ priority

    async def set_vm_priority(self, vm_id: str, priority: MigrationPriority) -> Vm:
        """An admin sets a VM's migration priority: its active migration follows (unless its
        request overrode it), the queue and the AUTO split see it at once."""
        validate_id("vm_id", vm_id, "VM")
        live = {m.vm_id: m for m in self._ledger.all_active() if m.vm_id == vm_id}
        events = self._events

        def work(store: Store) -> tuple[Vm, list[Migration], list[Event]]:
            # On the store's worker thread.
            vm = store.get_vm(vm_id)
            if vm is None:
                raise NotFound("vm_id", "VM", vm_id)
            if vm.priority is priority:
                return vm, [], []
            store.set_vm_priority(vm_id, priority)
            updated = replace(vm, priority=priority)
            changed = []
            current = newest(store.get_migration(vm.migration_id), live.get(vm_id))
            if current is not None and current.active:
                following = following_vm(current, updated)
                if following is not current:
                    changed.append(following)
            return updated, changed, [events.vm_priority_changed(updated, vm.priority)]

        vm = await self._ledger.write(work)
        self._balancer.schedule_rebalance(vm.cluster_id)
        await self._queue.run_admission_pass()
        return vm

    # ------------------------------------------------------------ cancel

    async def cancel(self, migration_id: str, timeout_s: float = CANCEL_WAIT_S) -> Migration:
        migration = await self._ledger.get(migration_id)
        if migration.phase is MigrationPhase.QUEUED:
            cancelled = await self._cancel_queued(migration_id)
            if cancelled is not None:
                await self._follower.after_end(cancelled)
                return cancelled
            migration = await self._ledger.get(migration_id)
        if not migration.active:
            if migration.phase is MigrationPhase.CANCELLED:
                return migration
            raise FailedPrecondition(
                f"migration {migration_id} is {migration.phase.label}: nothing to cancel"
            )
        await self._jobs.cancel(migration, timeout_s)
        return await self._ledger.get(migration_id)

    async def _cancel_queued(self, migration_id: str) -> Migration | None:
        now = self._clock()
        events = self._events

        def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
            # On the store's worker thread.
            current = store.get_migration(migration_id)
            if current is None or current.phase is not MigrationPhase.QUEUED:
                return None, [], []
            cancelled = replace(
                current, phase=MigrationPhase.CANCELLED, queue_reason="", finished_at=now
            )
            return cancelled, [cancelled], [events.cancelled_while_queued(cancelled)]

        return await self._ledger.write(work)

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

        watcher = self._ledger.hub.subscribe(accept)
        # Taken with the subscription, no await between: every later change is buffered.
        snapshot = {m.id: m for m in self._ledger.all_active() if accept(m)}
        try:
            if include_finished or migration_id:
                where = MigrationFilter(cluster_id=cluster_id, vm_id=vm_id)
                stored = await self._store.read(
                    lambda store: store.list_migrations(where, 0, WHOLE_LISTING).items
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
