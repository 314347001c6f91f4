"""Host maintenance: moving every VM off the hosts entering maintenance, rerunning failures
elsewhere, and knowing when to stop.

- `plan_evacuation` plans, for all the cluster's hosts entering maintenance at once, which VMs
  go where and in which order (`evacuation_schedule`: the order and destinations that finish
  soonest within the per-host, per-cluster and link limits, by the model's prediction of each
  migration), and when the whole evacuation should end. Each planned VM becomes a QUEUED
  automatic migration carrying its rank and planned destination; the queue starts them in
  rank order and keeps the limits, preferring the planned destination while it is still
  suitable. It is re-planned as rates change. A VM nothing can take is reported with the
  reasons: no host with room, none with a bridge for each network its vNICs use, local disks
  the cluster's policy does not let it copy, or a guest that would not converge at any
  bandwidth it can get with the helps the policy allows.
  Memory first: before the timeline, the VMs are placed largest first, each destination
  promised the memory of the VMs placed on it; that placement is the witness of which VMs fit,
  and the timeline follows it when choosing destinations freely would leave one without room.
- `decide_rerun`: an automatic migration that failed is rerun on another host, up to
  `MAX_HOSTS_PER_VM` hosts in total; then the VM is reported, never looped on.
- `evacuation_state`: the host is empty (maintenance), still evacuating, or stuck with VMs no
  host takes (reported; the host stays in PREPARING_FOR_MAINTENANCE until the operator acts).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from itertools import pairwise

from miglane.engine.domain.evacuation_schedule import (
    EvacuationJob,
    Occupant,
    Schedule,
    schedule_evacuation,
)
from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.forecast import (
    FINISH_DRIFT_S,
    queued_prediction,
    share_mibps,
    source_path,
)
from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.migratable import has_live_guest
from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import HostView, Migration, MigrationPhase, Vm
from miglane.engine.domain.placement import (
    DestinationFilter,
    HostLoad,
    PlacementContext,
    assess_destinations,
    describe_rejections,
    destination_score,
    incoming_limit,
    scale_and_speeds,
)
from miglane.engine.domain.prediction import Prediction
from miglane.engine.domain.vm_devices import local_disk_refusal, missing_networks

MAX_HOSTS_PER_VM = 3
# The plan weighs 1 up to this many migrations at once per source (and the policy's limit).
_CAPS_TRIED = 4


@dataclass(frozen=True)
class PlannedMigration:
    vm: Vm
    # Where the plan sends it; the queue prefers it at the start while it is still suitable.
    destination_host_id: str
    score: float
    # Its place in the start order, 1 first.
    rank: int = 0
    # Seconds after the plan was made: its predicted start and finish.
    start_s: float = 0.0
    finish_s: float = 0.0
    # The bandwidth it gets when it starts, and the prediction at it.
    bandwidth_mibps: float = 0.0
    prediction: Prediction | None = None

    @property
    def source_host_id(self) -> str:
        return self.vm.host_id


@dataclass(frozen=True)
class UnplacedVm:
    vm_id: str
    vm_name: str
    reason: str


@dataclass(frozen=True)
class EvacuationPlan:
    # The hosts evacuated together.
    host_ids: tuple[str, ...]
    # In start order (rank 1 first).
    planned: tuple[PlannedMigration, ...]
    unplaced: tuple[UnplacedVm, ...]
    # VMs with an active migration already: left to it.
    already_migrating: tuple[Vm, ...]
    # Not running (shut off, crashed, saved): nothing to live-migrate; they do not keep the
    # host from maintenance.
    not_running: tuple[Vm, ...]
    # Seconds after the plan was made until the last migration ends, the migrations already
    # holding slots included: the predicted finish of the whole evacuation.
    finish_s: float = 0.0
    # How many migrations leave each evacuated host at once in the plan (at most the policy's
    # limit; fewer when that finishes sooner). The queue keeps to it.
    outgoing_per_host: int = 0

    @property
    def host_id(self) -> str:
        return self.host_ids[0] if self.host_ids else ""

    @property
    def data_bytes(self) -> int:
        """What the planned migrations move: memory and the local disks copied."""
        return sum(item.vm.data_bytes for item in self.planned)

    def finish_s_of(self, host_id: str) -> float:
        """When the planned migrations leaving `host_id` are predicted to have ended."""
        return max((p.finish_s for p in self.planned if p.source_host_id == host_id), default=0)


def plan_evacuation(
    evacuating: HostView | Sequence[HostView],
    vms: Sequence[Vm],
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    *,
    loads: Mapping[str, HostLoad] | None = None,
    occupants: Sequence[Occupant] = (),
) -> EvacuationPlan:
    """The plan moving the live VMs of `evacuating` (one host, or all the cluster's hosts
    entering maintenance) among `hosts` (the cluster's), and which VMs none can take and why.
    `vms` are the VMs on the evacuating hosts; `loads` the destinations' memory already
    promised to incoming migrations (`placement.host_loads`); `occupants` the cluster's
    migrations already holding slots, with their predicted finish.

    Memory is an obstacle (counting what the plan promised); incoming limits and busy agents
    only delay a start. Cost: O(VMs x log hosts) to place, plus the timeline's
    (`evacuation_schedule`)."""
    sources = [evacuating] if isinstance(evacuating, HostView) else list(evacuating)
    by_id = {view.host.id: view for view in sources}
    context = PlacementContext(loads or {})
    # Every live guest leaves: one that a job the engine does not track is migrating is queued
    # too, and the queue waits for that job to end (`admission`).
    live = [vm for vm in vms if has_live_guest(vm.state) and not vm.migration_id]
    refused = [
        UnplacedVm(vm.id, vm.name, reason)
        for vm in live
        if (reason := local_disk_refusal(vm, networks.cluster)) is not None
    ]
    stalling = [
        UnplacedVm(vm.id, vm.name, reason)
        for vm in live
        if (reason := _never_converges(vm, by_id[vm.host_id], networks)) is not None
    ]
    left_out = {item.vm_id for item in (*refused, *stalling)}
    movable = sorted(
        (vm for vm in live if vm.id not in left_out),
        key=lambda vm: (-vm.memory_mib, -vm.data_bytes, vm.name, vm.id),
    )
    placed, unplaced_vms = _place(by_id, movable, hosts, networks, context)
    schedule, outgoing_cap = _timeline(placed, sources, hosts, networks, loads, occupants)
    unplaced = _unplaced(by_id, unplaced_vms, placed, hosts, networks, context)
    unplaced += [
        _not_converging_anywhere(vm, by_id[vm.host_id], networks) for vm in schedule.unscheduled
    ]
    planned = tuple(
        PlannedMigration(
            item.vm,
            item.destination_host_id,
            item.score,
            rank,
            item.start_s,
            item.finish_s,
            item.bandwidth_mibps,
            item.prediction,
        )
        for rank, item in enumerate(schedule.scheduled, start=1)
    )
    return EvacuationPlan(
        tuple(by_id),
        planned,
        (*refused, *stalling, *unplaced),
        already_migrating=tuple(vm for vm in vms if vm.migration_id),
        not_running=tuple(vm for vm in vms if not has_live_guest(vm.state) and not vm.migration_id),
        finish_s=schedule.finish_s,
        outgoing_per_host=outgoing_cap,
    )


def _outgoing_caps(sources: Sequence[HostView], networks: ClusterNetworks) -> list[int]:
    """The numbers of migrations at once per source the plan weighs: 1 up to the policy's
    limit (a few and the limit itself when it is high)."""
    limits = MigrationLimits.of(networks.cluster.policy)
    most = max((limits.outgoing_for(view.host) for view in sources), default=1)
    return sorted({*range(1, min(most, _CAPS_TRIED) + 1), most})


def _timeline(
    placed: Sequence[PlannedMigration],
    sources: Sequence[HostView],
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    loads: Mapping[str, HostLoad] | None,
    occupants: Sequence[Occupant],
) -> tuple[Schedule, int]:
    """The timeline that ends soonest, and how many migrations leave each source at once in
    it: fewer at once each get more of the source's link, so a hot guest resends less of what
    it dirties; more at once overlap their setups and use several destinations' links.
    Destinations are chosen freely, or as the memory-first placement put them when choosing
    freely would leave a VM without room."""
    best: tuple[Schedule, int] | None = None
    for cap in _outgoing_caps(sources, networks):
        for jobs in (
            [EvacuationJob(item.vm) for item in placed],
            [EvacuationJob(item.vm, item.destination_host_id) for item in placed],
        ):
            schedule = schedule_evacuation(
                jobs,
                sources,
                hosts,
                networks,
                loads=loads,
                occupants=occupants,
                outgoing_cap=cap,
            )
            if not schedule.unscheduled:
                break
        if best is None or _sooner(schedule, best[0]):
            best = (schedule, cap)
    assert best is not None
    return best


def _sooner(schedule: Schedule, than: Schedule) -> bool:
    """Fewer VMs left behind, then an earlier finish (ties: the later tried, with more at
    once, which spreads over more destinations)."""
    return (len(schedule.unscheduled), schedule.finish_s) <= (
        len(than.unscheduled),
        than.finish_s,
    )


def _most_mibps(vm: Vm, source: HostView, networks: ClusterNetworks) -> float:
    """The most bandwidth a migration of `vm` can get: its source's link alone."""
    return share_mibps(source_path(source, networks), vm, networks, 1)


def _never_converges(vm: Vm, source: HostView, networks: ClusterNetworks) -> str | None:
    """Why `vm` would not converge even alone on its source's link, with the helps the policy
    allows (None: it would)."""
    mibps = _most_mibps(vm, source, networks)
    if mibps <= 0:
        return None  # the link's speed is unknown: nothing to judge by
    prediction = queued_prediction(
        vm, networks.cluster.policy, mibps, fixed_s=networks.path_fixed_s
    )
    if prediction.finishes:
        return None
    return (
        f"VM {vm.name or vm.id!r} would not converge even alone on its host's link "
        f"({mibps:.0f} MiB/s): {prediction.reason}; it stays until it dirties less or the "
        "cluster's policy allows post-copy"
    )


def _not_converging_anywhere(vm: Vm, source: HostView, networks: ClusterNetworks) -> UnplacedVm:
    """A VM with room somewhere that converges on no destination's link."""
    return UnplacedVm(
        vm.id,
        vm.name,
        _never_converges(vm, source, networks)
        or f"VM {vm.name or vm.id!r} would not converge over the link of any destination "
        "with room for it",
    )


def _place(
    sources: Mapping[str, HostView],
    vms: Sequence[Vm],
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    context: PlacementContext,
) -> tuple[list[PlannedMigration], list[Vm]]:
    """Each VM, largest first, on the best-scored host with room, promising it that memory.
    The candidates pass the scheduler's filters but memory and the VM's own networks (both
    checked here per VM, memory with the plan's promises) and what waiting lifts."""
    scale, speeds = scale_and_speeds(hosts, networks, incoming_limit(networks))
    destination_filter = DestinationFilter.of(networks, context, count_waits=False)
    free: dict[int, int] = {}
    incoming: dict[int, int] = {}
    heap: list[tuple[float, str, str, int]] = []
    for index, arriving, room, _ in destination_filter.screen(hosts, next(iter(sources), ""), None):
        if hosts[index].host.id in sources:
            continue
        free[index], incoming[index] = room, arriving
        score = destination_score(speeds[index], arriving, room, scale)
        heap.append((-score, hosts[index].host.name, hosts[index].host.id, index))
    heapq.heapify(heap)

    planned: list[PlannedMigration] = []
    unplaced: list[Vm] = []
    for vm in vms:
        skipped = []
        chosen = None
        while heap:
            entry = heapq.heappop(heap)
            index = entry[3]
            if free[index] >= vm.memory_mib and not missing_networks(
                hosts[index].host, vm.networks
            ):
                chosen = entry
                break
            skipped.append(entry)
        for entry in skipped:
            heapq.heappush(heap, entry)
        if chosen is None:
            unplaced.append(vm)
            continue
        index = chosen[3]
        planned.append(PlannedMigration(vm, hosts[index].host.id, -chosen[0]))
        free[index] -= vm.memory_mib
        incoming[index] += 1
        score = destination_score(speeds[index], incoming[index], free[index], scale)
        heapq.heappush(heap, (-score, chosen[1], chosen[2], index))
    return planned, unplaced


def _unplaced(
    sources: Mapping[str, HostView],
    vms: Sequence[Vm],
    planned: Sequence[PlannedMigration],
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    context: PlacementContext,
) -> list[UnplacedVm]:
    """Why no host takes each of `vms`, with the plan's promises counted, so that "not enough
    memory" shows what is left once the placed VMs have arrived."""
    if not vms:
        return []
    promised: dict[str, int] = {}
    for item in planned:
        key = item.destination_host_id
        promised[key] = promised.get(key, 0) + item.vm.memory_mib
    reason_loads = {}
    for view in hosts:
        load = context.load_of(view)
        reason_loads[view.host.id] = HostLoad(
            load.incoming, load.reserved_memory_mib + promised.get(view.host.id, 0)
        )
    unplaced = []
    for vm in vms:
        assessments = assess_destinations(
            vm, sources[vm.host_id], hosts, networks, loads=reason_loads
        )
        unplaced.append(UnplacedVm(vm.id, vm.name, describe_rejections(vm, assessments)))
    return unplaced


# ---------------------------------------------------------------- the plan on the queue


def occupant(migration: Migration, now: datetime) -> Occupant:
    """A migration holding a slot, as the plan counts it: until its predicted finish (now when
    it has none)."""
    finish = migration.predicted_finish_at
    ends_s = max((finish - now).total_seconds(), 0.0) if finish is not None else 0.0
    return Occupant(migration.source_host_id, migration.destination_host_id, ends_s)


def plan_marks(queued: Sequence[Migration], plan: EvacuationPlan, now: datetime) -> list[Migration]:
    """The queued evacuation migrations `queued` whose plan marks (rank, planned destination,
    planned finish, outgoing at once) change with `plan`, made at `now`, with the new marks; a
    migration the plan does not place loses its marks. Ranks are renumbered only when the
    plan's order of the ranked ones changed (or one has no rank yet), and a finish that moved
    less than `FINISH_DRIFT_S` is not rewritten: re-planning as rates change rewrites little."""
    by_vm = {item.vm.id: item for item in plan.planned}
    in_plan = sorted((m for m in queued if m.vm_id in by_vm), key=lambda m: by_vm[m.vm_id].rank)
    ranks = [m.plan_rank for m in in_plan]
    keep_ranks = all(ranks) and all(a < b for a, b in pairwise(ranks))
    changed = []
    for migration in queued:
        item = by_vm.get(migration.vm_id)
        if item is None:
            marked = replace(
                migration,
                plan_rank=0,
                planned_destination_host_id="",
                planned_finish_at=None,
                planned_outgoing=0,
            )
        else:
            marked = replace(
                migration,
                plan_rank=migration.plan_rank if keep_ranks else item.rank,
                planned_destination_host_id=item.destination_host_id,
                planned_finish_at=now + timedelta(seconds=item.finish_s),
                planned_outgoing=plan.outgoing_per_host,
            )
        if _marks_moved(migration, marked):
            changed.append(marked)
    return changed


def _marks_moved(before: Migration, after: Migration) -> bool:
    if (before.plan_rank, before.planned_destination_host_id, before.planned_outgoing) != (
        after.plan_rank,
        after.planned_destination_host_id,
        after.planned_outgoing,
    ):
        return True
    if before.planned_finish_at is None or after.planned_finish_at is None:
        return before.planned_finish_at != after.planned_finish_at
    drift = abs((after.planned_finish_at - before.planned_finish_at).total_seconds())
    return drift > FINISH_DRIFT_S


def evacuation_finish(host_id: str, active: Sequence[Migration]) -> datetime | None:
    """When the last of `host_id`'s evacuation migrations among `active` is predicted to end:
    a queued one at its plan's finish, a running one at its own predicted finish (None: none
    has a prediction)."""
    finishes = [
        m.planned_finish_at if m.phase is MigrationPhase.QUEUED else m.predicted_finish_at
        for m in active
        if m.evacuation_host_id == host_id and m.active
    ]
    known = [finish for finish in finishes if finish is not None]
    return max(known, default=None)


# ---------------------------------------------------------------- reruns


@dataclass(frozen=True)
class RerunDecision:
    rerun: bool
    # The hosts tried so far, the failed destination included: the rerun excludes them.
    tried_host_ids: tuple[str, ...]
    # Why (not) rerun, naming the hosts: for the event, or for UnplacedVm when not rerun.
    reason: str


def decide_rerun(
    migration: Migration,
    failure: MigrationFailureKind,
    *,
    host_names: Mapping[str, str] | None = None,
    max_hosts: int = MAX_HOSTS_PER_VM,
) -> RerunDecision:
    """Whether a failed migration is tried again on another host.

    Automatic migrations only (an operator who named the destination decides herself), not
    when cancelled, and never on more than `max_hosts` hosts in all. A VM that did not
    converge is rerun too: another destination may have a faster link. A host that answered
    busy is not a failure (the queue retries it); this is for jobs that started and failed."""
    names = host_names or {}
    tried = tuple(
        dict.fromkeys(
            [*migration.tried_host_ids, migration.destination_host_id]
            if migration.destination_host_id
            else migration.tried_host_ids
        )
    )
    shown = ", ".join(names.get(host_id, host_id) for host_id in tried) or "no host"
    vm = repr(migration.vm_name or migration.vm_id)
    if failure is MigrationFailureKind.CANCELLED:
        return RerunDecision(False, tried, f"migration of VM {vm} was cancelled")
    if not migration.automatic:
        return RerunDecision(
            False,
            tried,
            f"migration of VM {vm} to {shown} failed; it was a manual migration, so it is "
            "not rerun elsewhere",
        )
    if len(tried) >= max_hosts:
        return RerunDecision(
            False,
            tried,
            f"migration of VM {vm} failed on {len(tried)} hosts ({shown}); giving up after "
            f"{max_hosts}",
        )
    return RerunDecision(
        True,
        tried,
        f"migration of VM {vm} failed on {shown}; rerunning on another host "
        f"(attempt {len(tried) + 1} of {max_hosts})",
    )


# ---------------------------------------------------------------- when it is done


class EvacuationState(Enum):
    # No live VM left on the host: it enters MAINTENANCE.
    EMPTY = "empty"
    # Migrations of the host's VMs are queued or running.
    IN_PROGRESS = "in_progress"
    # Live VMs remain and nothing migrates them: they were reported unplaced; the host stays
    # PREPARING_FOR_MAINTENANCE until the operator frees room or cancels maintenance.
    STUCK = "stuck"


def evacuation_state(
    host_id: str, vms_on_host: Sequence[Vm], active: Sequence[Migration]
) -> EvacuationState:
    """Where the evacuation of `host_id` stands. `active` are the cluster's queued, preparing
    and running migrations."""
    if not any(has_live_guest(vm.state) for vm in vms_on_host):
        return EvacuationState.EMPTY
    if any(m.active and m.source_host_id == host_id for m in active):
        return EvacuationState.IN_PROGRESS
    return EvacuationState.STUCK
