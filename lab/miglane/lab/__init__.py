"""Miglane lab: real hypervisor hosts on one machine, with separate management and migration
networks, for trying Miglane and for its end-to-end tests.

    from miglane.lab import Lab
    status = Lab("/tmp/lab").up(hosts=3)

Names are imported on first use, so `miglane --help` does not pay for the whole lab.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import LabError
    from .guest import GuestPhase
    from .guests import GuestOs
    from .lab import Lab, default_base_dir
    from .linux import LinuxPhase
    from .network import LinkState, NicCounters
    from .plan import Network
    from .status import HostStatus, LabStatus, VmInfo

_EXPORTS = {
    "LabError": ".errors",
    "GuestPhase": ".guest",
    "GuestOs": ".guests",
    "LinuxPhase": ".linux",
    "Lab": ".lab",
    "default_base_dir": ".lab",
    "LinkState": ".network",
    "NicCounters": ".network",
    "Network": ".plan",
    "HostStatus": ".status",
    "LabStatus": ".status",
    "VmInfo": ".status",
}
__all__ = [
    "GuestOs",
    "GuestPhase",
    "HostStatus",
    "Lab",
    "LabError",
    "LabStatus",
    "LinkState",
    "LinuxPhase",
    "Network",
    "NicCounters",
    "VmInfo",
    "default_base_dir",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
