"""MigrationLedger: the one owner of "the newest version of a migration". Active migrations
live in memory with their newest progress; every change is written through here, reaches the
memory and the watchers in commit order, and progress not yet written is flushed in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from miglane.engine.domain.model import Event, Migration, MigrationPhase
from miglane.engine.domain.progress import FINAL_PHASES
from miglane.engine.domain.validation import validate_id
from miglane.engine.migrations.ports import MigrationRecords, StoreAccess
from miglane.engine.progress_hub import ProgressHub
from miglane.engine.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

# Work run in one transaction on the store's worker thread: its result, the migrations it
# changed (inserted or updated) and the events to append.
MigrationWork = Callable[[Store], tuple[T, list[Migration], list[Event]]]


class ChangeObserver(Protocol):
    def observe(self, changed: Sequence[Migration]) -> None:
        """Committed changes, in commit order, on the event loop."""


class ChangeObservers:
    """Several observers of the ledger's changes, told in the order given."""

    def __init__(self, *observers: ChangeObserver) -> None:
        self._observers = observers

    def observe(self, changed: Sequence[Migration]) -> None:
        for observer in self._observers:
            observer.observe(changed)


def newest(stored: Migration | None, live: Migration | None) -> Migration | None:
    """The newest of a migration's stored version and the one held in memory (which may carry
    progress not yet written). Pure: callable on the store's worker thread with a `live`
    copied on the loop before."""
    if stored is None or live is None or stored.phase in FINAL_PHASES:
        return stored
    return live if live.phase == stored.phase else stored


def _upsert(store: Store, changed: Sequence[Migration]) -> None:
    for migration in changed:
        try:
            store.update_migration(migration)
        except KeyError:
            store.insert_migration(migration)


class MigrationLedger:
    """Used from the event loop's thread only (its work functions run on the store's)."""

    def __init__(
        self,
        store: StoreAccess,
        records: MigrationRecords,
        hub: ProgressHub,
        observer: ChangeObserver,
    ) -> None:
        self._store = store
        self._records = records
        self.hub = hub
        self._observer = observer
        self._live: dict[str, Migration] = {}
        # Migrations whose newest progress is only in memory (written by `flush`).
        self._unsaved: set[str] = set()
        self._ended: dict[str, asyncio.Event] = {}

    async def load(self) -> list[Migration]:
        """Takes up the active migrations on record (engine start); returns them."""
        active = await self._store.read(lambda store: store.active_migrations())
        for migration in active:
            self._live[migration.id] = migration
        self._observer.observe(active)
        return active

    # ------------------------------------------------------------ reading

    def active(self, migration_id: str) -> Migration | None:
        """The newest version of an active migration (None once it ended)."""
        return self._live.get(migration_id)

    def all_active(self) -> list[Migration]:
        return list(self._live.values())

    def active_of(self, cluster_id: str = "") -> list[Migration]:
        """Active migrations (of one cluster when given), oldest first."""
        return sorted(
            (m for m in self._live.values() if not cluster_id or m.cluster_id == cluster_id),
            key=lambda m: (m.created_at, m.id),
        )

    async def get(self, migration_id: str) -> Migration:
        """The newest version of any migration, active or ended."""
        validate_id("migration_id", migration_id, "migration")
        live = self._live.get(migration_id)
        if live is not None:
            return live
        return await self._records.get_migration(migration_id)

    async def wait_ended(self, migration_id: str, timeout_s: float) -> None:
        """Until the migration ended, at most `timeout_s`."""
        if migration_id not in self._live:
            return
        ended = self._ended.setdefault(migration_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await ended.wait()

    # ------------------------------------------------------------ writing

    async def write(
        self, work: MigrationWork[T], *, before_watchers: Callable[[T], None] | None = None
    ) -> T:
        """One transaction whose changed migrations reach memory and watchers in commit
        order, right after its events. `before_watchers(result)`: called at commit, on the
        loop, once memory holds the changes and before the watchers are told (a caller
        answered from there does not queue behind every watcher's delivery)."""

        def run(store: Store) -> tuple[tuple[T, list[Migration]], list[Event]]:
            # On the store's worker thread.
            result, changed, events = work(store)
            _upsert(store, changed)
            return (result, changed), events

        def absorb(outcome: tuple[T, list[Migration]]) -> None:
            self._absorb(
                outcome[1], lambda: before_watchers(outcome[0]) if before_watchers else None
            )

        result, _ = await self._store.transact(run, on_commit=absorb)
        return result

    def _absorb(
        self, changed: Sequence[Migration], before_watchers: Callable[[], None] | None = None
    ) -> None:
        """On the loop, in commit order: memory and watchers follow the store."""
        for migration in changed:
            if migration.active:
                self._live[migration.id] = migration
            else:
                self._live.pop(migration.id, None)
                self._unsaved.discard(migration.id)
                ended = self._ended.pop(migration.id, None)
                if ended is not None:
                    ended.set()
        self._observer.observe(changed)
        if before_watchers is not None:
            before_watchers()
        self.hub.publish(changed)

    def show(self, updated: Migration, *, unsaved: bool = False) -> None:
        """Newer values of an active migration, for memory and watchers now; `unsaved`: the
        store gets them with the next flush."""
        if updated.id not in self._live:
            return
        self._live[updated.id] = updated
        self.hub.publish([updated])
        if unsaved:
            self._unsaved.add(updated.id)

    async def persist(self, migration_ids: Iterable[str]) -> None:
        """Writes the running migrations' progress held in memory."""
        latest = [
            m
            for m in (self._live.get(i) for i in migration_ids)
            if m is not None and m.phase is MigrationPhase.RUNNING
        ]

        def work(store: Store) -> tuple[None, list[Migration], list[Event]]:
            for migration in latest:
                stored = store.get_migration(migration.id)
                if stored is not None and stored.phase not in FINAL_PHASES:
                    store.update_migration(migration)
            return None, [], []

        await self.write(work)

    async def flush(self) -> None:
        """Writes all the progress kept in memory, in one transaction (a storm of samples is
        not a storm of fsyncs); what fails to be written is kept for the next flush."""
        if not self._unsaved:
            return
        ids, self._unsaved = list(self._unsaved), set()
        try:
            await self.persist(ids)
        except Exception:
            self._unsaved.update(ids)
            raise

    async def run_flushes(self, interval_s: float) -> None:
        """Flushes every `interval_s` (at most that much progress is lost with the process)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("progress not written; tried again next time")
