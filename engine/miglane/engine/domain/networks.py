"""Logical-network rules: subnets are valid CIDRs, and one cluster's subnets never overlap."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from miglane.engine.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, shown
from miglane.engine.domain.model import Network

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SUBNET_MAX = 64


def parse_subnet(field: str, value: str) -> IPNetwork:
    """A subnet in CIDR notation. Host bits set are refused, not masked: "10.0.2.5/24" is more
    likely a host address pasted by mistake than a network, so the message gives the network
    address to use instead of guessing."""
    if not value:
        raise InvalidArgument(field, "is empty; give a CIDR such as 10.0.2.0/24 or fd00:2::/64")
    if len(value) > _SUBNET_MAX:
        raise InvalidArgument(field, f"{shown(value)} is too long to be a CIDR")
    text = value.strip()
    if "/" not in text:
        raise InvalidArgument(
            field, f"{shown(value)} has no prefix length; write a CIDR such as 10.0.2.0/24"
        )
    if "%" in text:
        raise InvalidArgument(field, f"{shown(value)}: a subnet takes no IPv6 zone (%...)")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidArgument(
                field, f"{shown(value)} is not an IPv4 or IPv6 CIDR ({error})"
            ) from None
        raise InvalidArgument(
            field,
            f"{shown(value)} has host bits set; the network address is {loose.with_prefixlen}",
        ) from None


def normalize_subnet(field: str, value: str) -> str:
    return parse_subnet(field, value).with_prefixlen


def find_overlap(subnet: IPNetwork, networks: Iterable[Network]) -> Network | None:
    """The first network whose subnet overlaps `subnet` (addresses of another family never
    overlap)."""
    for network in networks:
        other = ipaddress.ip_network(network.subnet)
        if other.version == subnet.version and other.overlaps(subnet):
            return network
    return None


def check_network_fits(
    cluster_networks: Iterable[Network],
    *,
    name: str,
    subnet: str,
    cluster_name: str,
    exclude_id: str = "",
) -> None:
    """Name unique in the cluster and subnet overlapping none of its other networks."""
    others = [n for n in cluster_networks if n.id != exclude_id]
    for other in others:
        if other.name == name:
            raise AlreadyExists(
                "name",
                f"cluster {cluster_name!r} already has a network named {name!r} (id {other.id})",
            )
    clash = find_overlap(ipaddress.ip_network(subnet), others)
    if clash is not None:
        raise FailedPrecondition(
            f"subnet: {subnet} overlaps network {clash.name!r} ({clash.subnet}) of cluster "
            f"{cluster_name!r}; subnets of one cluster must not overlap"
        )
