"""The engine's side of fencing, against a real agent server on loopback: every call carries
the commanding term; a stale one is refused by the agent (STALE_ENGINE_TERM); and an engine
that no longer leads sends nothing at all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.engine.agent_client import AgentCallError, AgentCallErrorKind, AgentClients
from miglane.engine.domain.errors import NotLeader
from miglane.v1.leadership import STALE_ENGINE_TERM


@pytest.fixture
async def agent(tmp_path) -> AsyncIterator[FakeAgent]:  # type: ignore[no-untyped-def]
    _, agents = await start_fake_agents(1, 1, state_root=str(tmp_path), insecure=True)
    yield agents[0]
    await stop_fake_agents(agents, grace=0)


@pytest.fixture
async def clients() -> AsyncIterator[AgentClients]:
    made = AgentClients()
    yield made
    await made.close()


async def test_calls_carry_the_term_and_a_stale_one_is_refused(
    agent: FakeAgent, clients: AgentClients
) -> None:
    clients.command_under(lambda: 5)
    await clients.list_vms(agent.address)
    assert agent.agent.engine_terms.highest == 5
    clients.command_under(lambda: 4)
    with pytest.raises(AgentCallError) as refused:
        await clients.capabilities(agent.address)
    assert refused.value.kind is AgentCallErrorKind.REFUSED
    assert refused.value.reason == STALE_ENGINE_TERM


async def test_an_engine_that_does_not_lead_sends_nothing(
    agent: FakeAgent, clients: AgentClients
) -> None:
    offered: list[int | None] = []
    admit = agent.agent.engine_terms.admit
    agent.agent.engine_terms.admit = lambda term: (offered.append(term), admit(term))[1]  # type: ignore[method-assign]
    clients.command_under(lambda: 2)
    await clients.list_vms(agent.address)
    assert offered == [2]

    def deposed() -> int:
        raise NotLeader("127.0.0.1:1")

    clients.command_under(deposed)
    for call in (
        clients.capabilities(agent.address),
        clients.list_vms(agent.address),
        clients.status(agent.address, "m1"),
        clients.cancel(agent.address, "m1"),
        clients.list_jobs(agent.address),
    ):
        with pytest.raises(NotLeader):
            await call
    with pytest.raises(NotLeader):
        async for _ in clients.watch(agent.address, "m1"):
            pass
    assert offered == [2]
