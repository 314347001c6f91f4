"""The evacuation's timeline: in which order, and to which destinations, the VMs of the hosts
entering maintenance leave so that the last one arrives soonest; when each starts and ends.

A list schedule, simulated over time the way the queue will run it:
- the VMs are tried in one start order (`start_order_key`): the longest predicted migration
  first, at the bandwidth it gets with its source's outgoing slots all taken, so that big, hot
  VMs are not left to the end to run alone while the other links idle (longest-processing-
  time-first list scheduling, within 4/3 of the best order on identical links);
- whenever a slot frees, each waiting VM in that order starts if its source has an outgoing
  slot (`max_outgoing_per_host`), the cluster a slot (`max_concurrent_per_cluster`), and some
  destination an incoming slot (`max_incoming_per_host`) and the memory: among those, the one
  where it gets the most bandwidth (its incoming link shared by the fewest), then the
  scheduler's score; the destinations' incoming links are so used in parallel, and each
  destination is promised the memory of every VM sent to it;
- a migration's bandwidth is what the policy gives it (`forecast.share_mibps`: AUTO shares the
  link budget among the migrations at its busier end), recomputed whenever one starts or ends;
  its progress is the share of its predicted duration (`prediction.predict`, with the helps the
  policy allows) at the bandwidth of the moment;
- a VM the model says would not converge at the bandwidth it would get waits, as admission
  makes it wait, and the next ones go first; so does one whose start would slow a running
  migration sharing its links below what converges;
- migrations already holding slots keep them, and their share of the links, until their
  predicted finish.

Cost per plan: O(VMs x (link speeds x incoming limit) x log hosts) to choose destinations,
plus O(VMs) per slot freed to find the next VMs to start.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from miglane.engine.domain.bandwidth import link_budget
from miglane.engine.domain.forecast import queued_prediction, share_mibps, source_path
from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    choose_migration_uri,
)
from miglane.engine.domain.model import HostView, Vm
from miglane.engine.domain.placement import (
    DestinationFilter,
    HostLoad,
    PlacementContext,
    ScoreScale,
    destination_score,
    incoming_limit,
    scale_and_speeds,
)
from miglane.engine.domain.prediction import Prediction
from miglane.engine.domain.priority import priority_weight
from miglane.engine.domain.vm_devices import missing_networks

# Two moments closer than this are one (float sums of durations).
_SAME_MOMENT_S = 1e-6


@dataclass(frozen=True)
class Occupant:
    """A migration already holding a slot: its ends and when it is predicted to finish."""

    source_host_id: str
    destination_host_id: str
    # Seconds from the plan's start (0: now, or unknown).
    ends_s: float


@dataclass(frozen=True)
class EvacuationJob:
    """One VM to move off its host."""

    vm: Vm
    # Only this destination (the memory-first placement's, when choosing freely left a VM
    # without room); empty: any.
    pinned_host_id: str = ""


@dataclass(frozen=True)
class ScheduledMigration:
    vm: Vm
    destination_host_id: str
    score: float
    # Seconds from the plan's start.
    start_s: float
    finish_s: float
    # What it gets when it starts, and the prediction at that bandwidth.
    bandwidth_mibps: float
    prediction: Prediction


@dataclass(frozen=True)
class Schedule:
    # In start order.
    scheduled: tuple[ScheduledMigration, ...]
    # VMs that never found a destination with room and a slot.
    unscheduled: tuple[Vm, ...]
    # When the last migration, the occupants' included, is predicted to end (seconds).
    finish_s: float


def start_order_key(nominal_s: float, vm: Vm) -> tuple[int, float, int, str, str]:
    """The start order: the higher migration priority first (an admin's word wins over the
    makespan), then the longest predicted migration (`nominal_s`), then the larger data, then
    by name."""
    return (-priority_weight(vm.priority), -nominal_s, -vm.data_bytes, vm.name, vm.id)


@dataclass
class _Flow:
    job: EvacuationJob
    source_id: str
    destination: int
    sequence: int
    start_s: float
    first_mibps: float
    first_prediction: Prediction
    score: float
    mibps: float = 0.0
    duration_s: float = math.inf
    # The share of the migration left at `updated_s`.
    left: float = 1.0
    updated_s: float = 0.0

    def ends_s(self) -> float:
        return self.updated_s + self.left * self.duration_s


@dataclass
class _Destinations:
    """The destinations screened once, grouped by (link speed, incoming migrations), each group
    a heap by free memory: the best host of a group for a VM is near its top."""

    hosts: Sequence[HostView]
    speeds: list[int]
    scale: ScoreScale
    limit: int
    free: dict[int, int]
    incoming: dict[int, int]
    groups: dict[tuple[int, int], list[tuple[int, str, str, int, int]]] = field(
        default_factory=dict
    )
    versions: dict[int, int] = field(default_factory=dict)

    def file(self, index: int) -> None:
        """(Re)files host `index` in its group; its older entries go stale."""
        version = self.versions.get(index, 0) + 1
        self.versions[index] = version
        key = (self.speeds[index], self.incoming[index])
        view = self.hosts[index].host
        entry = (-self.free[index], view.name, view.id, index, version)
        heapq.heappush(self.groups.setdefault(key, []), entry)

    def score(self, index: int) -> float:
        return destination_score(
            self.speeds[index], self.incoming[index], self.free[index], self.scale
        )

    def best_in_group(self, key: tuple[int, int], vm: Vm) -> int | None:
        """The host of group `key` with the most free memory that takes `vm`."""
        heap = self.groups.get(key, [])
        skipped = []
        found = None
        while heap:
            entry = heap[0]
            index = entry[3]
            if entry[4] != self.versions[index]:
                heapq.heappop(heap)
                continue
            if self.free[index] < vm.memory_mib:
                break
            if vm.networks and missing_networks(self.hosts[index].host, vm.networks):
                skipped.append(heapq.heappop(heap))
                continue
            found = index
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found


class _Timeline:
    """One simulation of the evacuation."""

    def __init__(
        self,
        jobs: Sequence[EvacuationJob],
        sources: Mapping[str, HostView],
        hosts: Sequence[HostView],
        networks: ClusterNetworks,
        loads: Mapping[str, HostLoad],
        occupants: Sequence[Occupant],
        keep_order: bool,
        outgoing_cap: int,
    ) -> None:
        self.sources = sources
        self.networks = networks
        self.policy = networks.cluster.policy
        self.limits = MigrationLimits.of(self.policy)
        self.outgoing_cap = outgoing_cap
        # Those still holding their slots.
        self.occupants = list(occupants)
        self.destinations = _screen(hosts, sources, networks, loads)
        self.index_of = {view.host.id: i for i, view in enumerate(hosts)}
        self.leaving: dict[str, int] = {}
        for occupant in occupants:
            self.leaving[occupant.source_host_id] = self.leaving.get(occupant.source_host_id, 0) + 1
        self.flows: list[_Flow] = []
        # With the order each started in.
        self.scheduled: list[tuple[int, ScheduledMigration]] = []
        self.predictions: dict[tuple[str, float, float | None], Prediction] = {}
        self.paths: dict[tuple[str, int], MigrationPath] = {}
        self.started = 0
        self.pending = (
            list(jobs)
            if keep_order
            else sorted(jobs, key=lambda job: start_order_key(self.nominal_s(job), job.vm))
        )

    # ------------------------------------------------------------ bandwidth and predictions

    def predict(self, vm: Vm, mibps: float, link_mibps: float | None = None) -> Prediction:
        """`vm`'s prediction at the cap `mibps`, `link_mibps` its share of its link's capacity
        (None: not counted)."""
        key = (vm.id, round(mibps, 2), None if link_mibps is None else round(link_mibps, 2))
        found = self.predictions.get(key)
        if found is None:
            found = self.predictions[key] = queued_prediction(
                vm, self.policy, mibps, link_mibps, fixed_s=self.networks.path_fixed_s
            )
        return found

    def nominal_s(self, job: EvacuationJob) -> float:
        """The job's predicted duration with its source's outgoing slots all taken (alone on
        the link when it would not converge so)."""
        source = self.sources[job.vm.host_id]
        path = source_path(source, self.networks)
        slots = self.outgoing_slots(source)
        shared = self.predict(job.vm, share_mibps(path, job.vm, self.networks, slots))
        if shared.finishes:
            return shared.duration_s
        return self.predict(job.vm, share_mibps(path, job.vm, self.networks, 1)).duration_s

    def outgoing_slots(self, source: HostView) -> int:
        limit = self.limits.outgoing_for(source.host)
        return min(limit, self.outgoing_cap) if self.outgoing_cap else limit

    def path(self, vm: Vm, destination: int) -> MigrationPath:
        key = (vm.host_id, destination)
        path = self.paths.get(key)
        if path is None:
            source = self.sources[vm.host_id]
            path = self.paths[key] = choose_migration_uri(
                self.networks, source, self.destinations.hosts[destination]
            )
        return path

    def mibps(self, vm: Vm, destination: int, leaving: int, entering: int) -> float:
        """What `vm` gets to host `destination` with `leaving` and `entering` migrations (its own
        included) at its source and destination."""
        return share_mibps(self.path(vm, destination), vm, self.networks, max(leaving, entering))

    def link_mibps(self, vm: Vm, destination: int, leaving: int, entering: int) -> float:
        """Its equal part of its link's capacity (the busier end's), as `mibps`'s."""
        budget = link_budget(self.path(vm, destination), self.networks)
        return budget.mibps / max(leaving, entering, 1)

    def flow_prediction(
        self, vm: Vm, destination: int, leaving: int, entering: int
    ) -> tuple[float, Prediction]:
        """What `vm` gets to `destination` so shared, and its prediction at it."""
        mibps = self.mibps(vm, destination, leaving, entering)
        link = self.link_mibps(vm, destination, leaving, entering)
        return mibps, self.predict(vm, mibps, link)

    # ------------------------------------------------------------ the simulation

    def run(self) -> Schedule:
        ends = [occupant.ends_s for occupant in self.occupants]
        now = 0.0
        self.end_at(now)  # occupants whose finish is unknown or past
        while True:
            self.start_what_can(now)
            upcoming = [flow.ends_s() for flow in self.flows]
            upcoming += [occupant.ends_s for occupant in self.occupants]
            if not upcoming:
                break
            now = max(min(upcoming), now)
            self.end_at(now)
        scheduled = [item for _, item in sorted(self.scheduled, key=lambda pair: pair[0])]
        ends += [item.finish_s for item in scheduled]
        return Schedule(
            tuple(scheduled),
            tuple(job.vm for job in self.pending),
            max(ends, default=0.0),
        )

    def start_what_can(self, now: float) -> None:
        """Starts, in start order, every waiting VM that can start at `now`."""
        per_cluster = self.limits.per_cluster
        started = False
        # Sources with a slot free: once none is left, the rest of the list waits.
        open_sources = {
            host_id
            for host_id, source in self.sources.items()
            if self.leaving.get(host_id, 0) < self.outgoing_slots(source)
        }
        for job in list(self.pending):
            if not open_sources:
                break
            if per_cluster and len(self.occupants) + len(self.flows) >= per_cluster:
                break
            source = self.sources[job.vm.host_id]
            if self.leaving.get(source.host.id, 0) >= self.outgoing_slots(source):
                open_sources.discard(source.host.id)
                continue
            choice = self.destination_for(job)
            if choice is None:
                continue
            destination, mibps = choice
            prediction = self.predict(
                job.vm,
                mibps,
                self.link_mibps(
                    job.vm,
                    destination,
                    self.leaving.get(job.vm.host_id, 0) + 1,
                    self.destinations.incoming[destination] + 1,
                ),
            )
            if not prediction.finishes:
                continue  # waits for the bandwidth it needs, as admission makes it wait
            if self.would_stall_others(job.vm.host_id, destination):
                continue
            self.start(job, destination, mibps, prediction, now)
            started = True
        if started:
            self.reshare(now)

    def destination_for(self, job: EvacuationJob) -> tuple[int, float] | None:
        """The destination where `job` would get the most bandwidth now (then the best score),
        with the bandwidth, or None when none has a slot and the memory."""
        destinations = self.destinations
        leaving = self.leaving.get(job.vm.host_id, 0) + 1
        if job.pinned_host_id:
            index = self.index_of.get(job.pinned_host_id)
            if (
                index is None
                or index not in destinations.free
                or destinations.incoming[index] >= destinations.limit
                or destinations.free[index] < job.vm.memory_mib
            ):
                return None
            return index, self.mibps(job.vm, index, leaving, destinations.incoming[index] + 1)
        best: tuple[float, float, str, str, int] | None = None
        for key in list(destinations.groups):
            incoming = key[1]
            if incoming >= destinations.limit:
                continue
            index = destinations.best_in_group(key, job.vm)
            if index is None:
                continue
            mibps = self.mibps(job.vm, index, leaving, incoming + 1)
            view = destinations.hosts[index].host
            rank = (-mibps, -destinations.score(index), view.name, view.id, index)
            if best is None or rank < best:
                best = rank
        if best is None:
            return None
        return best[4], -best[0]

    def would_stall_others(self, source_id: str, destination: int) -> bool:
        """Whether one more migration from `source_id` to `destination` would slow a running
        one sharing either link below what converges."""
        for flow in self.flows:
            if flow.source_id != source_id and flow.destination != destination:
                continue
            leaving = self.leaving[flow.source_id] + (flow.source_id == source_id)
            entering = self.destinations.incoming[flow.destination] + (
                flow.destination == destination
            )
            _, prediction = self.flow_prediction(flow.job.vm, flow.destination, leaving, entering)
            if not prediction.finishes:
                return True
        return False

    def start(
        self,
        job: EvacuationJob,
        destination: int,
        mibps: float,
        prediction: Prediction,
        now: float,
    ) -> None:
        destinations = self.destinations
        score = destinations.score(destination)
        destinations.free[destination] -= job.vm.memory_mib
        destinations.incoming[destination] += 1
        destinations.file(destination)
        source_id = job.vm.host_id
        self.leaving[source_id] = self.leaving.get(source_id, 0) + 1
        self.started += 1
        self.flows.append(
            _Flow(
                job, source_id, destination, self.started, now, mibps, prediction, score,
                updated_s=now,
            )
        )  # fmt: skip
        self.pending.remove(job)

    def reshare(self, now: float) -> None:
        """Every flow's bandwidth and duration at `now`'s sharing, its progress kept."""
        for flow in self.flows:
            flow.left = max(flow.left - (now - flow.updated_s) / flow.duration_s, 0.0)
            flow.updated_s = now
            mibps, prediction = self.flow_prediction(
                flow.job.vm,
                flow.destination,
                self.leaving[flow.source_id],
                self.destinations.incoming[flow.destination],
            )
            flow.mibps = mibps
            # Slowed below what converges, a started migration is predicted to keep the pace
            # it started at (its rounds already shrank); the model alone would never end it.
            flow.duration_s = (
                prediction.duration_s if prediction.finishes else flow.first_prediction.duration_s
            )

    def end_at(self, now: float) -> None:
        """The flows and occupants ending at `now` free their slots."""
        for flow in [f for f in self.flows if f.ends_s() <= now + _SAME_MOMENT_S]:
            self.flows.remove(flow)
            self.leaving[flow.source_id] -= 1
            self.destinations.incoming[flow.destination] -= 1
            self.destinations.file(flow.destination)
            planned = ScheduledMigration(
                flow.job.vm,
                self.destinations.hosts[flow.destination].host.id,
                flow.score,
                flow.start_s,
                now,
                flow.first_mibps,
                flow.first_prediction,
            )
            self.scheduled.append((flow.sequence, planned))
        for occupant in [o for o in self.occupants if o.ends_s <= now + _SAME_MOMENT_S]:
            self.occupants.remove(occupant)
            self.leaving[occupant.source_host_id] -= 1
            index = self.index_of.get(occupant.destination_host_id)
            if index is not None and index in self.destinations.incoming:
                self.destinations.incoming[index] -= 1
                self.destinations.file(index)
        self.reshare(now)


def _screen(
    hosts: Sequence[HostView],
    sources: Mapping[str, HostView],
    networks: ClusterNetworks,
    loads: Mapping[str, HostLoad],
) -> _Destinations:
    """The hosts that can take VMs but for memory and the VMs' own networks (checked per VM),
    grouped. Their incoming migrations count only the occupants (`_Timeline`)."""
    scale, speeds = scale_and_speeds(hosts, networks, incoming_limit(networks))
    context = PlacementContext(loads)
    screened = DestinationFilter.of(networks, context, count_waits=False).screen(
        hosts, next(iter(sources), ""), None
    )
    destinations = _Destinations(hosts, speeds, scale, incoming_limit(networks), {}, {})
    for index, _, room, _ in screened:
        if hosts[index].host.id in sources:
            continue
        destinations.free[index] = room
        destinations.incoming[index] = 0
    return destinations


def schedule_evacuation(
    jobs: Sequence[EvacuationJob],
    sources: Sequence[HostView],
    hosts: Sequence[HostView],
    networks: ClusterNetworks,
    *,
    loads: Mapping[str, HostLoad] | None = None,
    occupants: Sequence[Occupant] = (),
    keep_order: bool = False,
    outgoing_cap: int = 0,
) -> Schedule:
    """The timeline of moving `jobs` (VMs on `sources`) among `hosts` (the cluster's), the
    destinations' memory net of `loads` (`placement.host_loads`); `occupants`: migrations
    already holding slots. `keep_order`: try the jobs in the order given (FIFO, to compare
    with) rather than `start_order_key`'s. `outgoing_cap`: at most this many migrations leave
    each source at once (0: the policy's limit alone)."""
    by_id = {view.host.id: view for view in sources}
    timeline = _Timeline(
        jobs, by_id, hosts, networks, loads or {}, occupants, keep_order, outgoing_cap
    )
    for occupant in occupants:
        index = timeline.index_of.get(occupant.destination_host_id)
        if index is not None and index in timeline.destinations.incoming:
            timeline.destinations.incoming[index] += 1
    for index in timeline.destinations.free:
        timeline.destinations.file(index)
    return timeline.run()
