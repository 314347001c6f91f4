"""The lab's state file: what `up` started, so `status` and `down` work from any process."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import LabError

STATE_VERSION = 1


@dataclass
class HostRecord:
    """What was started for one host (addresses come from the plan, not from here)."""

    name: str
    tini_pid: int | None = None
    daemon_pid: int | None = None
    agent_pid: int | None = None
    agent_port: int | None = None


@dataclass
class LabState:
    slot: int
    hosts: list[HostRecord] = field(default_factory=list)
    mgmt_mbit: int | None = None
    mig_mbit: int | None = None
    guest_kernel: str | None = None
    # Networks for guests' vNICs: a bridge of that name on each of the listed hosts.
    vm_networks: dict[str, list[str]] = field(default_factory=dict)
    version: int = STATE_VERSION

    def host(self, name: str) -> HostRecord:
        for record in self.hosts:
            if record.name == name:
                return record
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        data: dict[str, Any] = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state version {data.get('version')!r}, expected {STATE_VERSION}")
        hosts = [HostRecord(**host) for host in data.pop("hosts", [])]
        return cls(hosts=hosts, **data)


def save_state(path: Path, state: LabState) -> None:
    """Writes atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)


def load_state(path: Path) -> LabState | None:
    """The saved state, or None when there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return LabState.from_json(text)
    except (ValueError, TypeError) as exc:
        raise LabError(f"unreadable lab state file {path}: {exc}") from exc
