"""The agent's progress fan-out: current statuses first, then the newest status per job."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

from miglane.agent.domain.job import JobStatus
from miglane.agent.domain.model import JobPhase, MigrationMode
from miglane.agent.jobs import ProgressFeed


def status(migration_id: str, iteration: int = 0, phase: JobPhase = JobPhase.RUNNING) -> JobStatus:
    return JobStatus(
        migration_id, f"vm-{migration_id}", MigrationMode.LIVE, phase, iteration=iteration
    )


async def take(stream: AsyncIterator[JobStatus], n: int) -> list[tuple[str, int, JobPhase]]:
    got = []
    async with asyncio.timeout(5):
        for _ in range(n):
            s = await anext(stream)
            got.append((s.migration_id, s.iteration, s.phase))
    return got


async def test_current_statuses_come_first_then_changes() -> None:
    feed = ProgressFeed()
    stream = feed.watch("", [status("a", 1)])
    assert await take(stream, 1) == [("a", 1, JobPhase.RUNNING)]
    feed.publish(status("b", 1))
    assert await take(stream, 1) == [("b", 1, JobPhase.RUNNING)]
    await stream.aclose()


async def test_a_slow_watcher_gets_the_newest_status_of_each_job_in_first_change_order() -> None:
    feed = ProgressFeed()
    stream = feed.watch("", [])
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # the watcher is subscribed and waiting
    assert feed.watcher_count == 1
    feed.publish(status("a", 1))
    assert (await first).iteration == 1
    for iteration in (2, 3):  # the watcher reads nothing meanwhile
        feed.publish(status("a", iteration))
        feed.publish(status("b", iteration))
    feed.publish(status("a", 4))
    assert await take(stream, 2) == [("a", 4, JobPhase.RUNNING), ("b", 3, JobPhase.RUNNING)]
    await stream.aclose()


async def test_a_watch_of_one_job_sees_only_it_and_ends_with_its_last_status() -> None:
    feed = ProgressFeed()
    seen = []

    async def watch_a() -> None:
        async for s in feed.watch("a", [status("a", 1)]):
            seen.append((s.migration_id, s.iteration, s.phase))

    watcher = asyncio.create_task(watch_a())
    async with asyncio.timeout(5):
        while not seen:
            await asyncio.sleep(0)
    feed.publish(status("b", 2))
    feed.publish(status("a", 2, JobPhase.COMPLETED))
    async with asyncio.timeout(5):
        await watcher
    assert seen == [("a", 1, JobPhase.RUNNING), ("a", 2, JobPhase.COMPLETED)]
    assert feed.watcher_count == 0  # the ended watch unsubscribed


async def test_a_watch_of_a_finished_job_ends_with_its_current_status() -> None:
    feed = ProgressFeed()
    done = status("a", 3, JobPhase.FAILED)
    assert [s async for s in feed.watch("a", [done])] == [done]
    assert feed.watcher_count == 0


async def test_a_closed_watch_unsubscribes() -> None:
    feed = ProgressFeed()
    stream = feed.watch("", [status("a")])
    await take(stream, 1)
    assert feed.watcher_count == 1
    await stream.aclose()
    assert feed.watcher_count == 0
    feed.publish(dataclasses.replace(status("a"), iteration=9))  # nobody to tell: no error
