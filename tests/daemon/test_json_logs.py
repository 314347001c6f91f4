"""`--log-format json`: one JSON object a line, and the lines about a migration carry its id,
its VM and its host, in the engine (a process of its own, configured by a TOML file) and in
the agents (real gRPC servers on the fake driver, in this process)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from miglane.agent.testing import start_fake_agents, stop_fake_agents
from miglane.daemon import CONTEXT_FIELDS, log_context, log_handler
from miglane.pki import CertificateAuthority
from miglane.testing.api_clusters import cluster_of_agents
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

START_TIMEOUT_S = 60.0
LISTENING = "engine listening on "


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as JSON (failing on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_line_carries_time_level_logger_message_and_its_context() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("miglane.test.json")
    logger.addHandler(log_handler("json", fields={"host": "host7"}, stream=stream))
    logger.propagate, logger.level = False, logging.INFO
    logger.info("outside")
    with log_context(migration_id="mig-1", vm_id="vm-1", host_id=""):
        logger.warning("inside %d", 2)
        logger.info("own", extra={"migration_id": "mig-2"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    outside, inside, own, failed = json_lines(stream.getvalue())
    assert set(outside) == {"time", "level", "logger", "message", "host"}
    assert (outside["level"], outside["logger"], outside["host"]) == ("INFO", logger.name, "host7")
    assert inside["message"] == "inside 2" and inside["level"] == "WARNING"
    assert (inside["migration_id"], inside["vm_id"]) == ("mig-1", "vm-1")
    assert "host_id" not in inside  # empty values are left out
    assert own["migration_id"] == "mig-2"  # extra= wins over the context
    assert "RuntimeError: boom" in failed["exception"]
    assert outside["time"].endswith("+00:00")


def test_context_fields_are_named_once() -> None:
    with pytest.raises(ValueError, match="unknown log context fields"), log_context(vmid="x"):
        pass
    assert "migration_id" in CONTEXT_FIELDS


@pytest.fixture
def agent_log() -> Iterator[io.StringIO]:
    """The in-process agents' lines, as JSON, stamped with a host as their CLI stamps them."""
    stream = io.StringIO()
    handler = log_handler("json", fields={"host": "fake-hosts"}, stream=stream)
    logger = logging.getLogger("miglane.agent")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def start_engine(state_dir: Path, config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "miglane.cli.main", "engine", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def engine_address(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in json_lines(log_path.read_text()):
            if line["message"].startswith(LISTENING):
                return str(line["message"][len(LISTENING) :])
        assert process.poll() is None, log_path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"engine not listening:\n{log_path.read_text()}")


async def wait_for(fetch: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not done(value := await fetch()):
        assert time.monotonic() < deadline, value
        await asyncio.sleep(0.05)
    return value


async def test_a_migrations_lines_carry_its_ids_in_engine_and_agent(
    tmp_path: Path, agent_log: io.StringIO
) -> None:
    state_dir = tmp_path / "engine"
    authority = CertificateAuthority.init(state_dir / "pki")
    admin = admin_credentials(authority)
    config = tmp_path / "engine.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\nstate-dir = "{state_dir}"\nlog-format = "json"\n'
        "poll-interval = 0.2\n"
    )
    _, agents = await start_fake_agents(
        2, vms_per_host=1, speed=20, poll_interval=0.05, authority=authority
    )
    log_path = tmp_path / "engine.log"
    process = start_engine(state_dir, config, log_path)
    try:
        address = engine_address(process, log_path)
        async with engine_channel(address, admin) as channel:
            stub = engine_pb2_grpc.EngineServiceStub(channel)
            _, hosts = await cluster_of_agents(stub, agents, vms=2)
            vm_id = agents[0].vm_ids[0]
            started = await stub.MigrateVm(
                engine_pb2.MigrateVmRequest(vm_id=vm_id, destination_host_id=hosts[1].id)
            )
            migration_id = started.migration.id
            done = await wait_for(
                lambda: stub.GetMigration(
                    engine_pb2.GetMigrationRequest(migration_id=migration_id)
                ),
                lambda r: r.migration.phase == common_pb2.MIGRATION_PHASE_COMPLETED,
            )
            source_id = done.migration.source_host_id
    finally:
        process.terminate()
        process.wait(10)
        await stop_fake_agents(agents, grace=0)

    engine_lines = json_lines(log_path.read_text())  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in engine_lines)
    about = [line for line in engine_lines if line.get("migration_id") == migration_id]
    events = {line.get("event") for line in about}
    assert {"MIGRATION_STARTED", "MIGRATION_COMPLETED"} <= events, about
    for line in about:
        assert line["vm_id"] == vm_id, line
        assert line["host_id"] == source_id, line

    agent_lines = json_lines(agent_log.getvalue())
    about = [line for line in agent_lines if line.get("migration_id") == migration_id]
    messages = " | ".join(line["message"] for line in about)
    assert "started" in messages and "ended: completed" in messages, agent_lines
    for line in about:
        assert (line["vm_id"], line["host"]) == (vm_id, "fake-hosts"), line
