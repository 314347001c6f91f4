"""Which domains this agent live-migrates: a running or a paused one (libvirt migrates a paused
domain, which arrives paused). The engine keeps the same rule for the VMs it queues
(`miglane.engine.domain.migratable`); a test holds the two together."""

from __future__ import annotations

from miglane.agent.domain.model import DomainInfo, VmState

LIVE_MIGRATABLE_STATES = frozenset({VmState.RUNNING, VmState.PAUSED})


def is_live_migratable(state: VmState) -> bool:
    return state in LIVE_MIGRATABLE_STATES


def not_live_migratable_reason(domain: DomainInfo) -> str:
    """Why `domain` cannot be live-migrated (for a domain `is_live_migratable` refuses)."""
    return f"VM {domain.name} ({domain.id}) is {domain.state.value}, not running or paused"
