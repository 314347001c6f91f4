"""The agent's rule for which domains it live-migrates, and that the engine keeps the same one."""

from __future__ import annotations

import pytest

from miglane.agent.domain.migratable import is_live_migratable, not_live_migratable_reason
from miglane.agent.domain.model import DomainInfo, VmState
from miglane.agent.grpc_api.converters import VM_STATE_TO_PROTO
from miglane.engine.domain import migratable as engine_rule
from miglane.engine.domain.model import VmState as EngineVmState


@pytest.mark.parametrize(
    ("state", "migratable"),
    [
        (VmState.RUNNING, True),
        (VmState.PAUSED, True),  # libvirt migrates it; it arrives paused
        (VmState.SHUT_OFF, False),
        (VmState.MIGRATING, False),
        (VmState.CRASHED, False),
        (VmState.SAVED, False),
        (VmState.UNKNOWN, False),
    ],
)
def test_which_domains_the_agent_migrates(state: VmState, migratable: bool) -> None:
    assert is_live_migratable(state) is migratable


def test_the_refusal_names_the_vm_and_its_state() -> None:
    domain = DomainInfo("uuid-1", "web1", VmState.SHUT_OFF, 1024)
    assert not_live_migratable_reason(domain) == (
        "VM web1 (uuid-1) is shut_off, not running or paused"
    )


def test_engine_and_agent_agree_on_every_state() -> None:
    # The agent's states reach the engine through the contract's VmState.
    seen = set()
    for state in VmState:
        engine_state = EngineVmState(VM_STATE_TO_PROTO[state])
        seen.add(engine_state)
        assert engine_rule.is_live_migratable(engine_state) is is_live_migratable(state), state
    assert seen == set(EngineVmState)
