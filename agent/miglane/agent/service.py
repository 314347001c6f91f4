"""The agent: what each AgentService RPC does, over an injected hypervisor driver.

The gRPC servicer (`grpc_api.servicer`) only converts messages and calls these methods; the
refusals are `domain.errors` exceptions, mapped to status codes in one place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextvars import copy_context
from typing import Any

from miglane.agent import nics as host_nics
from miglane.agent.dirty_rates import DirtyRateRefresher
from miglane.agent.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Reason,
    ResourceExhausted,
    Unsupported,
)
from miglane.agent.domain.job import JobPlan, JobStatus, NicCounters
from miglane.agent.domain.migratable import is_live_migratable, not_live_migratable_reason
from miglane.agent.domain.model import (
    MIB,
    BandwidthChange,
    Capabilities,
    DomainInfo,
    FailureKind,
    JobPhase,
    MigrateRequest,
    MigrationMode,
    Nic,
    VmState,
    VmView,
)
from miglane.agent.domain.validation import (
    ValidatedMigration,
    check_local_disks,
    copied_disks,
    validate_migrate_request,
)
from miglane.agent.driver import DriverError, DriverErrorKind, HypervisorDriver, MigrationParams
from miglane.agent.engine_terms import EngineTerms
from miglane.agent.jobs import Job, JobStore, ProgressFeed
from miglane.agent.monitor import DEFAULT_POLL_INTERVAL_S, JobMonitor
from miglane.agent.saves import DEFAULT_SAVE_DIR, SaveDir
from miglane.daemon import bind_log_context

log = logging.getLogger(__name__)


def start_thread_in_context(target: Callable[[], None], name: str) -> None:
    """Runs `target` on a thread of its own in the caller's context, as `Agent._blocking`
    runs driver calls: the driver's log lines then name the migration they are for."""
    threading.Thread(target=copy_context().run, args=(target,), name=name, daemon=True).start()


AGENT_VERSION = "0.1.0"
DEFAULT_MAX_OUTGOING = 2
# How long Migrate waits for the copy to get under way, so that early refusals of the
# hypervisor (TLS not set up, destination refusing) are its answer rather than a failed job.
START_TIMEOUT_S = 15.0
CANCEL_TIMEOUT_S = 15.0

REFUSAL_OF_DRIVER_ERROR: dict[DriverErrorKind, tuple[type[DomainError], Reason]] = {
    DriverErrorKind.NO_DOMAIN: (NotFound, Reason.VM_NOT_FOUND),
    DriverErrorKind.NOT_FOUND: (NotFound, Reason.SAVED_STATE_NOT_FOUND),
    DriverErrorKind.NOT_RUNNING: (FailedPrecondition, Reason.VM_NOT_RUNNING),
    DriverErrorKind.NO_JOB: (FailedPrecondition, Reason.NO_HYPERVISOR_JOB),
    DriverErrorKind.DESTINATION: (FailedPrecondition, Reason.DESTINATION_UNREACHABLE),
    DriverErrorKind.NETWORK: (FailedPrecondition, Reason.MIGRATION_NETWORK_FAILED),
    DriverErrorKind.TLS_NOT_CONFIGURED: (FailedPrecondition, Reason.TLS_NOT_CONFIGURED),
    DriverErrorKind.CANCELLED: (FailedPrecondition, Reason.HYPERVISOR_CANCELLED),
    DriverErrorKind.UNSUPPORTED: (Unsupported, Reason.UNSUPPORTED),
}


def refusal(error: DriverError, doing: str, reason: Reason | None = None) -> DomainError:
    """The refusal for a failed hypervisor call; `reason` overrides the one its kind implies."""
    cls, implied = REFUSAL_OF_DRIVER_ERROR.get(
        error.kind, (FailedPrecondition, Reason.HYPERVISOR_ERROR)
    )
    return cls(f"{doing}: {error.message}", reason=reason or implied)


def _refuse_unless_migratable(domain: DomainInfo) -> None:
    if not is_live_migratable(domain.state):
        raise FailedPrecondition(not_live_migratable_reason(domain), reason=Reason.VM_NOT_RUNNING)


class Agent:
    """One host's agent. Use `await start()` before serving and `await stop()` after."""

    def __init__(
        self,
        driver: HypervisorDriver,
        *,
        peer_uri: str,
        state_dir: str | None = None,
        save_dir: str = DEFAULT_SAVE_DIR,
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
        max_outgoing: int = DEFAULT_MAX_OUTGOING,
        nic_source: Callable[[], list[Nic]] = host_nics.host_nics,
        nic_counters: Callable[[], NicCounters] | None = host_nics.tx_bytes_by_nic,
        max_workers: int = 8,
        timeout_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_outgoing < 1:
            raise ValueError(f"max_outgoing must be 1 or more, not {max_outgoing}")
        self.driver = driver
        self.peer_uri = peer_uri
        self.saves = SaveDir(save_dir)
        # The limit Migrate enforces; Capabilities reports it, and the engine plans within it.
        self.max_outgoing = max_outgoing
        self.nic_source = nic_source
        self.store = JobStore(state_dir)
        self.engine_terms = EngineTerms(state_dir)  # a deposed leader's calls are refused
        self.feed = ProgressFeed()
        self.jobs: dict[str, Job] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="agent-hv"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self.monitor = JobMonitor(
            driver, self._blocking, self._publish, poll_interval, nic_counters
        )
        self.monitor.timeout_clock = timeout_clock
        self.dirty_rates = DirtyRateRefresher(driver, self._blocking, self._running)
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Loads the state dir and takes up the jobs that still run in the hypervisor."""
        self._loop = asyncio.get_running_loop()
        self.driver.set_job_listener(self._on_driver_event)
        running = set(await self._blocking(self.driver.outgoing_jobs))
        for plan, status in self.store.load():
            job = Job(plan, status)
            self.jobs[plan.migration_id] = job
            if status.finished:
                job.started.set()
                job.ended.set()
                continue
            if plan.vm_id in running:
                log.info("resuming migration %s of VM %s", plan.migration_id, plan.vm_id)
                running.discard(plan.vm_id)
            else:  # the monitor finds no job and records the outcome at once
                log.info("migration %s ended while the agent was away", plan.migration_id)
            job.started.set()
            self._watch(job)
        for vm_id in running:  # a job no record knows about: keep reporting it under a new id
            info = await self._blocking(self.driver.domain, vm_id)
            plan = JobPlan(
                f"recovered-{vm_id}", vm_id, MigrationMode.LIVE, memory_bytes=info.memory_mib * MIB
            )
            job = Job(plan, JobStatus(plan.migration_id, vm_id, plan.mode, started_at=time.time()))
            job.started.set()
            self.jobs[plan.migration_id] = job
            self.store.save(job)
            self._watch(job)
        self.dirty_rates.start()

    async def stop(self) -> None:
        """Stops watching; running hypervisor jobs go on (a new agent takes them up)."""
        self._stopping = True
        self.driver.set_job_listener(None)
        monitors = [j.monitor for j in self.jobs.values() if j.monitor is not None]
        for task in monitors:
            task.cancel()
        await asyncio.gather(*monitors, self.dirty_rates.stop(), return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- plumbing ----------------------------------------------------------------------------
    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, copy_context().run, fn, *args)

    def _on_driver_event(self, vm_id: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._wake_vm, vm_id)

    def _wake_vm(self, vm_id: str) -> None:
        for job in self.jobs.values():
            if job.plan.vm_id == vm_id and not job.status.finished:
                job.wake.set()

    def _publish(self, job: Job) -> None:
        if job.status.finished or job.status.iteration != job.persisted_iteration:
            # Persist on changes that matter after a restart, not on every sample.
            self.store.save(job)
            job.persisted_iteration = job.status.iteration
        self.feed.publish(job.status)

    def _watch(self, job: Job) -> None:
        job.monitor = asyncio.get_running_loop().create_task(
            self.monitor.run(job), name=f"monitor-{job.migration_id}"
        )

    def _run_call(self, job: Job, fn: Callable[..., None], *args: Any) -> None:
        """Runs the blocking migrate/save on its own thread; its end wakes the monitor."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        job.call = future

        def settle(error: BaseException | None) -> None:
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
                future.exception()  # retrieved by the monitor; never "never retrieved"
            job.wake.set()

        def target() -> None:
            error: BaseException | None = None
            try:
                fn(*args)
            except BaseException as e:
                error = e
            # RuntimeError: the agent stopped meanwhile; a new one finds the outcome
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, error)

        start_thread_in_context(target, f"call-{job.migration_id}")

    def _running(self) -> list[Job]:
        return [j for j in self.jobs.values() if not j.status.finished]

    def _job(self, migration_id: str) -> Job:
        job = self.jobs.get(migration_id)
        if job is None:
            raise NotFound(f"no migration job {migration_id!r} on this host", field="migration_id")
        return job

    # -- RPCs --------------------------------------------------------------------------------
    async def capabilities(self) -> Capabilities:
        facts = await self._blocking(self.driver.host_facts)
        nics = await self._blocking(self.nic_source)
        return Capabilities(
            host=facts,
            peer_libvirt_uri=self.peer_uri,
            nics=tuple(nics),
            agent_version=AGENT_VERSION,
            max_outgoing_migrations=self.max_outgoing,
            running_outgoing_migrations=len(self._running()),
        )

    async def list_vms(self) -> list[VmView]:
        domains: list[DomainInfo] = await self._blocking(self.driver.list_domains)
        migrating = {j.plan.vm_id: j.migration_id for j in self._running()}
        views = []
        for d in domains:
            mid = migrating.get(d.id, "")
            if mid and d.state is VmState.RUNNING:
                d = dataclasses.replace(d, state=VmState.MIGRATING)
            views.append(VmView(d, mid, self.dirty_rates.latest(d.id)))
        return views

    async def migrate(self, request: MigrateRequest) -> JobStatus:
        """Starts the job and answers once the copy is under way (or the hypervisor refused)."""
        checked = validate_migrate_request(request)
        bind_log_context(migration_id=request.migration_id, vm_id=request.vm_id)  # this call's
        self._refuse_known_id(request.migration_id)
        self.dirty_rates.request(request.vm_id)
        domain = await self._domain(request.vm_id)
        _refuse_unless_migratable(domain)
        check_local_disks(domain, request)
        self._refuse_when_busy(request.vm_id, domain.name)
        job = self._new_job(request, checked, domain)
        self.jobs[job.migration_id] = job  # takes the slot before anything is awaited
        try:
            await self._start_call(job, request, checked, domain)
            self.store.save(job)
            self._watch(job)
            await self._until_started(job, domain)
        except BaseException:
            if job.call is None or job.call.done():  # nothing runs: the slot is free again
                self.jobs.pop(job.migration_id, None)
                self.store.delete(job.migration_id)
            raise
        log.info("migration %s of %s to %s started", job.migration_id, domain.name, job.status.dst)
        return job.status

    def _refuse_known_id(self, migration_id: str) -> None:
        if migration_id in self.jobs:
            raise AlreadyExists(
                f"migration {migration_id!r} is already known here "
                f"({self.jobs[migration_id].status.phase.value}); use a new id",
                field="migration_id",
            )

    async def _domain(self, vm_id: str) -> DomainInfo:
        try:
            domain: DomainInfo = await self._blocking(self.driver.domain, vm_id)
        except DriverError as e:
            raise refusal(e, f"VM {vm_id}") from e
        return domain

    def _refuse_when_busy(self, vm_id: str, vm_name: str) -> None:
        """One job per VM, none while stopping, at most `max_outgoing` at once."""
        running = self._running()
        busy = next((j for j in running if j.plan.vm_id == vm_id), None)
        if busy is not None:
            raise FailedPrecondition(
                f"VM {vm_name} is already migrating (job {busy.migration_id})",
                reason=Reason.VM_ALREADY_MIGRATING,
            )
        if self._stopping:
            raise FailedPrecondition("the agent is stopping", reason=Reason.AGENT_STOPPING)
        if len(running) >= self.max_outgoing:
            raise ResourceExhausted(
                f"this host already runs {len(running)} outgoing migrations "
                f"(limit {self.max_outgoing}); retry when one has finished"
            )

    def _new_job(
        self, request: MigrateRequest, checked: ValidatedMigration, domain: DomainInfo
    ) -> Job:
        hibernating = checked.mode is MigrationMode.HIBERNATE
        save_path = self.saves.file_for(request.vm_id, request.migration_id) if hibernating else ""
        plan = JobPlan(
            migration_id=request.migration_id,
            vm_id=request.vm_id,
            mode=checked.mode,
            peer_uri=checked.peer_uri,
            memory_bytes=domain.memory_mib * MIB,
            disk_bytes=sum(d.size_bytes for d in copied_disks(request, domain)),
            schedule=request.schedule,
            timeouts=request.timeouts,
            post_copy_allowed=request.options.post_copy_allowed,
            save_path=save_path,
        )
        now = time.time()
        status = JobStatus(
            request.migration_id,
            request.vm_id,
            checked.mode,
            started_at=now,
            observed_at=now,
            migration_uri=str(checked.migration_uri or ""),
            dst=save_path or checked.peer_uri,
            max_bandwidth_mibps=request.max_bandwidth_mibps or 0,
            max_downtime_ms=0,
        )
        return Job(plan, status)

    async def _start_call(
        self,
        job: Job,
        request: MigrateRequest,
        checked: ValidatedMigration,
        domain: DomainInfo,
    ) -> None:
        """Starts the blocking migrate (after asking the destination) or save on its thread."""
        if checked.mode is not MigrationMode.LIVE:
            self._run_call(job, self.driver.save, request.vm_id, job.plan.save_path)
            return
        try:
            await self._blocking(self.driver.check_peer, checked.peer_uri)
        except DriverError as e:
            raise refusal(
                e, f"destination {checked.peer_uri}", Reason.DESTINATION_UNREACHABLE
            ) from e
        options = request.options
        params = MigrationParams(
            peer_uri=checked.peer_uri,
            migration_uri=str(checked.migration_uri),
            bandwidth_mibps=request.max_bandwidth_mibps,
            encrypted=options.encrypted,
            tls_destination=checked.tls_destination,
            compressed=options.compressed,
            auto_converge=options.auto_converge,
            parallel_connections=options.parallel_connections,
            post_copy_allowed=options.post_copy_allowed,
            copy_disks=tuple(d.target for d in copied_disks(request, domain)),
            disks_uri=str(checked.disks_uri or ""),
        )
        await self.monitor.take_nic_baseline(job)  # the last moment before data moves
        self._run_call(job, self.driver.migrate, request.vm_id, params)

    async def _until_started(self, job: Job, domain: DomainInfo) -> None:
        """Waits up to START_TIMEOUT_S for the copy to begin; a call that failed before any
        data moved is the answer (a refusal), not a failed job."""
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await job.started.wait()
        except TimeoutError:
            log.warning(
                "migration %s has not started copying after %ss", job.migration_id, START_TIMEOUT_S
            )
        assert job.call is not None
        if job.call.done() and job.status.phase is not JobPhase.COMPLETED:
            await job.ended.wait()
            error = job.call.exception()
            if isinstance(error, DriverError) and not await self.monitor.data_moved(job):
                raise refusal(error, f"migration of {domain.name} did not start")

    async def cancel(self, migration_id: str) -> JobStatus:
        job = self._job(migration_id)
        bind_log_context(migration_id=migration_id, vm_id=job.plan.vm_id)  # this call's
        if job.status.phase is JobPhase.COMPLETED:
            raise FailedPrecondition(
                f"migration {migration_id} already completed", reason=Reason.JOB_FINISHED
            )
        if job.status.finished:
            return job.status
        if job.status.post_copy:
            raise FailedPrecondition(
                f"migration {migration_id} is in post-copy: the VM already runs on the "
                "destination and cannot be brought back",
                reason=Reason.JOB_IN_POST_COPY,
            )
        try:
            await self.monitor.abort(job, FailureKind.CANCELLED, "cancelled by a client")
        except DriverError as e:
            raise refusal(e, f"cancelling migration {migration_id}") from e
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                await job.ended.wait()
        except TimeoutError:
            log.warning(
                "migration %s has not ended %ss after abort", migration_id, CANCEL_TIMEOUT_S
            )
        return job.status

    async def change_params(self, change: BandwidthChange) -> JobStatus:
        if change.max_bandwidth_mibps <= 0 and change.max_downtime_ms <= 0:
            raise InvalidArgument(
                "give max_bandwidth_mibps > 0 (and/or max_downtime_ms > 0)",
                field="max_bandwidth_mibps",
            )
        if change.max_downtime_ms < 0:
            raise InvalidArgument(
                f"max_downtime is negative ({change.max_downtime_ms} ms)", field="max_downtime"
            )
        job = self._job(change.migration_id)
        if job.status.finished:
            raise FailedPrecondition(
                f"migration {change.migration_id} is {job.status.phase.value}, not running",
                reason=Reason.JOB_FINISHED,
            )
        status = job.status
        try:
            if change.max_bandwidth_mibps > 0:
                await self._blocking(
                    self.driver.set_max_speed, job.plan.vm_id, change.max_bandwidth_mibps
                )
                status = dataclasses.replace(status, max_bandwidth_mibps=change.max_bandwidth_mibps)
            if change.max_downtime_ms > 0:
                await self._blocking(
                    self.driver.set_max_downtime, job.plan.vm_id, change.max_downtime_ms
                )
                status = dataclasses.replace(status, max_downtime_ms=change.max_downtime_ms)
        except DriverError as e:
            raise refusal(e, f"changing migration {change.migration_id}") from e
        if not job.status.finished:
            job.status = dataclasses.replace(
                job.status,
                max_bandwidth_mibps=status.max_bandwidth_mibps,
                max_downtime_ms=status.max_downtime_ms,
            )
            self._publish(job)
        job.wake.set()
        return job.status

    async def status(self, migration_id: str) -> JobStatus:
        return self._job(migration_id).status

    async def list_jobs(self, include_finished: bool) -> list[JobStatus]:
        return [j.status for j in self.jobs.values() if include_finished or not j.status.finished]

    async def watch(self, migration_id: str) -> AsyncIterator[JobStatus]:
        if migration_id:
            current = [self._job(migration_id).status]
        else:
            current = [j.status for j in self._running()]
        async for status in self.feed.watch(migration_id, current):
            yield status

    async def restore(self, path: str) -> VmView:
        path = self.saves.saved_file(path)
        try:
            info: DomainInfo = await self._blocking(self.driver.restore, path)
        except DriverError as e:
            raise refusal(e, f"restoring {path}") from e
        return VmView(info)
