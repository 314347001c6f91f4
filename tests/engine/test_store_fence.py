"""A leader's store writes fenced by its lease, on a real PostgreSQL: once another engine took
the lease, a write of the old term (a leader paused past its lease that has not noticed) is
refused inside its own transaction, names the new leader, deposes the old one, and leaves the
tables as the new leader wrote them; a takeover during a write transaction is seen at its
commit; a transaction a paused leader left open does not hold up its successor; the leader's
own writes land."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import replace

import pytest

from miglane.engine.domain.errors import NotLeader
from miglane.engine.domain.leadership import Lease, LeaseTimings
from miglane.engine.leadership import LeaseLeadership
from miglane.engine.lease_store import PostgresLease
from miglane.engine.store import Store
from miglane.testing.builders import cluster
from miglane.testing.postgres import PostgresServer, postgres_available

pytestmark = pytest.mark.skipif(
    not postgres_available(), reason="Debian's postgresql not installed"
)

FAST = LeaseTimings(ttl_s=1.0, renew_every_s=0.2, margin_s=0.3)
_databases = itertools.count()


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.create_database(f"fence{next(_databases)}")


class FrozenClock:
    """A paused process's view of time: its deadline never seems to pass."""

    def __call__(self) -> float:
        return 0.0


class Engine:
    """One engine's lease keeping and its fenced store (no keeper running: it renews nothing,
    as a paused process)."""

    def __init__(self, url: str, name: str, *, frozen: bool = False) -> None:
        extra = {"clock": FrozenClock()} if frozen else {}
        self.leadership = LeaseLeadership(
            PostgresLease(url), address=f"{name}:1", timings=FAST, me=name, **extra
        )  # type: ignore[arg-type]
        self.store = Store.connect(url)
        self.store.fence_writes(self.leadership.write_fence())

    async def lead(self) -> int:
        """Takes the lease once it is free; the term."""
        async with asyncio.timeout(10):
            while not (term := await self.leadership.first_look(lambda: None)):
                await asyncio.sleep(0.05)
        return term

    def write(self, name: str) -> None:
        with self.store.transaction():
            self.store.update_cluster(replace(cluster(), name=name))

    async def close(self) -> None:
        await self.leadership.close()
        self.store.close()


async def lapsed(url: str) -> None:
    """Once the lease has expired by the database's clock."""
    lease = PostgresLease(url)
    try:
        async with asyncio.timeout(10):
            while not (await lease.read() or Lease(0, "", "", 0.0)).expired:
                await asyncio.sleep(0.05)
    finally:
        await lease.close()


async def test_a_write_after_another_engine_took_the_lease_is_refused(database: str) -> None:
    old, new = Engine(database, "old", frozen=True), Engine(database, "new")
    try:
        old_term = await old.lead()
        with old.store.transaction():
            old.store.insert_cluster(cluster())
        old.write("old leader's")
        new_term = await new.lead()  # once the old lease expired by the database's clock
        assert new_term > old_term
        new.write("new leader's")
        assert old.leadership.leading  # paused: it has not noticed
        with pytest.raises(NotLeader) as refused:
            old.write("stale")
        assert refused.value.leader_address == new.leadership.address
        assert new.store.get_cluster(cluster().id).name == "new leader's"  # type: ignore[union-attr]
        async with asyncio.timeout(5):
            await old.leadership.deposed.wait()
        with pytest.raises(NotLeader):
            old.leadership.commanding_term()
    finally:
        await old.close()
        await new.close()


async def test_a_takeover_during_a_write_transaction_is_seen_at_its_commit(
    database: str,
) -> None:
    old, new = Engine(database, "old", frozen=True), Engine(database, "new")
    try:
        await old.lead()
        with old.store.transaction():
            old.store.insert_cluster(cluster())
        await lapsed(database)  # (a transaction is not left idle for that long)
        with pytest.raises(NotLeader), old.store.transaction():
            old.store.update_cluster(replace(cluster(), name="stale"))
            await new.lead()
        assert new.store.get_cluster(cluster().id).name == cluster().name  # type: ignore[union-attr]
    finally:
        await old.close()
        await new.close()


async def test_a_leaders_own_writes_land_and_a_followers_are_not_checked(database: str) -> None:
    leader, follower = Engine(database, "leader"), Engine(database, "follower")
    try:
        await leader.lead()
        assert not await follower.leadership.first_look(lambda: None)
        with follower.store.transaction():  # never led: as before fencing
            follower.store.insert_cluster(cluster())
        for k in range(3):
            leader.write(f"name {k}")
        assert leader.store.get_cluster(cluster().id).name == "name 2"  # type: ignore[union-attr]
        assert not leader.leadership.deposed.is_set()
    finally:
        await leader.close()
        await follower.close()


async def test_a_transaction_a_paused_leader_left_open_does_not_hold_up_its_successor(
    database: str,
) -> None:
    old, new = Engine(database, "old", frozen=True), Engine(database, "new")
    try:
        await old.lead()
        with old.store.transaction():
            old.store.insert_cluster(cluster())
        paused = old.store.transaction()
        paused.__enter__()  # paused mid-write: the row stays locked ...
        old.store.update_cluster(replace(cluster(), name="stale"))
        await new.lead()
        async with asyncio.timeout(10 * FAST.ttl_s):  # ... until the server ends the session
            await asyncio.to_thread(new.write, "new leader's")
        assert new.store.get_cluster(cluster().id).name == "new leader's"  # type: ignore[union-attr]
        with contextlib.suppress(Exception):  # woken up: its session is gone
            paused.__exit__(None, None, None)
    finally:
        await old.close()
        await new.close()
