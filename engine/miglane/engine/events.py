"""Fan-out of audit events to WatchEvents subscribers: a `miglane.fanout` hub with FIFO buffers.

Publishing never waits: each subscriber has a bounded buffer. A subscriber that lets its buffer
fill is dropped — it still receives what was buffered, then learns it was dropped — rather than
skipping events silently: audit events matter one by one, and every event is persisted with a
sequence number, so a dropped client resumes with `after_sequence` and loses nothing.
(Migration progress wants the other policy, the newest snapshot per migration: `progress_hub`.)
"""

from __future__ import annotations

from typing import TypeAlias

from miglane.engine.domain.model import Event
from miglane.fanout import Fifo, Hub, Watcher, WatcherDropped

DEFAULT_QUEUE_SIZE = 1024

Subscription: TypeAlias = Watcher[Event]
# Raised by `Subscription.next()` once the subscriber's buffer filled and the hub dropped it.
SubscriptionOverflow = WatcherDropped


class EventHub(Hub[Event]):
    """Used from the event loop's thread only (the store worker hands events over with
    `loop.call_soon_threadsafe(hub.publish, events)`)."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        super().__init__(lambda: Fifo(queue_size))

    @property
    def subscriber_count(self) -> int:
        return self.watcher_count
