"""JobRunner: a PREPARING migration's job asked of its source agent — the migrate call, what a
refusal leads to (`domain.retry`), the start recorded, jobs an earlier engine left preparing
taken up, and cancelling an active migration (including one not yet started)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from miglane.engine.agent_client import (
    DESTINATION_UNREACHABLE,
    AgentCallError,
    AgentCallErrorKind,
    AgentClients,
)
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.convergence import migration_tuning
from miglane.engine.domain.errors import FailedPrecondition, ResourceExhausted
from miglane.engine.domain.migration_path import agent_host
from miglane.engine.domain.model import (
    Event,
    FallbackReason,
    Host,
    Migration,
    MigrationPhase,
)
from miglane.engine.domain.progress import FINAL_PHASES, JobSample, MigrateCall, apply_sample
from miglane.engine.domain.retry import BusyHost, Refusal, decide_after_refusal
from miglane.engine.domain.vm_devices import disk_copy
from miglane.engine.log_fields import bind_migration
from miglane.engine.migrations.audit import MigrationEvents
from miglane.engine.migrations.bandwidth import BandwidthBalancer
from miglane.engine.migrations.busy import BusyMarks
from miglane.engine.migrations.cluster_view import ClusterReader, ClusterState
from miglane.engine.migrations.following import JobFollower
from miglane.engine.migrations.ledger import MigrationLedger
from miglane.engine.migrations.ports import Clock
from miglane.engine.migrations.queue import QueueBell
from miglane.engine.migrations.tasks import BackgroundTasks
from miglane.engine.store import Store

log = logging.getLogger(__name__)

_REFUSALS = {
    AgentCallErrorKind.BUSY: Refusal.SOURCE_BUSY,
    AgentCallErrorKind.UNREACHABLE: Refusal.SOURCE_UNREACHABLE,
    AgentCallErrorKind.REFUSED: Refusal.REFUSED,
}


def destination_refused(error: AgentCallError) -> bool:
    """The source agent says the destination refused or could not be reached (its ErrorInfo
    reason, not its English)."""
    return error.reason == DESTINATION_UNREACHABLE


def migrate_destination(destination: Host) -> str:
    """The migrate verb's `dst`: the destination's own reported libvirt peer URI, else its
    management address; only the agent builds a libvirt URI from an address (the contract of
    `LiveTarget.dst` in agent.proto)."""
    return destination.facts.peer_libvirt_uri or agent_host(destination.agent_address)


class StartCancels:
    """Cancels asked for while a migration was PREPARING: carried out when its job starts
    (cancelled at the agent) or when it goes back to the queue (cancelled there)."""

    def __init__(self) -> None:
        self._asked: set[str] = set()

    def ask(self, migration_id: str) -> None:
        self._asked.add(migration_id)

    def asked(self, migration_id: str) -> bool:
        return migration_id in self._asked

    def done(self, migration_id: str) -> None:
        self._asked.discard(migration_id)


class JobRunner:
    """Used from the event loop's thread only (its work functions run on the store's)."""

    def __init__(
        self,
        ledger: MigrationLedger,
        reader: ClusterReader,
        clients: AgentClients,
        follower: JobFollower,
        balancer: BandwidthBalancer,
        busy: BusyMarks,
        events: MigrationEvents,
        bell: QueueBell,
        tasks: BackgroundTasks,
        clock: Clock,
    ) -> None:
        self._ledger = ledger
        self._reader = reader
        self._clients = clients
        self._follower = follower
        self._balancer = balancer
        self._busy = busy
        self._events = events
        self._bell = bell
        self._tasks = tasks
        self._clock = clock
        # Destination refusals so far, by migration id.
        self._refusals: dict[str, int] = {}
        self._cancels = StartCancels()

    def launch(self, migration_id: str, state: ClusterState | None = None) -> None:
        """`state`: the cluster as the admission that started it read it (its hosts and VMs),
        with the ledger's active migrations of now; None: read afresh."""
        self._tasks.spawn(self._launch(migration_id, state), f"launch-{migration_id}")

    async def _launch(self, migration_id: str, state: ClusterState | None) -> None:
        migration = self._ledger.active(migration_id)
        if migration is None or migration.phase is not MigrationPhase.PREPARING:
            return
        bind_migration(migration)
        if state is None:
            state = await self._reader.cluster(migration.cluster_id, with_vms=False)
        source = state.by_id.get(migration.source_host_id)
        destination = state.by_id.get(migration.destination_host_id)
        if source is None or destination is None:
            await self._follower.fail(migration_id, "its source or destination host was removed")
            return
        mibps = self._balancer.launch_cap(state, migration)
        dst = migrate_destination(destination.host)
        copy_local_disks, disks_uri = disk_copy(
            state.vms.get(migration.vm_id), state.networks.cluster, migration.migration_uri
        )
        call = MigrateCall(
            migration_id=migration.id,
            vm_id=migration.vm_id,
            dst=dst,
            migration_uri=migration.migration_uri,
            max_bandwidth_mibps=mibps or None,
            tuning=migration_tuning(state.networks.cluster.policy, migration.convergence_help),
            copy_local_disks=copy_local_disks,
            disks_uri=disks_uri,
        )
        try:
            sample = await self._clients.migrate(source.host.agent_address, call)
        except AgentCallError as error:
            await self._refused(migration, error, source.host, destination.host)
            return
        sample = replace(sample, max_bandwidth_mibps=sample.max_bandwidth_mibps or mibps)
        await self._started(migration_id, sample, destination.host.name, source.host.name)

    async def _refused(
        self, migration: Migration, error: AgentCallError, source: Host, destination: Host
    ) -> None:
        if error.kind in (AgentCallErrorKind.ALREADY_EXISTS, AgentCallErrorKind.UNREACHABLE):
            # An earlier attempt may have got through (a timeout hid its answer): follow it.
            try:
                sample = await self._clients.status(source.agent_address, migration.id)
            except AgentCallError:
                if error.kind is AgentCallErrorKind.ALREADY_EXISTS:
                    self._follower.follow(migration.id)
                    return
            else:
                await self._started(migration.id, sample, destination.name, source.name)
                return
        decision = decide_after_refusal(
            _REFUSALS.get(error.kind, Refusal.OTHER),
            destination_refused=destination_refused(error),
            refusals=self._refusals.get(migration.id, 0),
        )
        if not decision.requeue:
            self._refusals.pop(migration.id, None)
            await self._follower.fail(migration.id, say.source_refused(source.name, error.detail))
            return
        self._refusals[migration.id] = decision.refusals
        if decision.busy_host is BusyHost.DESTINATION:
            self._busy.mark(destination.id)
            reason = say.destination_refused(destination.name, error.detail, decision.refusals)
        elif error.kind is AgentCallErrorKind.BUSY:
            until = self._busy.mark(source.id)
            reason = say.source_busy(source.name, error.detail, until.isoformat(timespec="seconds"))
        else:
            self._busy.mark(source.id)
            reason = say.source_unreachable(source.name, error.detail)
        await self._requeue(migration.id, reason)

    async def _requeue(self, migration_id: str, reason: str) -> None:
        """Back to the queue, or cancelled when a cancel was asked for meanwhile."""
        cancel = self._cancels.asked(migration_id)
        now = self._clock()
        events = self._events

        def work(store: Store) -> tuple[bool, list[Migration], list[Event]]:
            # On the store's worker thread.
            current = store.get_migration(migration_id)
            if current is None or current.phase is not MigrationPhase.PREPARING:
                return False, [], []
            if cancel:
                cancelled = replace(current, phase=MigrationPhase.CANCELLED, finished_at=now)
                return True, [cancelled], [events.cancelled_before_start(cancelled)]
            return False, [_requeued(current, reason)], []

        if await self._ledger.write(work):
            self._cancels.done(migration_id)
        self._bell.ring()

    async def _started(
        self, migration_id: str, sample: JobSample, destination_name: str, source_name: str
    ) -> None:
        now = self._clock()
        events = self._events

        def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
            # On the store's worker thread.
            current = store.get_migration(migration_id)
            if current is None or current.phase is not MigrationPhase.PREPARING:
                return None, [], []
            running = apply_sample(current, sample, now)
            if running.phase in FINAL_PHASES:
                # Finished before we looked: recorded as started here; the follower ends it
                # from the agent's final status, with its event (completion, proof of path).
                running = apply_sample(current, replace(sample, phase=MigrationPhase.RUNNING), now)
            # Its queue reason, while preparing, says why it was given a help (if it was).
            started = events.started(running, source_name, destination_name, current.queue_reason)
            return running, [running], [started]

        self._refusals.pop(migration_id, None)
        running = await self._ledger.write(work)
        if running is None:
            return
        self._follower.follow(migration_id)
        if self._cancels.asked(migration_id):
            self._cancels.done(migration_id)
            self._tasks.spawn(self._cancel_running(running), f"cancel-{migration_id}")
        self._balancer.schedule_rebalance(running.cluster_id)

    # ------------------------------------------------------------ after a restart

    def take_up(self, active: list[Migration]) -> None:
        """The migrations an earlier engine left preparing or running are taken up."""
        for migration in active:
            if migration.phase is MigrationPhase.PREPARING:
                self._tasks.spawn(self._recover(migration.id), f"recover-{migration.id}")
            elif migration.phase is MigrationPhase.RUNNING:
                self._follower.follow(migration.id)

    async def _recover(self, migration_id: str) -> None:
        """A migration an earlier engine left PREPARING: did its source agent get the job?"""
        while (migration := self._ledger.active(migration_id)) is not None:
            if migration.phase is not MigrationPhase.PREPARING:
                return
            bind_migration(migration)
            address = await self._reader.source_address(migration)
            if address is None:
                await self._follower.fail(migration_id, "its source host was removed")
                return
            try:
                sample = await self._clients.status(address, migration_id)
            except AgentCallError as error:
                if error.kind is AgentCallErrorKind.NOT_FOUND:
                    await self._requeue(migration_id, say.RESTARTED_BEFORE_START)
                    return
                await asyncio.sleep(self._follower.retry_s)
                continue
            names = await self._reader.host_names(migration.cluster_id)
            await self._started(
                migration_id,
                sample,
                names.get(migration.destination_host_id, migration.destination_host_id),
                names.get(migration.source_host_id, migration.source_host_id),
            )
            return

    # ------------------------------------------------------------ cancel

    async def cancel(self, migration: Migration, timeout_s: float) -> None:
        """Cancels a preparing or running migration and waits (at most `timeout_s`) for its
        end. One still preparing is cancelled when its job starts or it is requeued."""
        if migration.phase is MigrationPhase.PREPARING:
            self._cancels.ask(migration.id)
        else:
            await self._cancel_running(migration)
        try:
            await self._ledger.wait_ended(migration.id, timeout_s)
        finally:
            if self._ledger.active(migration.id) is None:
                self._cancels.done(migration.id)

    async def _cancel_running(self, migration: Migration) -> None:
        bind_migration(migration)  # in a cancel call's task, or a task of its own
        address = await self._reader.source_address(migration)
        if address is None:
            raise FailedPrecondition(f"the source host of {migration.id} is gone")
        try:
            sample = await self._clients.cancel(address, migration.id)
        except AgentCallError as error:
            if error.kind is AgentCallErrorKind.REFUSED:
                raise FailedPrecondition(
                    f"the source agent refused to cancel: {error.detail}"
                ) from None
            raise ResourceExhausted(
                f"the source agent could not be asked to cancel ({error.detail}); try again"
            ) from None
        await self._follower.on_sample(migration.id, sample)


def _requeued(current: Migration, reason: str) -> Migration:
    """A preparing migration back in the queue; an automatic one forgets its destination and
    path (the queue chooses again)."""
    queued = replace(
        current,
        phase=MigrationPhase.QUEUED,
        queue_reason=reason,
        destination_host_id=current.destination_host_id if not current.automatic else "",
    )
    if not current.automatic:
        return queued
    return replace(
        queued,
        network_id="",
        migration_uri="",
        fallback_reason=FallbackReason.UNSPECIFIED,
        fallback_detail="",
    )
