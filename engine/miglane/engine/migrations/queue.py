"""AdmissionQueue: the one runner that admits queued migrations, cluster by cluster, within
the policy's limits (`domain.admission`); an admitted migration becomes PREPARING and its job
is launched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from miglane.engine.domain.admission import (
    Admission,
    AdmissionVerdict,
    admit_queued,
    in_start_order,
)
from miglane.engine.domain.forecast import (
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
    def launch(self, migration_id: str) -> None:
        """Starts the job of a migration just made PREPARING (in the background)."""


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
        forecasts[migration.id] = forecast_queued(migration, vm, policy, mibps, now)
    return forecasts


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
        state = await self._reader.read_state(cluster_id)
        if state is None:
            return
        queued = in_start_order([m for m in state.active if m.phase is MigrationPhase.QUEUED])
        verdicts = admit_queued(
            queued,
            state.slot_holders(),
            state.hosts,
            state.vms,
            state.networks,
            now=self._clock(),
            busy_until=self._busy.current(),
        )
        names = state.host_names
        now = self._clock()
        events = self._events
        forecasts = _forecasts(state, queued, now)

        def work(store: Store) -> tuple[list[Migration], list[Migration], list[Event]]:
            # On the store's worker thread: reads only the values given.
            changed: list[Migration] = []
            started: list[Migration] = []
            written: list[Event] = []
            for admission in verdicts:
                forecast = forecasts[admission.migration.id]
                if admission.prediction is not None:
                    # The prediction admission judged it by (its destination counted).
                    forecast = with_prediction(admission.migration, admission.prediction, now)
                if (
                    admission.verdict is AdmissionVerdict.WAIT
                    and admission.migration.queue_reason == admission.reason
                    and not moved_enough(admission.migration, forecast)
                ):
                    continue
                current = store.get_migration(admission.migration.id)
                if current is None or current.phase is not MigrationPhase.QUEUED:
                    continue  # cancelled meanwhile
                if admission.verdict is AdmissionVerdict.WAIT:
                    changed.append(
                        replace(
                            current,
                            queue_reason=admission.reason,
                            predicted_finish_at=forecast.predicted_finish_at,
                            verdict=forecast.verdict,
                            verdict_reason=forecast.verdict_reason,
                        )
                    )
                elif admission.verdict is AdmissionVerdict.FAIL:
                    failed = replace(
                        current,
                        phase=MigrationPhase.FAILED,
                        error=admission.reason,
                        queue_reason="",
                        finished_at=now,
                    )
                    changed.append(failed)
                    written.extend(events.failure(failed, admission.reason))
                else:
                    preparing = _prepared(current, admission, now)
                    changed.append(preparing)
                    started.append(preparing)
                    if admission.path is not None and admission.path.fell_back:
                        written.append(events.fell_back(preparing, names))
            return started, changed, written

        started = await self._ledger.write(work)
        for migration in started:
            self._jobs.launch(migration.id)
        if any(m.evacuation_host_id for m in queued):
            await self._evacuations.check_evacuations(cluster_id)
