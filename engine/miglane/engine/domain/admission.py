"""Storm control: which queued migrations may start now.

A migration holds a slot from PREPARING until it finishes. The cluster's policy caps the slots
of each source host (`max_outgoing_per_host`, default 2), of each destination host
(`max_incoming_per_host`, default 2) and of the whole cluster (`max_concurrent_per_cluster`,
0: no cap). Queued migrations are considered in `queue_order_key` order: higher priority
first; within a priority, the migrations no evacuation plan ranked (FIFO), then the planned
evacuation migrations in their plan's order. One that cannot start does not block a later one
that can (a full source host must not hold up the rest of the cluster). A planned one also
keeps to the number of migrations its plan has leave the source at once (fewer than the limit
when that finishes sooner).
Each one that waits gets a `queue_reason` sentence.

An agent that answered RESOURCE_EXHAUSTED (busy) is skipped, as source or destination, until
its retry time (vdsm's source retries a busy destination after 10 s).

Automatic migrations choose their destination here, at the moment they start, with the slots
taken in this same pass counted: a destination chosen at enqueue time would be stale by then.
The destination an evacuation's plan chose is taken when it still passes every filter.

A migration that may start is judged by the model (`domain.prediction`) at the bandwidth it
would get (its priority-weighted share): one that plain pre-copy would not finish starts with
a larger share of its link when the others there can spare it (`domain.larger_share`), else
with the help the policy allows that finishes it (auto-converge, else post-copy), else waits
for the bandwidth it needs; the reason says which and why. Nor does one start whose share of
its source's link would slow a running migration leaving that source (plain pre-copy, the
policy's bandwidth) below what converges. A bandwidth the operator asked for (an override)
starts as asked, the verdict on its record: the operator's choice wins.
A START's recorded duration is predicted over the timeline of its links
(`timeline_forecast`): the migrations waiting behind it and running beside it change its share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.bandwidth import (
    MigrationFlow,
    bandwidth_caps,
    link_budget,
    link_capacity_shares,
)
from miglane.engine.domain.forecast import (
    needed_bandwidth_mibps,
    queued_bandwidth_mibps,
    queued_load,
    queued_prediction,
    started_prediction,
)
from miglane.engine.domain.larger_share import FlowLoad, larger_share
from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.migratable import is_live_migratable, not_live_migratable_reason
from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    choose_migration_uri,
    path_taken,
)
from miglane.engine.domain.model import (
    MIB,
    ConvergenceVerdict,
    Help,
    HostStatus,
    HostView,
    Migration,
    Vm,
    VmState,
)
from miglane.engine.domain.placement import (
    SLOT_PHASES,
    DestinationFilter,
    HostLoad,
    PlacementContext,
    PlacementOutcome,
    RejectionKind,
    choose_in_context,
    host_loads,
    manual_destination_rejections,
)
from miglane.engine.domain.prediction import Prediction, expected_throughput_bps, stall_reason
from miglane.engine.domain.priority import priority_weight
from miglane.engine.domain.timeline_forecast import finishes_over_timeline
from miglane.engine.domain.vm_devices import copies_local_disks, local_disk_refusal


class AdmissionVerdict(Enum):
    # Start it now: PREPARING, ask the source agent.
    START = "start"
    # Stay QUEUED; `reason` is the queue_reason.
    WAIT = "wait"
    # It can never start as asked: FAILED, `reason` is the error.
    FAIL = "fail"


@dataclass(frozen=True)
class Admission:
    migration: Migration
    verdict: AdmissionVerdict
    # START: the destination (chosen now for automatic migrations) and the data path.
    destination_host_id: str = ""
    path: MigrationPath | None = None
    # WAIT, FAIL: the queue reason or the error; START with a help: why it has that help.
    reason: str = ""
    # START, and WAIT for bandwidth: the prediction at the bandwidth it would get now.
    prediction: Prediction | None = None
    # START: the help it starts with (the policy allows it; plain pre-copy would not finish).
    help: Help = Help.NONE
    # START: the larger AUTO share it starts with, MiB/s (its fair share would not finish).
    granted_mibps: int | None = None


def queue_order_key(migration: Migration) -> tuple[int, int, datetime]:
    """The order the queue considers migrations in (sorted ascending, stable): higher priority
    first; within a priority, the migrations no evacuation plan ranked (rank 0) first, the older
    first, then the planned evacuation migrations by their plan's rank."""
    return (-priority_weight(migration.priority), migration.plan_rank, migration.created_at)


def in_start_order(queued: Sequence[Migration]) -> list[Migration]:
    """`queued` (FIFO) in the order admission considers them."""
    return sorted(queued, key=queue_order_key)


def still_busy(busy_until: Mapping[str, datetime], now: datetime) -> dict[str, datetime]:
    """The busy marks whose retry time has not come (the others can be dropped)."""
    return {host_id: until for host_id, until in busy_until.items() if until > now}


# A source in these states can send: a non-operational host (its required network is down) is
# exactly one to move VMs off, and evacuating a host is what PREPARING_FOR_MAINTENANCE means.
_SENDING_STATUSES = frozenset(
    {
        HostStatus.UP,
        HostStatus.NON_OPERATIONAL,
        HostStatus.PREPARING_FOR_MAINTENANCE,
        HostStatus.MAINTENANCE,
    }
)


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class _Pass:
    """One admission pass over a cluster's queue: what it reads, and the slots it has counted
    (the slot holders', then each START of the pass)."""

    by_id: Mapping[str, HostView]
    vms: Mapping[str, Vm]
    networks: ClusterNetworks
    limits: MigrationLimits
    now: datetime
    busy: Mapping[str, datetime]
    outgoing: dict[str, int]
    incoming: dict[str, int]
    total: int
    # Authoritative for every host, so that the scheduler never falls back to the counts a
    # HostView was read with.
    loads: dict[str, HostLoad]
    # Slots a new automatic migration could still enter on UP hosts: when none is left, the
    # rest of the queue waits without running the scheduler once per migration.
    open_slots: int
    # The slot holders by source host.
    running_from: dict[str, list[Migration]]
    # The priority weights of the migrations leaving each source.
    outgoing_weight: dict[str, int]
    # The slot holders, and the link flows of each START of this pass (`flows` adds the
    # holders' when a larger share is considered).
    holders: Sequence[Migration]
    started: list[tuple[MigrationFlow, FlowLoad]]
    _holder_flows: list[tuple[MigrationFlow, FlowLoad]] | None = None

    @classmethod
    def count(
        cls,
        slot_holders: Sequence[Migration],
        hosts: Sequence[HostView],
        vms: Mapping[str, Vm],
        networks: ClusterNetworks,
        now: datetime,
        busy: Mapping[str, datetime],
    ) -> _Pass:
        limits = MigrationLimits.of(networks.cluster.policy)
        active = [m for m in slot_holders if m.phase in SLOT_PHASES]
        outgoing: dict[str, int] = {}
        incoming: dict[str, int] = {}
        for migration in active:
            outgoing[migration.source_host_id] = outgoing.get(migration.source_host_id, 0) + 1
            if migration.destination_host_id:
                key = migration.destination_host_id
                incoming[key] = incoming.get(key, 0) + 1
        loads = {view.host.id: HostLoad() for view in hosts}
        loads.update(host_loads(active, {vm_id: vm.memory_mib for vm_id, vm in vms.items()}))
        open_slots = sum(
            max(limits.incoming_per_host - incoming.get(view.host.id, 0), 0)
            for view in hosts
            if view.host.status is HostStatus.UP
        )
        by_id = {view.host.id: view for view in hosts}
        running_from: dict[str, list[Migration]] = {}
        for migration in active:
            running_from.setdefault(migration.source_host_id, []).append(migration)
        outgoing_weight: dict[str, int] = {}
        for migration in active:
            weight = outgoing_weight.get(migration.source_host_id, 0)
            outgoing_weight[migration.source_host_id] = weight + priority_weight(migration.priority)
        return cls(
            by_id,
            vms,
            networks,
            limits,
            now,
            busy,
            outgoing,
            incoming,
            len(active),
            loads,
            open_slots,
            running_from,
            outgoing_weight,
            active,
            [],
        )

    def flow(self, migration: Migration, help_: Help = Help.NONE) -> tuple[MigrationFlow, FlowLoad]:
        """`migration` (placed) as a flow on its link, with what it must move."""
        source = self.by_id[migration.source_host_id]
        destination = self.by_id[migration.destination_host_id]
        path = path_taken(self.networks, source, destination, migration)
        vm = self.vms.get(migration.vm_id)
        flow = MigrationFlow(
            migration.id,
            migration.source_host_id,
            migration.destination_host_id,
            path.network_id,
            link_budget(path, self.networks),
            override_mibps=migration.bandwidth_override_mibps,
            copies_disks=copies_local_disks(vm, self.networks.cluster),
            priority=migration.priority,
            granted_mibps=migration.granted_mibps,
        )
        return flow, FlowLoad(queued_load(vm, self.networks.cluster.policy), help_)

    def flows(self) -> list[tuple[MigrationFlow, FlowLoad]]:
        """The link flows of the slot holders and of this pass's STARTs."""
        if self._holder_flows is None:
            self._holder_flows = [
                self.flow(m, m.convergence_help)
                for m in self.holders
                if m.source_host_id in self.by_id and m.destination_host_id in self.by_id
            ]
        return [*self._holder_flows, *self.started]

    def after_larger_shares(self, placed: Migration, mibps: float) -> float:
        """`mibps` (a fair share), or less when larger shares given to others at its link's
        ends leave it less."""
        granted = any(m.granted_mibps is not None for m in self.holders) or any(
            flow.granted_mibps is not None for flow, _ in self.started
        )
        if not granted or mibps <= 0:
            return mibps
        candidate, _ = self.flow(placed)
        others = [flow for flow, _ in self.flows() if set(flow.ends) & set(candidate.ends)]
        cap = bandwidth_caps(self.networks.cluster.policy, [*others, candidate])
        left = cap[candidate.migration_id].mibps
        return min(mibps, float(left)) if left > 0 else mibps

    def busy_reason(self, view: HostView, role: str) -> str | None:
        """The wait reason when the host's agent answered busy and its retry time has not come."""
        until = self.busy.get(view.host.id)
        if until is None or until <= self.now:
            return None
        return f"{role} host {view.host.name}'s agent answered busy; retrying after {_at(until)}"

    def take_slot(self, admission: Admission, vm: Vm) -> None:
        """Count a START: its source's, its destination's and the cluster's slot, and its
        flow on its link."""
        source = self.by_id[admission.migration.source_host_id]
        destination = self.by_id[admission.destination_host_id]
        placed = replace(
            admission.migration,
            destination_host_id=destination.host.id,
            granted_mibps=admission.granted_mibps,
        )
        self.started.append(self.flow(placed, admission.help))
        weight = priority_weight(placed.priority)
        self.outgoing_weight[source.host.id] = self.outgoing_weight.get(source.host.id, 0) + weight
        self.total += 1
        self.outgoing[source.host.id] = self.outgoing.get(source.host.id, 0) + 1
        destination_id = destination.host.id
        receiving_before = self.incoming.get(destination_id, 0)
        self.incoming[destination_id] = receiving_before + 1
        if (
            destination.host.status is HostStatus.UP
            and receiving_before < self.limits.incoming_per_host
        ):
            self.open_slots -= 1
        previous = self.loads.get(destination_id, HostLoad())
        self.loads[destination_id] = HostLoad(
            previous.incoming + 1, previous.reserved_memory_mib + vm.memory_mib
        )


def admit_queued(
    queued: Sequence[Migration],
    slot_holders: Sequence[Migration],
    hosts: Sequence[HostView],
    vms: Mapping[str, Vm],
    networks: ClusterNetworks,
    *,
    now: datetime,
    busy_until: Mapping[str, datetime] | None = None,
) -> list[Admission]:
    """One verdict per queued migration of one cluster, in `queue_order_key` order.

    `slot_holders` are the cluster's migrations that hold a slot (PREPARING or RUNNING; other
    phases are ignored), `hosts` the cluster's hosts, `vms` the cluster's VMs by id. Starting
    every START verdict keeps every limit; a migration that waits says which limit or host it
    waits for; one that can never start as asked (its VM or host is gone, its manual
    destination is out of service, no host at all can take it) fails with the reason."""
    state = _Pass.count(slot_holders, hosts, vms, networks, now, busy_until or {})
    admissions = [_admit(migration, state) for migration in in_start_order(queued)]
    return _over_the_timeline(_at_final_sharing(admissions, state), hosts, state)


def _over_the_timeline(
    admissions: list[Admission], hosts: Sequence[HostView], state: _Pass
) -> list[Admission]:
    """The STARTs' predicted durations over the timeline of their links
    (`timeline_forecast`): the migrations waiting behind them and those running beside them
    change their share after they start."""
    starting = [
        replace(
            a.migration, destination_host_id=a.destination_host_id, granted_mibps=a.granted_mibps
        )
        for a in admissions
        if a.verdict is AdmissionVerdict.START
        and a.prediction is not None
        and a.prediction.finishes
    ]
    if not starting:
        return admissions
    waiting = [a.migration for a in admissions if a.verdict is AdmissionVerdict.WAIT]
    finishes = finishes_over_timeline(
        starting, waiting, state.holders, hosts, state.vms, state.networks, state.now
    )
    timed = []
    for admission in admissions:
        finish_s = finishes.get(admission.migration.id)
        if finish_s is not None and admission.prediction is not None:
            admission = replace(
                admission, prediction=replace(admission.prediction, duration_s=finish_s)
            )
        timed.append(admission)
    return timed


def _at_final_sharing(admissions: list[Admission], state: _Pass) -> list[Admission]:
    """The STARTs' predictions at the caps they get once every START of the pass shares its
    link (each was judged when fewer did), and at their shares of the links' capacity."""
    if not any(a.verdict is AdmissionVerdict.START and a.prediction for a in admissions):
        return admissions
    flows = [flow for flow, _ in state.flows()]
    policy = state.networks.cluster.policy
    caps = bandwidth_caps(policy, flows)
    link_shares = link_capacity_shares(flows, caps)
    final = []
    for admission in admissions:
        migration_id = admission.migration.id
        if (
            admission.verdict is AdmissionVerdict.START
            and admission.prediction is not None
            and migration_id in caps
        ):
            prediction = started_prediction(
                state.vms.get(admission.migration.vm_id),
                policy,
                admission.help,
                caps[migration_id].mibps,
                link_shares[migration_id],
                fixed_s=state.networks.path_fixed_s,
            )
            admission = replace(admission, prediction=prediction)
        final.append(admission)
    return final


def _admit(migration: Migration, state: _Pass) -> Admission:
    refused = _check_vm(migration, state)
    if refused is not None:
        return refused
    vm = state.vms[migration.vm_id]
    source = state.by_id[migration.source_host_id]
    waiting = _check_source(source, state) or _check_plan(migration, source, state)
    if waiting is not None:
        return Admission(migration, AdmissionVerdict.WAIT, reason=waiting)
    if migration.automatic:
        admission = _admit_automatic(migration, vm, source, state)
    else:
        admission = _admit_manual(migration, vm, source, state)
    if admission.verdict is AdmissionVerdict.START:
        admission = _judge(admission, vm, source, state)
    if admission.verdict is AdmissionVerdict.START:
        stalled = _would_stall(admission.migration, source, state)
        if stalled is not None:
            admission = Admission(migration, AdmissionVerdict.WAIT, reason=stalled)
    if admission.verdict is AdmissionVerdict.START:
        state.take_slot(admission, vm)
        state.running_from.setdefault(source.host.id, []).append(
            replace(
                migration,
                destination_host_id=admission.destination_host_id,
                convergence_help=admission.help,
            )
        )
    return admission


def _judge(admission: Admission, vm: Vm, source: HostView, state: _Pass) -> Admission:
    """A START as the model sees it at the bandwidth it would get: plain, with a larger share
    of its link, with a help the policy allows, or (never converging) a WAIT for the bandwidth
    it needs."""
    placed = replace(admission.migration, destination_host_id=admission.destination_host_id)
    policy = state.networks.cluster.policy
    leaving = state.outgoing.get(source.host.id, 0)
    weight = state.outgoing_weight.get(source.host.id, 0)
    mibps = queued_bandwidth_mibps(placed, vm, state.by_id, state.networks, leaving, weight)
    mibps = state.after_larger_shares(placed, mibps)
    if mibps <= 0:
        return admission  # the link's speed is unknown: nothing to judge by
    prediction = queued_prediction(vm, policy, mibps, fixed_s=state.networks.path_fixed_s)
    judged = replace(admission, prediction=prediction, help=prediction.help)
    if prediction.verdict is ConvergenceVerdict.CONVERGES and prediction.help is Help.NONE:
        return judged
    overridden = admission.migration.bandwidth_override_mibps is not None
    load = queued_load(vm, policy)
    if not overridden:
        larger = _with_larger_share(judged, placed, mibps, state)
        if larger is not None:
            return larger
    if prediction.verdict is not ConvergenceVerdict.NEVER_CONVERGES:
        why = stall_reason(load, expected_throughput_bps(mibps))
        return replace(judged, reason=say.started_with_help(prediction.help.value, why))
    if overridden:
        return judged  # the operator's bandwidth: started as asked, the verdict on its record
    needed = needed_bandwidth_mibps(load)
    most = queued_bandwidth_mibps(placed, vm, state.by_id, state.networks, 0)
    dirty_mibps = load.dirty_rate_bps / MIB
    if needed is not None and needed <= most:
        reason = say.waits_for_bandwidth(needed, dirty_mibps, mibps)
    else:
        why = stall_reason(load, expected_throughput_bps(most))
        reason = say.never_converges_here(needed, dirty_mibps, most, why)
    return Admission(
        admission.migration, AdmissionVerdict.WAIT, reason=reason, prediction=prediction
    )


def _would_stall(migration: Migration, source: HostView, state: _Pass) -> str | None:
    """Why starting `migration` would slow a running one leaving its source below what
    converges (None: it would not). Only plain migrations at the policy's bandwidth count: a
    help keeps a slowed one converging, and neither an operator's bandwidth nor a larger share
    admission granted shrinks."""
    if migration.bandwidth_override_mibps is not None:
        return None
    leaving = state.outgoing.get(source.host.id, 0)
    policy = state.networks.cluster.policy
    for holder in state.running_from.get(source.host.id, ()):
        if (
            holder.convergence_help is not Help.NONE
            or holder.bandwidth_override_mibps is not None
            or holder.granted_mibps is not None
        ):
            continue
        vm = state.vms.get(holder.vm_id)
        now_mibps = queued_bandwidth_mibps(holder, vm, state.by_id, state.networks, leaving - 1)
        slowed = queued_bandwidth_mibps(holder, vm, state.by_id, state.networks, leaving)
        if slowed <= 0 or slowed >= now_mibps:
            continue
        if (
            queued_prediction(vm, policy, slowed).verdict is ConvergenceVerdict.NEVER_CONVERGES
            and queued_prediction(vm, policy, now_mibps).verdict
            is not ConvergenceVerdict.NEVER_CONVERGES
        ):
            return say.would_stall(holder.vm_name or holder.vm_id, slowed)
    return None


def _with_larger_share(
    judged: Admission, placed: Migration, fair_mibps: float, state: _Pass
) -> Admission | None:
    """`judged` started plain with the larger share of its link at which it converges, when
    the others at its link's ends can spare it (None: they cannot)."""
    policy = state.networks.cluster.policy
    vm = state.vms.get(placed.vm_id)
    load = queued_load(vm, policy)
    needed = needed_bandwidth_mibps(load)
    candidate, _ = state.flow(placed)
    others = state.flows()
    granted = larger_share(
        policy,
        candidate,
        needed,
        [flow for flow, _ in others],
        {flow.migration_id: flow_load for flow, flow_load in others},
    )
    if granted is None or granted <= fair_mibps:
        return None
    prediction = queued_prediction(vm, policy, granted, fixed_s=state.networks.path_fixed_s)
    why = stall_reason(load, expected_throughput_bps(fair_mibps))
    return replace(
        judged,
        prediction=prediction,
        help=Help.NONE,
        granted_mibps=granted,
        reason=say.started_with_larger_share(granted, fair_mibps, why),
    )


def _check_vm(migration: Migration, state: _Pass) -> Admission | None:
    """FAIL (or WAIT) when the VM or its source is gone, moved, or has nothing to move."""

    def fail(reason: str) -> Admission:
        return Admission(migration, AdmissionVerdict.FAIL, reason=reason)

    vm = state.vms.get(migration.vm_id)
    source = state.by_id.get(migration.source_host_id)
    if vm is None:
        return fail(f"VM {migration.vm_name or migration.vm_id!r} is gone")
    if source is None:
        return fail(f"source host {migration.source_host_id} was removed")
    if not is_live_migratable(vm.state):
        if vm.state is VmState.MIGRATING:
            # A job the engine does not track moves it: when it ends, the state says more.
            return Admission(
                migration,
                AdmissionVerdict.WAIT,
                reason=f"VM {vm.name!r} is migrating; waiting for that job to end",
            )
        # A guest that stopped while its migration waited has nothing left to move.
        return fail(not_live_migratable_reason(vm))
    if vm.host_id != migration.source_host_id:
        now_on = state.by_id[vm.host_id].host.name if vm.host_id in state.by_id else vm.host_id
        return fail(f"VM {vm.name!r} is no longer on {source.host.name} (now on {now_on})")
    # The policy may have changed (or the VM gained a local disk) while it waited.
    disks_refused = local_disk_refusal(vm, state.networks.cluster)
    if disks_refused is not None:
        return fail(disks_refused)
    return None


def _check_source(source: HostView, state: _Pass) -> str | None:
    """Why the source cannot send one more migration now (None: it can)."""
    name = source.host.name
    if source.host.status not in _SENDING_STATUSES:
        return f"source host {name} is {source.host.status.label}"
    limits = state.limits
    if limits.per_cluster and state.total >= limits.per_cluster:
        return (
            f"cluster {state.networks.cluster.name} has {state.total} of {limits.per_cluster} "
            "concurrent migrations (max_concurrent_per_cluster)"
        )
    sending = state.outgoing.get(source.host.id, 0)
    limit = limits.outgoing_for(source.host)
    if sending >= limit:
        whose = (
            "max_outgoing_per_host"
            if limit == limits.outgoing_per_host
            else "the limit its agent reports"
        )
        return f"source host {name} has {sending} of {limit} outgoing migrations ({whose})"
    return state.busy_reason(source, "source")


def _check_plan(migration: Migration, source: HostView, state: _Pass) -> str | None:
    """Why an evacuation's plan has the source send no more now (None: it may)."""
    planned = migration.planned_outgoing
    sending = state.outgoing.get(source.host.id, 0)
    if not planned or sending < planned:
        return None
    return say.plan_outgoing(source.host.name, sending, planned)


def _admit_automatic(migration: Migration, vm: Vm, source: HostView, state: _Pass) -> Admission:
    """The destination chosen now, with the slots taken in this pass counted."""
    limit = state.limits.incoming_per_host
    if state.open_slots <= 0:
        return Admission(
            migration,
            AdmissionVerdict.WAIT,
            reason=f"every UP host has {limit} of {limit} incoming migrations "
            "(max_incoming_per_host)",
        )
    context = PlacementContext(state.loads, migration.tried_host_ids, state.now, state.busy)
    planned = _planned_destination(migration, vm, state, context)
    if planned is not None:
        return Admission(
            migration,
            AdmissionVerdict.START,
            destination_host_id=planned.host.id,
            path=choose_migration_uri(state.networks, source, planned),
        )
    decision = choose_in_context(vm, source, list(state.by_id.values()), state.networks, context)
    if decision.outcome is PlacementOutcome.WAIT:
        return Admission(migration, AdmissionVerdict.WAIT, reason=decision.reason)
    if decision.outcome is PlacementOutcome.NO_HOST:
        return Admission(migration, AdmissionVerdict.FAIL, reason=decision.reason)
    assert decision.destination is not None
    return Admission(
        migration,
        AdmissionVerdict.START,
        destination_host_id=decision.destination.host.id,
        path=decision.path,
    )


def _planned_destination(
    migration: Migration, vm: Vm, state: _Pass, context: PlacementContext
) -> HostView | None:
    """The destination the evacuation's plan chose, when it still passes every filter now."""
    destination = state.by_id.get(migration.planned_destination_host_id)
    if destination is None:
        return None
    passing = DestinationFilter.of(state.networks, context).screen(
        [destination], migration.source_host_id, vm.memory_mib, vm.networks
    )
    return destination if passing else None


def _admit_manual(migration: Migration, vm: Vm, source: HostView, state: _Pass) -> Admission:
    """The operator's destination, if it is in service and has a slot."""
    destination = state.by_id.get(migration.destination_host_id)
    if destination is None:
        return Admission(
            migration,
            AdmissionVerdict.FAIL,
            reason=f"destination host {migration.destination_host_id} was removed",
        )
    name = destination.host.name
    refused = manual_destination_rejections(vm, destination, state.networks)
    if refused:
        words = "; ".join(r.message for r in refused)
        if all(r.kind is RejectionKind.NOT_UP for r in refused) and (
            destination.host.status is HostStatus.UNREACHABLE
        ):
            # An agent restarting is back in seconds: not worth failing the request.
            return Admission(
                migration, AdmissionVerdict.WAIT, reason=f"destination host {name}: {words}"
            )
        return Admission(
            migration,
            AdmissionVerdict.FAIL,
            reason=f"destination host {name} cannot take it: {words}",
        )
    receiving = state.incoming.get(destination.host.id, 0)
    limit = state.limits.incoming_per_host
    waiting = (
        f"destination host {name} has {receiving} of {limit} incoming migrations "
        "(max_incoming_per_host)"
        if receiving >= limit
        else state.busy_reason(destination, "destination")
    )
    if waiting is not None:
        return Admission(migration, AdmissionVerdict.WAIT, reason=waiting)
    return Admission(
        migration,
        AdmissionVerdict.START,
        destination_host_id=destination.host.id,
        path=choose_migration_uri(state.networks, source, destination),
    )
