"""The engine's and the agents' Prometheus endpoints over fake agents: figures checked against
the migrations' own records while they run and after they ended, gRPC calls counted per
method and code, queue reasons named by kind."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from metrics_support import scrape
from orchestration_support import FINAL, wait_for

from miglane.agent import cli as agent_cli
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.engine import cli as engine_cli
from miglane.engine.app import Engine
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.model import MIB, MigrationPolicy
from miglane.engine.metrics import queue_reason_kind
from miglane.metrics.listen import METRICS_OFF, parse_metrics_listen
from miglane.testing.engine_stack import (
    engine_authority,
    fake_agent_cluster,
    start_engine,
    wait_until_polled,
)
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc

VMS = 3
MEMORY_MIB = 1024
CAP_MIBPS = 32


@dataclass
class Watched:
    engine: Engine
    agents: list[FakeAgent]
    stub: engine_pb2_grpc.EngineServiceStub

    @property
    def engine_url(self) -> str:
        assert self.engine.metrics_endpoint is not None
        return self.engine.metrics_endpoint.url

    def agent_url(self, index: int) -> str:
        endpoint = self.agents[index].metrics_endpoint
        assert endpoint is not None
        return endpoint.url


@contextlib.asynccontextmanager
async def watched(tmp: Path) -> AsyncIterator[Watched]:
    """Two fake hosts with metrics, host0 holding the VMs; one outgoing migration at a time."""
    _, agents = await start_fake_agents(
        2,
        vms_per_host=VMS,
        vm_memory_mib=MEMORY_MIB,
        speed=20.0,
        poll_interval=0.05,
        state_root=str(tmp / "agents"),
        authority=engine_authority(tmp / "engine"),
        metrics=True,
    )
    engine = await start_engine(tmp / "engine", metrics_listen="127.0.0.1:0")
    channel = engine_channel(engine.address, admin_credentials(engine.authority))
    try:
        cluster_id, _ = await fake_agent_cluster(
            engine, agents, policy=MigrationPolicy(max_outgoing_per_host=1)
        )
        await wait_until_polled(engine, cluster_id, hosts=2, vms=2 * VMS)
        yield Watched(engine, agents, engine_pb2_grpc.EngineServiceStub(channel))
    finally:
        await channel.close()
        await engine.stop(0.5)
        await stop_fake_agents(agents, grace=0)


async def test_scrapes_match_the_migrations_records(tmp_path: Path) -> None:
    async with watched(tmp_path) as world:
        started = [
            (
                await world.stub.MigrateVm(
                    engine_pb2.MigrateVmRequest(vm_id=vm_id, max_bandwidth_mib_per_second=CAP_MIBPS)
                )
            ).migration
            for vm_id in world.agents[0].vm_ids
        ]
        running = await wait_for(
            lambda: world.stub.GetMigration(
                engine_pb2.GetMigrationRequest(migration_id=started[0].id)
            ),
            # Its first progress sample in (the agent's answer to migrate may come before its
            # first job stats).
            lambda r: (
                r.migration.phase == common_pb2.MIGRATION_PHASE_RUNNING
                and r.migration.data_total_bytes > 0
            ),
        )
        during = await scrape(world.engine_url)
        assert during.value("miglane_vmi_migrations_in_running_phase") == 1
        assert during.value("miglane_vmi_migrations_in_queued_phase") == VMS - 1
        assert during.value("miglane_migration_queue_length", reason="source_limit") == VMS - 1
        assert during.value("miglane_host_migrations_outgoing", host="host0") == 1
        assert during.value("miglane_host_migrations_outgoing_limit", host="host0") == 1
        assert during.value("miglane_host_migrations_incoming", host="host1") == 1
        mid = running.migration.id
        assert (
            during.value("miglane_vmi_migration_data_total_bytes", migration=mid)
            == running.migration.data_total_bytes
            == MEMORY_MIB * MIB
        )
        assert during.value(
            "miglane_vmi_migration_start_time_seconds", migration=mid, source="host0"
        ) == pytest.approx(running.migration.started_at.ToNanoseconds() / 1e9)
        agent_during = await scrape(world.agent_url(0))
        assert agent_during.value("miglane_agent_migrations_outgoing") == 1
        assert agent_during.value("miglane_agent_migrations_outgoing_limit") >= 1
        assert (
            agent_during.value("miglane_vmi_migration_data_total_bytes", migration=mid)
            == MEMORY_MIB * MIB
        )
        assert agent_during.value("miglane_agent_nic_transmit_bytes_total", nic="mig0") > 0

        ended = [
            await wait_for(
                lambda m=m: world.stub.GetMigration(
                    engine_pb2.GetMigrationRequest(migration_id=m.id)
                ),
                lambda r: r.migration.phase in FINAL,
                60,
            )
            for m in started
        ]
        records = [r.migration for r in ended]
        assert all(m.phase == common_pb2.MIGRATION_PHASE_COMPLETED for m in records)
        after = await scrape(world.engine_url)
        agent_after = await scrape(world.agent_url(0))
        assert after.value("miglane_migrations_ended_total", phase="completed") == VMS
        assert after.value("miglane_vmi_migrations_in_running_phase") == 0
        durations = [
            (m.finished_at.ToNanoseconds() - m.started_at.ToNanoseconds()) / 1e9 for m in records
        ]
        assert after.value("miglane_migration_duration_seconds_count") == VMS
        assert after.value("miglane_migration_duration_seconds_sum") == pytest.approx(
            sum(durations)
        )
        assert after.value("miglane_migration_downtime_seconds_sum") == pytest.approx(
            sum(m.downtime.ToMilliseconds() for m in records) / 1000
        )
        carried = after.value(
            "miglane_migration_carried_bytes_total", network="migration", host="host0", nic="mig0"
        )
        assert carried == sum(m.data_processed_bytes for m in records)
        for m in records:
            assert after.value("miglane_vmi_migration_succeeded", migration=m.id) == 1
            assert after.value("miglane_vmi_migration_failed", migration=m.id) == 0
            assert (
                after.value("miglane_vmi_migration_data_processed_bytes", migration=m.id)
                == m.data_processed_bytes
            )
            assert after.value(
                "miglane_vmi_migration_end_time_seconds", migration=m.id
            ) == pytest.approx(m.finished_at.ToNanoseconds() / 1e9)
            assert (
                agent_after.value(
                    "miglane_migration_nic_transmit_bytes", migration=m.id, nic=m.path_proof.nic
                )
                == m.path_proof.nic_tx_bytes
            )
            assert agent_after.value("miglane_vmi_migration_succeeded", migration=m.id) == 1
        assert (
            after.value(
                "miglane_engine_grpc_server_handled_total", grpc_method="MigrateVm", grpc_code="OK"
            )
            == VMS
        )
        assert (
            agent_after.value(
                "miglane_agent_grpc_server_handled_total", grpc_method="Migrate", grpc_code="OK"
            )
            == VMS
        )


async def test_refused_calls_are_counted_with_their_code(tmp_path: Path) -> None:
    async with watched(tmp_path) as world:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await world.stub.GetMigration(engine_pb2.GetMigrationRequest(migration_id="nope"))
        code = refused.value.code()
        scraped = await scrape(world.engine_url)
        assert (
            scraped.value(
                "miglane_engine_grpc_server_handled_total",
                grpc_service="miglane.engine.v1.EngineService",
                grpc_method="GetMigration",
                grpc_code=code.name,
            )
            == 1
        )
        assert (
            scraped.value(
                "miglane_engine_grpc_server_handling_seconds_count",
                grpc_method="GetMigration",
                grpc_code=code.name,
            )
            == 1
        )


async def test_the_endpoint_answers_metrics_only(tmp_path: Path) -> None:
    async with watched(tmp_path) as world:
        other = world.engine_url.replace("/metrics", "/other")
        with pytest.raises(urllib.error.HTTPError) as missing:
            await asyncio.to_thread(urllib.request.urlopen, other, timeout=10)
        assert missing.value.code == 404


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:9465", ("::1", 9465)),
        (METRICS_OFF, None),
        ("OFF", None),
    ],
)
def test_metrics_listen_parses(text: str, parsed: tuple[str, int] | None) -> None:
    assert parse_metrics_listen(text) == parsed


@pytest.mark.parametrize("text", ["9464", "localhost", "host:port", "127.0.0.1:70000"])
def test_metrics_listen_refuses_saying_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_metrics_listen(text)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (say.source_busy("host1", "3 of 2 outgoing", "12:00"), "agent_busy"),
        (say.destination_refused("host2", "connection refused", 1), "destination_refused"),
        (say.source_unreachable("host1", "deadline exceeded"), "source_unreachable"),
        (say.waits_for_bandwidth(80, 60.0, 20.0), "bandwidth"),
        (say.RERUN_WAITING, "not_yet_considered"),
        (say.WAITING_FOR_QUEUE, "not_yet_considered"),
        ("", "other"),
    ],
)
def test_queue_reasons_by_kind(reason: str, kind: str) -> None:
    assert queue_reason_kind(reason) == kind


async def test_a_metrics_address_given_that_is_taken_stops_the_engine(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OSError, match=f"cannot serve metrics on {address}"):
            await start_engine(tmp_path / "engine", metrics_listen=address)


def agent_parser(parser: argparse.ArgumentParser) -> None:
    """The agent's flags on `parser`, under its subcommand `agent`."""
    agent_cli.register(parser.add_subparsers())


@pytest.mark.parametrize(
    ("add_arguments", "argv"),
    [(engine_cli.add_arguments, []), (agent_parser, ["agent", "--listen", "127.0.0.1:0"])],
)
def test_the_flag_is_checked_by_both_command_lines(
    add_arguments: Callable[[argparse.ArgumentParser], None],
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([*argv, "--metrics-listen", "off"]).metrics_listen == METRICS_OFF
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--metrics-listen", "9464"])
    assert "expected HOST:PORT" in capsys.readouterr().err
