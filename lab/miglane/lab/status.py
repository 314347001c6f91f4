"""What `miglane lab status` reports: typed, immutable, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .network import LinkState
from .plan import Network


@dataclass(frozen=True)
class HostStatus:
    name: str
    netns: str
    mgmt_addr: str
    mig_addr: str
    libvirt_uri: str  # from this machine (any namespace): the daemon's unix socket
    peer_uri: str  # from other hosts and the management network: qemu+tls:// on mgmt_addr
    migration_uri: str  # VIR_MIGRATE_PARAM_URI that sends QEMU's stream over the migration network
    daemon_pid: int | None
    daemon_running: bool
    links: tuple[LinkState, ...]
    agent_addr: str | None
    agent_pid: int | None
    host_dir: str
    # The host's credentials from the lab's CA (what its agent gets as --credentials).
    credentials_dir: str = ""
    # The host's libvirt client identity for a process outside its mount namespace: append
    # `?pkipath=<this>` to `peer_uri` of another host.
    client_pki_dir: str = ""
    # The host's QEMU TLS directory, as seen from outside its mount namespace.
    qemu_tls_dir: str = ""

    def link(self, network: Network | str) -> LinkState:
        wanted = Network.parse(network) if isinstance(network, str) else network
        return next(link for link in self.links if link.network == wanted.value)


@dataclass(frozen=True)
class VmInfo:
    host: str
    name: str
    state: str
    persistent: bool | None = None


@dataclass(frozen=True)
class LabStatus:
    base_dir: str
    slot: int
    state: str  # "up", "degraded" (something died) or "down"
    mgmt_bridge: str
    mig_bridge: str
    mgmt_subnet: str
    mig_subnet: str
    root_mgmt_addr: str
    mgmt_mbit: int | None
    mig_mbit: int | None
    guest_kernel: str | None
    hosts: tuple[HostStatus, ...]
    # The lab's certificate authority (`miglane.pki` layout): its CA and every host's credentials.
    pki_dir: str = ""

    @property
    def is_up(self) -> bool:
        return self.state == "up"

    def host(self, name: str) -> HostStatus:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r} in the lab (hosts: {', '.join(self.host_names)})")

    @property
    def host_names(self) -> list[str]:
        return [host.name for host in self.hosts]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
