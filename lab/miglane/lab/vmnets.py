"""Networks for guests' vNICs: a bridge of the network's name inside chosen hosts only, so a
guest plugged into it cannot run (nor migrate) where the network is missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import network as nets
from .devices import validate_bridge_name
from .errors import LabError
from .plan import LabPlan
from .state import LabState


def record(plan: LabPlan, state: LabState, networks: Mapping[str, Sequence[str]]) -> None:
    """Adds `networks` (name -> hosts) to the state, after checking names and hosts."""
    known_hosts = {host.name for host in plan.hosts}
    for network, hosts in networks.items():
        try:
            validate_bridge_name(network)
        except ValueError as exc:
            raise LabError(str(exc)) from exc
        unknown = [host for host in hosts if host not in known_hosts]
        if unknown or not hosts:
            raise LabError(
                f"network {network}: no hosts {', '.join(unknown) or 'given'} in this lab "
                f"(hosts: {', '.join(sorted(known_hosts))})"
            )
        listed = state.vm_networks.setdefault(network, [])
        listed += [host for host in hosts if host not in listed]


def ensure_bridges(plan: LabPlan, state: LabState) -> None:
    """Every recorded network's bridge on its hosts (those of the plan)."""
    for network, hosts in state.vm_networks.items():
        for host in plan.hosts:
            if host.name in hosts:
                nets.ensure_vm_bridge(host, network)
