"""The leader lease on a real PostgreSQL: of several engines' keepers exactly one leads; when
it stops renewing another takes over with a higher term; a leader whose lease connection is
terminated renews on a new one; a leader paused past its deadline commands nothing."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import psycopg
import pytest

from miglane.engine.domain.errors import NotLeader
from miglane.engine.domain.leadership import LeaseTimings
from miglane.engine.leadership import LeaseLeadership
from miglane.engine.lease_store import PostgresLease
from miglane.testing.postgres import PostgresServer, postgres_available

pytestmark = pytest.mark.skipif(
    not postgres_available(), reason="Debian's postgresql not installed"
)

FAST = LeaseTimings(ttl_s=1.5, renew_every_s=0.2, margin_s=0.3)
_databases = itertools.count()


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.create_database(f"lease{next(_databases)}")


class Keeper:
    """One engine's leadership, running, with what it was told."""

    def __init__(
        self, url: str, name: str, clock: object = None, timings: LeaseTimings = FAST
    ) -> None:
        extra = {} if clock is None else {"clock": clock}
        self.leadership = LeaseLeadership(
            PostgresLease(url),
            address=f"{name}:1",
            timings=timings,
            me=name,
            **extra,  # type: ignore[arg-type]
        )
        self.elected_terms: list[int] = []
        self.task: asyncio.Task[None] | None = None

    async def _elected(self, term: int) -> None:
        self.elected_terms.append(term)

    async def _keep(self) -> None:
        term = await self.leadership.first_look(lambda: None)
        if term:
            await self._elected(term)
        await self.leadership.run(self._elected)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._keep())

    async def kill(self) -> None:
        """Stops renewing at once, as kill -9 does (the lease is left to expire)."""
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.leadership.close()


@pytest.fixture
async def keepers(database: str) -> AsyncIterator[list[Keeper]]:
    made = [Keeper(database, f"engine-{k}") for k in range(3)]
    yield made
    for keeper in made:
        if keeper.task is not None:
            await keeper.kill()


async def until(condition: object, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def leaders(keepers: list[Keeper]) -> list[Keeper]:
    return [k for k in keepers if k.leadership.leading]


async def test_exactly_one_of_several_engines_leads(keepers: list[Keeper]) -> None:
    for keeper in keepers:
        keeper.start()
    await until(lambda: len(leaders(keepers)) == 1)
    # Several renewals later, still exactly one, and every follower knows where it is.
    for _ in range(10):
        await asyncio.sleep(FAST.renew_every_s)
        assert len(leaders(keepers)) == 1
    leader = leaders(keepers)[0]
    for keeper in keepers:
        assert keeper.leadership.leader_address == leader.leadership.address
    followers = [k for k in keepers if k is not leader]
    for follower in followers:
        with pytest.raises(NotLeader) as refused:
            follower.leadership.commanding_term()
        assert refused.value.leader_address == leader.leadership.address


async def test_a_dead_leaders_lease_is_taken_over_with_a_higher_term(
    keepers: list[Keeper],
) -> None:
    for keeper in keepers:
        keeper.start()
    await until(lambda: len(leaders(keepers)) == 1)
    first = leaders(keepers)[0]
    first_term = first.leadership.commanding_term()
    await first.kill()
    rest = [k for k in keepers if k is not first]
    await until(lambda: len(leaders(rest)) == 1)
    second = leaders(rest)[0]
    assert second.leadership.commanding_term() > first_term
    await until(lambda: bool(second.elected_terms))
    assert second.elected_terms == [second.leadership.term]


async def test_a_leader_whose_connection_is_terminated_hands_over(
    database: str, keepers: list[Keeper]
) -> None:
    leader, follower = keepers[0], keepers[1]
    leader.start()
    await until(lambda: leader.leadership.leading)
    term = leader.leadership.term
    follower.start()
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'miglane-engine-lease' AND pid = ANY(%s)",
            ([await backend_pid(leader)],),
        )
    await until(lambda: leader.leadership.deposed.is_set())
    with pytest.raises(NotLeader):
        leader.leadership.commanding_term()
    await until(lambda: follower.leadership.leading)
    assert follower.leadership.term == term + 1


async def backend_pid(keeper: Keeper) -> int:
    connection = await keeper.leadership._lease._connected()
    return int(connection.info.backend_pid)


async def test_a_leader_cut_from_the_database_stops_commanding_and_is_replaced(
    postgres: PostgresServer, database: str
) -> None:
    # The leader's lease goes through a role that is then barred from logging in.
    name = database.split("@/", 1)[1].split("?")[0]
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE cut_{name} LOGIN SUPERUSER")
    cut_url = database.replace(f"{postgres.user}@", f"cut_{name}@")
    cut, other = Keeper(cut_url, "cut"), Keeper(database, "other")
    cut.start()
    await until(lambda: cut.leadership.leading)
    other.start()
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(f"ALTER ROLE cut_{name} NOLOGIN")
        admin.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cut_{name}'"
        )
    await until(lambda: cut.leadership.deposed.is_set())
    with pytest.raises(NotLeader):
        cut.leadership.commanding_term()
    await until(lambda: other.leadership.leading)
    assert other.leadership.term > cut.leadership.term
    await cut.kill()
    await other.kill()


async def test_a_leader_paused_past_its_deadline_commands_nothing(database: str) -> None:
    now = [0.0]
    paused = Keeper(database, "paused", clock=lambda: now[0])
    paused.start()
    await until(lambda: paused.leadership.leading)
    deposed: list[bool] = []
    paused.leadership._on_deposed = lambda: deposed.append(True)
    now[0] += FAST.ttl_s  # the process slept (SIGSTOP) through its lease
    with pytest.raises(NotLeader):
        paused.leadership.commanding_term()
    assert paused.leadership.deposed.is_set()
    assert deposed == [True]
    await paused.kill()


async def test_a_leader_that_stops_hands_the_lease_over_at_once(database: str) -> None:
    slow = LeaseTimings(ttl_s=60.0, renew_every_s=0.2, margin_s=1.0)
    first, second = (
        Keeper(database, "first", timings=slow),
        Keeper(database, "second", timings=slow),
    )
    first.start()
    await until(lambda: first.leadership.leading)
    first_term = first.leadership.term
    second.start()
    await first.kill()  # cancelled, then closed: a graceful stop
    # Long before the 60 s lease would have expired.
    await until(lambda: second.leadership.leading, timeout_s=slow.ttl_s / 4)
    assert second.leadership.term == first_term + 1
    await second.kill()


async def test_a_restart_on_the_same_state_dir_takes_its_dead_predecessors_lease(
    database: str,
) -> None:
    slow = LeaseTimings(ttl_s=60.0, renew_every_s=0.2, margin_s=1.0)
    before = Keeper(database, "engine-of-state-dir", timings=slow)
    before.start()
    await until(lambda: before.leadership.leading)
    assert before.task is not None
    before.task.cancel()  # killed: nothing handed back, the lease stays alive for a minute
    await asyncio.gather(before.task, return_exceptions=True)
    await before.leadership._lease.close()
    after = Keeper(database, "engine-of-state-dir", timings=slow)
    after.start()
    await until(lambda: after.leadership.leading, timeout_s=slow.ttl_s / 4)
    assert after.leadership.term == before.leadership.term + 1
    await after.kill()
