"""The leader lease in PostgreSQL: one row (term, holder, address, expiry by the database's
clock) read, taken over and renewed by compare-and-set statements on a connection of its own.

A lease row rather than an advisory lock: a lock lives as long as its session, so a leader that
is paused (SIGSTOP) or whose host stops answering keeps it for as long as the server keeps the
connection (TCP keepalive: minutes, or forever for a stopped process on the same machine) and
nobody could take over within seconds. An expiry in the row bounds takeover by the lease's time
to live whatever the old leader's state, and the term counter in the same row fences it.

Every statement checks its own precondition (the row's term and holder, the expiry against the
database's `now()`), so two engines racing for the lease cannot both win."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from miglane.engine.domain.errors import NotLeader
from miglane.engine.domain.leadership import Lease
from miglane.engine.store_dialect import Database

log = logging.getLogger(__name__)

LEASE_TABLE = "engine_lease"
# A statement that takes longer than this counts as a failure (a hung server must not hold the
# leader past its deadline without it noticing).
STATEMENT_TIMEOUT_S = 2.0

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {LEASE_TABLE} (
    id integer PRIMARY KEY CHECK (id = 1),
    term bigint NOT NULL,
    holder text NOT NULL,
    address text NOT NULL,
    expires_at timestamptz NOT NULL
)"""
_SEED = f"""
INSERT INTO {LEASE_TABLE} (id, term, holder, address, expires_at)
VALUES (1, 0, '', '', 'epoch') ON CONFLICT (id) DO NOTHING"""
_READ = f"""
SELECT term, holder, address, EXTRACT(EPOCH FROM expires_at - now())::float8
FROM {LEASE_TABLE} WHERE id = 1"""
_TAKE_OVER = f"""
UPDATE {LEASE_TABLE}
SET term = term + 1, holder = %(me)s, address = %(address)s,
    expires_at = now() + make_interval(secs => %(ttl)s)
WHERE id = 1 AND term = %(seen_term)s AND (expires_at <= now() OR holder = %(me)s)
RETURNING term"""
_RENEW = f"""
UPDATE {LEASE_TABLE}
SET expires_at = now() + make_interval(secs => %(ttl)s), address = %(address)s
WHERE id = 1 AND term = %(term)s AND holder = %(me)s AND expires_at > now()
RETURNING term"""

_RELEASE = f"""
UPDATE {LEASE_TABLE} SET expires_at = now()
WHERE id = 1 AND term = %(term)s AND holder = %(me)s AND expires_at > now()
RETURNING term"""

# In the store's own transaction (its `?` placeholders), just before it commits.
_FENCE = f"""
SELECT term, holder, address, expires_at > clock_timestamp() AS live
FROM {LEASE_TABLE} WHERE id = 1 FOR SHARE"""


class LeaseStoreError(Exception):
    """The database could not be asked: `connection_lost` when the session broke or could not
    be opened (terminated, server gone), False for a statement that took too long."""

    def __init__(self, message: str, *, connection_lost: bool) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost


class PostgresLease:
    """The lease row of one database, on a dedicated autocommit connection opened lazily and
    opened again after it broke. Used from one task at a time."""

    def __init__(self, url: str, *, timeout_s: float = STATEMENT_TIMEOUT_S) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._connection: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    async def _connected(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        connection = await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=max(1, round(self._timeout_s)),
            application_name="miglane-engine-lease",
        )
        await connection.execute(_CREATE)
        await connection.execute(_SEED)
        self._connection = connection
        return connection

    async def _fetch(
        self, statement: str, parameters: dict[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                connection = await self._connected()
                cursor = await connection.execute(statement, parameters)
                return await cursor.fetchone()
        except (psycopg.Error, TimeoutError, OSError) as error:
            await self._drop()
            lost = isinstance(error, psycopg.OperationalError | OSError)
            raise LeaseStoreError(
                f"the lease could not be read or written: {error or type(error).__name__}",
                connection_lost=lost,
            ) from None

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def read(self) -> Lease | None:
        row = await self._fetch(_READ)
        if row is None:
            return None
        term, holder, address, remaining = row
        return Lease(int(term), str(holder), str(address), float(remaining))

    async def take_over(self, me: str, address: str, seen_term: int, ttl_s: float) -> int | None:
        """Takes the lease as `me` if it is still the lease of `seen_term`, expired or held by
        `me` (a dead predecessor on the same state dir); the new term, or None when another
        engine was faster."""
        row = await self._fetch(
            _TAKE_OVER, {"me": me, "address": address, "seen_term": seen_term, "ttl": ttl_s}
        )
        return None if row is None else int(row[0])

    async def renew(self, me: str, address: str, term: int, ttl_s: float) -> bool:
        """Extends our live lease of `term`; False when it is no longer ours or lapsed."""
        row = await self._fetch(_RENEW, {"me": me, "address": address, "term": term, "ttl": ttl_s})
        return row is not None

    async def release(self, me: str, term: int) -> None:
        """Ends our lease of `term` now (a graceful stop), if it is still ours."""
        await self._fetch(_RELEASE, {"me": me, "term": term})

    async def close(self) -> None:
        await self._drop()


class LeaseFence:
    """A leader's store writes fenced by its lease: each write transaction reads the lease row
    FOR SHARE just before it commits, and lands only if the row still names this engine
    (`me`) under the term it took, unexpired. The share lock makes a takeover (an UPDATE of
    that row) wait for the commit, so every write of a term is ordered before the next term
    begins: a leader paused past its lease and woken up writes nothing over its successor's
    state, whatever it has not noticed yet. A refused write raises NotLeader (naming the engine
    that took over) after telling `fenced_out` why, from the store's thread.

    `led_term()` is the term this engine took (0 until it first leads: a follower's writes,
    such as none, are not checked). A write transaction left idle for the lease's time to live
    (`stall_limit_s`: its process paused mid-write, and deposed by then) is ended by the server,
    so its row locks do not hold up the successor."""

    def __init__(
        self,
        me: str,
        led_term: Callable[[], int],
        fenced_out: Callable[[str], None],
        *,
        stall_limit_s: float,
    ) -> None:
        self._me = me
        self._led_term = led_term
        self._fenced_out = fenced_out
        self.stall_limit_s = stall_limit_s

    def check(self, database: Database) -> None:
        term = self._led_term()
        if not term:
            return
        row = database.execute(_FENCE).fetchone()
        if (
            row is not None
            and row["live"]
            and int(row["term"]) == term
            and row["holder"] == self._me
        ):
            return
        if row is None or int(row["term"]) == term:
            why, leader = f"its lease of term {term} lapsed", ""
        else:
            why, leader = (
                f"term {int(row['term'])} was taken by {row['holder']}",
                str(row["address"]),
            )
        self._fenced_out(f"a store write was refused: {why}")
        raise NotLeader(leader)
