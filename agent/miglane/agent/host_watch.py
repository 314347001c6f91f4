"""Watching the host's state for the engine (WatchHost): the state sampled at once and then
every interval, sent when it changed, a heartbeat (None) when it did not: the engine learns of
a change within one interval without asking, and nothing is sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_HOST_WATCH_INTERVAL_S = 2.0
# However often the engine asks, the host is not sampled more often than this.
MIN_HOST_WATCH_INTERVAL_S = 0.05


def watch_interval_s(requested_ms: int) -> float:
    """The sampling interval for a request of `requested_ms` (0: the default)."""
    if requested_ms <= 0:
        return DEFAULT_HOST_WATCH_INTERVAL_S
    return max(requested_ms / 1000.0, MIN_HOST_WATCH_INTERVAL_S)


async def changes(sample: Callable[[], Awaitable[T]], interval_s: float) -> AsyncIterator[T | None]:
    """`sample()` at once, then every `interval_s`: each sample that differs from the one sent
    before it (the first always), None for one that does not."""
    last: T | None = None
    first = True
    while True:
        current = await sample()
        if first or current != last:
            first, last = False, current
            yield current
        else:
            yield None
        await asyncio.sleep(interval_s)
