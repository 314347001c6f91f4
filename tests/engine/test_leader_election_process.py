"""Leader election between `miglane engine` processes on one PostgreSQL, with real signals:
the follower answers NOT_SERVING and refuses EngineService naming the leader; the leader killed
with SIGKILL, paused with SIGSTOP past its lease, cut from the database or with its sessions
terminated is replaced by the follower, which carries the migrations on (none lost, none run
twice); a paused leader woken up commands no host and ends itself. Agents are real gRPC servers
on the fake driver."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from miglane.engine.domain.leadership import DEFAULT_LEASE_TIMINGS
from miglane.engine.runner import DEPOSED_EXIT_CODE
from miglane.testing.engine_ensemble import EngineEnsemble, EngineProcess, eventually
from miglane.testing.postgres import postgres_available
from miglane.v1 import engine_pb2
from miglane.v1.leadership import LEADER_ADDRESS_KEY, NOT_LEADER
from miglane.v1.rich_errors import error_details

pytestmark = pytest.mark.skipif(
    not postgres_available(), reason="Debian's postgresql not installed"
)


@pytest.fixture
async def ensemble(tmp_path: Path) -> AsyncIterator[EngineEnsemble]:
    async with EngineEnsemble(tmp_path, engines=2) as running:
        yield running


def other(ensemble: EngineEnsemble, engine: EngineProcess) -> EngineProcess:
    return next(e for e in ensemble.processes if e is not engine)


async def exit_status(engine: EngineProcess, timeout_s: float = 30.0) -> int:
    async def status() -> int | None:
        return engine.process.poll()

    code = await eventually(status, lambda c: c is not None, timeout_s)
    assert code is not None
    return code


async def test_the_follower_refuses_naming_the_leader(ensemble: EngineEnsemble) -> None:
    leader = await ensemble.leader()
    follower = other(ensemble, leader)
    assert not await ensemble.serving(follower)
    async with ensemble.stub(follower) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateCluster(engine_pb2.CreateClusterRequest(name="nope"))
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    said = error_details(refused.value.trailing_metadata())
    assert said.reason == NOT_LEADER
    assert said.metadata[LEADER_ADDRESS_KEY] == leader.address
    assert leader.address in (refused.value.details() or "")
    # Nothing was created: the leader has no cluster.
    async with ensemble.stub(leader) as stub:
        assert not (await stub.ListClusters(engine_pb2.ListClustersRequest())).clusters


async def test_kill_9_of_the_leader_the_follower_carries_on(ensemble: EngineEnsemble) -> None:
    leader = await ensemble.leader()
    await ensemble.add_cluster(leader)
    ids = await ensemble.start_migrations(leader)
    leader.signal(signal.SIGKILL)
    successor = await ensemble.leader([other(ensemble, leader)])
    assert await ensemble.outcome(successor, ids) == (0, 0)


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    await eventually(lambda: asyncio.sleep(0), lambda _: condition(), timeout_s)


def record_terms(ensemble: EngineEnsemble) -> list[tuple[float, int | None]]:
    """Every term offered to any agent from now on, with when it came."""
    seen: list[tuple[float, int | None]] = []
    for agent in ensemble.agents:
        terms = agent.agent.engine_terms
        admit = terms.admit

        def recording(offered: int | None, admit=admit) -> None:  # type: ignore[no-untyped-def]
            seen.append((time.monotonic(), offered))
            admit(offered)

        terms.admit = recording  # type: ignore[method-assign]
    return seen


async def test_a_paused_leader_woken_up_commands_and_writes_nothing(
    ensemble: EngineEnsemble,
) -> None:
    leader = await ensemble.leader()
    # Recording first: the leader's host streams open when the cluster's hosts are added.
    seen = record_terms(ensemble)
    await ensemble.add_cluster(leader)
    await until(lambda: bool(seen))  # the leader watches the agents
    # Running migrations: progress the old leader holds in memory and would write when woken.
    ids = await ensemble.start_migrations(leader)
    old_term = max(term or 0 for _, term in seen)
    ensemble.record_writes()
    leader.signal(signal.SIGSTOP)
    successor = await ensemble.leader([other(ensemble, leader)])
    await until(lambda: max(t or 0 for _, t in seen) > old_term)
    # Whatever the old leader had committed before it was paused is counted here; a write of
    # its own that was under way is not (not committed) and must never land.
    written_before = ensemble.writes_by(leader)
    woken_at = time.monotonic()
    leader.signal(signal.SIGCONT)
    assert await exit_status(leader) == DEPOSED_EXIT_CODE
    assert ensemble.writes_by(leader) == written_before
    assert ensemble.writes_by(successor) > 0  # the log sees the engines' writes
    # Whatever reaches the agents after the wake-up (the successor's calls, any stream the
    # old leader would reopen): none of the old term.
    await asyncio.sleep(2 * DEFAULT_LEASE_TIMINGS.renew_every_s)
    after = [term for at, term in seen if at > woken_at]
    assert old_term not in after
    assert "no longer leads" in leader.log()
    assert await ensemble.serving(successor)
    assert await ensemble.outcome(successor, ids) == (0, 0)


async def test_a_leader_cut_from_the_database_is_replaced(ensemble: EngineEnsemble) -> None:
    leader = await ensemble.leader()
    await ensemble.add_cluster(leader)
    ids = await ensemble.start_migrations(leader)
    ensemble.cut_from_database(leader)
    successor = await ensemble.leader([other(ensemble, leader)])
    assert await exit_status(leader) == DEPOSED_EXIT_CODE
    assert await ensemble.outcome(successor, ids) == (0, 0)


async def test_a_leader_whose_sessions_are_terminated_hands_over(
    ensemble: EngineEnsemble,
) -> None:
    leader = await ensemble.leader()
    await ensemble.add_cluster(leader)
    ids = await ensemble.start_migrations(leader)
    ensemble.terminate_sessions(leader)
    successor = await ensemble.leader([other(ensemble, leader)])
    assert await exit_status(leader) == DEPOSED_EXIT_CODE
    assert await ensemble.outcome(successor, ids) == (0, 0)
