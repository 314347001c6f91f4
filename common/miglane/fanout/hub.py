"""The hub and its watchers: publishing never waits, each watcher reads from its own buffer.

Everything here is used from one event loop's thread (no locks); a producer on another thread
hands items over with `loop.call_soon_threadsafe(hub.publish, items)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from miglane.fanout.buffers import Buffer

T = TypeVar("T")


class WatcherDropped(Exception):
    """The watcher's buffer refused an item, so the hub stopped buffering for it."""


class Watcher(Generic[T]):
    """One reader of a hub: `next()` until None (the hub closed), or iterate with `async for`.

    A watcher whose buffer refuses an item is dropped, not silently thinned: it still gets
    what it had buffered, then `WatcherDropped`, so its reader can resume from a source of
    truth rather than miss items unawares.
    """

    def __init__(self, hub: Hub[T], accept: Callable[[T], bool] | None, buffer: Buffer[T]) -> None:
        self._hub = hub
        self._accept = accept
        self._buffer = buffer
        self._wakeup = asyncio.Event()
        self._dropped = False
        self._ended = False

    @property
    def pending(self) -> int:
        """Items buffered and not read yet."""
        return len(self._buffer)

    @property
    def limit(self) -> int | None:
        """The buffer's bound (see `Buffer.limit`)."""
        return self._buffer.limit

    @property
    def dropped(self) -> bool:
        return self._dropped

    def _offer(self, items: Iterable[T]) -> None:
        accept, buffer = self._accept, self._buffer
        kept = False
        for item in items:
            if accept is not None and not accept(item):
                continue
            if not buffer.offer(item):
                self._dropped = True
                self._hub._drop(self)
                kept = True  # the reader must wake to learn it was dropped
                break
            kept = True
        if kept:
            self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._wakeup.set()

    async def next(self) -> T | None:
        """The next item; None once the hub closed. Raises WatcherDropped after the buffered
        items when the hub dropped this watcher."""
        while True:
            if self._buffer:
                return self._buffer.take()
            if self._dropped:
                raise WatcherDropped(
                    f"the watcher fell more than {self._buffer.limit} items behind"
                )
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        """Stops buffering for this watcher (what it holds can still be read)."""
        self._hub._drop(self)

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> T:
        item = await self.next()
        if item is None:
            raise StopAsyncIteration
        return item


class Hub(Generic[T]):
    """Fans published items out to every watcher; `make_buffer` gives each new watcher its
    buffer, and so the policy for a watcher that falls behind."""

    def __init__(self, make_buffer: Callable[[], Buffer[T]]) -> None:
        self._make_buffer = make_buffer
        self._watchers: set[Watcher[T]] = set()
        self._closed = False

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def subscribe(self, accept: Callable[[T], bool] | None = None) -> Watcher[T]:
        """A watcher of the items published from now on that `accept` keeps (all by default);
        on a closed hub, one that ends at once."""
        watcher = Watcher(self, accept, self._make_buffer())
        if self._closed:
            watcher._end()
        else:
            self._watchers.add(watcher)
        return watcher

    def publish(self, items: Iterable[T]) -> None:
        """Offers `items`, in order, to every watcher; never waits."""
        batch = items if isinstance(items, list | tuple) else list(items)
        for watcher in list(self._watchers):
            watcher._offer(batch)

    def close(self) -> None:
        """Ends every watcher once it has read its buffer; later watchers end at once."""
        self._closed = True
        for watcher in self._watchers:
            watcher._end()
        self._watchers.clear()

    def _drop(self, watcher: Watcher[T]) -> None:
        self._watchers.discard(watcher)
