"""BusyMarks: the hosts left alone for a while (an agent that answered busy, a destination its
source could not reach), which placement and admission avoid until the mark expires."""

from __future__ import annotations

from datetime import datetime, timedelta

from miglane.engine.domain.admission import still_busy
from miglane.engine.migrations.ports import Clock


class BusyMarks:
    def __init__(self, clock: Clock, retry_after_s: float) -> None:
        self._clock = clock
        self.retry_after = timedelta(seconds=retry_after_s)
        self._until: dict[str, datetime] = {}

    def mark(self, host_id: str) -> datetime:
        """Leaves the host alone for the retry time; returns until when."""
        until = self._clock() + self.retry_after
        self._until[host_id] = until
        return until

    def current(self) -> dict[str, datetime]:
        """Host id -> until when it is left alone, for the marks not yet expired."""
        self._until = still_busy(self._until, self._clock())
        return self._until

    def seconds_to_next_expiry(self, at_most: float) -> float:
        wait = at_most
        now = self._clock()
        for until in self.current().values():
            wait = min(wait, max((until - now).total_seconds(), 0.01))
        return wait
