"""The scheduler: which host of the cluster takes a VM, and why the others do not.

Automatic migrations (no destination given) go to a host that passes every filter:

- in the VM's cluster, not its source, status UP, not tried before by this migration (reruns);
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

Manual migrations (destination given) may go to any UP host of the cluster but the source, even
without the migration network (the seed: "if the admin wants to keep jamming the management
network, let her"); `choose_migration_uri` then says which network carries the data.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    attachment_on,
    choose_migration_uri,
    end_problem,
    usable_address,
)
from miglane.engine.domain.model import (
    DEFAULT_MAX_INCOMING_PER_HOST,
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    Vm,
)


class RejectionKind(Enum):
    OTHER_CLUSTER = "other_cluster"
    SOURCE = "source"
    NOT_UP = "not_up"
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
        carrying = carrying_network_id(networks)
        max_link = 0
        max_free = 0
        for view in hosts:
            attachment = attachment_on(view, carrying)
            if attachment is not None:
                max_link = max(max_link, attachment.speed_mbps)
            max_free = max(max_free, view.host.facts.free_memory_mib)
        return cls(max_link, max_free, max(incoming_limit, 1))


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
    return networks.cluster.policy.max_incoming_per_host or DEFAULT_MAX_INCOMING_PER_HOST


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


def manual_destination_rejections(
    vm: Vm, destination: HostView, networks: ClusterNetworks
) -> tuple[Rejection, ...]:
    """Why a manual migration of `vm` to `destination` is refused (empty: allowed). Limits
    and busy agents only delay it (the queue), and the missing migration network only makes
    it fall back."""
    host = destination.host
    rejections = []
    if host.cluster_id != networks.cluster.id:
        rejections.append(
            Rejection(
                RejectionKind.OTHER_CLUSTER,
                f"in another cluster ({host.cluster_id}), not the VM's {networks.cluster.name!r}",
            )
        )
    if host.id == vm.host_id:
        rejections.append(Rejection(RejectionKind.SOURCE, "the VM runs there already"))
    if host.status is not HostStatus.UP:
        why = f" ({host.status_reason})" if host.status_reason else ""
        rejections.append(Rejection(RejectionKind.NOT_UP, f"status {host.status.label}{why}"))
    return tuple(rejections)


def _is_busy(host_id: str, now: datetime | None, busy_until: Mapping[str, datetime]) -> bool:
    until = busy_until.get(host_id)
    return until is not None and now is not None and until > now


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
    host = destination.host
    load = load or HostLoad(destination.incoming_migrations)
    rejections = list(manual_destination_rejections(vm, destination, networks))
    if host.id in excluded_host_ids:
        rejections.append(
            Rejection(RejectionKind.ALREADY_TRIED, "tried before for this VM; not again")
        )
    free = host.facts.free_memory_mib - load.reserved_memory_mib
    if free < vm.memory_mib:
        held = (
            f" ({load.reserved_memory_mib} MiB of {host.facts.free_memory_mib} promised to "
            "incoming migrations)"
            if load.reserved_memory_mib
            else ""
        )
        rejections.append(
            Rejection(
                RejectionKind.NOT_ENOUGH_MEMORY,
                f"{max(free, 0)} MiB free{held}, the VM needs {vm.memory_mib} MiB",
            )
        )
    if networks.uses_migration_network:
        problem = end_problem(networks, destination, "destination")
        if problem is not None:
            rejections.append(Rejection(RejectionKind.MIGRATION_NETWORK, problem[1]))
    limit = incoming_limit(networks)
    if load.incoming >= limit:
        rejections.append(
            Rejection(
                RejectionKind.INCOMING_LIMIT,
                f"{load.incoming} of {limit} incoming migrations (max_incoming_per_host)",
            )
        )
    if _is_busy(host.id, now, busy_until or {}):
        until = (busy_until or {})[host.id]
        rejections.append(
            Rejection(
                RejectionKind.DESTINATION_BUSY,
                f"its agent answered busy; skipped until {until.isoformat(timespec='seconds')}",
            )
        )
    path = None if host.id == vm.host_id else choose_migration_uri(networks, source, destination)
    attachment = attachment_on(destination, carrying_network_id(networks))
    link = attachment.speed_mbps if attachment is not None else 0
    return DestinationAssessment(
        host=destination,
        rejections=tuple(rejections),
        manual_rejections=tuple(
            r
            for r in rejections
            if r.kind in (RejectionKind.OTHER_CLUSTER, RejectionKind.SOURCE, RejectionKind.NOT_UP)
        ),
        path=path,
        score=destination_score(link, load.incoming, free, scale),
    )


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
    loads = loads or {}
    scale = ScoreScale.of(hosts, networks, incoming_limit(networks))
    assessments = [
        assess_destination(
            vm,
            source,
            view,
            networks,
            scale,
            load=loads.get(view.host.id),
            excluded_host_ids=excluded_host_ids,
            now=now,
            busy_until=busy_until,
        )
        for view in hosts
    ]
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
    # WAIT and NO_HOST: every host's assessment, best first.
    assessments: tuple[DestinationAssessment, ...] = ()


REJECTIONS_SHOWN = 20


def describe_rejections(
    vm: Vm, assessments: Sequence[DestinationAssessment], *, shown_max: int = REJECTIONS_SHOWN
) -> str:
    """ "no host can take VM 'web1' (4096 MiB): host2: …; host3: …" — at most `shown_max`
    hosts named, the rest counted."""
    rejected = [a for a in assessments if a.rejections]
    if not rejected:
        return f"the cluster has no other host for VM {vm.name or vm.id!r}"
    parts = [
        f"{a.host.host.name}: " + "; ".join(r.message for r in a.rejections)
        for a in rejected[:shown_max]
    ]
    more = f" (and {len(rejected) - shown_max} more hosts)" if len(rejected) > shown_max else ""
    return (
        f"no host can take VM {vm.name or vm.id!r} ({vm.memory_mib} MiB): "
        + " | ".join(parts)
        + more
    )


def describe_wait(assessments: Sequence[DestinationAssessment], *, shown_max: int = 3) -> str:
    """The queue reason when every possible destination is only transiently unavailable."""
    waiting = [a for a in assessments if a.only_transient]
    parts = [
        f"{a.host.host.name} " + ", ".join(r.message for r in a.rejections)
        for a in waiting[:shown_max]
    ]
    more = f" and {len(waiting) - shown_max} more" if len(waiting) > shown_max else ""
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
    (the cluster's), or why there is none now (WAIT) or at all (NO_HOST).

    One cheap pass over the hosts finds the best; only when none qualifies are the hosts
    assessed again with sentences, for the operator."""
    loads = loads or {}
    busy_until = busy_until or {}
    cluster_id = networks.cluster.id
    limit = incoming_limit(networks)
    scale = ScoreScale.of(hosts, networks, limit)
    needs_migration_network = networks.uses_migration_network
    migration_network_id = networks.cluster.migration_network_id
    carrying = carrying_network_id(networks)
    best: HostView | None = None
    best_score = 0.0
    up = HostStatus.UP
    for view in hosts:
        host = view.host
        if (
            host.id == vm.host_id
            or host.status is not up
            or host.cluster_id != cluster_id
            or host.id in excluded_host_ids
        ):
            continue
        load = loads.get(host.id)
        incoming = view.incoming_migrations if load is None else load.incoming
        free = host.facts.free_memory_mib - (0 if load is None else load.reserved_memory_mib)
        if free < vm.memory_mib or incoming >= limit:
            continue
        if needs_migration_network:
            attachment = attachment_on(view, migration_network_id)
            if (
                attachment is None
                or not attachment.link_up
                or usable_address(attachment.address) is None
            ):
                continue
        else:
            attachment = attachment_on(view, carrying)
        if host.id in busy_until and _is_busy(host.id, now, busy_until):
            continue
        link = attachment.speed_mbps if attachment is not None else 0
        score = destination_score(link, incoming, free, scale)
        # Highest score, then name, then id (the tuple is built only on a tie).
        if (
            best is None
            or score > best_score
            or (score == best_score and (host.name, host.id) < (best.host.name, best.host.id))
        ):
            best, best_score = view, score
    if best is not None:
        return PlacementDecision(
            PlacementOutcome.PLACED,
            destination=best,
            path=choose_migration_uri(networks, source, best),
            score=best_score,
        )
    assessments = tuple(
        assess_destinations(
            vm,
            source,
            hosts,
            networks,
            loads=loads,
            excluded_host_ids=excluded_host_ids,
            now=now,
            busy_until=busy_until,
        )
    )
    if any(a.only_transient for a in assessments):
        return PlacementDecision(
            PlacementOutcome.WAIT, reason=describe_wait(assessments), assessments=assessments
        )
    return PlacementDecision(
        PlacementOutcome.NO_HOST,
        reason=describe_rejections(vm, assessments),
        assessments=assessments,
    )
