"""Names and addresses of a lab, derived from its slot and host count (pure, no side effects).

Slot 0 is the operator's lab: bridges `mgl-mgmt` and `mgl-mig`, namespaces `mgl-h1`, ...,
management subnet 10.231.1.0/24 and migration subnet 10.231.2.0/24. Slot k > 0 is another lab
beside it (tests use these): prefix `mgl{k}`, subnets 10.231.{2k+1}.0/24 and 10.231.{2k+2}.0/24.
Every address the lab ever talks to comes from here.
"""

from __future__ import annotations

import enum
import ipaddress
import uuid
from dataclasses import dataclass

MAX_SLOT = 99
MAX_HOSTS = 64
FIRST_HOST_OCTET = 11
ROOT_OCTET = 1
LIBVIRTD_TCP_PORT = 16509  # plain TCP: never opened by the lab
LIBVIRTD_TLS_PORT = 16514
MIGRATION_PORT_MIN = 49152
MIGRATION_PORT_MAX = 49215
DEFAULT_AGENT_PORT = 50061
_HOST_UUID_NAMESPACE = uuid.UUID("5f0c6c2e-7d0e-4d38-9a55-6d69676c616e")


class Network(enum.StrEnum):
    """The two networks every lab host is attached to."""

    MGMT = "mgmt"
    MIG = "mig"

    @property
    def nic(self) -> str:
        """Name of the host's NIC on this network, inside its namespace."""
        return f"{self.value}0"

    @classmethod
    def parse(cls, text: str) -> Network:
        """Accepts a network name (`mgmt`, `mig`) or a NIC name (`mgmt0`, `mig0`)."""
        for network in cls:
            if text in (network.value, network.nic):
                return network
        raise ValueError(f"unknown network {text!r}: expected mgmt or mig")


@dataclass(frozen=True)
class HostPlan:
    """Everything fixed about one lab host before it exists."""

    index: int
    name: str
    netns: str
    mgmt_addr: str
    mig_addr: str
    host_uuid: str
    veth_mgmt: str
    veth_mig: str

    def veth(self, network: Network) -> str:
        """Root-namespace end of the host's link on `network` (the bridge port)."""
        return self.veth_mgmt if network is Network.MGMT else self.veth_mig

    def addr(self, network: Network) -> str:
        return self.mgmt_addr if network is Network.MGMT else self.mig_addr


@dataclass(frozen=True)
class LabPlan:
    """Names and addresses of a lab in one slot."""

    slot: int
    prefix: str
    mgmt_subnet: ipaddress.IPv4Network
    mig_subnet: ipaddress.IPv4Network
    root_mgmt_addr: str
    hosts: tuple[HostPlan, ...]

    def bridge(self, network: Network) -> str:
        return f"{self.prefix}-{network.value}"

    def subnet(self, network: Network) -> ipaddress.IPv4Network:
        return self.mgmt_subnet if network is Network.MGMT else self.mig_subnet

    def host(self, name: str) -> HostPlan:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise KeyError(f"no host {name!r} in this lab (hosts: {known})")

    def netns_pattern(self) -> str:
        """Prefix of the lab's namespace names, for finding leftovers after a crash."""
        return f"{self.prefix}-h"


def slot_prefix(slot: int) -> str:
    return "mgl" if slot == 0 else f"mgl{slot}"


def plan_lab(slot: int, host_count: int) -> LabPlan:
    """The plan of a lab with `host_count` hosts (host1 ... hostN) in `slot`."""
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"slot must be between 0 and {MAX_SLOT}, not {slot}")
    if not 0 <= host_count <= MAX_HOSTS:
        raise ValueError(f"host count must be between 0 and {MAX_HOSTS}, not {host_count}")
    prefix = slot_prefix(slot)
    mgmt_subnet = ipaddress.IPv4Network(f"10.231.{2 * slot + 1}.0/24")
    mig_subnet = ipaddress.IPv4Network(f"10.231.{2 * slot + 2}.0/24")
    hosts = tuple(
        _plan_host(slot, prefix, index, mgmt_subnet, mig_subnet)
        for index in range(1, host_count + 1)
    )
    return LabPlan(
        slot=slot,
        prefix=prefix,
        mgmt_subnet=mgmt_subnet,
        mig_subnet=mig_subnet,
        root_mgmt_addr=str(mgmt_subnet.network_address + ROOT_OCTET),
        hosts=hosts,
    )


def _plan_host(
    slot: int,
    prefix: str,
    index: int,
    mgmt_subnet: ipaddress.IPv4Network,
    mig_subnet: ipaddress.IPv4Network,
) -> HostPlan:
    octet = FIRST_HOST_OCTET + index - 1
    return HostPlan(
        index=index,
        name=f"host{index}",
        netns=f"{prefix}-h{index}",
        mgmt_addr=str(mgmt_subnet.network_address + octet),
        mig_addr=str(mig_subnet.network_address + octet),
        # Stable per slot and host, distinct between them: libvirt refuses to migrate between
        # daemons with equal host UUIDs ("Attempt to migrate guest to the same host").
        host_uuid=str(uuid.uuid5(_HOST_UUID_NAMESPACE, f"slot{slot}/host{index}")),
        veth_mgmt=f"{prefix}-h{index}-mgmt",
        veth_mig=f"{prefix}-h{index}-mig",
    )


def host_index(name: str) -> int:
    """`host3` -> 3; raises ValueError for anything that is not a lab host name."""
    if not name.startswith("host") or not name[4:].isdigit() or int(name[4:]) < 1:
        raise ValueError(f"{name!r} is not a lab host name (host1, host2, ...)")
    return int(name[4:])
