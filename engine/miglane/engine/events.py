"""Fan-out of audit events to any number of stream subscribers.

Publishing never waits: each subscriber has a bounded buffer. A subscriber that lets its buffer
fill is dropped — it still receives what was buffered, then learns it was dropped — rather than
skipping events silently: audit events matter one by one, and every event is persisted with a
sequence number, so a dropped client resumes with `after_sequence` and loses nothing.
(Migration progress wants the other policy — keep the newest snapshot per migration — and
has its own hub, `progress_hub`.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from miglane.engine.domain.model import Event

DEFAULT_QUEUE_SIZE = 1024


class SubscriptionOverflow(Exception):
    """The subscriber's buffer filled up and the hub dropped it."""


class Subscription:
    def __init__(self, hub: EventHub, accept: Callable[[Event], bool], limit: int) -> None:
        self._hub = hub
        self._accept = accept
        self._limit = limit
        self._buffer: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._overflowed = False
        self._ended = False

    @property
    def limit(self) -> int:
        return self._limit

    def _offer(self, events: Sequence[Event]) -> None:
        for event in events:
            if not self._accept(event):
                continue
            if len(self._buffer) >= self._limit:
                self._overflowed = True
                self._hub._drop(self)
                break
            self._buffer.append(event)
        self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._wakeup.set()

    async def next(self) -> Event | None:
        """The next event; None once the hub has closed. Raises SubscriptionOverflow after
        the buffered events when the hub dropped this subscriber."""
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._overflowed:
                raise SubscriptionOverflow()
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        self._hub._drop(self)


class EventHub:
    """Used from the event loop's thread only (the store worker hands events over with
    `loop.call_soon_threadsafe(hub.publish, events)`)."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, accept: Callable[[Event], bool] = lambda _: True) -> Subscription:
        subscription = Subscription(self, accept, self._queue_size)
        if self._closed:
            subscription._end()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def publish(self, events: Sequence[Event]) -> None:
        for subscription in list(self._subscriptions):
            subscription._offer(events)

    def close(self) -> None:
        """Ends every stream (engine shutdown); later subscriptions end at once."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription._end()
        self._subscriptions.clear()

    def _drop(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
