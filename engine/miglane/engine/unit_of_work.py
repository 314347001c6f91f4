"""The store worker: all store work runs here, one piece at a time, on one thread; a write is
one transaction with the audit events it returns, published after commit in commit order. Work
sees the context variables of the coroutine that hands it over (as `asyncio.to_thread`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

from miglane.engine.domain.model import Event
from miglane.engine.store import Store

T = TypeVar("T")

# Work run inside one store transaction, on the worker thread: returns its result and the
# events to append. It must not touch event-loop state (it runs on another thread).
Work = Callable[[Store], tuple[T, Sequence[Event]]]


class StoreWorker:
    """Owns the store and the one thread that uses it.

    One worker: store work is serialized (check-then-write needs no locks) and the event loop
    never waits on fsync. `publish` receives each commit's stored events, on the event loop.
    """

    def __init__(self, store: Store, publish: Callable[[Sequence[Event]], None]) -> None:
        self._store = store
        self._publish = publish
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="miglane-store")

    async def read(self, work: Callable[[Store], T]) -> T:
        """Runs `work` on the worker thread, outside any transaction: nothing the engine writes
        can interleave, since every write runs on this same thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, copy_context().run, work, self._store
        )

    async def transact(self, work: Work[T], *, on_commit: Callable[[T], None] | None = None) -> T:
        """Runs `work` in one transaction on the worker thread, appends the events it returns,
        commits, then publishes the events to watchers.

        A domain error raised by `work` rolls everything back: nothing is half-written.
        `on_commit(result)` runs on the event loop right after the events are published, in
        commit order across all transactions (for fan-outs such as WatchMigrations, where an
        older snapshot must never overtake a newer one).
        """
        result, _ = await self.transact_events(work, on_commit=on_commit)
        return result

    async def transact_events(
        self, work: Work[T], *, on_commit: Callable[[T], None] | None = None
    ) -> tuple[T, list[Event]]:
        """`transact`, also returning the events as stored (with their sequence numbers)."""
        loop = asyncio.get_running_loop()

        def run() -> tuple[T, list[Event]]:  # on the worker thread
            with self._store.transaction():
                result, events = work(self._store)
                stored = self._store.append_events(events)
            # Scheduled from this one worker thread, so the loop runs them in commit order.
            if stored:
                loop.call_soon_threadsafe(self._publish, stored)
            if on_commit is not None:
                loop.call_soon_threadsafe(on_commit, result)
            return result, stored

        # The caller's context variables (who the actor is) hold on the worker thread too.
        return await loop.run_in_executor(self._executor, copy_context().run, run)

    async def close(self) -> None:
        """Waits for store work in progress, then closes the database."""
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        self._store.close()
