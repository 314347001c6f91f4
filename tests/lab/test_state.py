"""The lab state file (pure, on a temporary directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from miglane.lab.errors import LabError
from miglane.lab.state import HostRecord, LabState, load_state, save_state


def test_round_trip(tmp_path: Path) -> None:
    state = LabState(
        slot=3,
        hosts=[
            HostRecord("host1", tini_pid=10, daemon_pid=11, agent_pid=12, agent_port=50061),
            HostRecord("host2"),
        ],
        mgmt_mbit=200,
        mig_mbit=None,
        guest_kernel="/k.elf",
    )
    path = tmp_path / "sub" / "lab.json"
    save_state(path, state)
    assert load_state(path) == state
    assert not list(path.parent.glob("*.tmp"))


def test_missing_file_means_no_lab(tmp_path: Path) -> None:
    assert load_state(tmp_path / "lab.json") is None


@pytest.mark.parametrize("text", ["{not json", '{"version": 99, "slot": 0}', '{"version": 1}'])
def test_unreadable_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "lab.json"
    path.write_text(text)
    with pytest.raises(LabError, match="unreadable lab state file"):
        load_state(path)


def test_host_lookup() -> None:
    state = LabState(slot=0, hosts=[HostRecord("host1"), HostRecord("host2", daemon_pid=5)])
    assert state.host("host2").daemon_pid == 5
    with pytest.raises(KeyError):
        state.host("host3")
