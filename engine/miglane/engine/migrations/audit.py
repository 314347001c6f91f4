"""The audit events of migrations and host maintenance: each event's type, severity and
attributes, with its sentence from `domain.migration_messages`.

Pure but for the clock that stamps them: callable on the store's worker thread (inside a
transaction's work) as on the event loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as inventory_say
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.evacuation import UnplacedVm
from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.model import (
    Event,
    EventSeverity,
    EventType,
    Help,
    Host,
    HostStatus,
    Migration,
    MigrationPhase,
    MigrationPriority,
    Vm,
)
from miglane.engine.domain.progress import duration_s
from miglane.engine.migrations.ports import Clock, EventMaker


def _name(names: Mapping[str, str], host_id: str) -> str:
    return names.get(host_id, host_id)


class MigrationEvents:
    def __init__(self, events: EventMaker, clock: Clock) -> None:
        self._events = events
        self._clock = clock

    def about(
        self,
        type_: EventType,
        message: str,
        migration: Migration,
        *,
        severity: EventSeverity = EventSeverity.INFO,
        host_id: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> Event:
        return self._events.make_event(
            type_,
            message,
            severity=severity,
            cluster_id=migration.cluster_id,
            host_id=host_id or migration.source_host_id,
            vm_id=migration.vm_id,
            migration_id=migration.id,
            attributes=attributes or {},
        )

    def vm_priority_changed(self, vm: Vm, previous: MigrationPriority) -> Event:
        return self._events.make_event(
            EventType.VM_PRIORITY_CHANGED,
            say.priority_changed(vm.name, previous.label, vm.priority.label),
            cluster_id=vm.cluster_id,
            host_id=vm.host_id,
            vm_id=vm.id,
            attributes={"priority": vm.priority.label, "previous": previous.label},
        )

    def queued(self, migration: Migration, names: Mapping[str, str], target: str) -> Event:
        return self.about(
            EventType.MIGRATION_QUEUED,
            say.queued(migration.vm_name, _name(names, migration.source_host_id), target),
            migration,
            attributes={"automatic": "yes" if migration.automatic else "no"},
        )

    def fell_back(self, migration: Migration, names: Mapping[str, str]) -> Event:
        return self.about(
            EventType.MIGRATION_FELL_BACK,
            say.fell_back(
                migration.vm_name,
                _name(names, migration.source_host_id),
                _name(names, migration.destination_host_id),
                migration.fallback_detail,
            ),
            migration,
            severity=EventSeverity.WARNING,
            attributes={
                "fallback_reason": migration.fallback_reason.name,
                "migration_uri": migration.migration_uri,
            },
        )

    def failure(self, migration: Migration, reason: str) -> list[Event]:
        """A migration failed before its job ran (and, evacuating, left its VM behind)."""
        events = [
            self.about(
                EventType.MIGRATION_FAILED,
                say.failed(migration.vm_name, reason),
                migration,
                severity=EventSeverity.ERROR,
            )
        ]
        if migration.evacuation_host_id:
            events.append(self.unplaced(migration, reason))
        return events

    def unplaced(self, migration: Migration, reason: str) -> Event:
        return self.about(
            EventType.VM_UNPLACED,
            say.cannot_leave_for_maintenance(migration.vm_name, reason),
            migration,
            severity=EventSeverity.WARNING,
            host_id=migration.evacuation_host_id,
        )

    def started(
        self, running: Migration, source: str, destination: str, help_reason: str = ""
    ) -> Event:
        """`help_reason`: why admission started it with a help or a larger share (its queue
        reason)."""
        attributes = {
            "destination_host_id": running.destination_host_id,
            "migration_uri": running.migration_uri,
            "max_bandwidth_mibps": str(running.max_bandwidth_mibps),
        }
        if running.convergence_help is not Help.NONE:
            attributes["convergence_help"] = running.convergence_help.value
        if running.granted_mibps is not None:
            attributes["granted_mibps"] = str(running.granted_mibps)
        if running.priority is not MigrationPriority.NORMAL:
            attributes["priority"] = running.priority.label
        return self.about(
            EventType.MIGRATION_STARTED,
            say.started(
                running.vm_name,
                source,
                destination,
                running.fallback_reason,
                running.migration_uri,
                running.max_bandwidth_mibps,
                help_reason,
            ),
            running,
            attributes=attributes,
        )

    def cancelled_before_start(self, cancelled: Migration) -> Event:
        return self.about(
            EventType.MIGRATION_CANCELLED, say.cancelled_before_start(cancelled.vm_name), cancelled
        )

    def cancelled_while_queued(self, cancelled: Migration) -> Event:
        return self.about(
            EventType.MIGRATION_CANCELLED, say.cancelled_while_queued(cancelled.vm_name), cancelled
        )

    def job_ended(self, ended: Migration, message: str, failure: MigrationFailureKind) -> Event:
        """The end of a job the agent ran, with `progress.completion_message`'s sentence."""
        if ended.phase is MigrationPhase.COMPLETED:
            return self.about(
                EventType.MIGRATION_COMPLETED,
                message,
                ended,
                attributes={
                    "duration_s": f"{duration_s(ended):.1f}",
                    "downtime_ms": str(ended.downtime_ms),
                    "destination_host_id": ended.destination_host_id,
                },
            )
        if ended.phase is MigrationPhase.CANCELLED:
            return self.about(EventType.MIGRATION_CANCELLED, message, ended)
        return self.about(
            EventType.MIGRATION_FAILED,
            message,
            ended,
            severity=EventSeverity.ERROR,
            attributes={"failure_kind": failure.name},
        )

    def off_path(self, ended: Migration, names: Mapping[str, str]) -> Event:
        """Its data did not leave the source by the chosen network's NIC."""
        proof = ended.path_proof
        return self.about(
            EventType.MIGRATION_OFF_PATH,
            say.off_path(
                ended.vm_name,
                _name(names, ended.source_host_id),
                _name(names, ended.destination_host_id),
                proof,
                ended.migration_uri,
            ),
            ended,
            severity=EventSeverity.WARNING,
            attributes={
                "nic": proof.nic,
                "nic_tx_bytes": str(proof.nic_tx_bytes),
                "data_bytes": str(proof.data_bytes),
                "other_nic": proof.other_nic,
                "other_nic_tx_bytes": str(proof.other_nic_tx_bytes),
                "migration_uri": ended.migration_uri,
            },
        )

    def rerun(self, rerun: Migration, reason: str, failed_id: str) -> Event:
        return self.about(
            EventType.MIGRATION_RERUN,
            say.rerun(reason, rerun.id),
            rerun,
            severity=EventSeverity.WARNING,
            attributes={"failed_migration_id": failed_id},
        )

    # ------------------------------------------------------------ maintenance

    def evacuation_queued(self, migration: Migration, host: Host) -> Event:
        return self.about(
            EventType.MIGRATION_QUEUED,
            say.queued_for_evacuation(migration.vm_name, host.name),
            migration,
            attributes={"automatic": "yes", "evacuation": "yes"},
        )

    def left_behind(self, unplaced: UnplacedVm, host: Host) -> Event:
        return self._events.make_event(
            EventType.VM_UNPLACED,
            say.cannot_leave_for_maintenance(unplaced.vm_name, unplaced.reason, host.name),
            severity=EventSeverity.WARNING,
            cluster_id=host.cluster_id,
            host_id=host.id,
            vm_id=unplaced.vm_id,
        )

    def evacuation_cancelled(self, cancelled: Migration, host: Host) -> Event:
        return self.about(
            EventType.MIGRATION_CANCELLED,
            say.evacuation_cancelled(cancelled.vm_name, host.name),
            cancelled,
        )

    def host_status_changed(self, host: Host, status: HostStatus, reason: str) -> list[Event]:
        """The host-status event maintenance writes: the inventory's one builder
        (`audit_messages.host_status_changed`), stamped now."""
        after = replace(host, status=status, status_reason=reason)
        return inventory_say.host_status_changed(
            host, after, self._clock(), actor=current_actor.get()
        )
