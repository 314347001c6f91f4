"""The scheduler: which host of the cluster takes a VM, and why the others do not.

Automatic migrations (no destination given) go to a host that passes every filter:

- in the VM's cluster, not its source, status UP, not tried before by this migration (reruns);
- a bridge for every network the VM's vNICs use (`vm_devices.missing_networks`);
- enough free memory for the VM, counting memory already promised to incoming migrations;
- when the cluster sends migrations over its migration network (it has one and its level
  supports it): that network attached, link up and addressed on the host;
- fewer incoming migrations than `max_incoming_per_host`, and not recently busy (an agent that
  answered RESOURCE_EXHAUSTED is skipped until its retry time).

The last two are *transient*: a VM whose only obstacles are transient waits in the queue
instead of failing. Among the hosts that pass, the highest `destination_score` wins: the
fastest link on the network that would carry the data, the fewest incoming migrations, the
most free memory (weights below), ties broken by host name then id so the answer never
depends on input order.

Manual migrations (destination given) may go to any UP host of the cluster but the source that
has the VM's vNIC networks, even without the migration network ("if the admin wants to keep
jamming the management network, let her"); `choose_migration_uri` then says which network
carries the data.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from itertools import repeat
from operator import itemgetter

from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    attachment_on,
    choose_migration_uri,
    end_problem,
    usable_address,
)
from miglane.engine.domain.model import (
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    PlacementRow,
    Vm,
)
from miglane.engine.domain.vm_devices import missing_network_sentence, missing_networks


class RejectionKind(Enum):
    OTHER_CLUSTER = "other_cluster"
    SOURCE = "source"
    NOT_UP = "not_up"
    VM_NETWORK = "vm_network"
    ALREADY_TRIED = "already_tried"
    NOT_ENOUGH_MEMORY = "not_enough_memory"
    MIGRATION_NETWORK = "migration_network"
    INCOMING_LIMIT = "incoming_limit"
    DESTINATION_BUSY = "destination_busy"

    @property
    def transient(self) -> bool:
        """Whether waiting alone lifts it (the VM queues instead of failing)."""
        return self in (RejectionKind.INCOMING_LIMIT, RejectionKind.DESTINATION_BUSY)


@dataclass(frozen=True)
class Rejection:
    kind: RejectionKind
    # About the host, without its name (the caller shows the name).
    message: str


@dataclass(frozen=True)
class HostLoad:
    """Migrations on their way into a host."""

    incoming: int = 0
    # Memory of the VMs on their way in: not yet used on the host, but promised.
    reserved_memory_mib: int = 0


# Phases that hold a slot and the destination's memory.
SLOT_PHASES = frozenset({MigrationPhase.PREPARING, MigrationPhase.RUNNING})


def host_loads(
    migrations: Iterable[Migration], vm_memory_mib: Mapping[str, int]
) -> dict[str, HostLoad]:
    """Incoming migrations and promised memory per destination host, from the migrations that
    hold a slot (preparing or running). `vm_memory_mib` maps VM id to its memory."""
    counts: dict[str, int] = {}
    memory: dict[str, int] = {}
    for migration in migrations:
        if migration.phase not in SLOT_PHASES or not migration.destination_host_id:
            continue
        host_id = migration.destination_host_id
        counts[host_id] = counts.get(host_id, 0) + 1
        memory[host_id] = memory.get(host_id, 0) + vm_memory_mib.get(migration.vm_id, 0)
    return {host_id: HostLoad(counts[host_id], memory[host_id]) for host_id in counts}


# ---------------------------------------------------------------- score

LINK_WEIGHT = 0.5
INCOMING_WEIGHT = 0.3
MEMORY_WEIGHT = 0.2


@dataclass(frozen=True)
class ScoreScale:
    """What a host's figures are measured against, fixed for one decision so that a host's
    score depends on the host alone (evacuation planning relies on it)."""

    max_link_mbps: int
    max_free_memory_mib: int
    incoming_limit: int

    @classmethod
    def of(
        cls, hosts: Iterable[HostView], networks: ClusterNetworks, incoming_limit: int
    ) -> ScoreScale:
        return scale_and_speeds(hosts, networks, incoming_limit)[0]


def scale_and_speeds(
    hosts: Iterable[HostView], networks: ClusterNetworks, incoming_limit: int
) -> tuple[ScoreScale, list[int]]:
    """The scale of one decision, and each host's link speed on the network automatic
    migrations use (0: not attached), in one pass over the hosts."""
    carrying = carrying_network_id(networks)
    speeds = []
    max_free = 0
    for view in hosts:
        attachment = attachment_on(view, carrying)
        speeds.append(0 if attachment is None else attachment.speed_mbps)
        max_free = max(max_free, view.host.facts.free_memory_mib)
    return ScoreScale(max(speeds, default=0), max_free, max(incoming_limit, 1)), speeds


def destination_score(
    link_mbps: int, incoming: int, free_memory_mib: int, scale: ScoreScale
) -> float:
    """0..100 for hosts within their incoming limit (lower beyond it): the fastest link, the
    fewest incoming migrations and the most free memory score highest."""
    link = link_mbps / scale.max_link_mbps if scale.max_link_mbps else 0.0
    idle = 1.0 - incoming / scale.incoming_limit
    memory = (
        max(free_memory_mib, 0) / scale.max_free_memory_mib if scale.max_free_memory_mib else 0.0
    )
    return round(100.0 * (LINK_WEIGHT * link + INCOMING_WEIGHT * idle + MEMORY_WEIGHT * memory), 3)


def carrying_network_id(networks: ClusterNetworks) -> str:
    """The network automatic migrations use: the migration network when the cluster uses it
    (the scheduler then requires it on the destination), else management."""
    if networks.uses_migration_network:
        return networks.cluster.migration_network_id
    return networks.cluster.management_network_id


def incoming_limit(networks: ClusterNetworks) -> int:
    return MigrationLimits.of(networks.cluster.policy).incoming_per_host


# ---------------------------------------------------------------- the filters


@dataclass(frozen=True)
class PlacementContext:
    """What one placement decision reads besides the hosts: migrations on their way in, the
    hosts a rerun must avoid, and agents that answered busy."""

    # By host id; a host without an entry is read from its HostView's counts.
    loads: Mapping[str, HostLoad] = field(default_factory=dict)
    excluded_host_ids: Collection[str] = ()
    now: datetime | None = None
    busy_until: Mapping[str, datetime] = field(default_factory=dict)

    def load_of(self, view: HostView) -> HostLoad:
        load = self.loads.get(view.host.id)
        return HostLoad(view.incoming_migrations) if load is None else load

    def busy_until_of(self, host_id: str) -> datetime | None:
        """When the host's agent may be asked again; None when it may be now."""
        until = self.busy_until.get(host_id)
        if until is None or self.now is None or until <= self.now:
            return None
        return until


# What any destination needs, automatic or manual.
MANUAL_KINDS = frozenset(
    {
        RejectionKind.OTHER_CLUSTER,
        RejectionKind.SOURCE,
        RejectionKind.NOT_UP,
        RejectionKind.VM_NETWORK,
    }
)


@dataclass(frozen=True)
class DestinationFilter:
    """Every filter a destination host passes, in the order their reasons are shown: the one
    definition that the scheduler's choice, the per-host assessment and the evacuation plan
    share. Built once per decision; it formats no sentence (`_explain` does)."""

    cluster_id: str
    # Empty when the cluster does not send migrations over its migration network.
    required_network_id: str
    # None: incoming limits and busy agents are not counted (the evacuation plan: the queue
    # waits for them).
    incoming_limit: int | None
    context: PlacementContext

    @classmethod
    def of(
        cls,
        networks: ClusterNetworks,
        context: PlacementContext | None = None,
        *,
        count_waits: bool = True,
    ) -> DestinationFilter:
        return cls(
            networks.cluster.id,
            networks.cluster.migration_network_id if networks.uses_migration_network else "",
            incoming_limit(networks) if count_waits else None,
            context or PlacementContext(),
        )

    def screen(
        self,
        hosts: Sequence[HostView],
        source_host_id: str,
        vm_memory_mib: int | None,
        vm_networks: Collection[str] = (),
    ) -> list[Screened]:
        """The hosts of `hosts` that can take a VM of `vm_memory_mib` (None: memory is not
        checked, the caller counts it) whose vNICs use `vm_networks`, running on
        `source_host_id`, each found at the cost of its first failing filter, as
        `(index in hosts, incoming, free memory, [])`."""
        return self._screen(hosts, source_host_id, vm_memory_mib, vm_networks, explain=False)

    def explain(
        self,
        hosts: Sequence[HostView],
        source_host_id: str,
        vm_memory_mib: int | None,
        vm_networks: Collection[str] = (),
    ) -> list[Screened]:
        """Every host of `hosts`, with everything that keeps it from taking the VM (in the
        order the reasons are shown; empty: it passes)."""
        return self._screen(hosts, source_host_id, vm_memory_mib, vm_networks, explain=True)

    def _screen(
        self,
        hosts: Sequence[HostView],
        source_host_id: str,
        vm_memory_mib: int | None,
        vm_networks: Collection[str],
        *,
        explain: bool,
    ) -> list[Screened]:
        # One loop with every filter written flat, without a call per host or per filter: the
        # scheduler runs it over every host of the cluster. `continue` skips a host at its
        # first obstacle unless every obstacle is wanted.
        stop = not explain
        context = self.context
        loads, excluded, busy = context.loads, context.excluded_host_ids, context.busy_until
        cluster_id, network_id, limit = (
            self.cluster_id,
            self.required_network_id,
            self.incoming_limit,
        )
        up = HostStatus.UP
        screened: list[Screened] = []
        for index, view in enumerate(hosts):
            host = view.host
            load = loads.get(host.id)
            incoming = view.incoming_migrations if load is None else load.incoming
            free = host.facts.free_memory_mib - (0 if load is None else load.reserved_memory_mib)
            # Never appended to when `stop`: a host with an obstacle is skipped.
            found: list[RejectionKind] = [] if explain else _PASSED
            if host.cluster_id != cluster_id:
                if stop:
                    continue
                found.append(RejectionKind.OTHER_CLUSTER)
            if host.id == source_host_id:
                if stop:
                    continue
                found.append(RejectionKind.SOURCE)
            if host.status is not up:
                if stop:
                    continue
                found.append(RejectionKind.NOT_UP)
            if vm_networks and missing_networks(host, vm_networks):
                if stop:
                    continue
                found.append(RejectionKind.VM_NETWORK)
            if excluded and host.id in excluded:
                if stop:
                    continue
                found.append(RejectionKind.ALREADY_TRIED)
            if vm_memory_mib is not None and free < vm_memory_mib:
                if stop:
                    continue
                found.append(RejectionKind.NOT_ENOUGH_MEMORY)
            # Before the migration network, which costs more to check; `explain` puts the
            # reasons back in their order.
            if limit is not None and incoming >= limit:
                if stop:
                    continue
                found.append(RejectionKind.INCOMING_LIMIT)
            if network_id:
                # The host's end of the migration network is usable (`end_problem` says why not).
                attachment = attachment_on(view, network_id)
                if (
                    attachment is None
                    or not attachment.link_up
                    or usable_address(attachment.address) is None
                ):
                    if stop:
                        continue
                    found.append(RejectionKind.MIGRATION_NETWORK)
            if limit is not None and host.id in busy and context.busy_until_of(host.id) is not None:
                if stop:
                    continue
                found.append(RejectionKind.DESTINATION_BUSY)
            if len(found) > 1:
                found.sort(key=_SHOWN_ORDER.__getitem__)
            screened.append((index, incoming, free, found))
        return screened


_PASSED: list[RejectionKind] = []
# The order of RejectionKind: manual rules first, then what automatic placement adds.
_SHOWN_ORDER = {kind: order for order, kind in enumerate(RejectionKind)}

# One host through the filters: its index in the hosts screened, its incoming migrations, its
# free memory net of what they were promised, and what keeps it from taking the VM.
Screened = tuple[int, int, int, list[RejectionKind]]


# ---------------------------------------------------------------- per-host assessment


@dataclass(frozen=True)
class DestinationAssessment:
    """One host considered as the destination of one VM (`MigrationCandidate`)."""

    host: HostView
    # Why automatic placement would not pick it; empty when suitable.
    rejections: tuple[Rejection, ...]
    # Why a manual migration to it is refused; empty when allowed.
    manual_rejections: tuple[Rejection, ...]
    # Which network would carry the data; None for the VM's own host.
    path: MigrationPath | None
    score: float

    @property
    def suitable(self) -> bool:
        return not self.rejections

    @property
    def manual_allowed(self) -> bool:
        return not self.manual_rejections

    @property
    def only_transient(self) -> bool:
        """Rejected, but only for reasons waiting lifts."""
        return bool(self.rejections) and all(r.kind.transient for r in self.rejections)


def _explain(
    kind: RejectionKind,
    vm: Vm,
    destination: HostView,
    networks: ClusterNetworks,
    load: HostLoad,
    context: PlacementContext,
) -> str:
    """The sentence for one rejection, about the host without its name (but a missing vNIC
    network, whose sentence names host and VM as operators read it on its own too)."""
    host = destination.host
    if kind is RejectionKind.OTHER_CLUSTER:
        return f"in another cluster ({host.cluster_id}), not the VM's {networks.cluster.name!r}"
    if kind is RejectionKind.SOURCE:
        return "the VM runs there already"
    if kind is RejectionKind.NOT_UP:
        why = f" ({host.status_reason})" if host.status_reason else ""
        return f"status {host.status.label}{why}"
    if kind is RejectionKind.VM_NETWORK:
        return missing_network_sentence(
            host.name, vm.name or vm.id, missing_networks(host, vm.networks)
        )
    if kind is RejectionKind.ALREADY_TRIED:
        return "tried before for this VM; not again"
    if kind is RejectionKind.NOT_ENOUGH_MEMORY:
        free = host.facts.free_memory_mib - load.reserved_memory_mib
        held = (
            f" ({load.reserved_memory_mib} MiB of {host.facts.free_memory_mib} promised to "
            "incoming migrations)"
            if load.reserved_memory_mib
            else ""
        )
        return f"{max(free, 0)} MiB free{held}, the VM needs {vm.memory_mib} MiB"
    if kind is RejectionKind.MIGRATION_NETWORK:
        problem = end_problem(networks, destination, "destination")
        assert problem is not None
        return problem[1]
    if kind is RejectionKind.INCOMING_LIMIT:
        return (
            f"{load.incoming} of {incoming_limit(networks)} incoming migrations "
            "(max_incoming_per_host)"
        )
    until = context.busy_until_of(host.id)
    assert until is not None
    return f"its agent answered busy; skipped until {until.isoformat(timespec='seconds')}"


def manual_destination_rejections(
    vm: Vm, destination: HostView, networks: ClusterNetworks
) -> tuple[Rejection, ...]:
    """Why a manual migration of `vm` to `destination` is refused (empty: allowed). Limits
    and busy agents only delay it (the queue), and the missing migration network only makes
    it fall back."""
    destination_filter = DestinationFilter.of(networks, count_waits=False)
    [(_, _, _, kinds)] = destination_filter.explain([destination], vm.host_id, None, vm.networks)
    context = destination_filter.context
    return tuple(
        Rejection(kind, _explain(kind, vm, destination, networks, HostLoad(), context))
        for kind in kinds
        if kind in MANUAL_KINDS
    )


def _assessments(
    vm: Vm,
    source: HostView,
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    scale: ScoreScale,
    context: PlacementContext,
) -> Iterator[DestinationAssessment]:
    carrying = carrying_network_id(networks)
    screened = DestinationFilter.of(networks, context).explain(
        hosts, vm.host_id, vm.memory_mib, vm.networks
    )
    for index, incoming, free, kinds in screened:
        destination = hosts[index]
        load = context.load_of(destination)
        rejections = tuple(
            Rejection(kind, _explain(kind, vm, destination, networks, load, context))
            for kind in kinds
        )
        host_id = destination.host.id
        attachment = attachment_on(destination, carrying)
        link = attachment.speed_mbps if attachment is not None else 0
        yield DestinationAssessment(
            host=destination,
            rejections=rejections,
            manual_rejections=tuple(r for r in rejections if r.kind in MANUAL_KINDS),
            path=None
            if host_id == vm.host_id
            else choose_migration_uri(networks, source, destination),
            score=destination_score(link, incoming, free, scale),
        )


def assess_destination(
    vm: Vm,
    source: HostView,
    destination: HostView,
    networks: ClusterNetworks,
    scale: ScoreScale,
    *,
    load: HostLoad | None = None,
    excluded_host_ids: Collection[str] = (),
    now: datetime | None = None,
    busy_until: Mapping[str, datetime] | None = None,
) -> DestinationAssessment:
    """Every filter, with its reason, for one host (what `ListMigrationCandidates` shows)."""
    context = PlacementContext(
        {} if load is None else {destination.host.id: load},
        excluded_host_ids,
        now,
        busy_until or {},
    )
    [assessment] = _assessments(vm, source, [destination], networks, scale, context)
    return assessment


def _by_preference(assessment: DestinationAssessment) -> tuple[bool, float, str, str]:
    # Suitable hosts best first; the rejected ones by name, for an operator to scan.
    return (
        not assessment.suitable,
        -assessment.score if assessment.suitable else 0.0,
        assessment.host.host.name,
        assessment.host.host.id,
    )


def assess_destinations(
    vm: Vm,
    source: HostView,
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    *,
    loads: Mapping[str, HostLoad] | None = None,
    excluded_host_ids: Collection[str] = (),
    now: datetime | None = None,
    busy_until: Mapping[str, datetime] | None = None,
) -> list[DestinationAssessment]:
    """Every host of `hosts` as a destination of `vm` (`ListMigrationCandidates`): suitable
    ones first, best score first; then the others by name."""
    context = PlacementContext(loads or {}, excluded_host_ids, now, busy_until or {})
    return assess_in_context(vm, source, hosts, networks, context)


def assess_in_context(
    vm: Vm,
    source: HostView,
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    context: PlacementContext,
) -> list[DestinationAssessment]:
    """`assess_destinations` with its context as one value."""
    scale = ScoreScale.of(hosts, networks, incoming_limit(networks))
    assessments = list(_assessments(vm, source, hosts, networks, scale, context))
    assessments.sort(key=_by_preference)
    return assessments


# ---------------------------------------------------------------- the choice


class PlacementOutcome(Enum):
    # A destination was chosen.
    PLACED = "placed"
    # Every host that could take the VM is at its incoming limit or busy: queue and retry.
    WAIT = "wait"
    # No host can take the VM, whatever the wait: FAILED_PRECONDITION, or "unplaced".
    NO_HOST = "no_host"


@dataclass(frozen=True)
class PlacementDecision:
    outcome: PlacementOutcome
    destination: HostView | None = None
    path: MigrationPath | None = None
    score: float = 0.0
    # WAIT: the queue reason; NO_HOST: host by host, why each was rejected.
    reason: str = ""
    # WAIT and NO_HOST: the assessments of the hosts the reason names, in its order.
    assessments: tuple[DestinationAssessment, ...] = ()


REJECTIONS_SHOWN = 20


def describe_rejections(
    vm: Vm,
    assessments: Sequence[DestinationAssessment],
    *,
    shown_max: int = REJECTIONS_SHOWN,
    rejected_count: int | None = None,
) -> str:
    """ "no host can take VM 'web1' (4096 MiB): host2: …; host3: …" — at most `shown_max`
    hosts named, the rest counted (`rejected_count`: how many hosts were rejected in all, when
    `assessments` holds only the first of them)."""
    rejected = [a for a in assessments if a.rejections]
    if not rejected:
        return f"the cluster has no other host for VM {vm.name or vm.id!r}"
    parts = [
        f"{a.host.host.name}: " + "; ".join(r.message for r in a.rejections)
        for a in rejected[:shown_max]
    ]
    count = len(rejected) if rejected_count is None else rejected_count
    more = f" (and {count - shown_max} more hosts)" if count > shown_max else ""
    return (
        f"no host can take VM {vm.name or vm.id!r} ({vm.memory_mib} MiB): "
        + " | ".join(parts)
        + more
    )


WAITING_SHOWN = 3


def describe_wait(
    assessments: Sequence[DestinationAssessment],
    *,
    shown_max: int = WAITING_SHOWN,
    waiting_count: int | None = None,
) -> str:
    """The queue reason when every possible destination is only transiently unavailable
    (`waiting_count`: how many hosts wait in all, when `assessments` holds only the first)."""
    waiting = [a for a in assessments if a.only_transient]
    parts = [
        f"{a.host.host.name} " + ", ".join(r.message for r in a.rejections)
        for a in waiting[:shown_max]
    ]
    count = len(waiting) if waiting_count is None else waiting_count
    more = f" and {count - shown_max} more" if count > shown_max else ""
    return (
        "every host that can take the VM is at its incoming limit or busy: "
        + "; ".join(parts)
        + more
    )


def choose_destination(
    vm: Vm,
    source: HostView,
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    *,
    loads: Mapping[str, HostLoad] | None = None,
    excluded_host_ids: Collection[str] = (),
    now: datetime | None = None,
    busy_until: Mapping[str, datetime] | None = None,
) -> PlacementDecision:
    """The destination of an automatic migration of `vm` (running on `source`) among `hosts`
    (the cluster's), or why there is none now (WAIT) or at all (NO_HOST)."""
    context = PlacementContext(loads or {}, excluded_host_ids, now, busy_until or {})
    return choose_in_context(vm, source, hosts, networks, context)


def choose_in_context(
    vm: Vm,
    source: HostView,
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    context: PlacementContext,
) -> PlacementDecision:
    """`choose_destination` with its context as one value.

    One cheap pass over the hosts finds the best; only when none qualifies are the hosts
    screened again, with sentences for those the reason names (`_no_destination`)."""
    best = _best_destination(vm, hosts, networks, context)
    if best is not None:
        view, score = best
        return PlacementDecision(
            PlacementOutcome.PLACED,
            destination=view,
            path=choose_migration_uri(networks, source, view),
            score=score,
        )
    return _no_destination(vm, source, hosts, networks, context)


_TRANSIENT_KINDS = frozenset(kind for kind in RejectionKind if kind.transient)


def _no_destination(
    vm: Vm,
    source: HostView,
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    context: PlacementContext,
) -> PlacementDecision:
    """WAIT when some host is kept from the VM only by waits (its incoming limit, a busy
    agent), else NO_HOST; the reason as `describe_wait` and `describe_rejections` give it over
    every host's assessment, but with sentences only for the hosts it names (the first in the
    operator's order: by name, then id), the others counted."""
    screened = DestinationFilter.of(networks, context).explain(
        hosts, vm.host_id, vm.memory_mib, vm.networks
    )
    # Every host is rejected (none passed every filter).
    waiting = [index for index, _, _, kinds in screened if _TRANSIENT_KINDS.issuperset(kinds)]
    pool = waiting or range(len(hosts))
    shown_max = WAITING_SHOWN if waiting else REJECTIONS_SHOWN
    shown = heapq.nsmallest(shown_max, ((hosts[i].host.name, hosts[i].host.id, i) for i in pool))
    _, _, max_link, max_free = _rows_and_scale(hosts, carrying_network_id(networks))
    scale = ScoreScale(max_link, max_free, max(incoming_limit(networks), 1))
    shown_hosts = [hosts[index] for _, _, index in shown]
    assessments = tuple(_assessments(vm, source, shown_hosts, networks, scale, context))
    if waiting:
        reason = describe_wait(assessments, waiting_count=len(waiting))
        return PlacementDecision(PlacementOutcome.WAIT, reason=reason, assessments=assessments)
    reason = describe_rejections(vm, assessments, rejected_count=len(hosts))
    return PlacementDecision(PlacementOutcome.NO_HOST, reason=reason, assessments=assessments)


# ---------------------------------------------------------------- the scheduler's rows


# Hosts differ little in the networks they are on, at which speeds, and in their NICs' names:
# rows with the same share one object (built once), so that 10,000 rows are 10,000 new tuples
# and not 40,000 objects more for the garbage collector to walk. Keyed by what they are built
# from; forgotten all at once past `_SHARED_MAX` keys.
_NetworkFacts = tuple[dict[str, int], frozenset[str]]
_NETWORK_FACTS: dict[tuple[tuple[str, int, bool], ...], _NetworkFacts] = {}
_NIC_NAMES: dict[tuple[str, ...], frozenset[str]] = {}
_SHARED_MAX = 4096


def _network_facts(links: tuple[tuple[str, int, bool], ...]) -> _NetworkFacts:
    """Link speed by network, and the networks whose end is usable, from a view's attachments
    as (network id, speed, end usable): each network by its first attachment, as
    `attachment_on` finds it."""
    facts = _NETWORK_FACTS.get(links)
    if facts is None:
        speeds: dict[str, int] = {}
        usable: list[str] = []
        for network_id, speed, end_usable in links:
            if network_id and network_id not in speeds:
                speeds[network_id] = speed
                if end_usable:
                    usable.append(network_id)
        if len(_NETWORK_FACTS) >= _SHARED_MAX:
            _NETWORK_FACTS.clear()
        facts = _NETWORK_FACTS[links] = (speeds, frozenset(usable))
    return facts


def _nic_names(names: tuple[str, ...]) -> frozenset[str]:
    shared = _NIC_NAMES.get(names)
    if shared is None:
        if len(_NIC_NAMES) >= _SHARED_MAX:
            _NIC_NAMES.clear()
        shared = _NIC_NAMES[names] = frozenset(names)
    return shared


def placement_row(view: HostView) -> PlacementRow:
    """What the scheduler reads of `view` (`model.PlacementRow`), derived on first use and kept
    on the view (which never changes)."""
    row = view.placement_row
    if row is not None:
        return row
    host = view.host
    links = tuple(
        [
            (a.network_id, a.speed_mbps, a.link_up and usable_address(a.address) is not None)
            for a in view.attachments
        ]
    )
    speeds, usable_ends = _network_facts(links)
    row = (
        host.id,
        host.cluster_id if host.status is HostStatus.UP else None,
        host.facts.free_memory_mib,
        view.incoming_migrations,
        speeds,
        usable_ends,
        _nic_names(tuple([nic.name for nic in host.nics])),
    )
    # The view is frozen; the row is a memo of its own fields, outside its equality.
    object.__setattr__(view, "placement_row", row)
    return row


def prepare_for_placement(views: Iterable[HostView]) -> None:
    """Derives each view's placement row now: the engine's read of a cluster's hosts calls it
    (on the store's worker, once per host read), so that the decisions over those views, one
    per request and per queued migration, each read only rows."""
    for view in views:
        if view.placement_row is None:
            placement_row(view)


# Scores are rounded to 3 decimals: every host whose rounded score is the best one scores, before
# rounding, within this much of the best unrounded score (with room for float error).
_CONTENDER_MARGIN = 0.002


_FREE_MEMORY = itemgetter(2)
_LINK_SPEEDS = itemgetter(4)
# One contender: its index in the hosts, link speed, incoming migrations, free memory net of
# what they were promised.
_Contender = tuple[int, int, int, int]


def _rows_and_scale(
    hosts: Sequence[HostView], carrying: str
) -> tuple[list[PlacementRow], list[int], int, int]:
    """The hosts' rows, each one's link speed on the carrying network, and the decision's
    fastest link and most free memory (what `scale_and_speeds` finds), in passes run in C."""
    rows = [view.placement_row or placement_row(view) for view in hosts]
    links: list[int] = list(map(dict.get, map(_LINK_SPEEDS, rows), repeat(carrying), repeat(0)))
    max_free = max(map(_FREE_MEMORY, rows), default=0)
    return rows, links, max(links, default=0), max(max_free, 0)


def _contenders(
    vm: Vm, hosts: Sequence[HostView], networks: ClusterNetworks, context: PlacementContext
) -> tuple[list[_Contender], int, int]:
    """One pass over the hosts' rows (`placement_row`), doing what `DestinationFilter.screen`
    does, cheapest test first (the scheduler runs it per request over every host of the
    cluster): of the hosts that pass every filter, those that may hold the best rounded score,
    i.e. within `_CONTENDER_MARGIN` of the best score before rounding (the same weights,
    without the constant part and the rounding), so that only they are scored exactly; and
    the scale's fastest link and most free memory."""
    carrying = carrying_network_id(networks)
    required = DestinationFilter.of(networks, context).required_network_id
    limit = incoming_limit(networks)
    loads, excluded, busy = context.loads, context.excluded_host_ids, context.busy_until
    source_host_id, cluster_id, vm_memory_mib = vm.host_id, networks.cluster.id, vm.memory_mib
    vm_networks = frozenset(vm.networks)
    rows, links, max_link, max_free = _rows_and_scale(hosts, carrying)
    per_link = 100.0 * LINK_WEIGHT / max_link if max_link else 0.0
    per_free = 100.0 * MEMORY_WEIGHT / max_free if max_free else 0.0
    per_incoming = 100.0 * INCOMING_WEIGHT / max(limit, 1)
    top = floor = -math.inf
    # (rough score, contender) of every host that was within the margin when it was met.
    near: list[tuple[float, _Contender]] = []
    # Rows are read by position (`model.PlacementRow`: 0 id, 1 cluster id when UP, 2 free
    # memory, 3 incoming, 5 usable ends, 6 NIC names), as far as a host gets: the tests most
    # hosts fail first, the rare ones last. A load only lowers free memory and counts incoming
    # migrations from 0, so before it is looked up, the score the host would have with no
    # incoming migration and its own free memory bounds its rough score from above.
    for index, row in enumerate(rows):
        if row[1] != cluster_id:  # the cluster's id only when UP: one test for both
            continue
        free = row[2]
        if free < vm_memory_mib or (required and required not in row[5]):
            continue
        link = links[index]
        if per_link * link + per_free * (free if free > 0 else 0) < floor:
            continue
        incoming = row[3]
        if loads:
            load = loads.get(row[0])
            if load is not None:
                incoming, free = load.incoming, free - load.reserved_memory_mib
                if free < vm_memory_mib:
                    continue
        if incoming >= limit:
            continue
        rough = per_link * link - per_incoming * incoming + per_free * (free if free > 0 else 0)
        if rough < floor:
            continue
        host_id = row[0]
        if host_id == source_host_id or (vm_networks and not vm_networks <= row[6]):
            continue
        if excluded and host_id in excluded:
            continue
        if busy and host_id in busy and context.busy_until_of(host_id) is not None:
            continue
        if rough > top:
            top, floor = rough, rough - _CONTENDER_MARGIN
        near.append((rough, (index, link, incoming, free)))
    return [contender for rough, contender in near if rough >= floor], max_link, max_free


def _best_destination(
    vm: Vm, hosts: Sequence[HostView], networks: ClusterNetworks, context: PlacementContext
) -> tuple[HostView, float] | None:
    """The suitable host with the highest score (then name, then id), without a sentence:
    only the contenders (`_contenders`) scored exactly, each set of figures once (hosts alike
    tie often)."""
    contenders, max_link, max_free = _contenders(vm, hosts, networks, context)
    scale = ScoreScale(max_link, max_free, max(incoming_limit(networks), 1))
    scores: dict[tuple[int, int, int], float] = {}
    best: HostView | None = None
    best_score = 0.0
    for index, link, incoming, free in contenders:
        figures = (link, incoming, free)
        score = scores.get(figures)
        if score is None:
            score = scores[figures] = destination_score(link, incoming, free, scale)
        view = hosts[index]
        # Highest score, then name, then id (the tuple is built only on a tie).
        if (
            best is None
            or score > best_score
            or (
                score == best_score
                and (view.host.name, view.host.id) < (best.host.name, best.host.id)
            )
        ):
            best, best_score = view, score
    return None if best is None else (best, best_score)
