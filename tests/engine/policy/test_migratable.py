"""Which VMs the engine live-migrates, and which keep their host from maintenance."""

from __future__ import annotations

import pytest

from miglane.engine.domain.migratable import (
    has_live_guest,
    is_live_migratable,
    not_live_migratable_reason,
)
from miglane.engine.domain.model import VmState

from .builders import vm


@pytest.mark.parametrize(
    ("state", "migratable", "alive"),
    [
        (VmState.RUNNING, True, True),
        (VmState.PAUSED, True, True),  # libvirt migrates it; it arrives paused
        (VmState.MIGRATING, False, True),  # one job at a time; the guest still runs
        (VmState.SHUT_OFF, False, False),
        (VmState.CRASHED, False, False),
        (VmState.SAVED, False, False),
        (VmState.UNSPECIFIED, False, False),
    ],
)
def test_live_migratable_and_alive(state: VmState, migratable: bool, alive: bool) -> None:
    assert is_live_migratable(state) is migratable
    assert has_live_guest(state) is alive


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (VmState.SHUT_OFF, "shut off"),
        (VmState.SAVED, "saved"),
        (VmState.MIGRATING, "migrating"),
        (VmState.UNSPECIFIED, "in an unknown state"),
    ],
)
def test_refusal_says_the_state(state: VmState, shown: str) -> None:
    assert not_live_migratable_reason(vm("web1", state=state)) == (
        f"VM 'web1' is {shown}: only a running or paused VM can be live-migrated"
    )
