"""Group commit on the store worker, on SQLite and on PostgreSQL alike: writes that queue up
while the worker is busy commit together, each in a savepoint of its own, so one that fails
fails alone; callers hear back, events are published and `on_commit` runs in commit order."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_backends import DatabaseOf

from miglane.engine.domain.errors import FailedPrecondition
from miglane.engine.domain.model import Cluster, Event, EventType, MigrationPolicy
from miglane.engine.store import Store
from miglane.engine.store_dialect import IntegrityViolation
from miglane.engine.unit_of_work import (
    MAX_GROUP_WRITES,
    SWITCH_INTERVAL_S,
    StoreWorker,
    Work,
    hand_the_gil_over_sooner,
)

pytestmark = pytest.mark.both_store_backends

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
WRITES = 5


def cluster(name: str) -> Cluster:
    return Cluster(f"cl-{name}", name, "4.7", MigrationPolicy(), "", NOW)


def created(name: str) -> Event:
    return Event(EventType.CLUSTER_CREATED, f"cluster {name} created", NOW, cluster_id=f"cl-{name}")


def adding(name: str) -> Work[str]:
    def work(store: Store) -> tuple[str, Sequence[Event]]:
        store.insert_cluster(cluster(name))
        return name, [created(name)]

    return work


@pytest.fixture
def store(tmp_path: Path, database_of: DatabaseOf) -> Iterator[Store]:
    opened = Store.connect(database_of(tmp_path))
    yield opened
    opened.close()


class Held:
    """Keeps the worker busy (a read that waits) so that writes queue up behind it."""

    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker
        self._release = threading.Event()
        self._busy = threading.Event()
        self.read: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Held:
        def wait(store: Store) -> None:
            self._busy.set()
            self._release.wait(30)

        self.read = asyncio.create_task(self._worker.read(wait))
        await asyncio.to_thread(self._busy.wait, 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        assert self.read is not None
        await self.read


async def queued_together(
    worker: StoreWorker, works: Sequence[Work[str]], on_commit: Callable[[str], None]
) -> list[str | BaseException]:
    """Hands `works` over while the worker is held, then lets it take them all at once."""
    async with Held(worker):
        calls = [asyncio.create_task(worker.transact(work, on_commit=on_commit)) for work in works]
        await asyncio.sleep(0)  # every call has handed its write over
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_writes_queued_meanwhile_commit_as_one_group_in_order(store: Store) -> None:
    published: list[Event] = []
    worker = StoreWorker(store, publish=published.extend)
    committed: list[str] = []
    names = [f"c{i}" for i in range(WRITES)]
    groups = worker.groups

    results = await queued_together(worker, [adding(n) for n in names], committed.append)

    assert results == names
    assert worker.groups == groups + 1
    assert committed == names
    assert [e.message for e in published] == [created(n).message for n in names]
    assert [e.sequence for e in published] == sorted(e.sequence for e in published)
    stored = await worker.read(lambda s: [c.name for c in s.list_clusters(0, 100).items])
    assert sorted(stored) == sorted(names)
    await worker.close()


async def test_a_group_takes_at_most_its_cap_and_the_rest_follow_in_order(store: Store) -> None:
    published: list[Event] = []
    worker = StoreWorker(store, publish=published.extend)
    committed: list[str] = []
    names = [f"c{i:03}" for i in range(MAX_GROUP_WRITES + 3)]
    groups, grouped = worker.groups, worker.grouped_writes

    results = await queued_together(worker, [adding(n) for n in names], committed.append)

    assert results == names
    assert worker.groups == groups + 2
    assert worker.grouped_writes == grouped + len(names)
    assert committed == names
    assert [e.message for e in published] == [created(n).message for n in names]
    stored = await worker.read(lambda s: [c.name for c in s.list_clusters(0, 1000).items])
    assert sorted(stored) == names
    await worker.close()


async def test_a_write_whose_caller_gave_up_is_not_run(store: Store) -> None:
    worker = StoreWorker(store, publish=lambda events: None)
    committed: list[str] = []
    ran: list[str] = []

    def recording(name: str) -> Work[str]:
        def work(store: Store) -> tuple[str, Sequence[Event]]:
            ran.append(name)
            return adding(name)(store)

        return work

    async with Held(worker):
        calls = {
            name: asyncio.create_task(worker.transact(recording(name), on_commit=committed.append))
            for name in ("kept", "abandoned", "also-kept")
        }
        await asyncio.sleep(0)  # every call has handed its write over
        calls["abandoned"].cancel()
        await asyncio.gather(calls["abandoned"], return_exceptions=True)

    assert await calls["kept"] == "kept"
    assert await calls["also-kept"] == "also-kept"
    assert calls["abandoned"].cancelled()
    assert ran == committed == ["kept", "also-kept"]
    stored = await worker.read(lambda s: sorted(c.name for c in s.list_clusters(0, 100).items))
    assert stored == ["also-kept", "kept"]
    await worker.close()


async def test_writes_left_over_when_closing_are_still_committed(store: Store) -> None:
    worker = StoreWorker(store, publish=lambda events: None)
    names = [f"c{i:03}" for i in range(MAX_GROUP_WRITES * 2 + 1)]
    async with Held(worker):
        calls = [asyncio.create_task(worker.transact(adding(n))) for n in names]
        await asyncio.sleep(0)
        closing = asyncio.create_task(worker.close())
        await asyncio.sleep(0)  # closing has begun: the executor takes no more work
    # Writes lost on the way out would leave their callers waiting for ever.
    assert await asyncio.wait_for(asyncio.gather(*calls), 30) == names
    await closing


def failing_after_insert(name: str) -> Work[str]:
    def work(store: Store) -> tuple[str, Sequence[Event]]:
        store.insert_cluster(cluster(name))
        raise FailedPrecondition(f"{name} refused")

    return work


def duplicate_of(name: str) -> Work[str]:
    def work(store: Store) -> tuple[str, Sequence[Event]]:
        store.insert_cluster(cluster(f"{name}-other"))
        store.insert_cluster(cluster(name))  # the same id again: the schema refuses it
        return name, [created(name)]

    return work


@pytest.mark.parametrize(
    ("failing", "error"),
    [(failing_after_insert, FailedPrecondition), (duplicate_of, IntegrityViolation)],
    ids=["domain-error", "constraint"],
)
async def test_a_failing_write_fails_alone_and_leaves_nothing(
    store: Store, failing: Callable[[str], Work[str]], error: type[Exception]
) -> None:
    published: list[Event] = []
    worker = StoreWorker(store, publish=published.extend)
    await worker.transact(adding("taken"))
    committed: list[str] = []
    bad = "taken" if failing is duplicate_of else "bad"
    groups = worker.groups

    first, failed, last = await queued_together(
        worker, [adding("first"), failing(bad), adding("last")], committed.append
    )

    assert worker.groups == groups + 1
    assert (first, last) == ("first", "last")
    assert isinstance(failed, error)
    assert committed == ["first", "last"]
    assert [e.message for e in published[1:]] == [created("first").message, created("last").message]
    stored = await worker.read(lambda s: sorted(c.name for c in s.list_clusters(0, 100).items))
    assert stored == ["first", "last", "taken"]
    await worker.close()


def test_a_savepoint_undoes_only_its_part(store: Store) -> None:
    with store.transaction():
        store.insert_cluster(cluster("before"))
        with pytest.raises(FailedPrecondition), store.savepoint():
            store.insert_cluster(cluster("inside"))
            raise FailedPrecondition("undo this part")
        store.insert_cluster(cluster("after"))
    names = sorted(c.name for c in store.list_clusters(0, 100).items)
    assert names == ["after", "before"]


def test_a_savepoint_outside_a_transaction_is_refused(store: Store) -> None:
    with pytest.raises(RuntimeError, match="inside a transaction"), store.savepoint():
        pass


async def test_a_write_handed_over_after_close_is_refused(store: Store) -> None:
    worker = StoreWorker(store, publish=lambda events: None)
    await worker.close()
    with pytest.raises(RuntimeError):
        await worker.transact(adding("late"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (0.005, SWITCH_INTERVAL_S),  # Python's default: shortened
        (SWITCH_INTERVAL_S, SWITCH_INTERVAL_S),
        (SWITCH_INTERVAL_S / 4, SWITCH_INTERVAL_S / 4),  # already shorter: never lengthened
    ],
)
def test_the_switch_interval_is_only_ever_shortened(before: float, after: float) -> None:
    kept = sys.getswitchinterval()
    try:
        sys.setswitchinterval(before)
        hand_the_gil_over_sooner()
        assert sys.getswitchinterval() == pytest.approx(after)
    finally:
        sys.setswitchinterval(kept)
