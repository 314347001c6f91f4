"""next_status / reported_host: what one agent poll makes of a host."""

from __future__ import annotations

from dataclasses import replace

import pytest

from miglane.engine.domain.host_status import (
    MAINTENANCE_STATES,
    AgentReport,
    next_status,
    reported_host,
    reported_vms,
    status_leaving_maintenance,
)
from miglane.engine.domain.model import HostFacts, HostStatus, Nic

from .builders import MANAGEMENT, MIGRATION, T0, host, vm

NETWORKS = [MANAGEMENT, replace(MIGRATION, required=True)]
BOTH_UP = (Nic("mgmt0", ("10.0.0.1/24",)), Nic("mig0", ("10.0.2.1/24",)))
MIG_DOWN = (Nic("mgmt0", ("10.0.0.1/24",)), Nic("mig0", ("10.0.2.1/24",), link_up=False))


@pytest.mark.parametrize(
    ("before", "report", "status", "reason"),
    [
        pytest.param(
            HostStatus.UP, AgentReport(reachable=False, error="timeout"), HostStatus.UNREACHABLE,
            "agent at {address} unreachable: timeout", id="unreachable with the error",
        ),
        pytest.param(
            HostStatus.UP, AgentReport(reachable=False), HostStatus.UNREACHABLE,
            "agent at {address} unreachable: no answer", id="unreachable without error",
        ),
        pytest.param(
            HostStatus.MAINTENANCE, AgentReport(reachable=False), HostStatus.UNREACHABLE,
            "agent at {address} unreachable: no answer", id="unreachable even in maintenance",
        ),
        pytest.param(
            HostStatus.UNREACHABLE, AgentReport(reachable=True, nics=BOTH_UP), HostStatus.UP,
            "", id="required networks up",
        ),
        pytest.param(
            HostStatus.UP, AgentReport(reachable=True, nics=MIG_DOWN), HostStatus.NON_OPERATIONAL,
            "required network 'migration' is down: the link of mig0 is down", id="required down",
        ),
        pytest.param(
            HostStatus.MAINTENANCE, AgentReport(reachable=True, nics=MIG_DOWN),
            HostStatus.MAINTENANCE, "kept", id="maintenance kept",
        ),
        pytest.param(
            HostStatus.PREPARING_FOR_MAINTENANCE, AgentReport(reachable=True, nics=BOTH_UP),
            HostStatus.PREPARING_FOR_MAINTENANCE, "kept", id="preparing kept",
        ),
    ],
)  # fmt: skip
def test_next_status(
    before: HostStatus, report: AgentReport, status: HostStatus, reason: str
) -> None:
    polled = host(1, status=before, status_reason="kept").host
    verdict = next_status(polled, report, NETWORKS)
    assert verdict.status is status
    assert verdict.reason == reason.format(address=polled.agent_address)


def test_maintenance_states_are_the_two_maintenance_statuses() -> None:
    assert {HostStatus.MAINTENANCE, HostStatus.PREPARING_FOR_MAINTENANCE} == MAINTENANCE_STATES


def test_a_reachable_report_updates_nics_facts_and_last_seen() -> None:
    polled = host(1, status=HostStatus.UNREACHABLE).host
    facts = HostFacts(hostname="h1.lab", cpus=8)
    updated = reported_host(polled, AgentReport(True, nics=BOTH_UP, facts=facts), NETWORKS, T0)
    assert (updated.nics, updated.facts, updated.last_seen_at) == (BOTH_UP, facts, T0)
    # A report without facts keeps the known ones.
    again = reported_host(updated, AgentReport(True, nics=BOTH_UP), NETWORKS, T0)
    assert again.facts == facts


def test_an_unreachable_report_changes_only_the_status() -> None:
    polled = replace(host(1).host, nics=BOTH_UP, last_seen_at=T0)
    updated = reported_host(polled, AgentReport(False, error="x"), NETWORKS, T0)
    assert replace(updated, status=polled.status, status_reason=polled.status_reason) == polled


def test_reported_vms_are_placed_on_the_host() -> None:
    polled = host(2).host
    listed = (vm("web1", on=1), vm("web2", on=1))
    placed = reported_vms(polled, AgentReport(True, vms=listed))
    assert placed is not None
    assert {(v.host_id, v.cluster_id) for v in placed} == {(polled.id, polled.cluster_id)}
    assert reported_vms(polled, AgentReport(True)) is None
    assert reported_vms(polled, AgentReport(False, vms=listed)) is None


@pytest.mark.parametrize(
    ("nics", "status"), [(BOTH_UP, HostStatus.UP), (MIG_DOWN, HostStatus.NON_OPERATIONAL)]
)
def test_leaving_maintenance_takes_the_status_of_the_last_reported_nics(
    nics: tuple[Nic, ...], status: HostStatus
) -> None:
    held = replace(host(1, status=HostStatus.MAINTENANCE, status_reason="held").host, nics=nics)
    assert status_leaving_maintenance(held, NETWORKS).status is status
