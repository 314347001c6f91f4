"""Each migration's bandwidth cap, from the cluster's policy or the request's override.

- An override (MigrateVm's `max_bandwidth_mibps`, SetMigrationBandwidth) wins; 0 means no cap.
- HYPERVISOR_DEFAULT: no cap from Miglane (0).
- CUSTOM: `custom_mibps` per migration.
- AUTO: the link budget of the network carrying the data, divided among the migrations sharing
  that link by their priorities' weights (below), recomputed whenever they change (the
  orchestration re-sends the new cap with MigrateChangeParams). The budget is the network's
  `qos_mbps` when set, else the slower of the two hosts' links on it; Mbit/s become MiB/s
  (x 10^6 / 8 / 2^20).

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
source NIC's transmit side) or entering it (the destination NIC's receive side). AUTO splits
each end's budget in proportion to the migrations' priority weights (`domain.priority`: with
equal priorities, equal parts); a migration gets the smaller of its two ends' parts. A
migration admission gave a larger share (`granted_mibps`, because its fair share would never
converge) gets that share; the others at its ends split what is left. The parts are floored,
so they add up to at most the budget at every end.

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
from miglane.engine.domain.model import (
    Attachment,
    BandwidthMode,
    MigrationPolicy,
    MigrationPriority,
    Network,
)
from miglane.engine.domain.priority import priority_weight

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


@dataclass(frozen=True)
class LinkShare:
    """A migration's part of its link's AUTO budget, at the end that gives it the least."""

    # The migrations at that end, itself included.
    sharing: int
    # Its priority's weight, and the weights of the migrations splitting that end's budget
    # (itself included; those given a larger share are not: they take theirs first).
    weight: int = 1
    total_weight: int = 0
    priority: MigrationPriority = MigrationPriority.NORMAL
    # MiB/s the larger shares of the others at that end take off the budget first.
    granted_to_others: float = 0.0
    # Its own larger share (admission's), MiB/s; None: its part of the rest.
    granted_mibps: int | None = None

    # Of `sharing`, those splitting the budget by weight (0: all of them).
    splitting: int = 0

    @classmethod
    def equal(cls, sharing: int) -> LinkShare:
        """`sharing` migrations of one priority."""
        sharing = max(sharing, 1)
        return cls(sharing, 1, sharing)

    @property
    def weighted(self) -> bool:
        """Whether priorities made the parts unequal."""
        return self.total_weight != (self.splitting or self.sharing) * self.weight

    def part(self, budget_mibps: float) -> float:
        """Its part of `budget_mibps`, MiB/s, before flooring."""
        if self.granted_mibps is not None:
            return float(self.granted_mibps)
        available = max(budget_mibps - self.granted_to_others, 0.0)
        return available * self.weight / max(self.total_weight, self.weight, 1)


def bandwidth_cap(
    policy: MigrationPolicy,
    budget: LinkBudget,
    sharing: int | LinkShare,
    override_mibps: int | None = None,
    copies_disks: bool = False,
) -> BandwidthCap:
    """One migration's cap; `sharing`: how many migrations (itself included) share its link
    equally, or its weighted `LinkShare`; `copies_disks`: it copies local disks too."""
    if override_mibps is not None:
        if override_mibps == 0:
            return BandwidthCap(0, "no cap: set on the migration")
        return BandwidthCap(override_mibps, f"{override_mibps} MiB/s: set on the migration")
    share = sharing if isinstance(sharing, LinkShare) else LinkShare.equal(sharing)
    cap = _policy_cap(policy, budget, share)
    # A larger share was sized for the whole copy, disks included: it is not cut again.
    if not copies_disks or share.granted_mibps is not None:
        return cap
    return local_disk_share(cap, policy.local_disk_bandwidth_percent)


def _policy_cap(policy: MigrationPolicy, budget: LinkBudget, share: LinkShare) -> BandwidthCap:
    mode = policy.bandwidth_mode
    if mode is BandwidthMode.HYPERVISOR_DEFAULT:
        return BandwidthCap(0, "no cap: the cluster leaves bandwidth to the hypervisor")
    if mode is BandwidthMode.CUSTOM:
        return BandwidthCap(
            policy.custom_mibps, f"{policy.custom_mibps} MiB/s: the cluster's custom cap"
        )
    # Floor so the shares never add up to more than the link; at least 1, since 0 is "no cap".
    mibps = max(math.floor(share.part(budget.mibps)), 1)
    return BandwidthCap(mibps, f"{mibps} MiB/s: {budget.basis}{_shared(share)}")


def _shared(share: LinkShare) -> str:
    """How the link's budget was split, as the end of a cap's basis."""
    if share.granted_mibps is not None:
        return ", a larger share given so that it converges"
    words = f", shared by {share.sharing} migrations" if share.sharing > 1 else ""
    if share.weighted:
        words += (
            f" by priority ({share.priority.label}: weight {share.weight} of {share.total_weight})"
        )
    if share.granted_to_others:
        words += f", after {share.granted_to_others:.0f} MiB/s given to larger shares"
    return words


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
    # Its priority in force, and the larger share admission gave it (None: none).
    priority: MigrationPriority = MigrationPriority.NORMAL
    granted_mibps: int | None = None

    @property
    def ends(self) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
        """The two link ends it uses: (direction, host, network)."""
        return (
            ("out", self.source_host_id, self.network_id),
            ("in", self.destination_host_id, self.network_id),
        )


@dataclass(frozen=True)
class _EndTotals:
    """One link end: the migrations there; of those without a larger share, how many and
    their weight; the MiB/s of the larger shares."""

    count: int = 0
    splitting: int = 0
    weight: int = 0
    granted: float = 0.0

    def plus(self, flow: MigrationFlow) -> _EndTotals:
        if flow.granted_mibps is None:
            return _EndTotals(
                self.count + 1,
                self.splitting + 1,
                self.weight + priority_weight(flow.priority),
                self.granted,
            )
        return _EndTotals(
            self.count + 1, self.splitting, self.weight, self.granted + flow.granted_mibps
        )


def _end_totals(flows: Sequence[MigrationFlow]) -> dict[tuple[str, str, str], _EndTotals]:
    totals: dict[tuple[str, str, str], _EndTotals] = {}
    for flow in flows:
        for end in flow.ends:
            totals[end] = totals.get(end, _EndTotals()).plus(flow)
    return totals


def link_shares(flows: Sequence[MigrationFlow]) -> dict[str, LinkShare]:
    """For each migration, its `LinkShare` at the end of its link that gives it the least."""
    totals = _end_totals(flows)
    shares = {}
    for flow in flows:
        weight = priority_weight(flow.priority)
        candidates = []
        for end in flow.ends:
            at = totals[end]
            granted = at.granted - (flow.granted_mibps or 0)
            candidates.append(
                LinkShare(
                    sharing=at.count,
                    weight=weight,
                    total_weight=max(at.weight, weight),
                    priority=flow.priority,
                    granted_to_others=granted,
                    granted_mibps=flow.granted_mibps,
                    splitting=at.splitting,
                )
            )
        shares[flow.migration_id] = min(
            candidates, key=lambda share: (share.part(flow.budget.mibps), -share.sharing)
        )
    return shares


def bandwidth_caps(
    policy: MigrationPolicy, flows: Sequence[MigrationFlow]
) -> dict[str, BandwidthCap]:
    """Every flow's cap, by migration id, with the flows given sharing the links."""
    shares = link_shares(flows)
    return {
        flow.migration_id: bandwidth_cap(
            policy,
            flow.budget,
            shares[flow.migration_id],
            flow.override_mibps,
            copies_disks=flow.copies_disks,
        )
        for flow in flows
    }


def link_capacity_shares(
    flows: Sequence[MigrationFlow], caps: dict[str, BandwidthCap]
) -> dict[str, float]:
    """Each flow's share of its link's capacity (its budget), MiB/s, at the end of its link
    that gives it the least: the budget split in proportion to what the flows there ask for
    (their caps; an uncapped one, the whole budget). Where the caps add up to the budget it is
    the cap; where they leave room, more (the link is then not what bounds them)."""
    asked = {
        flow.migration_id: float(caps[flow.migration_id].mibps or flow.budget.mibps)
        for flow in flows
    }
    asked_at: dict[tuple[str, str, str], float] = {}
    for flow in flows:
        for end in flow.ends:
            asked_at[end] = asked_at.get(end, 0.0) + asked[flow.migration_id]
    return {
        flow.migration_id: min(
            flow.budget.mibps * asked[flow.migration_id] / max(asked_at[end], 1e-9)
            for end in flow.ends
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
