"""Which engine leads, at run time: `SoleLeadership` for an engine alone on its store (SQLite),
`LeaseLeadership` for engines sharing PostgreSQL, which keeps the lease row (`lease_store`) by
the policy of `domain.leadership`. Both answer the same questions: does this engine lead now,
under which term may it command hosts (`commanding_term`, the fence every agent call asks), and
where is the leader.

A leader that loses its lease is deposed for good: it stops commanding at once (its deadline is
checked at every agent call, not only when the keeper wakes), `deposed` is set, and the runner
ends the process so that a supervisor starts it again as a follower — the way Kubernetes'
leader election ends a controller. Rebuilding every part of the engine in place would have to
prove that no task of the old term survives; a new process proves it by construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path

from miglane.engine.domain.errors import NotLeader
from miglane.engine.domain.leadership import (
    DEFAULT_LEASE_TIMINGS,
    SOLE_TERM,
    LeaseStep,
    LeaseTimings,
    command_deadline,
    may_command,
    next_step,
)
from miglane.engine.lease_store import LeaseFence, LeaseStoreError, PostgresLease

log = logging.getLogger(__name__)

# Called once this engine leads, with its term (the engine takes charge as a restarted one does).
Elected = Callable[[int], Coroutine[object, object, None]]
# Called once when a leader is deposed (health NOT_SERVING; the runner ends the process).
Deposed = Callable[[], None]


IDENTITY_FILE = "engine-id"


def engine_identity(state_dir: Path) -> str:
    """The lease holder name of the engine of `state_dir` (made on first start, kept there):
    one process at a time runs it (the state dir's lock), so a restarted engine recognises its
    killed predecessor's lease as its own and need not wait for it to expire."""
    path = state_dir / IDENTITY_FILE
    with contextlib.suppress(FileNotFoundError):
        known = path.read_text().strip()
        if known:
            return known
    identity = f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
    state_dir.mkdir(parents=True, exist_ok=True)
    written = path.with_suffix(".new")
    written.write_text(f"{identity}\n")
    os.replace(written, path)
    return identity


class SoleLeadership:
    """An engine alone on its store leads from its start, under `SOLE_TERM`."""

    def __init__(self, address: str = "") -> None:
        self.address = address
        self.deposed = asyncio.Event()

    @property
    def leading(self) -> bool:
        return True

    @property
    def serving(self) -> bool:
        return True

    def mark_in_charge(self) -> None:
        return None

    @property
    def leader_address(self) -> str:
        return self.address

    def commanding_term(self) -> int:
        return SOLE_TERM

    def write_fence(self) -> None:
        """Alone on its store, nothing else writes there: no fence."""
        return None

    async def first_look(self, deposed: Deposed) -> int:
        return SOLE_TERM

    async def run(self, elected: Elected) -> None:
        return None

    async def close(self) -> None:
        return None


class LeaseLeadership:
    """Keeps (or watches) the lease of a shared database. Used from the event loop's thread."""

    def __init__(
        self,
        lease: PostgresLease,
        *,
        address: str,
        timings: LeaseTimings = DEFAULT_LEASE_TIMINGS,
        me: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.me = me
        self.timings = timings
        self.deposed = asyncio.Event()
        self._lease = lease
        self._clock = clock
        self._term = 0  # 0: not leading (yet)
        # The term this process took (kept after it stops leading: its writes stay fenced).
        self._led_term = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = float("-inf")
        self._leader_address = ""
        self._on_deposed: Deposed | None = None
        # Set once the engine took charge of what it leads (records loaded, work resumed).
        self._in_charge = False
        self._elected_task: asyncio.Task[None] | None = None

    @property
    def term(self) -> int:
        return self._term

    @property
    def leading(self) -> bool:
        if self._term == 0 or self.deposed.is_set():
            return False
        if may_command(self._clock(), self._deadline):
            return True
        self._step_down("its lease lapsed before it could renew it")
        return False

    @property
    def serving(self) -> bool:
        """Whether clients are answered: leading, and in charge (a watcher subscribed before
        the records were loaded would miss the migrations in them)."""
        return self._in_charge and self.leading

    def mark_in_charge(self) -> None:
        self._in_charge = True

    @property
    def leader_address(self) -> str:
        return self.address if self.leading else self._leader_address

    def commanding_term(self) -> int:
        """The term to command hosts under; raises NotLeader when this engine does not lead
        (any more: a lapsed lease deposes it here, before the call goes out)."""
        if not self.leading:
            raise NotLeader(self._leader_address)
        return self._term

    async def first_look(self, deposed: Deposed) -> int:
        """Looks at the lease once: the term when this engine took it (it was free), else 0.
        `deposed` is called once if this engine leads and then loses the lease."""
        self._on_deposed = deposed
        self._loop = asyncio.get_running_loop()
        return await self._look()

    def write_fence(self) -> LeaseFence:
        """The fence of this engine's store writes: once it has led, a write lands only while
        the lease in the database is still its own (a refused one deposes it)."""
        return LeaseFence(
            self.me, lambda: self._led_term, self._fenced_out, stall_limit_s=self.timings.ttl_s
        )

    def _fenced_out(self, why: str) -> None:
        """From the store's thread: the database says another term began (or ours lapsed)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._step_down, why)

    async def run(self, elected: Elected) -> None:
        """Keeps the lease while leading, looks at it while following; when it is taken,
        `elected(term)` runs beside the keeper. Returns when deposed."""
        while not self.deposed.is_set():
            await asyncio.sleep(self.timings.renew_every_s)
            if self._term != 0:
                await self._renew()
            elif term := await self._look():
                self._elected_task = asyncio.get_running_loop().create_task(
                    elected(term), name="take-charge"
                )

    async def _look(self) -> int:
        try:
            lease = await self._lease.read()
        except LeaseStoreError as error:
            log.warning("%s", error)
            return 0
        step = next_step(lease, self.me, leading=False)
        if step is not LeaseStep.TAKE_OVER:
            self._leader_address = lease.address if lease is not None else ""
            return 0
        sent_at = self._clock()
        try:
            term = await self._lease.take_over(
                self.me, self.address, lease.term if lease else 0, self.timings.ttl_s
            )
        except LeaseStoreError as error:
            log.warning("%s", error)
            return 0
        if term is None:  # another engine was faster
            return 0
        self._term, self._deadline = term, command_deadline(sent_at, self.timings)
        self._led_term = term
        self._leader_address = self.address
        log.info("this engine leads, term %d (advertised as %s)", term, self.address)
        return term

    async def _renew(self) -> None:
        if not self.leading:  # lapsed meanwhile (paused?): deposed, nothing to renew
            return
        sent_at = self._clock()
        try:
            renewed = await self._lease.renew(self.me, self.address, self._term, self.timings.ttl_s)
        except LeaseStoreError as error:
            log.warning("%s", error)
            if error.connection_lost:
                # The engine's other sessions (its store's) may be gone with it: a leader that
                # cannot write its state must hand over rather than linger in charge.
                self._step_down("its database connection was lost")
            else:  # tried again at the next renewal; `leading` deposes past the deadline
                _ = self.leading
            return
        if not renewed:
            self._step_down("another engine holds the lease")
            return
        if self.leading:
            self._deadline = command_deadline(sent_at, self.timings)

    def _step_down(self, why: str) -> None:
        if self.deposed.is_set():
            return
        log.error(
            "this engine no longer leads (term %d): %s; it commands nothing more", self._term, why
        )
        self.deposed.set()
        if self._on_deposed is not None:
            self._on_deposed()

    async def close(self) -> None:
        """Ends the keeping; a leader still in charge hands the lease back (a follower takes
        over at its next look rather than when the lease would have expired)."""
        if self._elected_task is not None and not self._elected_task.done():
            self._elected_task.cancel()
        if self.leading:
            term, self._term = self._term, 0
            try:
                await self._lease.release(self.me, term)
            except LeaseStoreError as error:
                log.warning("lease not handed back (it expires by itself): %s", error)
            else:
                log.info("handed the lease of term %d back", term)
        await self._lease.close()
