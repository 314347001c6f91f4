"""Which VMs live migration can move: the one rule of the request path, the queue and the
evacuation plan.

A running or a paused guest can be live-migrated (libvirt migrates a paused domain, which arrives
paused); a shut-off, crashed or saved domain has no guest to move, and a VM in the middle of a
migration job cannot start another one. The agent applies the same rule to the domain it is
asked to migrate (`miglane.agent.domain.migratable`; tests hold the two together)."""

from __future__ import annotations

from miglane.engine.domain.model import Vm, VmState

LIVE_MIGRATABLE_STATES = frozenset({VmState.RUNNING, VmState.PAUSED})

# A guest lives on the host in these states: it keeps the host from maintenance.
GUEST_ALIVE_STATES = LIVE_MIGRATABLE_STATES | {VmState.MIGRATING}


def is_live_migratable(state: VmState) -> bool:
    return state in LIVE_MIGRATABLE_STATES


def has_live_guest(state: VmState) -> bool:
    """A guest runs (or is paused, or migrating): a host with one is not empty."""
    return state in GUEST_ALIVE_STATES


def not_live_migratable_reason(vm: Vm) -> str:
    """Why `vm` cannot be live-migrated (for a VM `is_live_migratable` refuses)."""
    state = (
        "in an unknown state"
        if vm.state is VmState.UNSPECIFIED
        else vm.state.name.lower().replace("_", " ")
    )
    return f"VM {vm.name!r} is {state}: only a running or paused VM can be live-migrated"
