"""Which network carries a migration's data, and the URI QEMU sends it to.

The migration network carries it when the cluster has one, the cluster level supports it, and
the network is attached, link up and addressed on BOTH hosts with an address family in common
(IPv4 first, then IPv6). Otherwise the management network carries it, and the path says why
(`FallbackReason`) in a sentence naming the hosts, the network and the NIC: never a silent
fallback.

When several reasons hold at once, the first in this order wins: no migration network, legacy
cluster level, destination not attached, destination link down, source not attached, source
link down, no usable address. Cluster-wide reasons come first because fixing a host would not
help; then the destination, because it is what the operator chooses.

A migration the engine has launched keeps the path it was launched on (`path_taken`): QEMU's
stream goes to the URI it was given, whatever happens to the links afterwards.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from miglane.engine.domain.audit_messages import legacy_level_problem
from miglane.engine.domain.model import (
    Attachment,
    Cluster,
    FallbackReason,
    HostView,
    Migration,
    MigrationPhase,
    Network,
)
from miglane.engine.domain.prediction import DEFAULT_FIXED_S
from miglane.engine.domain.roles import cluster_level_fallback

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ClusterNetworks:
    """A cluster and the networks holding its management and migration roles (None when no
    network holds the role), and the fixed cost outside the data transfer that predictions of
    its migrations not yet started count (`domain.path_cost`: learned by the engine)."""

    cluster: Cluster
    migration: Network | None = None
    management: Network | None = None
    path_fixed_s: float = DEFAULT_FIXED_S

    @classmethod
    def of(cls, cluster: Cluster, networks: Iterable[Network]) -> ClusterNetworks:
        by_id = {network.id: network for network in networks}
        return cls(
            cluster,
            by_id.get(cluster.migration_network_id),
            by_id.get(cluster.management_network_id),
        )

    @property
    def uses_migration_network(self) -> bool:
        """Whether the cluster as a whole sends migrations over its migration network (it has
        one and its level supports it); each pair of hosts may still fall back."""
        return self.cluster_level_fallback() is None

    @functools.cached_property
    def _cluster_level(self) -> FallbackReason | None:
        return cluster_level_fallback(
            self.cluster.compatibility_version, self.cluster.migration_network_id
        )

    def cluster_level_fallback(self) -> FallbackReason | None:
        """NO_MIGRATION_NETWORK or LEGACY_CLUSTER when the whole cluster falls back."""
        return self._cluster_level

    @property
    def migration_label(self) -> str:
        return _network_label(self.migration, self.cluster.migration_network_id)

    @property
    def management_label(self) -> str:
        if self.management is None and not self.cluster.management_network_id:
            return "the management network"
        return "the management network " + _network_label(
            self.management, self.cluster.management_network_id
        ).removeprefix("network ")


def _network_label(network: Network | None, network_id: str) -> str:
    if network is None:
        return f"network {network_id}"
    return f"network {network.name!r} ({network.subnet})"


@dataclass(frozen=True)
class MigrationPath:
    """How one migration's data travels from source to destination."""

    # The network carrying the data ("" when the cluster has no management network either).
    network_id: str
    # tcp://ADDRESS (IPv6 bracketed): the agent contract's required LiveTarget.migration_uri.
    # "" only when no address of the destination is known at all (no agent address), and then
    # the migration cannot be carried out: the agent refuses an empty URI.
    migration_uri: str
    fallback_reason: FallbackReason
    # A sentence for the operator; empty when the migration network carries the data.
    fallback_detail: str = ""
    # The attachments carrying the data at each end, when known (for link speeds).
    source_attachment: Attachment | None = None
    destination_attachment: Attachment | None = None

    @property
    def fell_back(self) -> bool:
        return self.fallback_reason is not FallbackReason.NONE


def tcp_uri(address: str) -> str:
    """`tcp://ADDRESS`, with IPv6 addresses in brackets."""
    if ":" in address:
        return f"tcp://[{address}]"
    return f"tcp://{address}"


def agent_host(agent_address: str) -> str:
    """The host part of an agent's `host:port` (brackets around IPv6 removed)."""
    text = agent_address.strip()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else ""
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def attachment_on(host: HostView, network_id: str) -> Attachment | None:
    if not network_id:
        return None
    for attachment in host.attachments:
        if attachment.network_id == network_id:
            return attachment
    return None


# Parsing dominates the scheduler's pass over thousands of hosts, and attachment addresses
# rarely change: remember the answers.
@functools.lru_cache(maxsize=1 << 16)
def usable_address(text: str) -> IPAddress | None:
    """The attachment's address when QEMU can be told to connect to it.

    An IPv6 link-local address needs a zone the URI cannot carry; the unspecified, loopback
    and multicast addresses reach nobody else."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.is_unspecified or address.is_loopback or address.is_multicast:
        return None
    if address.version == 6 and address.is_link_local:
        return None
    return address


def _describe_address(text: str) -> str:
    if not text.strip():
        return "no address"
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return f"the unreadable address {text!r}"
    if address.version == 6 and address.is_link_local:
        return f"only the IPv6 link-local address {address}, which needs a zone"
    return f"only {address}, which no other host can reach"


def end_problem(
    networks: ClusterNetworks, host: HostView, end: str
) -> tuple[FallbackReason, str] | None:
    """What keeps one end (`end` is "source" or "destination") off the migration network:
    not attached, link down or no usable address; None when that end is fine."""
    attachment = attachment_on(host, networks.cluster.migration_network_id)
    where = f"{end} host {host.host.name!r}"
    if attachment is None:
        reason = (
            FallbackReason.SOURCE_NOT_ATTACHED
            if end == "source"
            else FallbackReason.DESTINATION_NOT_ATTACHED
        )
        return reason, f"{where} has no NIC on migration {networks.migration_label}"
    if not attachment.link_up:
        reason = (
            FallbackReason.SOURCE_LINK_DOWN
            if end == "source"
            else FallbackReason.DESTINATION_LINK_DOWN
        )
        return reason, (
            f"on {where}, {attachment.nic} ({attachment.address}) on migration "
            f"{networks.migration_label} has its link down"
        )
    if usable_address(attachment.address) is None:
        return FallbackReason.NO_ADDRESS, (
            f"{where} has no usable address on migration {networks.migration_label}: "
            f"{attachment.nic} has {_describe_address(attachment.address)}"
        )
    return None


def _cluster_problem(networks: ClusterNetworks, reason: FallbackReason) -> str:
    cluster = networks.cluster
    if reason is FallbackReason.NO_MIGRATION_NETWORK:
        return f"cluster {cluster.name!r} has no network with the migration role"
    return f"{legacy_level_problem(cluster)}; its migration {networks.migration_label} is not used"


def _management_path(
    networks: ClusterNetworks,
    source: HostView,
    destination: HostView,
    reason: FallbackReason,
    problem: str,
) -> MigrationPath:
    management_id = networks.cluster.management_network_id
    destination_attachment = attachment_on(destination, management_id)
    address = ""
    if destination_attachment is not None and destination_attachment.address:
        address = destination_attachment.address
    else:
        # The engine reaches the agent over management, so its address is a management one.
        address = agent_host(destination.host.agent_address)
    return MigrationPath(
        network_id=management_id,
        migration_uri=tcp_uri(address) if address else "",
        fallback_reason=reason,
        fallback_detail=f"{problem}; {networks.management_label} carries the data",
        source_attachment=attachment_on(source, management_id),
        destination_attachment=destination_attachment,
    )


def choose_migration_uri(
    networks: ClusterNetworks, source: HostView, destination: HostView
) -> MigrationPath:
    """The network and URI for migrating from `source` to `destination`, and why the
    migration network is not used when it is not (see the module docstring for the order)."""
    reason = networks.cluster_level_fallback()
    if reason is not None:
        return _management_path(
            networks, source, destination, reason, _cluster_problem(networks, reason)
        )
    for host, end in ((destination, "destination"), (source, "source")):
        found = end_problem(networks, host, end)
        if found is not None:
            return _management_path(networks, source, destination, *found)
    network_id = networks.cluster.migration_network_id
    source_attachment = attachment_on(source, network_id)
    destination_attachment = attachment_on(destination, network_id)
    assert source_attachment is not None and destination_attachment is not None
    source_address = usable_address(source_attachment.address)
    destination_address = usable_address(destination_attachment.address)
    assert source_address is not None and destination_address is not None
    if source_address.version != destination_address.version:
        return _management_path(
            networks,
            source,
            destination,
            FallbackReason.NO_ADDRESS,
            f"source host {source.host.name!r} ({source_address} on {source_attachment.nic}) "
            f"and destination host {destination.host.name!r} ({destination_address} on "
            f"{destination_attachment.nic}) have no address family in common on migration "
            f"{networks.migration_label}",
        )
    return MigrationPath(
        network_id=network_id,
        migration_uri=tcp_uri(str(destination_address)),
        fallback_reason=FallbackReason.NONE,
        source_attachment=source_attachment,
        destination_attachment=destination_attachment,
    )


def path_taken(
    networks: ClusterNetworks, source: HostView, destination: HostView, migration: Migration
) -> MigrationPath:
    """The path `migration` travels: the one it was launched on once admitted (its data goes
    to that URI even if a link on it went down since: its budget and link stay that network's),
    else the one it would take now (`choose_migration_uri`)."""
    launched = migration.phase in (MigrationPhase.PREPARING, MigrationPhase.RUNNING)
    if not launched or not migration.migration_uri:
        return choose_migration_uri(networks, source, destination)
    return MigrationPath(
        network_id=migration.network_id,
        migration_uri=migration.migration_uri,
        fallback_reason=migration.fallback_reason,
        fallback_detail=migration.fallback_detail,
        source_attachment=attachment_on(source, migration.network_id),
        destination_attachment=attachment_on(destination, migration.network_id),
    )
