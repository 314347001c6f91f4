"""The operator commands with several engines (`--engine a,b`, MIGLANE_ENGINE): a follower
named first sends them to the leader; the leader killed, they find its successor."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from miglane.cli.engine_client import ENGINE_ADDRESS_ENV
from miglane.cli.main import main
from miglane.pki import CREDENTIALS_ENV
from miglane.testing.engine_ensemble import EngineEnsemble
from miglane.testing.postgres import postgres_available

pytestmark = pytest.mark.skipif(
    not postgres_available(), reason="Debian's postgresql not installed"
)


@pytest.fixture
async def ensemble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EngineEnsemble]:
    async with EngineEnsemble(tmp_path, engines=2, hosts=0) as running:
        monkeypatch.setenv(CREDENTIALS_ENV, str(running.admin.directory))
        yield running


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    # In a thread: the commands block, and this loop serves nothing they need, but it stays live.
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_commands_follow_the_leader(
    capsys: pytest.CaptureFixture[str], ensemble: EngineEnsemble, monkeypatch: pytest.MonkeyPatch
) -> None:
    leader = await ensemble.leader()
    follower = next(e for e in ensemble.processes if e is not leader)
    both = f"{follower.address},{leader.address}"
    code, out, err = await run(capsys, "clusters", "create", "Prod", "--json", "--engine", both)
    assert code == 0, err
    created = json.loads(out)["id"]

    leader.signal(signal.SIGKILL)
    monkeypatch.setenv(ENGINE_ADDRESS_ENV, f"{leader.address},{follower.address}")
    code, out, err = await run(capsys, "clusters", "list", "--json")
    assert code == 0, err
    assert [c["id"] for c in json.loads(out)] == [created]
    assert await ensemble.serving(follower)
