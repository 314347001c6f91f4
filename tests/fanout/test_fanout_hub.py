"""The generic hub: fan-out without waiting, filters, dropping a watcher after what it buffered,
closing, and async iteration, under both buffer policies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from miglane.fanout import Buffer, Fifo, Hub, NewestPerKey, Watcher, WatcherDropped

Item = tuple[str, int]  # (key, version)
LIMIT = 3
# Deadlines only bound a failing test: a loaded machine is slow, never wrong.
DEADLINE_S = 30


def first(item: Item) -> str:
    return item[0]


POLICIES: dict[str, Callable[[], Buffer[Item]]] = {
    "fifo": lambda: Fifo(LIMIT),
    "newest per key": lambda: NewestPerKey(first, LIMIT),
}


def distinct(count: int, version: int = 0) -> list[Item]:
    return [(f"k{i}", version) for i in range(count)]


async def read(watcher: Watcher[Item], count: int) -> list[Item | None]:
    async with asyncio.timeout(DEADLINE_S):
        return [await watcher.next() for _ in range(count)]


@pytest.fixture(params=list(POLICIES.values()), ids=list(POLICIES))
def hub(request: pytest.FixtureRequest) -> Hub[Item]:
    return Hub(request.param)


async def test_every_watcher_gets_every_published_item(hub: Hub[Item]) -> None:
    watchers = [hub.subscribe() for _ in range(4)]
    hub.publish(distinct(LIMIT))
    for watcher in watchers:
        assert await read(watcher, LIMIT) == distinct(LIMIT)
    assert hub.watcher_count == len(watchers)


async def test_a_watcher_sees_only_what_it_accepts(hub: Hub[Item]) -> None:
    wanted = ["k1", "k3", "k5"]
    picky = hub.subscribe(lambda item: item[0] in wanted)
    hub.publish(distinct(2 * LIMIT))
    assert picky.pending == len(wanted)
    assert await read(picky, len(wanted)) == [(key, 0) for key in wanted]


async def test_a_waiting_watcher_wakes_on_publish(hub: Hub[Item]) -> None:
    watcher = hub.subscribe()
    waiting = asyncio.ensure_future(watcher.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    hub.publish(distinct(1))
    async with asyncio.timeout(DEADLINE_S):
        assert await waiting == distinct(1)[0]


async def test_items_published_before_subscribing_are_not_seen(hub: Hub[Item]) -> None:
    hub.publish(distinct(1))
    watcher = hub.subscribe()
    hub.publish(distinct(2, version=1))
    assert await read(watcher, 2) == distinct(2, version=1)


async def test_a_full_watcher_is_dropped_after_its_buffer_and_others_get_everything(
    hub: Hub[Item],
) -> None:
    stuck, reader = hub.subscribe(), hub.subscribe()
    hub.publish(distinct(LIMIT))
    assert await read(reader, LIMIT) == distinct(LIMIT)
    fresh = [(f"new{i}", 1) for i in range(2)]
    hub.publish(fresh)  # publishing did not wait for `stuck`
    assert hub.watcher_count == 1
    assert stuck.dropped and not reader.dropped
    assert await read(reader, len(fresh)) == fresh
    assert await read(stuck, LIMIT) == distinct(LIMIT)  # what it held when it filled up
    with pytest.raises(WatcherDropped):
        await stuck.next()
    with pytest.raises(WatcherDropped):  # and stays dropped
        await stuck.next()


async def test_a_batch_larger_than_the_buffer_drops_every_watcher_that_reads_it(
    hub: Hub[Item],
) -> None:
    watchers = [hub.subscribe() for _ in range(2)]
    hub.publish(distinct(LIMIT + 1))
    assert hub.watcher_count == 0
    for watcher in watchers:
        assert await read(watcher, LIMIT) == distinct(LIMIT)
        with pytest.raises(WatcherDropped):
            await watcher.next()


async def test_nothing_published_after_the_drop_reaches_the_dropped_watcher(
    hub: Hub[Item],
) -> None:
    watcher = hub.subscribe()
    # One batch: fill the buffer, overflow it, then newer versions of what it holds.
    hub.publish([*distinct(LIMIT), ("overflow", 0), *distinct(LIMIT, version=1)])
    assert await read(watcher, LIMIT) == distinct(LIMIT)
    with pytest.raises(WatcherDropped):
        await watcher.next()


async def test_a_reader_that_keeps_up_is_never_dropped(hub: Hub[Item]) -> None:
    reader = hub.subscribe()
    for version in range(10 * LIMIT):
        hub.publish(distinct(LIMIT, version))
        assert await read(reader, LIMIT) == distinct(LIMIT, version)
    assert hub.watcher_count == 1


async def test_the_newest_per_key_policy_keeps_a_slow_watcher_current() -> None:
    hub = Hub(POLICIES["newest per key"])
    slow = hub.subscribe()
    for version in range(10 * LIMIT):  # far more items than LIMIT, but only LIMIT keys
        hub.publish(distinct(LIMIT, version))
    assert slow.pending == LIMIT
    assert await read(slow, LIMIT) == distinct(LIMIT, 10 * LIMIT - 1)
    assert hub.watcher_count == 1


async def test_the_fifo_policy_drops_a_slow_watcher_even_for_one_key() -> None:
    hub = Hub(POLICIES["fifo"])
    slow = hub.subscribe()
    hub.publish([("k", version) for version in range(LIMIT + 1)])
    assert hub.watcher_count == 0
    assert await read(slow, LIMIT) == [("k", version) for version in range(LIMIT)]
    assert slow.limit == LIMIT


async def test_close_ends_watchers_after_their_buffer_and_later_ones_at_once(
    hub: Hub[Item],
) -> None:
    watcher = hub.subscribe()
    hub.publish(distinct(2))
    hub.close()
    assert hub.watcher_count == 0
    assert await read(watcher, 3) == [*distinct(2), None]
    late = hub.subscribe()
    assert await late.next() is None
    hub.publish(distinct(1))  # after close: nobody to tell, no error
    assert late.pending == 0


async def test_a_watcher_closing_unsubscribes_and_keeps_what_it_held(hub: Hub[Item]) -> None:
    watcher = hub.subscribe()
    hub.publish(distinct(1))
    watcher.close()
    assert hub.watcher_count == 0
    hub.publish(distinct(2, version=1))
    assert watcher.pending == 1
    assert await read(watcher, 1) == distinct(1)


async def test_async_iteration_ends_when_the_hub_closes(hub: Hub[Item]) -> None:
    watcher = hub.subscribe()
    hub.publish(distinct(2))
    hub.close()
    async with asyncio.timeout(DEADLINE_S):
        assert [item async for item in watcher] == distinct(2)


async def test_async_iteration_raises_the_drop_after_the_buffer(hub: Hub[Item]) -> None:
    watcher = hub.subscribe()
    hub.publish(distinct(LIMIT + 1))
    got = []
    with pytest.raises(WatcherDropped):
        async with asyncio.timeout(DEADLINE_S):
            async for item in watcher:
                got.append(item)
    assert got == distinct(LIMIT)


async def test_publish_takes_any_iterable_once_for_all_watchers(hub: Hub[Item]) -> None:
    watchers = [hub.subscribe() for _ in range(2)]
    hub.publish(item for item in distinct(2))
    for watcher in watchers:
        assert await read(watcher, 2) == distinct(2)
