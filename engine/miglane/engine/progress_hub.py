"""Fan-out of migration snapshots to WatchMigrations clients: a `miglane.fanout` hub that keeps
the newest snapshot per migration.

Publishing never waits. Unlike audit events (`events.py`), a progress sample matters only
until a newer one of the same migration arrives, so each watcher's buffer keeps the newest
snapshot per migration id, in the order the ids first became pending: a watcher that stalls
finds, when it resumes, one up-to-date snapshot per migration that changed meanwhile, and its
buffer never holds more entries than there are migrations. A watcher that lets more than
`max_pending` distinct migrations pile up is dropped (it learns so after what was buffered).
"""

from __future__ import annotations

from typing import TypeAlias

from miglane.engine.domain.model import Migration
from miglane.fanout import Hub, NewestPerKey, Watcher, WatcherDropped

DEFAULT_MAX_PENDING = 100_000

MigrationWatcher: TypeAlias = Watcher[Migration]

__all__ = ["DEFAULT_MAX_PENDING", "MigrationWatcher", "ProgressHub", "WatcherDropped"]


def _migration_id(migration: Migration) -> str:
    return migration.id


class ProgressHub(Hub[Migration]):
    """Used from the event loop's thread only."""

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        super().__init__(lambda: NewestPerKey(_migration_id, max_pending))
