"""Host maintenance: moving every VM off a host, rerunning failures elsewhere, and knowing
when to stop.

- `plan_evacuation` decides, once, which VMs of the host can go somewhere: it places them one
  by one (largest first, so big VMs are not left without room), promising each destination's
  memory to the VMs placed on it and spreading them by the scheduler's score. Every VM placed
  becomes a QUEUED automatic migration; the queue (`admission`) keeps the limits and chooses
  each final destination when the migration starts, so the planned destination is a witness
  that one exists, not a booking. A VM nothing can take is reported with the reasons: no
  host with room, none with a bridge for each network its vNICs use, or local disks the
  cluster's policy does not let it copy.
- `decide_rerun`: an automatic migration that failed is rerun on another host, up to
  `MAX_HOSTS_PER_VM` hosts in total; then the VM is reported, never looped on.
- `evacuation_state`: the host is empty (maintenance), still evacuating, or stuck with VMs no
  host takes (reported; the host stays in PREPARING_FOR_MAINTENANCE until the operator acts).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.domain.migratable import has_live_guest
from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import HostView, Migration, Vm
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
from miglane.engine.domain.vm_devices import local_disk_refusal, missing_networks

MAX_HOSTS_PER_VM = 3


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

    @property
    def data_bytes(self) -> int:
        """What the planned migrations move: memory and the local disks copied."""
        return sum(item.vm.data_bytes for item in self.migrations)


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
    context = PlacementContext(loads or {})
    # Every live guest leaves: one that a job the engine does not track is migrating is queued
    # too, and the queue waits for that job to end (`admission`).
    live = [vm for vm in vms if has_live_guest(vm.state) and not vm.migration_id]
    refused = [
        UnplacedVm(vm.id, vm.name, reason)
        for vm in live
        if (reason := local_disk_refusal(vm, networks.cluster)) is not None
    ]
    refused_ids = {item.vm_id for item in refused}
    movable = sorted(
        (vm for vm in live if vm.id not in refused_ids),
        key=lambda vm: (-vm.memory_mib, -vm.data_bytes, vm.name, vm.id),
    )
    planned, unplaced_vms = _place(host, movable, hosts, networks, context)
    unplaced = _unplaced(host, unplaced_vms, planned, hosts, networks, context)
    return EvacuationPlan(
        host.host.id,
        tuple(planned),
        (*refused, *unplaced),
        already_migrating=tuple(vm for vm in vms if vm.migration_id),
        not_running=tuple(vm for vm in vms if not has_live_guest(vm.state) and not vm.migration_id),
    )


def _place(
    source: HostView,
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
    for index, arriving, room, _ in destination_filter.screen(hosts, source.host.id, None):
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
    source: HostView,
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
        assessments = assess_destinations(vm, source, hosts, networks, loads=reason_loads)
        unplaced.append(UnplacedVm(vm.id, vm.name, describe_rejections(vm, assessments)))
    return unplaced


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
