"""Fan-out of migration snapshots to WatchMigrations clients.

Publishing never waits. Unlike audit events (`events.py`), a progress sample matters only
until a newer one of the same migration arrives, so each watcher's buffer keeps the newest
snapshot per migration id, in the order the ids first became pending: a watcher that stalls
finds, when it resumes, one up-to-date snapshot per migration that changed meanwhile, and its
buffer never holds more entries than there are migrations. A watcher that lets more than
`max_pending` distinct migrations pile up is dropped (it learns so after what was buffered).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable

from miglane.engine.domain.model import Migration

DEFAULT_MAX_PENDING = 100_000


class WatcherDropped(Exception):
    """The watcher fell so far behind that the hub stopped buffering for it."""


class MigrationWatcher:
    def __init__(
        self, hub: ProgressHub, accept: Callable[[Migration], bool], max_pending: int
    ) -> None:
        self._hub = hub
        self._accept = accept
        self._max_pending = max_pending
        self._pending: OrderedDict[str, Migration] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._dropped = False
        self._ended = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _offer(self, migration: Migration) -> None:
        if not self._accept(migration):
            return
        if migration.id not in self._pending and len(self._pending) >= self._max_pending:
            self._dropped = True
            self._hub._drop(self)
        else:
            # Replacing a pending snapshot keeps its place in line.
            self._pending[migration.id] = migration
        self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._wakeup.set()

    async def next(self) -> Migration | None:
        """The next snapshot; None once the hub closed. Raises WatcherDropped after the
        buffered snapshots when the hub dropped this watcher."""
        while True:
            if self._pending:
                return self._pending.popitem(last=False)[1]
            if self._dropped:
                raise WatcherDropped()
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        self._hub._drop(self)


class ProgressHub:
    """Used from the event loop's thread only."""

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._watchers: set[MigrationWatcher] = set()
        self._closed = False

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def subscribe(self, accept: Callable[[Migration], bool] = lambda _: True) -> MigrationWatcher:
        watcher = MigrationWatcher(self, accept, self._max_pending)
        if self._closed:
            watcher._end()
        else:
            self._watchers.add(watcher)
        return watcher

    def publish(self, migrations: Iterable[Migration]) -> None:
        batch = list(migrations)
        for watcher in list(self._watchers):
            for migration in batch:
                watcher._offer(migration)

    def close(self) -> None:
        self._closed = True
        for watcher in list(self._watchers):
            watcher._end()
        self._watchers.clear()

    def _drop(self, watcher: MigrationWatcher) -> None:
        self._watchers.discard(watcher)
