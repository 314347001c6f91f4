"""Metrics and proof of path on the lab (marker `lab` through the fixtures; root): the engine's
and the source agent's endpoints scraped during and after a real migration and checked against
its record; a migration proven on the migration NIC, then one misrouted on purpose (a route in
the source's namespace sends the destination's migration address out of the management NIC)
flagged as off its path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_engine_support import LabEngine, guests, lab_engine, new_guest
from metrics_support import Scrape, summary_of
from metrics_support import scrape as scrape_url
from orchestration_support import wait_for
from prometheus_client.parser import text_string_to_metric_families

from miglane.agent.cli import DEFAULT_METRICS_LISTEN as AGENT_METRICS
from miglane.v1 import common_pb2, engine_pb2

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

__all__ = ["guests"]

COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
RUNNING = common_pb2.MIGRATION_PHASE_RUNNING
CAP_MIBPS = 24

_FETCH = (
    "import sys, urllib.request; "
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
)


def scrape_agent(lab: Lab, host: str) -> Scrape:
    """The agent's endpoint (its default, loopback inside the host's namespace), fetched by a
    program started in that namespace."""
    process = lab.run_in_host(
        host,
        [sys.executable, "-c", _FETCH, f"http://{AGENT_METRICS}/metrics"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    return Scrape(
        [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(out.decode())
            for sample in family.samples
        ]
    )


async def scrape_engine(engine: LabEngine) -> Scrape:
    endpoint = engine.engine.metrics_endpoint
    assert endpoint is not None
    return await scrape_url(endpoint.url)


async def test_metrics_follow_a_lab_migration(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    status = lab_with_agents
    source = status.hosts[0].name
    name = new_guest(lab, source, guests)
    async with lab_engine(tmp_path, lab, status, metrics_listen="127.0.0.1:0") as engine:
        vm_id = await engine.vm_id(name)
        reply = await engine.stub.MigrateVm(
            engine_pb2.MigrateVmRequest(vm_id=vm_id, max_bandwidth_mib_per_second=CAP_MIBPS)
        )
        mid = reply.migration.id
        running = await wait_for(
            lambda: engine.migration(mid), lambda m: m.phase == RUNNING and m.data_total_bytes, 60
        )
        during = await scrape_engine(engine)
        agent_during = scrape_agent(lab, source)
        assert during.value("miglane_vmi_migrations_in_running_phase") == 1
        assert (
            during.value("miglane_vmi_migration_data_total_bytes", migration=mid, vm=name)
            == running.data_total_bytes
        )
        assert during.value("miglane_host_migrations_outgoing", host=source) == 1
        assert agent_during.value("miglane_agent_migrations_outgoing") == 1
        assert (
            agent_during.value("miglane_vmi_migration_data_total_bytes", migration=mid)
            == running.data_total_bytes
        )

        done = await engine.wait_final(mid, timeout=120)
        assert done.phase == COMPLETED, done.error
        after = await scrape_engine(engine)
        agent_after = scrape_agent(lab, source)
        duration = (done.finished_at.ToNanoseconds() - done.started_at.ToNanoseconds()) / 1e9
        assert after.value("miglane_migrations_ended_total", phase="completed") == 1
        assert after.value("miglane_vmi_migrations_in_running_phase") == 0
        assert after.value("miglane_migration_duration_seconds_count") == 1
        assert after.value("miglane_migration_duration_seconds_sum") == pytest.approx(duration)
        assert after.value("miglane_vmi_migration_succeeded", migration=mid) == 1
        assert (
            after.value("miglane_vmi_migration_data_processed_bytes", migration=mid)
            == done.data_processed_bytes
        )
        assert (
            after.value(
                "miglane_migration_carried_bytes_total",
                network="migration",
                host=source,
                nic="mig0",
            )
            == done.data_processed_bytes
        )
        assert (
            agent_after.value("miglane_vmi_migration_data_processed_bytes", migration=mid)
            == done.data_processed_bytes
        )
        assert agent_after.value("miglane_vmi_migration_succeeded", migration=mid) == 1
        assert (
            agent_after.value("miglane_migration_nic_transmit_bytes", migration=mid, nic="mig0")
            == done.path_proof.nic_tx_bytes
        )
        assert (
            agent_after.value(
                "miglane_agent_grpc_server_handled_total", grpc_method="Migrate", grpc_code="OK"
            )
            >= 1
        )
        assert (
            after.value(
                "miglane_engine_grpc_server_handled_total", grpc_method="MigrateVm", grpc_code="OK"
            )
            == 1
        )


def _route(lab: Lab, host: str, *args: str) -> None:
    process = lab.run_in_host(host, ["ip", "route", *args], stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()


async def test_proof_of_path_confirms_then_flags_a_misroute(
    tmp_path: Path, lab: Lab, lab_with_agents: LabStatus, guests: list[str]
) -> None:
    status = lab_with_agents
    first, second = status.hosts[0], status.hosts[1]
    name = new_guest(lab, first.name, guests)
    async with lab_engine(tmp_path, lab, status) as engine:
        vm_id = await engine.vm_id(name)
        there = await engine.stub.MigrateVm(
            engine_pb2.MigrateVmRequest(
                vm_id=vm_id, destination_host_id=engine.host_ids[second.name]
            )
        )
        done = await engine.wait_final(there.migration.id, timeout=120)
        assert done.phase == COMPLETED, done.error
        proof = done.path_proof
        assert proof.verdict == engine_pb2.PATH_VERDICT_CONFIRMED, proof
        assert proof.nic == "mig0" and proof.nic_tx_bytes >= done.data_processed_bytes
        assert proof.summary == summary_of(proof)

        await wait_for(
            lambda: engine.stub.GetVm(engine_pb2.GetVmRequest(vm_id=vm_id)),
            lambda r: r.vm.host_id == engine.host_ids[second.name] and not r.vm.migration_id,
            30,
        )
        # The destination's migration address, from the source, by the management NIC.
        route = (f"{first.mig_addr}/32", "via", first.mgmt_addr, "dev", "mgmt0")
        _route(lab, second.name, "add", *route)
        try:
            back = await engine.stub.MigrateVm(
                engine_pb2.MigrateVmRequest(
                    vm_id=vm_id, destination_host_id=engine.host_ids[first.name]
                )
            )
            misrouted = await engine.wait_final(back.migration.id, timeout=120)
        finally:
            _route(lab, second.name, "del", *route)
        assert misrouted.phase == COMPLETED, misrouted.error
        assert misrouted.migration_uri == f"tcp://{first.mig_addr}"
        proof = misrouted.path_proof
        assert proof.verdict == engine_pb2.PATH_VERDICT_OFF_PATH, proof
        assert (proof.nic, proof.other_nic) == ("mig0", "mgmt0")
        assert proof.other_nic_tx_bytes >= misrouted.data_processed_bytes
        events = (await engine.stub.ListEvents(engine_pb2.ListEventsRequest(page_size=1000))).events
        flagged = [e for e in events if e.type == engine_pb2.EVENT_TYPE_MIGRATION_OFF_PATH]
        assert [e.migration_id for e in flagged] == [misrouted.id]
        assert f"did not leave {second.name} by mig0" in flagged[0].message
