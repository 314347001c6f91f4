"""Engine-term fencing: the agent's rule as a table, and a real agent server on loopback that
obeys a newer term, refuses an older one (FAILED_PRECONDITION, STALE_ENGINE_TERM) and still
refuses it after a restart over the same state dir."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from miglane.agent.domain.errors import Reason
from miglane.agent.domain.fencing import judge_engine_term
from miglane.agent.engine_terms import TERM_FILE
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc
from miglane.v1.leadership import ENGINE_TERM_KEY, STALE_ENGINE_TERM
from miglane.v1.rich_errors import error_details


@pytest.mark.parametrize(
    ("highest", "offered", "admitted", "remembered"),
    [
        (0, None, True, 0),
        (5, None, True, 5),  # no term (a tool): let through, nothing learnt
        (0, 1, True, 1),
        (5, 5, True, 5),
        (5, 6, True, 6),
        (5, 4, False, 5),
        (5, 1, False, 5),
    ],
)
def test_judge_engine_term(
    highest: int, offered: int | None, admitted: bool, remembered: int
) -> None:
    verdict = judge_engine_term(highest, offered)
    assert (verdict.admitted, verdict.highest) == (admitted, remembered)


def test_the_reason_is_the_contracts() -> None:
    assert Reason.STALE_ENGINE_TERM.value == STALE_ENGINE_TERM


@pytest.fixture
async def agent(tmp_path) -> AsyncIterator[FakeAgent]:  # type: ignore[no-untyped-def]
    _, agents = await start_fake_agents(1, 1, state_root=str(tmp_path))
    yield agents[0]
    await stop_fake_agents(agents, grace=0)


async def capabilities(agent: FakeAgent, term: int | str | None) -> pb.GetCapabilitiesResponse:
    metadata = () if term is None else ((ENGINE_TERM_KEY, str(term)),)
    async with agent.channel() as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return await stub.GetCapabilities(pb.GetCapabilitiesRequest(), metadata=metadata)


async def refused(agent: FakeAgent, term: int | str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await capabilities(agent, term)
    return failure.value


async def test_agent_refuses_a_lower_term_than_it_obeyed(agent: FakeAgent) -> None:
    await capabilities(agent, 3)
    error = await refused(agent, 2)
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "stale engine term" in (error.details() or "")
    assert error_details(error.trailing_metadata()).reason == STALE_ENGINE_TERM
    # The new leader's term and a newer one still work; then the older one is refused too.
    await capabilities(agent, 3)
    await capabilities(agent, 4)
    assert (await refused(agent, 3)).code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_the_highest_term_survives_a_restart(agent: FakeAgent) -> None:
    await capabilities(agent, 7)
    await agent.restart()
    assert (await refused(agent, 6)).code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (agent.agent.engine_terms.path or None) is not None
    assert agent.agent.engine_terms.path.name == TERM_FILE  # type: ignore[union-attr]


async def test_a_malformed_term_is_an_invalid_argument(agent: FakeAgent) -> None:
    error = await refused(agent, "seven")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_the_health_service_is_not_fenced(agent: FakeAgent) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    await capabilities(agent, 9)
    async with agent.channel() as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(
            health_pb2.HealthCheckRequest(service=""), metadata=((ENGINE_TERM_KEY, "1"),)
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
