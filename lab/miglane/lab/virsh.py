"""A narrow client of one lab host's libvirtd, through `virsh` (the lab does not import libvirt).

Only the agent's driver talks to libvirt through its Python binding; the lab needs a handful
of calls, each a short `virsh` run against the daemon's unix socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .commands import run
from .errors import LabError


@dataclass(frozen=True)
class DomainEntry:
    name: str
    state: str  # as virsh prints it: running, paused, shut off ...
    domain_id: int | None


class Virsh:
    def __init__(self, uri: str, timeout: float = 30) -> None:
        self.uri = uri
        self.timeout = timeout

    def run(self, *args: str, check: bool = True) -> str:
        result = run(["virsh", "-q", "-c", self.uri, *args], check=False, timeout=self.timeout)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise LabError(f"virsh {' '.join(args)} on {self.uri}: {detail}")
        return result.stdout

    def is_ready(self) -> bool:
        """True once the daemon answers and its QEMU driver has probed the emulator."""
        return (
            run(["virsh", "-q", "-c", self.uri, "version"], check=False, timeout=10).returncode == 0
        )

    def create(self, xml_file: Path) -> None:
        """Starts a transient domain."""
        self.run("create", str(xml_file))

    def define_and_start(self, xml_file: Path, name: str) -> None:
        self.run("define", str(xml_file))
        self.run("start", name)

    def destroy(self, name: str) -> None:
        self.run("destroy", name)

    def undefine(self, name: str) -> None:
        self.run("undefine", name)

    def domains(self) -> list[DomainEntry]:
        entries = []
        for line in self.run("list", "--all").splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3:
                domain_id = int(parts[0]) if parts[0].isdigit() else None
                entries.append(DomainEntry(parts[1], parts[2].strip(), domain_id))
        return entries
