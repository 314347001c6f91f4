"""What the engine's log lines say about what they concern: a migration's ids bound to the task
handling it, and one line per audit event with the ids the event carries (`miglane.daemon`'s
log fields, shown by `--log-format json`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from miglane.daemon import CONTEXT_FIELDS, bind_log_context
from miglane.engine.domain.model import Event, EventSeverity, Host, Migration

event_log = logging.getLogger("miglane.engine.events")

_LEVELS = {EventSeverity.WARNING: logging.WARNING, EventSeverity.ERROR: logging.ERROR}


def bind_migration(migration: Migration) -> None:
    """Every line the current task logs from now on names `migration`, its VM and its hosts:
    call it in a task of the migration's own (its launch, follow-up, recovery)."""
    bind_log_context(
        migration_id=migration.id,
        vm_id=migration.vm_id,
        vm=migration.vm_name,
        host_id=migration.source_host_id,
        destination_host_id=migration.destination_host_id,
    )


def host_fields(host: Host) -> dict[str, str]:
    """`extra=` of a line about one host."""
    return {"host_id": host.id, "host": host.name}


def log_events(events: Sequence[Event]) -> None:
    """The audit events of one commit as log lines, at their severity."""
    for event in events:
        # Every field given, empty ones too: the line names what the event concerns, not
        # what the task that committed it was handling.
        fields = dict.fromkeys(CONTEXT_FIELDS, "") | {
            "event": event.type.name,
            "migration_id": event.migration_id,
            "vm_id": event.vm_id,
            "host_id": event.host_id,
        }
        event_log.log(_LEVELS.get(event.severity, logging.INFO), event.message, extra=fields)


def logging_events(
    publish: Callable[[Sequence[Event]], None],
) -> Callable[[Sequence[Event]], None]:
    """`publish`, logging each commit's events first."""

    def publish_and_log(events: Sequence[Event]) -> None:
        log_events(events)
        publish(events)

    return publish_and_log
