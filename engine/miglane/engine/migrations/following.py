"""JobFollower: a started job followed to its end — the source agent's progress stream into the
ledger, the final record with its event, a failed automatic migration rerun elsewhere, the VM
moved to its destination, and what follows an end (bandwidth shares, evacuated hosts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from miglane.engine.actor import as_engine
from miglane.engine.agent_client import AgentCallError, AgentCallErrorKind, AgentClients
from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.evacuation import decide_rerun
from miglane.engine.domain.model import Event, Migration, MigrationPhase, VmState
from miglane.engine.domain.progress import (
    FINAL_PHASES,
    JobSample,
    apply_sample,
    completion_message,
)
from miglane.engine.log_fields import bind_migration
from miglane.engine.migrations.audit import MigrationEvents
from miglane.engine.migrations.bandwidth import BandwidthBalancer
from miglane.engine.migrations.cluster_view import ClusterReader
from miglane.engine.migrations.ledger import MigrationLedger, newest
from miglane.engine.migrations.ports import Clock, IdFactory
from miglane.engine.migrations.queue import EvacuationCheck, QueueBell
from miglane.engine.store import Store

log = logging.getLogger(__name__)


class EvacuationFollowUp(EvacuationCheck, Protocol):
    async def replan(self, cluster_id: str) -> None: ...


class _Ending(Protocol):
    def __call__(self, store: Store) -> tuple[Migration | None, list[Migration], list[Event]]: ...


def move_vm(store: Store, migration: Migration) -> None:
    """On the store's worker thread: the VM is on the destination now, running, or paused if it
    left paused (a paused domain arrives paused; the next poll confirms it)."""
    vm = store.get_vm(migration.vm_id)
    destination = store.get_host(migration.destination_host_id)
    if vm is None or destination is None:
        return
    on_destination = [v for v in store.vms_of_host(destination.id) if v.id != vm.id]
    state = VmState.PAUSED if vm.state is VmState.PAUSED else VmState.RUNNING
    moved = replace(vm, host_id=destination.id, cluster_id=destination.cluster_id, state=state)
    store.replace_host_vms(destination.id, [*on_destination, moved])


class JobFollower:
    """Used from the event loop's thread only (its work functions run on the store's)."""

    def __init__(
        self,
        ledger: MigrationLedger,
        reader: ClusterReader,
        clients: AgentClients,
        balancer: BandwidthBalancer,
        evacuations: EvacuationFollowUp,
        events: MigrationEvents,
        bell: QueueBell,
        clock: Clock,
        new_id: IdFactory,
        *,
        retry_s: float,
    ) -> None:
        self._ledger = ledger
        self._reader = reader
        self._clients = clients
        self._balancer = balancer
        self._evacuations = evacuations
        self._events = events
        self._bell = bell
        self._clock = clock
        self._new_id = new_id
        self.retry_s = retry_s
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._followers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def follow(self, migration_id: str) -> None:
        if migration_id in self._followers or self._stopping:
            return
        # What a job turns into (completion, failure, reruns) is the engine's doing.
        task = asyncio.get_running_loop().create_task(
            self._follow(migration_id), name=f"follow-{migration_id}", context=as_engine()
        )
        self._followers[migration_id] = task
        task.add_done_callback(lambda _: self._followers.pop(migration_id, None))

    async def _follow(self, migration_id: str) -> None:
        """Consumes the source agent's progress stream until the job's final sample; a broken
        stream (agent restarting, unreachable) is picked up again."""
        while (migration := self._ledger.active(migration_id)) is not None:
            bind_migration(migration)
            address = await self._reader.source_address(migration)
            if address is None:
                await self.fail(migration_id, "its source host was removed while it ran")
                return
            try:
                async for sample in self._clients.watch(address, migration_id):
                    await self.on_sample(migration_id, sample)
                    if sample.finished:
                        return
                sample = await self._clients.status(address, migration_id)
                await self.on_sample(migration_id, sample)
                if sample.finished:
                    return
            except AgentCallError as error:
                if error.kind is AgentCallErrorKind.NOT_FOUND:
                    await self.fail(
                        migration_id, f"the source agent does not know the job: {error.detail}"
                    )
                    return
                log.info("progress of %s interrupted (%s); retrying", migration_id, error)
            await asyncio.sleep(self.retry_s)

    async def on_sample(self, migration_id: str, sample: JobSample) -> None:
        current = self._ledger.active(migration_id)
        if current is None:
            return
        updated = apply_sample(current, sample, self._clock())
        if updated.phase in FINAL_PHASES:
            await self._finish(migration_id, sample)
            return
        if updated == current:
            return
        if updated.phase is not current.phase:
            self._ledger.show(updated)
            await self._ledger.persist([migration_id])
        else:
            self._ledger.show(updated, unsaved=True)

    async def fail(self, migration_id: str, reason: str) -> None:
        """Ends an active migration as FAILED (its job never ran or is lost)."""
        now = self._clock()
        events = self._events

        def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
            # On the store's worker thread.
            current = store.get_migration(migration_id)
            if current is None or not current.active:
                return None, [], []
            failed = replace(
                current,
                phase=MigrationPhase.FAILED,
                error=reason,
                queue_reason="",
                finished_at=now,
            )
            return failed, [failed], events.failure(failed, reason)

        failed = await self._ledger.write(work)
        self._bell.ring()
        await self.after_end(failed)

    async def _finish(self, migration_id: str, sample: JobSample) -> None:
        """Ends the record of a job that finished, with its event; reruns a failed automatic
        migration elsewhere."""
        ended = await self._ledger.write(
            self._ending(migration_id, sample, self._ledger.active(migration_id))
        )
        if ended is None:
            return
        self._reader.path_costs.completed(ended)
        self._bell.ring()
        await self.after_end(ended)

    def _ending(self, migration_id: str, sample: JobSample, live: Migration | None) -> _Ending:
        """The transaction ending a finished job; `live` is the ledger's version, copied on
        the loop."""
        now = self._clock()
        events = self._events
        new_id = self._new_id

        def work(store: Store) -> tuple[Migration | None, list[Migration], list[Event]]:
            # On the store's worker thread.
            current = newest(store.get_migration(migration_id), live)
            if current is None or current.phase in FINAL_PHASES:
                return None, [], []
            ended = apply_sample(current, sample, now)
            names = {
                h.id: h.name
                for h in (
                    store.get_host(current.source_host_id),
                    store.get_host(current.destination_host_id),
                )
                if h is not None
            }
            message = completion_message(
                ended,
                ended.vm_name,
                names.get(ended.source_host_id, ended.source_host_id),
                names.get(ended.destination_host_id, ended.destination_host_id),
            )
            changed = [ended]
            written = [events.job_ended(ended, message, sample.failure_kind)]
            if ended.path_proof.off_path:
                written.append(events.off_path(ended, names))
            if ended.phase is MigrationPhase.COMPLETED:
                move_vm(store, ended)
            elif ended.phase is MigrationPhase.FAILED:
                changed_more, more = _rerun(ended, sample, names, now, new_id, events)
                changed += changed_more
                written += more
            return ended, changed, written

        return work

    async def after_end(self, migration: Migration | None) -> None:
        """A migration left its slot: shares of the cluster's links change, the host it
        evacuated may be empty now, and the evacuations still queued are re-planned."""
        if migration is None:
            return
        self._balancer.schedule_rebalance(migration.cluster_id)
        if migration.evacuation_host_id:
            await self._evacuations.check_evacuations(migration.cluster_id)
            await self._evacuations.replan(migration.cluster_id)


def _rerun(
    failed: Migration,
    sample: JobSample,
    names: Mapping[str, str],
    now: datetime,
    new_id: IdFactory,
    events: MigrationEvents,
) -> tuple[list[Migration], list[Event]]:
    """A failed automatic migration's rerun on another host, when the domain decides one."""
    decision = decide_rerun(failed, sample.failure_kind, host_names=dict(names))
    if not decision.rerun:
        if failed.evacuation_host_id:
            return [], [events.unplaced(failed, decision.reason)]
        return [], []
    rerun = Migration.queued(
        new_id("mig"),
        cluster_id=failed.cluster_id,
        vm_id=failed.vm_id,
        vm_name=failed.vm_name,
        source_host_id=failed.source_host_id,
        created_at=now,
        tried_host_ids=decision.tried_host_ids,
        evacuation_host_id=failed.evacuation_host_id,
        bandwidth_override_mibps=failed.bandwidth_override_mibps,
        queue_reason=say.RERUN_WAITING,
        priority=failed.priority,
        priority_override=failed.priority_override,
    )
    return [rerun], [events.rerun(rerun, decision.reason, failed.id)]
