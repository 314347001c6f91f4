"""Test-only writers of migration records and bare events, straight through the store worker
(the engine itself writes migrations through its migration side)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from miglane.engine.domain.model import Event, Migration
from miglane.engine.store import Store
from miglane.engine.unit_of_work import StoreWorker


async def record_migration(
    worker: StoreWorker,
    migration: Migration,
    events: Sequence[Event] = (),
    *,
    on_commit: Callable[[Migration], None] | None = None,
) -> Migration:
    """Writes a new migration record with its events."""
    return await _write(worker, Store.insert_migration, migration, events, on_commit)


async def save_migration(
    worker: StoreWorker,
    migration: Migration,
    events: Sequence[Event] = (),
    *,
    on_commit: Callable[[Migration], None] | None = None,
) -> Migration:
    """Replaces an existing migration record (phase, progress, ...) with its events."""
    return await _write(worker, Store.update_migration, migration, events, on_commit)


async def _write(
    worker: StoreWorker,
    write: Callable[[Store, Migration], None],
    migration: Migration,
    events: Sequence[Event],
    on_commit: Callable[[Migration], None] | None,
) -> Migration:
    def work(store: Store) -> tuple[Migration, Sequence[Event]]:
        write(store, migration)
        return migration, events

    return await worker.transact(work, on_commit=on_commit)


async def active_migrations(
    worker: StoreWorker, cluster_id: str = "", host_id: str = ""
) -> list[Migration]:
    return await worker.read(lambda store: store.active_migrations(cluster_id, host_id))


async def emit(worker: StoreWorker, events: Sequence[Event]) -> list[Event]:
    """Persists and publishes events that go with no other change; returns them with their
    sequence numbers."""
    _, stored = await worker.transact_events(lambda store: (None, events))
    return stored
