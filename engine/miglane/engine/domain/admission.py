"""Storm control: which queued migrations may start now.

A migration holds a slot from PREPARING until it finishes. The cluster's policy caps the slots
of each source host (`max_outgoing_per_host`, default 2), of each destination host
(`max_incoming_per_host`, default 2) and of the whole cluster (`max_concurrent_per_cluster`,
0: no cap). Queued migrations are considered in FIFO order; one that cannot start does not
block a later one that can (a full source host must not hold up the rest of the cluster).
Each one that waits gets a `queue_reason` sentence.

An agent that answered RESOURCE_EXHAUSTED (busy) is skipped, as source or destination, until
its retry time (vdsm's source retries a busy destination after 10 s).

Automatic migrations choose their destination here, at the moment they start, with the slots
taken in this same pass counted: a destination chosen at enqueue time would be stale by then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    choose_migration_uri,
)
from miglane.engine.domain.model import (
    DEFAULT_MAX_INCOMING_PER_HOST,
    DEFAULT_MAX_OUTGOING_PER_HOST,
    HostStatus,
    HostView,
    Migration,
    MigrationPolicy,
    Vm,
    VmState,
)
from miglane.engine.domain.placement import (
    SLOT_PHASES,
    HostLoad,
    PlacementOutcome,
    RejectionKind,
    choose_destination,
    host_loads,
    manual_destination_rejections,
)


@dataclass(frozen=True)
class MigrationLimits:
    outgoing_per_host: int
    incoming_per_host: int
    # 0: no cluster-wide cap.
    per_cluster: int

    @classmethod
    def of(cls, policy: MigrationPolicy) -> MigrationLimits:
        """The policy's limits, 0 meaning the defaults: 2 outgoing, 2 incoming, no cap."""
        return cls(
            policy.max_outgoing_per_host or DEFAULT_MAX_OUTGOING_PER_HOST,
            policy.max_incoming_per_host or DEFAULT_MAX_INCOMING_PER_HOST,
            policy.max_concurrent_per_cluster,
        )


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
    reason: str = ""


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


# A guest that stopped while its migration waited has nothing left to move.
_NOT_MIGRATABLE = frozenset({VmState.SHUT_OFF, VmState.CRASHED, VmState.SAVED})


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def admit_queued(
    queued: Sequence[Migration],
    running: Sequence[Migration],
    hosts: Sequence[HostView],
    vms: Mapping[str, Vm],
    networks: ClusterNetworks,
    *,
    now: datetime,
    busy_until: Mapping[str, datetime] | None = None,
) -> list[Admission]:
    """One verdict per queued migration of one cluster, in the order given (FIFO).

    `running` holds the cluster's migrations that hold a slot (PREPARING or RUNNING; other
    phases are ignored), `hosts` the cluster's hosts, `vms` the cluster's VMs by id. Starting
    every START verdict keeps every limit; a migration that waits says which limit or host it
    waits for; one that can never start as asked (its VM or host is gone, its manual
    destination is out of service, no host at all can take it) fails with the reason."""
    busy = busy_until or {}
    limits = MigrationLimits.of(networks.cluster.policy)
    by_id = {view.host.id: view for view in hosts}
    active = [m for m in running if m.phase in SLOT_PHASES]
    outgoing: dict[str, int] = {}
    incoming: dict[str, int] = {}
    for migration in active:
        outgoing[migration.source_host_id] = outgoing.get(migration.source_host_id, 0) + 1
        if migration.destination_host_id:
            key = migration.destination_host_id
            incoming[key] = incoming.get(key, 0) + 1
    total = len(active)
    # Authoritative for every host, so that the scheduler never falls back to the counts a
    # HostView was read with.
    loads = {view.host.id: HostLoad() for view in hosts}
    loads.update(host_loads(active, {vm_id: vm.memory_mib for vm_id, vm in vms.items()}))
    # Hosts a new automatic migration could still enter: when none is left, the rest of the
    # queue waits without running the scheduler once per migration.
    open_slots = sum(
        max(limits.incoming_per_host - incoming.get(view.host.id, 0), 0)
        for view in hosts
        if view.host.status is HostStatus.UP
    )
    cluster_name = networks.cluster.name
    verdicts: list[Admission] = []

    def wait(migration: Migration, reason: str) -> None:
        verdicts.append(Admission(migration, AdmissionVerdict.WAIT, reason=reason))

    def fail(migration: Migration, reason: str) -> None:
        verdicts.append(Admission(migration, AdmissionVerdict.FAIL, reason=reason))

    for migration in queued:
        vm = vms.get(migration.vm_id)
        source = by_id.get(migration.source_host_id)
        if vm is None:
            fail(migration, f"VM {migration.vm_name or migration.vm_id!r} is gone")
            continue
        if source is None:
            fail(migration, f"source host {migration.source_host_id} was removed")
            continue
        if vm.state in _NOT_MIGRATABLE:
            fail(migration, f"VM {vm.name!r} is {vm.state.name.lower()}: nothing to live-migrate")
            continue
        if vm.host_id != migration.source_host_id:
            now_on = by_id[vm.host_id].host.name if vm.host_id in by_id else vm.host_id
            fail(
                migration,
                f"VM {vm.name!r} is no longer on {source.host.name} (now on {now_on})",
            )
            continue
        source_name = source.host.name
        if source.host.status not in _SENDING_STATUSES:
            wait(migration, f"source host {source_name} is {source.host.status.label}")
            continue
        if limits.per_cluster and total >= limits.per_cluster:
            wait(
                migration,
                f"cluster {cluster_name} has {total} of {limits.per_cluster} concurrent "
                "migrations (max_concurrent_per_cluster)",
            )
            continue
        sending = outgoing.get(source.host.id, 0)
        if sending >= limits.outgoing_per_host:
            wait(
                migration,
                f"source host {source_name} has {sending} of {limits.outgoing_per_host} "
                "outgoing migrations (max_outgoing_per_host)",
            )
            continue
        source_busy = busy.get(source.host.id)
        if source_busy is not None and source_busy > now:
            wait(
                migration,
                f"source host {source_name}'s agent answered busy; retrying after "
                f"{_at(source_busy)}",
            )
            continue

        if migration.automatic:
            if open_slots <= 0:
                wait(
                    migration,
                    f"every UP host has {limits.incoming_per_host} of "
                    f"{limits.incoming_per_host} incoming migrations (max_incoming_per_host)",
                )
                continue
            decision = choose_destination(
                vm,
                source,
                hosts,
                networks,
                loads=loads,
                excluded_host_ids=migration.tried_host_ids,
                now=now,
                busy_until=busy,
            )
            if decision.outcome is PlacementOutcome.WAIT:
                wait(migration, decision.reason)
                continue
            if decision.outcome is PlacementOutcome.NO_HOST:
                fail(migration, decision.reason)
                continue
            assert decision.destination is not None
            destination = decision.destination
            path = decision.path
        else:
            found = by_id.get(migration.destination_host_id)
            if found is None:
                fail(migration, f"destination host {migration.destination_host_id} was removed")
                continue
            destination = found
            destination_name = destination.host.name
            refused = manual_destination_rejections(vm, destination, networks)
            if refused:
                words = "; ".join(r.message for r in refused)
                if all(r.kind is RejectionKind.NOT_UP for r in refused) and (
                    destination.host.status is HostStatus.UNREACHABLE
                ):
                    # An agent restarting is back in seconds: not worth failing the request.
                    wait(migration, f"destination host {destination_name}: {words}")
                else:
                    fail(migration, f"destination host {destination_name} cannot take it: {words}")
                continue
            receiving = incoming.get(destination.host.id, 0)
            if receiving >= limits.incoming_per_host:
                wait(
                    migration,
                    f"destination host {destination_name} has {receiving} of "
                    f"{limits.incoming_per_host} incoming migrations (max_incoming_per_host)",
                )
                continue
            destination_busy = busy.get(destination.host.id)
            if destination_busy is not None and destination_busy > now:
                wait(
                    migration,
                    f"destination host {destination_name}'s agent answered busy; retrying "
                    f"after {_at(destination_busy)}",
                )
                continue
            path = choose_migration_uri(networks, source, destination)

        destination_id = destination.host.id
        verdicts.append(
            Admission(
                migration,
                AdmissionVerdict.START,
                destination_host_id=destination_id,
                path=path,
            )
        )
        total += 1
        outgoing[source.host.id] = sending + 1
        receiving_before = incoming.get(destination_id, 0)
        incoming[destination_id] = receiving_before + 1
        if destination.host.status is HostStatus.UP and receiving_before < limits.incoming_per_host:
            open_slots -= 1
        previous = loads.get(destination_id, HostLoad())
        loads[destination_id] = HostLoad(
            previous.incoming + 1, previous.reserved_memory_mib + vm.memory_mib
        )
    return verdicts
