"""The TUI with several engines: it talks to the leader (a follower named first sends it
there), says which engine it talks to, and when the leader dies reconnects by itself to the
engine that took over."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from miglane.testing.engine_ensemble import EngineEnsemble
from miglane.testing.postgres import postgres_available
from miglane.tui.grpc_client import GrpcEngineClient

from .helpers import SIZE, make_app, wait_for_text

pytestmark = pytest.mark.skipif(
    not postgres_available(), reason="Debian's postgresql not installed"
)


@pytest.fixture
async def ensemble(tmp_path: Path) -> AsyncIterator[EngineEnsemble]:
    async with EngineEnsemble(tmp_path, engines=2) as running:
        yield running


async def test_the_tui_follows_the_leader(ensemble: EngineEnsemble) -> None:
    leader = await ensemble.leader()
    await ensemble.add_cluster(leader)
    follower = next(e for e in ensemble.processes if e is not leader)
    client = GrpcEngineClient(f"{follower.address},{leader.address}", ensemble.admin)
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"connected to {leader.address}")
        await wait_for_text(pilot, ensemble.agents[0].name)
        leader.signal(signal.SIGKILL)
        try:
            await wait_for_text(pilot, f"connected to {follower.address}", timeout=60)
        except AssertionError:
            print("FEEDS", app.feed_states, "CLIENT", client.address)
            print("FOLLOWER LOG", follower.log()[-6000:])
            raise
        assert app.sub_title == follower.address
