"""The store worker: all store work runs here, one piece at a time, on one thread; a write is
one transaction with the audit events it returns, published after commit in commit order. Work
sees the context variables of the coroutine that hands it over (as `asyncio.to_thread`).

Group commit: the writes that queued up while the worker was busy are committed together, in
one transaction and so one flush to disk, each inside a savepoint of its own: a write that
raises is undone alone and its caller gets the error, the others commit. Every caller still
hears back only after the commit that holds its write. A group holds at most
`MAX_GROUP_WRITES` writes, taken in arrival order (the rest make the next group), and a write
whose caller has given up by then is dropped unrun.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import Context, copy_context
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from miglane.engine.domain.model import Event
from miglane.engine.store import Store

T = TypeVar("T")

# Work run inside one store transaction, on the worker thread: returns its result and the
# events to append. It must not touch event-loop state (it runs on another thread).
Work = Callable[[Store], tuple[T, Sequence[Event]]]

# The worker's thread lets go of the GIL at every SQLite call and at each commit's flush to
# disk; taking it back while the event loop's thread runs Python waits until the interpreter
# makes that thread let go, once per switch interval (Python's default: 5 ms). Under a storm of
# watch deliveries a MigrateVm's transaction and commit waited out several such turns; at 1 ms
# its engine-side time measured ~20% shorter (bench_engine), the loop's work unchanged. At
# 0.2 ms the wait from handing a MigrateVm over to its transaction starting fell from ~3 ms to
# ~1.2 ms at p50 (the worker's own wake-up is such a turn too), its engine-side time from ~11
# to ~9.5 ms. The interpreter asks for a switch only when another thread waits for the GIL, so
# a loop with nobody waiting pays nothing for it.
SWITCH_INTERVAL_S = 0.0002

# The most writes one group commit takes. Every caller of a group waits for the whole group, so
# an unbounded group is as slow as everything that queued up: 800 CreateNetwork handed over at
# once on PostgreSQL became one ~40 s group and every caller passed its 30 s deadline. Grouping
# saves a flush to disk per write (~3 ms); at 64 writes that saving is already ~98% of what any
# bigger group could save, while a group of 64 even slow writes (~50 ms each on a loaded
# PostgreSQL) answers in ~3 s, well inside a deadline.
MAX_GROUP_WRITES = 64


def hand_the_gil_over_sooner() -> None:
    """Shortens the interpreter's switch interval to `SWITCH_INTERVAL_S` (never lengthens it):
    process-wide, so the engine's builder calls it (`app.build_engine`), not the worker."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


@dataclass
class _Write(Generic[T]):
    """A write waiting for the worker, and what becomes of it once its group was committed."""

    work: Work[T]
    context: Context
    on_commit: Callable[[T], None] | None
    done: asyncio.Future[tuple[T, list[Event]]]
    result: Any = None
    stored: list[Event] | None = None
    error: BaseException | None = None


class StoreWorker:
    """Owns the store and the one thread that uses it.

    One worker: store work is serialized (check-then-write needs no locks) and the event loop
    never waits on fsync. `publish` receives each commit's stored events, on the event loop.
    """

    def __init__(self, store: Store, publish: Callable[[Sequence[Event]], None]) -> None:
        self._store = store
        self._publish = publish
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="miglane-store")
        # Writes handed over and not taken up yet; `_group_due`: a group commit is queued.
        self._lock = threading.Lock()
        self._writes: list[_Write[Any]] = []
        self._group_due = False
        # Writes per group commit so far (what grouping saved, for benchmarks and tests).
        self.groups = 0
        self.grouped_writes = 0

    async def read(self, work: Callable[[Store], T]) -> T:
        """Runs `work` on the worker thread, outside any transaction: nothing the engine writes
        can interleave, since every write runs on this same thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, copy_context().run, work, self._store
        )

    async def transact(self, work: Work[T], *, on_commit: Callable[[T], None] | None = None) -> T:
        """Runs `work` in one transaction on the worker thread, appends the events it returns,
        commits, then publishes the events to watchers.

        A domain error raised by `work` undoes everything it wrote, and only that: nothing is
        half-written, and writes committed in the same group are not affected.
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
        # The caller's context variables (who the actor is) hold on the worker thread too.
        write = _Write(work, copy_context(), on_commit, asyncio.get_running_loop().create_future())
        with self._lock:
            self._writes.append(write)
            submit = not self._group_due
            self._group_due = True
        if submit:
            try:
                self._executor.submit(self._commit_groups)
            except RuntimeError:  # closed: nothing takes writes any more
                with self._lock:
                    self._writes.remove(write)
                    self._group_due = False
                raise
        return await write.done

    def _commit_groups(self) -> None:
        """On the worker thread: commits the next group; writes left over queue their own turn
        behind work handed over meanwhile (or, once closing, are committed right here)."""
        while self._commit_group():
            try:
                self._executor.submit(self._commit_groups)
                return
            except RuntimeError:  # closing: the executor takes no more, finish them here
                continue

    def _next_group(self) -> tuple[list[_Write[Any]], bool]:
        """The oldest writes whose callers still wait, at most `MAX_GROUP_WRITES`; and whether
        writes are left for a next group."""
        with self._lock:
            waiting = [write for write in self._writes if not write.done.cancelled()]
            group, self._writes = waiting[:MAX_GROUP_WRITES], waiting[MAX_GROUP_WRITES:]
            self._group_due = bool(self._writes)
            return group, self._group_due

    def _commit_group(self) -> bool:
        """On the worker thread: the next group, in one transaction. Returns whether writes are
        left for another group."""
        group, more = self._next_group()
        if not group:  # every caller queued gave up
            return False
        store = self._store
        try:
            with store.transaction():
                for write in group:
                    try:
                        with store.savepoint():
                            write.result, events = write.context.run(write.work, store)
                            write.stored = store.append_events(events)
                    except Exception as error:  # this write's alone: the others go on
                        write.error = error
        except BaseException as error:  # the commit failed: no write of the group holds
            for write in group:
                write.error = write.error or error
        self.groups += 1
        self.grouped_writes += len(group)
        # One hop to the loop for the whole group (one per loop, should writers use several),
        # scheduled from this one thread: commit order holds there.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Write[Any]]] = {}
        for write in group:
            by_loop.setdefault(write.done.get_loop(), []).append(write)
        for loop, writes in by_loop.items():
            loop.call_soon_threadsafe(self._settle, loop, writes)
        return more

    def _settle(self, loop: asyncio.AbstractEventLoop, group: list[_Write[Any]]) -> None:
        """On the loop, in commit order: each write's events published, its `on_commit` run,
        then its caller resumed."""
        for write in group:
            if write.error is None:
                if write.stored:
                    _follow_up(loop, self._publish, write.stored)
                if write.on_commit is not None:
                    _follow_up(loop, write.on_commit, write.result)
            if write.done.done():  # its caller gave up waiting
                continue
            if write.error is not None:
                write.done.set_exception(write.error)
            else:
                write.done.set_result((write.result, write.stored or []))

    async def close(self) -> None:
        """Waits for store work in progress, then closes the database."""
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        self._store.close()


def _follow_up(loop: asyncio.AbstractEventLoop, call: Callable[[Any], None], arg: Any) -> None:
    """`call(arg)`; its failure goes to the loop's exception handler (as a failing callback's
    would) and does not hold up the other writes' follow-ups."""
    try:
        call(arg)
    except Exception as error:
        loop.call_exception_handler(
            {"message": f"store commit follow-up {call!r} failed", "exception": error}
        )
