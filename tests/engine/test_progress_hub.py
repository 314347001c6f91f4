"""The WatchMigrations fan-out: newest snapshot per migration, bounded, never waiting."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from miglane.engine.domain.model import Migration, MigrationPhase
from miglane.engine.progress_hub import ProgressHub, WatcherDropped

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(ident: str, percent: int = 0, cluster: str = "c1") -> Migration:
    return Migration(
        id=ident,
        cluster_id=cluster,
        vm_id=f"vm-{ident}",
        source_host_id="h1",
        phase=MigrationPhase.RUNNING,
        created_at=T0,
        progress_percent=percent,
    )


async def drain(watcher, n: int) -> list[Migration]:  # type: ignore[no-untyped-def]
    return [await asyncio.wait_for(watcher.next(), 30) for _ in range(n)]


async def test_a_slow_watcher_gets_the_newest_snapshot_per_migration_in_first_seen_order() -> None:
    hub = ProgressHub()
    slow = hub.subscribe()
    for percent in range(0, 100, 10):
        hub.publish([snapshot("a", percent), snapshot("b", percent)])
    hub.publish([snapshot("a", 95)])
    assert slow.pending == 2
    got = await drain(slow, 2)
    assert [(m.id, m.progress_percent) for m in got] == [("a", 95), ("b", 90)]


async def test_publishing_never_waits_and_others_get_everything() -> None:
    hub = ProgressHub()
    stuck = hub.subscribe()
    fast = hub.subscribe()
    seen = []
    for percent in range(50):
        hub.publish([snapshot("a", percent)])
        seen.append((await fast.next()).progress_percent)  # type: ignore[union-attr]
    assert seen == list(range(50))
    assert stuck.pending == 1


async def test_filters_and_close() -> None:
    hub = ProgressHub()
    only_c2 = hub.subscribe(lambda m: m.cluster_id == "c2")
    hub.publish([snapshot("a"), snapshot("b", cluster="c2")])
    assert [m.id for m in await drain(only_c2, 1)] == ["b"]
    hub.close()
    assert await only_c2.next() is None
    late = hub.subscribe()
    assert await late.next() is None


async def test_too_many_distinct_pending_migrations_drop_the_watcher_after_its_buffer() -> None:
    hub = ProgressHub(max_pending=3)
    watcher = hub.subscribe()
    hub.publish([snapshot(str(i)) for i in range(5)])
    assert hub.watcher_count == 0
    assert [m.id for m in await drain(watcher, 3)] == ["0", "1", "2"]
    with pytest.raises(WatcherDropped):
        await watcher.next()


async def test_replacing_a_pending_snapshot_does_not_count_against_the_bound() -> None:
    hub = ProgressHub(max_pending=1)
    watcher = hub.subscribe()
    for percent in range(10):
        hub.publish([replace(snapshot("a"), progress_percent=percent)])
    assert hub.watcher_count == 1
    assert (await watcher.next()).progress_percent == 9  # type: ignore[union-attr]
    watcher.close()
    assert hub.watcher_count == 0
