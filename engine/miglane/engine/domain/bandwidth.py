"""Each migration's bandwidth cap, from the cluster's policy or the request's override.

- An override (MigrateVm's `max_bandwidth_mibps`, SetMigrationBandwidth) wins; 0 means no cap.
- HYPERVISOR_DEFAULT: no cap from Miglane (0).
- CUSTOM: `custom_mibps` per migration.
- AUTO: the link budget of the network carrying the data, divided by the migrations sharing
  that link, recomputed whenever that number changes (the orchestration re-sends the new cap
  with MigrateChangeParams). The budget is the network's `qos_mbps` when set, else the slower
  of the two hosts' links on it; Mbit/s become MiB/s (x 10^6 / 8 / 2^20).

When no link speed is known (virtual NICs often report none), AUTO uses oVirt's default cap of
52 MiB/s as the budget.

When the data falls back to the management network (a link down, no migration network, a
cluster too old for one), AUTO gives migrations only the cluster's management migration budget
(`MigrationPolicy.management_migration_budget_mbps`), or the management link's own budget
(its `qos_mbps`, else the slower of the two management links) when that is smaller. Management
also carries the engine's polling, the agents' gRPC and consoles: a migration saturating it
would cut the engine off the very hosts it is migrating between. The budget is shared like any
link budget, so the caps of the fallbacks on one management link add up to at most the budget
(only they count: migrations on the migration network share that network's link, not this
budget). Each cap is at least 1 MiB/s since 0 means "no cap", so only more fallbacks on one
link than the budget has MiB/s could add up to more.

The default budget is a fixed 100 Mbit/s (about 11 MiB/s), not a share of the link:
- management links are often 1 GbE, where 100 Mbit/s is a tenth and leaves the control traffic
  90%; on faster links it leaves more;
- a fixed number is what the API can show as the value in force (a share would depend on each
  pair of hosts' links);
- a fallback is the degraded case: slow but safe is the right default, and an operator who
  knows the management link can raise the budget per cluster.
The budget is not refused for being above a link (links differ per host); the smaller wins.

A link is shared by the migrations leaving its host over the same network (they share the
source NIC's transmit side) or entering it (the destination NIC's receive side); a migration's
divisor is the larger of the two counts at its ends.

A migration copying local disks gets the policy's `local_disk_bandwidth_percent` of the CUSTOM
or AUTO cap it would get otherwise (an override is the operator's number and stays as given;
HYPERVISOR_DEFAULT has no cap to take a share of).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from miglane.engine.domain.errors import InvalidArgument
from miglane.engine.domain.migration_path import ClusterNetworks, MigrationPath
from miglane.engine.domain.model import Attachment, BandwidthMode, MigrationPolicy, Network

MIB_PER_S_PER_MBIT_PER_S = 1_000_000 / 8 / 1_048_576
# oVirt's default migration bandwidth, used when no link speed is known.
UNKNOWN_LINK_MIBPS = 52


def mbps_to_mibps(mbps: float) -> float:
    """Megabits per second (network units) to mebibytes per second (QEMU's unit)."""
    return mbps * MIB_PER_S_PER_MBIT_PER_S


@dataclass(frozen=True)
class LinkBudget:
    """What all migrations over one link may use together, in MiB/s, and where it comes
    from."""

    mibps: float
    basis: str


def _link(attachment: Attachment | None, end: str) -> tuple[int, str] | None:
    if attachment is None or attachment.speed_mbps <= 0:
        return None
    return attachment.speed_mbps, f"{end} {attachment.nic} {attachment.speed_mbps} Mbit/s"


def link_budget(path: MigrationPath, networks: ClusterNetworks) -> LinkBudget:
    """The AUTO budget of the link carrying a migration (see the module docstring)."""
    if path.fell_back:
        return _management_budget(path, networks)
    return _network_budget(path, networks.migration, "migration")


def _network_budget(path: MigrationPath, network: Network | None, which: str) -> LinkBudget:
    """The network's QoS, else the slower of the two links, else oVirt's default."""
    name = repr(network.name) if network is not None else path.network_id or "(none)"
    if network is not None and network.qos_mbps:
        return LinkBudget(
            mbps_to_mibps(network.qos_mbps),
            f"QoS {network.qos_mbps} Mbit/s of {which} network {name}",
        )
    links = [
        link
        for link in (
            _link(path.source_attachment, "source"),
            _link(path.destination_attachment, "destination"),
        )
        if link is not None
    ]
    if not links:
        return LinkBudget(
            UNKNOWN_LINK_MIBPS,
            f"no link speed known on {which} network {name}: default {UNKNOWN_LINK_MIBPS} MiB/s",
        )
    speed, described = min(links, key=lambda link: link[0])
    return LinkBudget(mbps_to_mibps(speed), f"slower link on {which} network {name}: {described}")


def _management_budget(path: MigrationPath, networks: ClusterNetworks) -> LinkBudget:
    """The cluster's management migration budget, or the management link's budget when that
    is smaller."""
    budget_mbps = networks.cluster.policy.with_defaults().management_migration_budget_mbps
    link = _network_budget(path, networks.management, "management")
    named = (
        f"the cluster's management migration budget {budget_mbps} Mbit/s "
        "(management_migration_budget_mbit_per_second)"
    )
    if link.mibps < mbps_to_mibps(budget_mbps):
        return LinkBudget(link.mibps, f"{link.basis}, below {named}")
    name = networks.management.name if networks.management is not None else path.network_id
    return LinkBudget(
        mbps_to_mibps(budget_mbps),
        f"{named} on management network {name!r}, which also carries control traffic",
    )


@dataclass(frozen=True)
class BandwidthCap:
    # 0: no cap from Miglane (the hypervisor's default).
    mibps: int
    # A sentence: where the number comes from.
    basis: str


def local_disk_share(cap: BandwidthCap, percent: int) -> BandwidthCap:
    """`cap` for a migration copying local disks: `percent` of it (floored, at least 1 since 0
    is "no cap"); unchanged at 100 and for no cap."""
    if cap.mibps <= 0 or percent >= 100:
        return cap
    mibps = max(math.floor(cap.mibps * percent / 100), 1)
    return BandwidthCap(
        mibps,
        f"{mibps} MiB/s: {percent}% for a local-disk copy (the cluster's "
        f"local_disk_bandwidth_percent) of {cap.basis}",
    )


def bandwidth_cap(
    policy: MigrationPolicy,
    budget: LinkBudget,
    sharing: int,
    override_mibps: int | None = None,
    copies_disks: bool = False,
) -> BandwidthCap:
    """One migration's cap, `sharing` migrations (itself included) sharing its link;
    `copies_disks`: the migration copies local disks too."""
    if override_mibps is not None:
        if override_mibps == 0:
            return BandwidthCap(0, "no cap: set on the migration")
        return BandwidthCap(override_mibps, f"{override_mibps} MiB/s: set on the migration")
    cap = _policy_cap(policy, budget, sharing)
    return local_disk_share(cap, policy.local_disk_bandwidth_percent) if copies_disks else cap


def _policy_cap(policy: MigrationPolicy, budget: LinkBudget, sharing: int) -> BandwidthCap:
    mode = policy.bandwidth_mode
    if mode is BandwidthMode.HYPERVISOR_DEFAULT:
        return BandwidthCap(0, "no cap: the cluster leaves bandwidth to the hypervisor")
    if mode is BandwidthMode.CUSTOM:
        return BandwidthCap(
            policy.custom_mibps, f"{policy.custom_mibps} MiB/s: the cluster's custom cap"
        )
    sharing = max(sharing, 1)
    # Floor so the shares never add up to more than the link; at least 1, since 0 is "no cap".
    mibps = max(math.floor(budget.mibps / sharing), 1)
    shared = f", shared by {sharing} migrations" if sharing > 1 else ""
    return BandwidthCap(mibps, f"{mibps} MiB/s: {budget.basis}{shared}")


@dataclass(frozen=True)
class MigrationFlow:
    """A migration holding a slot (or about to), as far as bandwidth goes."""

    migration_id: str
    source_host_id: str
    destination_host_id: str
    # The network carrying its data (`MigrationPath.network_id`).
    network_id: str
    budget: LinkBudget
    # The request's override or SetMigrationBandwidth's value; None: the policy decides.
    override_mibps: int | None = None
    # The cap in force at the agent; None: none sent yet (a migration about to start).
    current_mibps: int | None = None
    # It copies local disks too (`vm_devices.copies_local_disks`).
    copies_disks: bool = False


def sharing_counts(flows: Sequence[MigrationFlow]) -> dict[str, int]:
    """For each migration, how many migrations share its busier end's link."""
    leaving: dict[tuple[str, str], int] = {}
    entering: dict[tuple[str, str], int] = {}
    for flow in flows:
        out_key = (flow.source_host_id, flow.network_id)
        in_key = (flow.destination_host_id, flow.network_id)
        leaving[out_key] = leaving.get(out_key, 0) + 1
        entering[in_key] = entering.get(in_key, 0) + 1
    return {
        flow.migration_id: max(
            leaving[(flow.source_host_id, flow.network_id)],
            entering[(flow.destination_host_id, flow.network_id)],
        )
        for flow in flows
    }


def bandwidth_caps(
    policy: MigrationPolicy, flows: Sequence[MigrationFlow]
) -> dict[str, BandwidthCap]:
    """Every flow's cap, by migration id, with the flows given sharing the links."""
    sharing = sharing_counts(flows)
    return {
        flow.migration_id: bandwidth_cap(
            policy,
            flow.budget,
            sharing[flow.migration_id],
            flow.override_mibps,
            copies_disks=flow.copies_disks,
        )
        for flow in flows
    }


@dataclass(frozen=True)
class BandwidthChange:
    migration_id: str
    cap: BandwidthCap


def bandwidth_changes(
    policy: MigrationPolicy, flows: Sequence[MigrationFlow]
) -> list[BandwidthChange]:
    """The caps to send: for every flow whose cap differs from the one in force (a flow with
    `current_mibps` None gets its first cap here, for the migrate verb). Call it whenever a
    migration of the cluster starts or ends, or an override changes; the others are left
    alone, so agents are not asked to change what did not change."""
    caps = bandwidth_caps(policy, flows)
    return [
        BandwidthChange(flow.migration_id, caps[flow.migration_id])
        for flow in flows
        if flow.current_mibps != caps[flow.migration_id].mibps
    ]


def check_running_cap(mibps: int) -> None:
    """A running migration's cap can be changed, not removed: its job was started with a cap
    (or none) the agent can only replace with another value."""
    if mibps <= 0:
        raise InvalidArgument(
            "max_bandwidth_mib_per_second",
            "a running migration's cap can be changed, not removed: give a value > 0",
        )
