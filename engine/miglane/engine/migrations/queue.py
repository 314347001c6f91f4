"""AdmissionQueue: the one runner that admits queued migrations, cluster by cluster, within
the policy's limits (`domain.admission`); an admitted migration becomes PREPARING and its job
is launched."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import Context, copy_context
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from miglane.engine.actor import as_engine
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.admission import (
    Admission,
    AdmissionVerdict,
    admit_queued,
    in_start_order,
)
from miglane.engine.domain.errors import FailedPrecondition
from miglane.engine.domain.forecast import (
    at_planned_finish,
    forecast_queued,
    moved_enough,
    queued_bandwidth_mibps,
    with_prediction,
)
from miglane.engine.domain.model import Event, Migration, MigrationPhase, PathProof
from miglane.engine.domain.priority import priority_weight
from miglane.engine.migrations.audit import MigrationEvents
from miglane.engine.migrations.busy import BusyMarks
from miglane.engine.migrations.cluster_view import ClusterReader, ClusterState
from miglane.engine.migrations.ledger import MigrationLedger
from miglane.engine.migrations.ports import Clock
from miglane.engine.store import Store

log = logging.getLogger(__name__)

# How long `run_admission_pass` waits for its pass at most.
PASS_TIMEOUT_S = 10.0


class QueueBell:
    """Rings the queue runner for a pass soon (a slot freed, a migration was requeued)."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._rung.wait()
        self._rung.clear()


class JobLauncher(Protocol):
    def launch(self, migration_id: str, state: ClusterState | None = None) -> None:
        """Starts the job of a migration just made PREPARING (in the background); `state`:
        its cluster as read for its admission (None: read afresh)."""


class EvacuationCheck(Protocol):
    async def check_evacuations(self, cluster_id: str) -> None: ...


def _prepared(migration: Migration, admission: Admission, now: datetime) -> Migration:
    """`migration` admitted: its destination, path, the help it starts with and the prediction
    it was admitted on (its queue reason: why it has that help, if it has one)."""
    path = admission.path
    assert path is not None
    if admission.prediction is not None:
        migration = with_prediction(migration, admission.prediction, now)
    return replace(
        migration,
        phase=MigrationPhase.PREPARING,
        destination_host_id=admission.destination_host_id,
        network_id=path.network_id,
        migration_uri=path.migration_uri,
        fallback_reason=path.fallback_reason,
        fallback_detail=path.fallback_detail,
        queue_reason=admission.reason,
        convergence_help=admission.help,
        path_proof=PathProof(nic=path.source_attachment.nic if path.source_attachment else ""),
        granted_mibps=admission.granted_mibps,
        admitted_at=now,
    )


def _forecasts(state: ClusterState, queued: list[Migration], now: datetime) -> dict[str, Migration]:
    """Each queued migration with its prediction, were it admitted now."""
    hosts = state.by_id
    leaving: dict[str, int] = {}
    weights: dict[str, int] = {}
    for holder in state.slot_holders():
        source = holder.source_host_id
        leaving[source] = leaving.get(source, 0) + 1
        weights[source] = weights.get(source, 0) + priority_weight(holder.priority)
    policy = state.networks.cluster.policy
    forecasts = {}
    for migration in queued:
        vm = state.vms.get(migration.vm_id)
        source = migration.source_host_id
        mibps = queued_bandwidth_mibps(
            migration, vm, hosts, state.networks, leaving.get(source, 0), weights.get(source, 0)
        )
        forecasts[migration.id] = forecast_queued(
            migration, vm, policy, mibps, now, fixed_s=state.networks.path_fixed_s
        )
    return forecasts


@dataclass(frozen=True)
class Decided:
    """An admission pass's outcome: the migrations it started, its writes (changed migrations,
    events), and whether the queue held evacuation migrations."""

    started: list[Migration]
    written: tuple[list[Migration], list[Event]]
    evacuating: bool


def decide_admissions(
    state: ClusterState,
    current: Callable[[str], Migration | None],
    *,
    now: datetime,
    busy_until: Mapping[str, datetime],
    events: MigrationEvents,
) -> Decided:
    """On the store's worker thread, inside the transaction that writes what it returns: one
    admission pass (`domain.admission.admit_queued`) over the cluster's queue as `state` has
    it. `current(id)`: the migration as stored now (one cancelled meanwhile is left alone)."""
    queued = in_start_order([m for m in state.active if m.phase is MigrationPhase.QUEUED])
    verdicts = admit_queued(
        queued,
        state.slot_holders(),
        state.hosts,
        state.vms,
        state.networks,
        now=now,
        busy_until=busy_until,
    )
    names = state.host_names
    forecasts = _forecasts(state, queued, now)
    changed: list[Migration] = []
    started: list[Migration] = []
    written: list[Event] = []
    for admission in verdicts:
        forecast = forecasts[admission.migration.id]
        if admission.prediction is not None:
            # The prediction admission judged it by (its destination counted).
            forecast = with_prediction(admission.migration, admission.prediction, now)
        if admission.verdict is AdmissionVerdict.WAIT:
            forecast = at_planned_finish(forecast)
        if (
            admission.verdict is AdmissionVerdict.WAIT
            and admission.migration.queue_reason == admission.reason
            and not moved_enough(admission.migration, forecast)
        ):
            continue
        stored = current(admission.migration.id)
        if stored is None or stored.phase is not MigrationPhase.QUEUED:
            continue  # cancelled meanwhile
        if admission.verdict is AdmissionVerdict.WAIT:
            changed.append(
                replace(
                    stored,
                    queue_reason=admission.reason,
                    predicted_finish_at=forecast.predicted_finish_at,
                    verdict=forecast.verdict,
                    verdict_reason=forecast.verdict_reason,
                )
            )
        elif admission.verdict is AdmissionVerdict.FAIL:
            failed = replace(
                stored,
                phase=MigrationPhase.FAILED,
                error=admission.reason,
                queue_reason="",
                finished_at=now,
            )
            changed.append(failed)
            written.extend(events.failure(failed, admission.reason))
        else:
            preparing = _prepared(stored, admission, now)
            changed.append(preparing)
            started.append(preparing)
            if admission.path is not None and admission.path.fell_back:
                written.append(events.fell_back(preparing, names))
    return Decided(started, (changed, written), any(m.evacuation_host_id for m in queued))


@dataclass(frozen=True)
class _Passed:
    """What a runner's pass read and started."""

    state: ClusterState | None
    started: list[Migration]
    evacuating: bool


# A new migration, its cluster's state (the migration not among its active ones yet) and its
# events.
Made = tuple[Migration, ClusterState, list[Event]]
# Makes a new migration on the store's worker (see `AdmissionQueue.admit_new`).
NewMigration = Callable[[Store, list[Migration]], Made]


@dataclass
class _NewRequest:
    new: NewMigration
    # The caller's context variables (who asks), for `new`.
    context: Context
    done: asyncio.Future[Migration]


def _answer(batch: list[_NewRequest], outcomes: Sequence[Migration | Exception]) -> None:
    """Each request's caller gets its migration or its error (unless it gave up waiting)."""
    for request, outcome in zip(batch, outcomes, strict=True):
        if request.done.done():
            continue
        if isinstance(outcome, Migration):
            request.done.set_result(outcome)
        else:
            request.done.set_exception(outcome)


def _answer_created(batch: list[_NewRequest], created: _Created) -> None:
    _answer(batch, created.outcomes)


@dataclass(frozen=True)
class _Created:
    """A batch of new migrations: each request's migration as admission left it (or its
    error), the clusters as read, and each cluster's pass (its starts, evacuations queued)."""

    outcomes: list[Migration | Exception]
    states: dict[str, ClusterState]
    decided: dict[str, tuple[list[Migration], bool]]


def _new_migrations_work(
    batch: list[_NewRequest],
    active: list[Migration],
    *,
    now: datetime,
    busy_until: Mapping[str, datetime],
    events: MigrationEvents,
) -> Callable[[Store], tuple[_Created, list[Migration], list[Event]]]:
    """The one transaction of a batch of MigrateVm requests: each request's migration made
    (a request refused alone), then one admission pass per cluster with them queued."""

    def work(store: Store) -> tuple[_Created, list[Migration], list[Event]]:
        # On the store's worker thread.
        made: dict[str, Migration] = {}
        outcomes: list[Migration | Exception] = []
        states: dict[str, ClusterState] = {}
        written: list[Event] = []
        for request in batch:
            try:
                migration, state, said = request.context.run(
                    request.new, store, [*active, *made.values()]
                )
                earlier = next((m for m in made.values() if m.vm_id == migration.vm_id), None)
                if earlier is not None:
                    raise FailedPrecondition(say.already_migrating(migration.vm_name, earlier.id))
            except Exception as error:  # this request's alone (it wrote nothing)
                outcomes.append(error)
                continue
            made[migration.id] = migration
            outcomes.append(migration)
            # The cluster's latest read: it holds the batch's earlier migrations (`active`).
            states[migration.cluster_id] = state
            written.extend(said)

        def current(migration_id: str) -> Migration | None:
            # The batch's own migrations are inserted by this same transaction.
            return made.get(migration_id) or store.get_migration(migration_id)

        final = dict(made)
        others: list[Migration] = []
        decided: dict[str, tuple[list[Migration], bool]] = {}
        for cluster_id, state in states.items():
            active_here = [m for m in state.active if m.id not in made]
            active_here += [m for m in made.values() if m.cluster_id == cluster_id]
            outcome = decide_admissions(
                replace(state, active=active_here),
                current,
                now=now,
                busy_until=busy_until,
                events=events,
            )
            changed, said = outcome.written
            for migration in changed:
                if migration.id in final:
                    final[migration.id] = migration
                else:
                    others.append(migration)
            written.extend(said)
            decided[cluster_id] = (outcome.started, outcome.evacuating)
        outcomes = [final[o.id] if isinstance(o, Migration) else o for o in outcomes]
        # Each new migration's row is written once, as admission left it.
        return _Created(outcomes, states, decided), [*final.values(), *others], written

    return work


class AdmissionQueue:
    """Used from the event loop's thread only."""

    def __init__(
        self,
        ledger: MigrationLedger,
        reader: ClusterReader,
        busy: BusyMarks,
        events: MigrationEvents,
        jobs: JobLauncher,
        evacuations: EvacuationCheck,
        bell: QueueBell,
        clock: Clock,
        *,
        interval_s: float,
    ) -> None:
        self._ledger = ledger
        self._reader = reader
        self._busy = busy
        self._events = events
        self._jobs = jobs
        self._evacuations = evacuations
        self._bell = bell
        self._clock = clock
        self.interval_s = interval_s
        # Passes run so far.
        self.passes = 0
        # Passes asked for, and the last of them a pass has served.
        self._requested = 0
        self._served = 0
        self._passed = asyncio.Condition()
        # Admission decisions are made one at a time: each counts the slots the one before
        # took (it reads the ledger's memory, which a decision updates when it commits).
        self._turn = asyncio.Lock()
        # MigrateVm requests waiting for their transaction, and the task that makes them.
        self._new_requests: list[_NewRequest] = []
        self._new_admitter: asyncio.Task[None] | None = None

    async def run_admission_pass(self, timeout_s: float = PASS_TIMEOUT_S) -> None:
        """Asks the runner for a pass and waits for it (passes asked for together are served
        by one)."""
        self._requested += 1
        ticket = self._requested
        self._bell.ring()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._passed:
                await self._passed.wait_for(lambda: self._served >= ticket)

    async def wait_passes(self, count: int) -> None:
        """Until `count` more passes were run (tests wait on the queue with it)."""
        target = self.passes + count
        async with self._passed:
            await self._passed.wait_for(lambda: self.passes >= target)

    async def run(self) -> None:
        """The runner: a pass when rung, when a busy mark expires, and every `interval_s`."""
        while True:
            await self._bell.wait(self._busy.seconds_to_next_expiry(self.interval_s))
            served = self._requested
            try:
                for cluster_id in self._queued_clusters():
                    await self._admit(cluster_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue pass failed")
            self._served = served
            self.passes += 1
            async with self._passed:
                self._passed.notify_all()

    def _queued_clusters(self) -> list[str]:
        return sorted(
            {m.cluster_id for m in self._ledger.all_active() if m.phase is MigrationPhase.QUEUED}
        )

    async def _admit(self, cluster_id: str) -> None:
        """One pass over the cluster's queue: read, decided and written in one transaction."""
        async with self._turn:
            reading = self._reader.state_reading(cluster_id)
            now = self._clock()
            busy_until = self._busy.current()
            events = self._events

            def work(store: Store) -> tuple[_Passed, list[Migration], list[Event]]:
                # On the store's worker thread.
                state = reading(store)
                if state is None:
                    return _Passed(None, [], False), [], []
                decided = decide_admissions(
                    state, store.get_migration, now=now, busy_until=busy_until, events=events
                )
                return _Passed(state, decided.started, decided.evacuating), *decided.written

            passed = await self._ledger.write(work)
            self._reader.after_reading(reading, passed.state)
        if passed.state is not None:
            await self._after_admissions(passed.state, passed.started, passed.evacuating)

    async def admit_new(self, new: NewMigration) -> Migration:
        """A new migration made and admission decided over its cluster's queue with it, in
        one transaction (one commit): `new(store, active)` (on the store's worker, `active`
        every cluster's active migrations) checks the request, raising when it may not be
        made, and returns the migration, its cluster's state and its events. Returns the
        migration as admission left it: started (PREPARING, its job launched) or waiting with
        its queue reason and prediction. Requests made together share one transaction."""
        # The request is made in its caller's name; admission decides as the engine.
        request = _NewRequest(new, copy_context(), asyncio.get_running_loop().create_future())
        self._new_requests.append(request)
        if self._new_admitter is None or self._new_admitter.done():
            # A task of its own: a caller that gives up does not leave the others waiting,
            # nor the turn released before its decision committed.
            self._new_admitter = asyncio.create_task(
                self._admit_new_requests(), name="admit-new", context=as_engine()
            )
        return await request.done

    async def _admit_new_requests(self) -> None:
        while self._new_requests:
            batch, self._new_requests = self._new_requests, []
            try:
                async with self._turn:
                    created = await self._ledger.write(
                        _new_migrations_work(
                            batch,
                            self._ledger.active_of(),
                            now=self._clock(),
                            busy_until=self._busy.current(),
                            events=self._events,
                        ),
                        before_watchers=functools.partial(_answer_created, batch),
                    )
            except asyncio.CancelledError:  # the engine stops
                for request in batch:
                    request.done.cancel()
                raise
            except Exception as error:  # the commit failed: none of the batch was made
                _answer(batch, [error] * len(batch))
                continue
            for cluster_id, state in created.states.items():
                self._reader.remember_topology(cluster_id, state)
            for cluster_id, (started, evacuating) in created.decided.items():
                try:
                    await self._after_admissions(created.states[cluster_id], started, evacuating)
                except Exception:  # the next requests are made all the same
                    log.exception("launching the admitted migrations failed")

    async def _after_admissions(
        self, state: ClusterState, started: list[Migration], evacuating: bool
    ) -> None:
        """After the commit: the started migrations' jobs launched (in the background) on the
        cluster as their admission read it, and the evacuations checked when the queue held
        some."""
        cluster_id = state.networks.cluster.id
        if started:
            now_active = replace(state, active=self._ledger.active_of(cluster_id))
            for migration in started:
                self._jobs.launch(migration.id, now_active)
        if evacuating:
            await self._evacuations.check_evacuations(cluster_id)
