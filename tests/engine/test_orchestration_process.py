"""kill -9 of the engine process in the middle of migrations: after a restart on the same
state dir, the running migration is found again at its agent and finishes in the records, and
the queued one resumes. The agents are real gRPC servers on the fake driver, in this process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from orchestration_support import FINAL, wait_for

from miglane.agent.testing import start_fake_agents, stop_fake_agents
from miglane.pki import CertificateAuthority
from miglane.testing.api_clusters import cluster_of_agents
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

LISTENING = re.compile(r"^engine listening on (\S+)$")


def start_engine_process(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "miglane.engine",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(state_dir),
            "--poll-interval",
            "0.2",
            "--busy-retry-s",
            "0.5",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        match = LISTENING.match(line.strip())
        if match:
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("the engine did not report its address")


@pytest.fixture
def engines() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def test_kill_9_mid_migration_then_restart_finishes_everything(
    tmp_path: Path, engines: list[subprocess.Popen[str]]
) -> None:
    # The engine process's CA (its default PKI directory), made first: the agents' credentials
    # come from it.
    authority = CertificateAuthority.init(tmp_path / "engine" / "pki")
    admin = admin_credentials(authority)
    _, agents = await start_fake_agents(
        3,
        vms_per_host=2,
        vm_memory_mib=1024,
        speed=5,
        poll_interval=0.05,
        state_root=str(tmp_path / "agents"),
        authority=authority,
    )
    try:
        process, address = start_engine_process(tmp_path / "engine")
        engines.append(process)
        async with engine_channel(address, admin) as channel:
            stub = engine_pb2_grpc.EngineServiceStub(channel)
            _, added = await cluster_of_agents(
                stub,
                agents,
                policy=engine_pb2.MigrationPolicy(max_outgoing_per_host=1),
                vms=6,
            )
            hosts = [host.id for host in added]
            running = (
                await stub.MigrateVm(
                    engine_pb2.MigrateVmRequest(
                        vm_id=agents[0].vm_ids[0],
                        destination_host_id=hosts[1],
                        max_bandwidth_mib_per_second=150,
                    )
                )
            ).migration
            queued = (
                await stub.MigrateVm(engine_pb2.MigrateVmRequest(vm_id=agents[0].vm_ids[1]))
            ).migration
            assert queued.phase == common_pb2.MIGRATION_PHASE_QUEUED
            await wait_for(
                lambda: stub.GetMigration(engine_pb2.GetMigrationRequest(migration_id=running.id)),
                lambda r: (
                    r.migration.phase == common_pb2.MIGRATION_PHASE_RUNNING
                    and r.migration.data_processed_bytes > 0
                ),
                60,
            )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

        process, address = start_engine_process(tmp_path / "engine")
        engines.append(process)
        async with engine_channel(address, admin) as channel:
            stub = engine_pb2_grpc.EngineServiceStub(channel)

            async def get(migration_id: str) -> engine_pb2.Migration:
                reply = await stub.GetMigration(
                    engine_pb2.GetMigrationRequest(migration_id=migration_id)
                )
                return reply.migration

            done = await wait_for(lambda: get(running.id), lambda m: m.phase in FINAL, 30)
            assert done.phase == common_pb2.MIGRATION_PHASE_COMPLETED, done
            assert done.progress_percent == 100 and done.downtime.ToMilliseconds() > 0
            later = await wait_for(lambda: get(queued.id), lambda m: m.phase in FINAL, 30)
            assert later.phase == common_pb2.MIGRATION_PHASE_COMPLETED, later
            events = (await stub.ListEvents(engine_pb2.ListEventsRequest(page_size=1000))).events
            completed = {
                e.migration_id
                for e in events
                if e.type == engine_pb2.EVENT_TYPE_MIGRATION_COMPLETED
            }
            assert {running.id, queued.id} <= completed
    finally:
        await stop_fake_agents(agents, grace=0)
