"""What one poll of a host's agent makes of the host: its status (UNREACHABLE with the error,
else UP / NON_OPERATIONAL from the cluster's required networks; the maintenance states are the
maintenance flow's and stay), NICs, facts and last-seen time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from miglane.engine.domain.attachments import (
    OperationalVerdict,
    derive_attachments,
    operational_status,
)
from miglane.engine.domain.model import Host, HostFacts, HostStatus, Network, Nic, Vm

# Statuses a poll leaves alone: the maintenance flow sets and ends them.
MAINTENANCE_STATES = frozenset({HostStatus.MAINTENANCE, HostStatus.PREPARING_FOR_MAINTENANCE})


@dataclass(frozen=True)
class AgentReport:
    """What one poll of a host's agent learned."""

    reachable: bool
    # Why the agent could not be reached, when it could not.
    error: str = ""
    nics: tuple[Nic, ...] = ()
    facts: HostFacts | None = None
    # None: the poll did not list VMs (keep the known ones).
    vms: tuple[Vm, ...] | None = None


def next_status(host: Host, report: AgentReport, networks: Sequence[Network]) -> OperationalVerdict:
    """The host's status and reason after `report`; `networks`: its cluster's networks."""
    if not report.reachable:
        return OperationalVerdict(
            HostStatus.UNREACHABLE,
            f"agent at {host.agent_address} unreachable: {report.error or 'no answer'}",
        )
    if host.status in MAINTENANCE_STATES:
        return OperationalVerdict(host.status, host.status_reason)
    return _network_status(networks, report.nics)


def status_leaving_maintenance(host: Host, networks: Sequence[Network]) -> OperationalVerdict:
    """UP or NON_OPERATIONAL, as the NICs the agent last reported give it (the next poll
    confirms or corrects it)."""
    return _network_status(networks, host.nics)


def _network_status(networks: Sequence[Network], nics: Sequence[Nic]) -> OperationalVerdict:
    return operational_status(networks, derive_attachments(networks, nics))


def reported_host(
    host: Host, report: AgentReport, networks: Sequence[Network], now: datetime
) -> Host:
    """The host as `report` (received at `now`) shows it. An unreachable agent changes only
    the status: the NICs and facts last seen are kept."""
    verdict = next_status(host, report, networks)
    updated = replace(host, status=verdict.status, status_reason=verdict.reason)
    if not report.reachable:
        return updated
    return replace(updated, nics=report.nics, facts=report.facts or host.facts, last_seen_at=now)


def reported_vms(host: Host, report: AgentReport) -> list[Vm] | None:
    """The VMs the report lists, placed on `host`; None when the poll listed none (or did
    not reach the agent): the known ones stay."""
    if not report.reachable or report.vms is None:
        return None
    return [replace(vm, host_id=host.id, cluster_id=host.cluster_id) for vm in report.vms]
