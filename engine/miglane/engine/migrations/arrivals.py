"""ArrivalLog: where the engine's own migrations say VMs are (the source while a VM migrates,
its destination for a while after it arrived), and how many migrations completed so far. The
host monitor weighs the agents' VM lists against it (`host_monitor.VmWhereabouts`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from miglane.engine.domain.model import Migration, MigrationPhase
from miglane.engine.domain.placement import SLOT_PHASES


class ArrivalLog:
    """Fed by the ledger with every committed change; used from the event loop's thread."""

    def __init__(self, hint_window_s: float) -> None:
        self._hint_window_s = hint_window_s
        # Completed migrations so far (the host monitor re-polls when one lands mid-round).
        self.completed = 0
        # Migration id -> (VM id, source host) of the migrations holding a slot.
        self._in_flight: dict[str, tuple[str, str]] = {}
        # VM id -> (destination host, monotonic time) of migrations completed lately.
        self._recent: dict[str, tuple[str, float]] = {}
        # VM id -> (destination host, `completed` count) of its latest completed migration.
        self._marks: dict[str, tuple[str, int]] = {}

    def observe(self, changed: Sequence[Migration]) -> None:
        for migration in changed:
            if migration.phase in SLOT_PHASES:
                self._in_flight[migration.id] = (migration.vm_id, migration.source_host_id)
                continue
            self._in_flight.pop(migration.id, None)
            if migration.phase is MigrationPhase.COMPLETED:
                self.completed += 1
                destination = migration.destination_host_id
                self._marks[migration.vm_id] = (destination, self.completed)
                self._recent[migration.vm_id] = (destination, time.monotonic())

    def hints(self) -> dict[str, str]:
        """VM id -> the host the engine's migrations say it is on, for the VMs in flight or
        arrived within the hint window (the host monitor's tie-breaker)."""
        now = time.monotonic()
        self._recent = {
            vm_id: (host_id, at)
            for vm_id, (host_id, at) in self._recent.items()
            if now - at < self._hint_window_s
        }
        hints = {vm_id: host_id for vm_id, (host_id, _) in self._recent.items()}
        for vm_id, source in self._in_flight.values():
            hints[vm_id] = source
        return hints

    def arrived_after(self, mark: int) -> dict[str, str]:
        """VM id -> destination of the migrations completed after `completed` was `mark`."""
        return {vm_id: host_id for vm_id, (host_id, seq) in self._marks.items() if seq > mark}
