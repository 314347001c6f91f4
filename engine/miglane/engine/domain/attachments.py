"""Host attachments and operational status, derived from the NICs an agent reports.

A host is on a logical network when one of its NICs has an address in the network's subnet.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from miglane.engine.domain.model import Attachment, HostStatus, Network, Nic

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A NIC as attachments see it: name, addresses, link up, speed, MTU (not its byte counters,
# which change with every poll).
_NicShape = tuple[str, tuple[str, ...], bool, int, int]
# Hosts are read far more often than their NICs or networks change, and parsing addresses is
# most of what reading a cluster's hosts costs: derivations are kept, up to this many.
_DERIVED_MAX = 20_000


@dataclass(frozen=True)
class _Candidate:
    nic: Nic
    address: IPAddress

    def sort_key(self) -> tuple[bool, int, str, int]:
        # Link up first; IPv4 before IPv6 (oVirt's order, relevant only if a subnet ever
        # spans families); then NIC name and address, so the answer never depends on the
        # order the agent listed things in.
        return (not self.nic.link_up, self.address.version, self.nic.name, int(self.address))

    def describe(self) -> str:
        state = "" if self.nic.link_up else ", link down"
        return f"{self.nic.name} {self.address}{state}"


def _parse_address(text: str) -> IPAddress | None:
    # Agent data is input too: an address we cannot read is skipped, not fatal.
    try:
        return ipaddress.ip_interface(text.strip()).ip
    except ValueError:
        return None


def derive_attachments(networks: Sequence[Network], nics: Sequence[Nic]) -> list[Attachment]:
    """One attachment per network that some NIC has an address in, in the order of `networks`.

    When several NIC addresses fall in one subnet (one NIC with several addresses, or two NICs
    on the same subnet) the choice is deterministic — link up, then IPv4, then NIC name, then
    the lowest address — and the attachment's `note` says what else qualified and why this
    one was taken.
    """
    shapes = tuple((n.name, n.addresses, n.link_up, n.speed_mbps, n.mtu) for n in nics)
    return list(_derived(tuple(networks), shapes))


@functools.lru_cache(maxsize=_DERIVED_MAX)
def _derived(
    networks: tuple[Network, ...], shapes: tuple[_NicShape, ...]
) -> tuple[Attachment, ...]:
    nics = [Nic(name, addresses, up, speed, mtu) for name, addresses, up, speed, mtu in shapes]
    return tuple(_derive(networks, nics))


def _derive(networks: Sequence[Network], nics: Sequence[Nic]) -> list[Attachment]:
    parsed = [(nic, _parse_address(text)) for nic in nics for text in nic.addresses]
    attachments = []
    for network in networks:
        subnet = ipaddress.ip_network(network.subnet)
        candidates = sorted(
            (
                _Candidate(nic, address)
                for nic, address in parsed
                if address is not None and address.version == subnet.version and address in subnet
            ),
            key=_Candidate.sort_key,
        )
        if not candidates:
            continue
        chosen = candidates[0]
        attachments.append(
            Attachment(
                network_id=network.id,
                network_name=network.name,
                nic=chosen.nic.name,
                address=str(chosen.address),
                link_up=chosen.nic.link_up,
                speed_mbps=chosen.nic.speed_mbps,
                mtu=chosen.nic.mtu,
                note=_choice_note(network, chosen, candidates[1:]),
            )
        )
    return attachments


def _choice_note(network: Network, chosen: _Candidate, others: Sequence[_Candidate]) -> str:
    if not others:
        return ""
    why = (
        "its link is up"
        if chosen.nic.link_up and any(not o.nic.link_up for o in others)
        else "first by NIC name, then lowest address"
    )
    rest = "; ".join(o.describe() for o in others)
    return (
        f"{len(others) + 1} addresses are in {network.subnet}: using {chosen.describe()} "
        f"({why}); also {rest}"
    )


@dataclass(frozen=True)
class OperationalVerdict:
    status: HostStatus
    reason: str = ""


def operational_status(
    networks: Sequence[Network], attachments: Sequence[Attachment]
) -> OperationalVerdict:
    """UP when every required network of the cluster is attached with its link up, else
    NON_OPERATIONAL with a reason naming each missing or down network. (Reachability and
    maintenance are decided by whoever polls the agent; this is the network part.)"""
    by_network = {a.network_id: a for a in attachments}
    problems = []
    for network in networks:
        if not network.required:
            continue
        attachment = by_network.get(network.id)
        if attachment is None:
            problems.append(
                f"required network {network.name!r} ({network.subnet}) is missing: "
                "no NIC has an address in it"
            )
        elif not attachment.link_up:
            problems.append(
                f"required network {network.name!r} is down: the link of {attachment.nic} is down"
            )
    if problems:
        return OperationalVerdict(HostStatus.NON_OPERATIONAL, "; ".join(problems))
    return OperationalVerdict(HostStatus.UP)
