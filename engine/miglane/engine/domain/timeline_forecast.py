"""The finish of migrations starting now, over the timeline of their links: their share of a
link changes after they start, as the migrations waiting behind them start and the ones running
beside them end.

The timeline is the evacuation planner's (`evacuation_schedule.schedule_evacuation`), run over:
- the migrations starting now, first, each to the destination admission chose for it;
- then the queued migrations leaving the same sources, in the queue's order (an automatic one
  to the destination the timeline chooses, as admission will; a manual one to its own), the
  number leaving a source at once kept to their plan's (`planned_outgoing`) when they have one;
- the migrations already holding slots, each until its predicted finish.
A migration's predicted finish is its simulated one, when the timeline starts it at once; one it
would not (it sees a limit admission did not) keeps the prediction at the share it starts at.
A migration with a bandwidth of its own (an override, or a larger share admission gave it) keeps
it too: the timeline shares the links by the policy alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from miglane.engine.domain.evacuation import occupant
from miglane.engine.domain.evacuation_schedule import EvacuationJob, schedule_evacuation
from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import HostView, Migration, Vm
from miglane.engine.domain.placement import SLOT_PHASES, host_loads

# A simulated start this close to the timeline's origin is "at once" (float sums).
_AT_ONCE_S = 1e-6


def _on_its_source(migration: Migration, vms: Mapping[str, Vm]) -> Vm | None:
    vm = vms.get(migration.vm_id)
    if vm is None or vm.host_id != migration.source_host_id:
        return None
    return vm


def _shares_by_policy(migration: Migration) -> bool:
    return migration.bandwidth_override_mibps is None and migration.granted_mibps is None


def finishes_over_timeline(
    starting: Sequence[Migration],
    waiting: Sequence[Migration],
    slot_holders: Sequence[Migration],
    hosts: Sequence[HostView],
    vms: Mapping[str, Vm],
    networks: ClusterNetworks,
    now: datetime,
) -> dict[str, float]:
    """Seconds from `now` until each of `starting` (placed: `destination_host_id` set) is
    predicted to finish, by migration id; `waiting`: the queued migrations that stay queued, in
    the queue's order; `slot_holders`: the cluster's migrations holding slots. A migration
    missing from the answer keeps the prediction at the share it starts at."""
    jobs: list[EvacuationJob] = []
    migration_of: dict[str, str] = {}
    for migration in starting:
        vm = _on_its_source(migration, vms)
        if vm is not None and _shares_by_policy(migration):
            jobs.append(EvacuationJob(vm, migration.destination_host_id))
            migration_of[vm.id] = migration.id
    if not jobs:
        return {}
    sources = {job.vm.host_id for job in jobs}
    destinations = {job.pinned_host_id for job in jobs}
    for migration in waiting:
        vm = _on_its_source(migration, vms)
        if vm is None or vm.host_id not in sources or vm.id in migration_of:
            continue
        pinned = "" if migration.automatic else migration.destination_host_id
        if pinned in sources or not _shares_by_policy(migration):
            continue  # a link the starting ones do not use, or not shared by the policy
        jobs.append(EvacuationJob(vm, pinned))
    if sources & destinations:
        return {}  # a host both sends and receives: the timeline plans one direction
    by_id = {view.host.id: view for view in hosts}
    if not sources <= by_id.keys():
        return {}
    holders = [m for m in slot_holders if m.phase in SLOT_PHASES]
    ends = sources | destinations
    beside = [m for m in holders if {m.source_host_id, m.destination_host_id} & ends]
    if len(jobs) == 1 and not beside:
        return {}  # alone on its links, and none behind it: its share never changes
    if not all(_shares_by_policy(m) for m in beside):
        return {}  # a link shared with a bandwidth of its own: the policy alone does not say
    planned_outgoing = [m.planned_outgoing for m in (*starting, *waiting) if m.planned_outgoing]
    schedule = schedule_evacuation(
        jobs,
        [by_id[host_id] for host_id in sorted(sources)],
        hosts,
        networks,
        loads=host_loads(holders, {vm_id: vm.memory_mib for vm_id, vm in vms.items()}),
        occupants=[occupant(m, now) for m in holders],
        keep_order=True,
        outgoing_cap=max(planned_outgoing, default=0),
    )
    return {
        migration_of[item.vm.id]: item.finish_s
        for item in schedule.scheduled
        if item.vm.id in migration_of and item.start_s <= _AT_ONCE_S
    }
