"""Host maintenance: moving every VM off a host, rerunning failures elsewhere, and knowing
when to stop.

- `plan_evacuation` decides, once, which VMs of the host can go somewhere: it places them one
  by one (largest first, so big VMs are not left without room), promising each destination's
  memory to the VMs placed on it and spreading them by the scheduler's score. Every VM placed
  becomes a QUEUED automatic migration; the queue (`admission`) keeps the limits and chooses
  each final destination when the migration starts, so the planned destination is a witness
  that one exists, not a booking. A VM nothing can take is reported with the reasons.
- `decide_rerun`: an automatic migration that failed is rerun on another host, up to
  `MAX_HOSTS_PER_VM` hosts in total; then the VM is reported, never looped on.
- `evacuation_state`: the host is empty (maintenance), still evacuating, or stuck with VMs no
  host takes (reported; the host stays in PREPARING_FOR_MAINTENANCE until the operator acts).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum

from miglane.engine.domain.migration_path import ClusterNetworks, attachment_on, usable_address
from miglane.engine.domain.model import HostStatus, HostView, Migration, Vm, VmState
from miglane.engine.domain.placement import (
    HostLoad,
    ScoreScale,
    assess_destinations,
    carrying_network_id,
    describe_rejections,
    destination_score,
    incoming_limit,
)

MAX_HOSTS_PER_VM = 3

# VMs that live migration moves; a shut-off, crashed or saved domain has no guest to move.
LIVE_STATES = frozenset({VmState.RUNNING, VmState.PAUSED, VmState.MIGRATING})


@dataclass(frozen=True)
class PlannedMigration:
    vm: Vm
    # Where the plan found room; the queue re-chooses when the migration starts.
    destination_host_id: str
    score: float


@dataclass(frozen=True)
class UnplacedVm:
    vm_id: str
    vm_name: str
    reason: str


@dataclass(frozen=True)
class EvacuationPlan:
    host_id: str
    # In the order to enqueue them (largest VM first).
    migrations: tuple[PlannedMigration, ...]
    unplaced: tuple[UnplacedVm, ...]
    # VMs with an active migration already: left to it.
    already_migrating: tuple[Vm, ...]
    # Not running (shut off, crashed, saved): nothing to live-migrate; they do not keep the
    # host from maintenance.
    not_running: tuple[Vm, ...]


def _static_candidate(view: HostView, source_id: str, networks: ClusterNetworks) -> bool:
    """The filters that do not depend on the VM or on other placements."""
    host = view.host
    if host.id == source_id or host.status is not HostStatus.UP:
        return False
    if host.cluster_id != networks.cluster.id:
        return False
    if networks.uses_migration_network:
        attachment = attachment_on(view, networks.cluster.migration_network_id)
        if (
            attachment is None
            or not attachment.link_up
            or usable_address(attachment.address) is None
        ):
            return False
    return True


def plan_evacuation(
    host: HostView,
    vms: Sequence[Vm],
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    *,
    loads: Mapping[str, HostLoad] | None = None,
) -> EvacuationPlan:
    """Where each live VM of `host` can go among `hosts` (the cluster's), and which none can
    take and why. `vms` are the VMs on `host`; `loads` the destinations' current incoming
    migrations (`placement.host_loads`).

    Incoming limits and busy agents are not obstacles here (the queue waits for them); memory
    is, counting what earlier placements of the plan promised. Cost: O(VMs x log hosts) when
    VMs fit, up to O(VMs x hosts) when many hosts are nearly full."""
    loads = loads or {}
    source_id = host.host.id
    live = sorted(
        (vm for vm in vms if vm.state in LIVE_STATES and not vm.migration_id),
        key=lambda vm: (-vm.memory_mib, vm.name, vm.id),
    )
    already = tuple(vm for vm in vms if vm.migration_id)
    not_running = tuple(vm for vm in vms if vm.state not in LIVE_STATES and not vm.migration_id)

    limit = incoming_limit(networks)
    scale = ScoreScale.of(hosts, networks, limit)
    carrying = carrying_network_id(networks)
    candidates = [view for view in hosts if _static_candidate(view, source_id, networks)]
    free: list[int] = []
    incoming: list[int] = []
    links: list[int] = []
    heap: list[tuple[float, str, str, int]] = []
    for index, view in enumerate(candidates):
        load = loads.get(view.host.id, HostLoad(view.incoming_migrations))
        free.append(view.host.facts.free_memory_mib - load.reserved_memory_mib)
        incoming.append(load.incoming)
        attachment = attachment_on(view, carrying)
        links.append(attachment.speed_mbps if attachment is not None else 0)
        score = destination_score(links[index], incoming[index], free[index], scale)
        heap.append((-score, view.host.name, view.host.id, index))
    heapq.heapify(heap)

    planned: list[PlannedMigration] = []
    unplaced_vms: list[Vm] = []
    for vm in live:
        skipped = []
        chosen = None
        while heap:
            entry = heapq.heappop(heap)
            if free[entry[3]] >= vm.memory_mib:
                chosen = entry
                break
            skipped.append(entry)
        for entry in skipped:
            heapq.heappush(heap, entry)
        if chosen is None:
            unplaced_vms.append(vm)
            continue
        index = chosen[3]
        planned.append(PlannedMigration(vm, candidates[index].host.id, -chosen[0]))
        free[index] -= vm.memory_mib
        incoming[index] += 1
        score = destination_score(links[index], incoming[index], free[index], scale)
        heapq.heappush(heap, (-score, chosen[1], chosen[2], index))

    unplaced = []
    if unplaced_vms:
        # The reasons with the plan's promises counted, so that "not enough memory" shows what
        # is left once the placed VMs have arrived.
        promised: dict[str, int] = {}
        for item in planned:
            key = item.destination_host_id
            promised[key] = promised.get(key, 0) + item.vm.memory_mib
        reason_loads = {
            view.host.id: HostLoad(
                loads.get(view.host.id, HostLoad(view.incoming_migrations)).incoming,
                loads.get(view.host.id, HostLoad()).reserved_memory_mib
                + promised.get(view.host.id, 0),
            )
            for view in hosts
        }
        for vm in unplaced_vms:
            assessments = assess_destinations(vm, host, hosts, networks, loads=reason_loads)
            unplaced.append(UnplacedVm(vm.id, vm.name, describe_rejections(vm, assessments)))
    return EvacuationPlan(source_id, tuple(planned), tuple(unplaced), already, not_running)


# ---------------------------------------------------------------- reruns


class MigrationFailureKind(IntEnum):
    """Mirrors `miglane.v1.MigrationFailureKind`: why the agent says a job failed."""

    # Not failed.
    UNSPECIFIED = 0
    CANCELLED = 2
    NOT_CONVERGING = 3
    DESTINATION = 4
    NETWORK = 5
    OTHER = 6


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
    if not any(vm.state in LIVE_STATES for vm in vms_on_host):
        return EvacuationState.EMPTY
    if any(m.active and m.source_host_id == host_id for m in active):
        return EvacuationState.IN_PROGRESS
    return EvacuationState.STUCK
