"""Host maintenance: evacuating a host by automatic migrations, holding it out of service once
empty, and returning it.

The plan is the domain's (`evacuation.plan_evacuation`): every VM some host can take becomes a
QUEUED automatic migration tagged with the host (the queue keeps the limits and chooses each
destination when it starts); a VM no host can take is reported (response `unplaced` and a
VM_UNPLACED event), never looped on. The host is PREPARING_FOR_MAINTENANCE while VMs remain,
MAINTENANCE once none is left (checked after each evacuation migration ends and each poll
round); enabled=false cancels the evacuations still queued and gives the host back the status
its networks give it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from miglane.engine.domain.attachments import derive_attachments, operational_status
from miglane.engine.domain.errors import FailedPrecondition, NotFound
from miglane.engine.domain.evacuation import (
    EvacuationState,
    UnplacedVm,
    evacuation_state,
    plan_evacuation,
)
from miglane.engine.domain.model import (
    Event,
    EventSeverity,
    EventType,
    Host,
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
)
from miglane.engine.store import Store

if TYPE_CHECKING:
    from miglane.engine.orchestrator import ClusterState, MigrationService


@dataclass(frozen=True)
class MaintenanceResult:
    host: HostView
    # Migrations queued (or started) to evacuate the host.
    migrations: list[Migration]
    unplaced: list[UnplacedVm]


class HostMaintenance:
    """SetHostMaintenance, carried out through the migration service's queue."""

    def __init__(self, service: MigrationService) -> None:
        self._service = service

    async def set_host_maintenance(self, host_id: str, enabled: bool) -> MaintenanceResult:
        host = await self._service.inventory.get_host(host_id)
        cluster_id = host.host.cluster_id
        state = await self._service.read_state(cluster_id, vms_of_host=host_id)
        if state is None:
            raise NotFound("cluster_id", "cluster", cluster_id)
        view = state.by_id[host.host.id]
        if not enabled:
            return await self._end_maintenance(view, state)
        if view.host.status is HostStatus.UNREACHABLE:
            raise FailedPrecondition(
                f"host {view.host.name!r} is unreachable ({view.host.status_reason}): its VMs "
                "cannot be migrated off; bring its agent back first"
            )
        vms = [vm for vm in state.vms.values() if vm.host_id == host_id]
        plan = plan_evacuation(view, vms, state.hosts, state.networks, loads=state.loads())
        now = self._service.clock()

        def work(store: Store) -> tuple[list[Migration], list[Migration], list[Event]]:
            current = store.get_host(host_id)
            if current is None:
                raise NotFound("host_id", "host", host_id)
            events: list[Event] = []
            created: list[Migration] = []
            for item in plan.migrations:
                vm = store.get_vm(item.vm.id)
                if vm is None or vm.migration_id:
                    continue
                migration = Migration(
                    id=self._service.inventory._make_id("mig"),
                    cluster_id=current.cluster_id,
                    vm_id=vm.id,
                    vm_name=vm.name,
                    source_host_id=host_id,
                    automatic=True,
                    phase=MigrationPhase.QUEUED,
                    created_at=now,
                    evacuation_host_id=host_id,
                    queue_reason="evacuation; waiting for the queue runner",
                )
                created.append(migration)
                events.append(
                    self._service.migration_event(
                        EventType.MIGRATION_QUEUED,
                        f"migration of VM {vm.name!r} queued to evacuate host {current.name!r}",
                        migration,
                        attributes={"automatic": "yes", "evacuation": "yes"},
                    )
                )
            for unplaced in plan.unplaced:
                events.append(
                    self._service.inventory.make_event(
                        EventType.VM_UNPLACED,
                        f"VM {unplaced.vm_name!r} cannot leave host {current.name!r} for "
                        f"maintenance: {unplaced.reason}",
                        severity=EventSeverity.WARNING,
                        cluster_id=current.cluster_id,
                        host_id=host_id,
                        vm_id=unplaced.vm_id,
                    )
                )
            busy = created or plan.already_migrating or plan.unplaced
            status = HostStatus.PREPARING_FOR_MAINTENANCE if busy else HostStatus.MAINTENANCE
            reason = (
                f"evacuating: {len(created)} VM(s) queued, {len(plan.already_migrating)} "
                f"already migrating, {len(plan.unplaced)} no host can take"
                if busy
                else "maintenance requested; no VM to move"
            )
            if current.status is HostStatus.MAINTENANCE and not busy:
                reason = current.status_reason
            events.extend(self._status_events(store, current, status, reason))
            return created, created, events

        created = await self._service.write(work)
        self._service.forget_topology()
        self._service.monitor.poll_soon()
        if created:
            await self._service.pump_and_wait()
        host = await self._service.inventory.get_host(host_id)
        migrations = [self._service.live_version(m.id) or m for m in created]
        return MaintenanceResult(
            host, migrations, [UnplacedVm(u.vm_id, u.vm_name, u.reason) for u in plan.unplaced]
        )

    def _status_events(
        self, store: Store, host: Host, status: HostStatus, reason: str
    ) -> list[Event]:
        if (host.status, host.status_reason) == (status, reason):
            return []
        store.update_host(replace(host, status=status, status_reason=reason))
        return [
            self._service.inventory.make_event(
                EventType.HOST_STATUS_CHANGED,
                f"host {host.name!r} is {status.label}" + (f": {reason}" if reason else ""),
                cluster_id=host.cluster_id,
                host_id=host.id,
                attributes={"from": host.status.label, "to": status.label},
            )
        ]

    async def _end_maintenance(self, view: HostView, state: ClusterState) -> MaintenanceResult:
        host_id = view.host.id

        def work(store: Store) -> tuple[list[Migration], list[Migration], list[Event]]:
            current = store.get_host(host_id)
            if current is None:
                raise NotFound("host_id", "host", host_id)
            changed: list[Migration] = []
            events: list[Event] = []
            for migration in store.active_migrations(host_id=host_id):
                if (
                    migration.evacuation_host_id == host_id
                    and migration.phase is MigrationPhase.QUEUED
                ):
                    cancelled = replace(
                        migration,
                        phase=MigrationPhase.CANCELLED,
                        queue_reason="",
                        finished_at=self._service.clock(),
                    )
                    changed.append(cancelled)
                    events.append(
                        self._service.migration_event(
                            EventType.MIGRATION_CANCELLED,
                            f"queued evacuation of VM {migration.vm_name!r} cancelled: host "
                            f"{current.name!r} leaves maintenance",
                            cancelled,
                        )
                    )
            if current.status in (
                HostStatus.MAINTENANCE,
                HostStatus.PREPARING_FOR_MAINTENANCE,
            ):
                all_networks = store.networks_of_cluster(current.cluster_id)
                verdict = operational_status(
                    all_networks, derive_attachments(all_networks, current.nics)
                )
                events.extend(self._status_events(store, current, verdict.status, verdict.reason))
            return changed, changed, events

        await self._service.write(work)
        self._service.forget_topology()
        self._service.monitor.poll_soon()
        self._service.wake()
        return MaintenanceResult(await self._service.inventory.get_host(host_id), [], [])

    async def check_evacuations(self, cluster_id: str) -> None:
        """Hosts preparing for maintenance whose live VMs are all gone enter MAINTENANCE."""

        def work(store: Store) -> tuple[list[Event], list[Migration], list[Event]]:
            events: list[Event] = []
            active = store.active_migrations(cluster_id)
            for host in store.hosts_of_cluster(cluster_id):
                if host.status is not HostStatus.PREPARING_FOR_MAINTENANCE:
                    continue
                verdict = evacuation_state(host.id, store.vms_of_host(host.id), active)
                if verdict is EvacuationState.EMPTY:
                    events.extend(
                        self._status_events(
                            store, host, HostStatus.MAINTENANCE, "evacuated; held out of service"
                        )
                    )
            return events, [], events

        events = await self._service.write(work)
        if events:
            self._service.forget_topology()
