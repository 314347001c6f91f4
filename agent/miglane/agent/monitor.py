"""The monitor of one migration job: polls the hypervisor's job statistics at a fixed interval
(and at once on iteration events), turns them into the job's status, applies the convergence
schedule and the timeouts, and writes the final figures when the job ends.

The decisions are the pure functions of `domain.convergence`; this module only applies them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from miglane.agent.domain import convergence
from miglane.agent.domain.job import (
    JobStatus,
    NicCounters,
    apply_sample,
    complete,
    fail,
    with_nic_traffic,
)
from miglane.agent.domain.model import (
    ConvergenceAction,
    FailureKind,
    JobStats,
    MigrationMode,
    VmState,
)
from miglane.agent.driver import DriverError, DriverErrorKind, HypervisorDriver
from miglane.agent.jobs import Job
from miglane.daemon import bind_log_context

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_POLL_INTERVAL_S = 0.5
# Until the copy has started, poll faster: Migrate answers once the job is under way.
STARTUP_POLL_INTERVAL_S = 0.05

RunBlocking = Callable[..., Awaitable[Any]]

FAILURE_OF_DRIVER_ERROR = {
    DriverErrorKind.CANCELLED: FailureKind.CANCELLED,
    DriverErrorKind.DESTINATION: FailureKind.DESTINATION,
    DriverErrorKind.NETWORK: FailureKind.NETWORK,
}


class JobMonitor:
    def __init__(
        self,
        driver: HypervisorDriver,
        run_blocking: RunBlocking,
        publish: Callable[[Job], None],
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
        nic_counters: Callable[[], NicCounters] | None = None,
        wall_clock: Callable[[], float] = time.time,
        timeout_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.driver = driver
        self.run_blocking = run_blocking
        self.publish = publish
        self.poll_interval = poll_interval
        self.wall_clock = wall_clock
        # What the no-progress and completion timeouts count in: the monotonic clock, or a
        # simulated one (the fake fabric's, sped up) so that timeouts scale with the simulation.
        self.timeout_clock = timeout_clock
        # The host's NIC byte counters, for the proof of path; None: not measured.
        self.nic_counters = nic_counters

    def _update(self, job: Job, status: JobStatus) -> None:
        job.status = status
        self.publish(job)

    async def read_nic_counters(self) -> NicCounters:
        """The host's NIC byte counters now; empty when they cannot be read (not measured)."""
        if self.nic_counters is None:
            return {}
        try:
            counters: NicCounters = await self.run_blocking(self.nic_counters)
        except OSError as e:
            log.warning("NIC byte counters unreadable: %s", e)
            return {}
        return counters

    async def take_nic_baseline(self, job: Job) -> None:
        """Reads the NIC counters a live job's traffic is measured from, before data moves."""
        counters = await self.read_nic_counters()
        job.plan = dataclasses.replace(job.plan, nic_tx_at_start=tuple(counters.items()))

    async def _with_traffic(
        self, job: Job, next_status: Callable[[JobStatus], JobStatus]
    ) -> JobStatus:
        """`next_status(job.status)` with the NICs' traffic since the job started (when that
        was read). The status is taken once the counters are read: a cap changed meanwhile
        (`change_params`) stands, not the one before."""
        start = dict(job.plan.nic_tx_at_start)
        counters = await self.read_nic_counters() if start else None
        status = next_status(job.status)
        return status if counters is None else with_nic_traffic(status, start, counters)

    async def run(self, job: Job) -> None:
        """Watches `job` until it ends, then records its outcome."""
        bind_log_context(migration_id=job.migration_id, vm_id=job.plan.vm_id)  # its own task
        job.started_mono = self.timeout_clock()
        try:
            while not self._call_done(job):
                running = await self._sample(job)
                if self._call_done(job) or (job.call is None and not running):
                    break  # ended; a job taken up after a restart ends when libvirt's does
                interval = self.poll_interval if job.started.is_set() else STARTUP_POLL_INTERVAL_S
                try:
                    async with asyncio.timeout(interval):
                        await job.wake.wait()
                except TimeoutError:
                    pass
                job.wake.clear()
            await self._finish(job)
            log.info("migration %s ended: %s", job.migration_id, job.status.phase.value)
        except Exception:  # not CancelledError: a stopping agent leaves the job to the next one
            log.exception("monitor of migration %s failed", job.migration_id)
            self._update(
                job, fail(job.status, FailureKind.OTHER, "agent monitor failed", self.wall_clock())
            )
        finally:
            job.started.set()
            job.ended.set()

    async def data_moved(self, job: Job) -> bool:
        """Whether the failed job had sent data: a job can fail between two samples of a
        starved monitor, so the hypervisor's figures of the ended job decide when no sample
        showed any."""
        if job.status.data_processed > 0:
            return True
        try:
            final = await self.run_blocking(self.driver.completed_job_stats, job.plan.vm_id)
        except DriverError:
            return False
        return final is not None and final.data_processed > 0

    @staticmethod
    def _call_done(job: Job) -> bool:
        return job.call is not None and job.call.done()

    async def _sample(self, job: Job) -> bool:
        """Takes one sample; False when the hypervisor runs no job for the VM."""
        try:
            stats: JobStats | None = await self.run_blocking(self.driver.job_stats, job.plan.vm_id)
        except DriverError as e:
            if e.kind is not DriverErrorKind.NO_DOMAIN:
                log.warning("job stats of %s: %s", job.migration_id, e)
            stats = None
        if stats is None:
            return False
        if not job.started.is_set() and stats.data_total > 0:
            job.started.set()
            await self._on_start(job)
        now = self.wall_clock()
        self._update(
            job,
            await self._with_traffic(
                job, lambda status: apply_sample(status, stats, now, job.plan.memory_bytes)
            ),
        )
        if job.plan.mode is MigrationMode.LIVE and job.abort_reason is None:
            await self._converge(job, stats)
        return True

    async def _on_start(self, job: Job) -> None:
        downtime = job.plan.schedule.initial_downtime_ms
        if downtime and job.plan.mode is MigrationMode.LIVE:
            await self._act(job, self.driver.set_max_downtime, job.plan.vm_id, downtime)
            self._update(job, dataclasses.replace(job.status, max_downtime_ms=downtime))

    async def _converge(self, job: Job, stats: JobStats) -> None:
        now = self.timeout_clock()
        job.watermark = convergence.observe_remaining(job.watermark, stats.data_remaining, now)
        job.stall = convergence.observe_iteration(job.stall, stats.iteration, stats.data_remaining)
        step, job.schedule = convergence.next_convergence_step(
            job.plan.schedule, job.schedule, job.stall, job.plan.post_copy_allowed
        )
        if step is not None:
            log.info(
                "migration %s stalled for %d iterations: %s",
                job.migration_id,
                job.stall.stalled_iterations,
                step.action.value,
            )
            if step.action is ConvergenceAction.SET_DOWNTIME:
                if await self._act(
                    job, self.driver.set_max_downtime, job.plan.vm_id, step.downtime_ms
                ):
                    self._update(
                        job, dataclasses.replace(job.status, max_downtime_ms=step.downtime_ms)
                    )
            elif step.action is ConvergenceAction.POST_COPY:
                if await self._act(job, self.driver.start_post_copy, job.plan.vm_id):
                    self._update(job, dataclasses.replace(job.status, post_copy=True))
            else:
                await self.abort(
                    job,
                    FailureKind.NOT_CONVERGING,
                    f"convergence schedule aborted the migration after "
                    f"{job.stall.stalled_iterations} stalled iterations "
                    f"(remaining data not falling below "
                    f"{(job.stall.lowest_remaining or 0) // 2**20} MiB)",
                )
            return
        verdict = convergence.timeout_verdict(
            now=now,
            started_at=job.started_mono,
            watermark=job.watermark,
            # the disk copy counts against the completion timeout like memory
            memory_bytes=(job.plan.memory_bytes + job.plan.disk_bytes) or stats.data_total,
            timeouts=convergence.resolve_timeouts(job.plan.timeouts),
            post_copy=job.status.post_copy,
        )
        if verdict is convergence.TimeoutVerdict.NO_PROGRESS:
            await self.abort(
                job,
                FailureKind.NOT_CONVERGING,
                f"no progress for {int(now - job.watermark.at)} s (no-progress timeout)",
            )
        elif verdict is convergence.TimeoutVerdict.COMPLETION:
            await self.abort(
                job,
                FailureKind.NOT_CONVERGING,
                f"running for {int(now - job.started_mono)} s (completion timeout per GiB)",
            )

    async def _act(self, job: Job, fn: Callable[..., Any], *args: Any) -> bool:
        try:
            await self.run_blocking(fn, *args)
            return True
        except DriverError as e:
            log.warning("migration %s: %s failed: %s", job.migration_id, fn.__name__, e)
            return False

    async def abort(self, job: Job, kind: FailureKind, reason: str) -> None:
        """Asks the hypervisor to abort; the job ends (and is recorded) when it did."""
        if job.abort_reason is None:
            job.abort_reason = (kind, reason)
        log.info("aborting migration %s: %s", job.migration_id, reason)
        try:
            await self.run_blocking(self.driver.abort, job.plan.vm_id)
        except DriverError as e:
            if e.kind is not DriverErrorKind.NO_JOB:
                job.abort_reason = None
                raise
        job.wake.set()

    async def _finish(self, job: Job) -> None:
        now = self.wall_clock()
        error: BaseException | None = None
        if job.call is not None:
            error = job.call.exception()
        elif not await self._ended_well_unwatched(job):
            error = DriverError(
                DriverErrorKind.OTHER,
                "the job ended while the agent was not watching it and the VM is still here",
            )
        if error is None:
            final = None
            if job.plan.mode is MigrationMode.LIVE:
                try:
                    final = await self.run_blocking(
                        self.driver.completed_job_stats, job.plan.vm_id, job.plan.peer_uri
                    )
                except DriverError as e:
                    log.info("no completed-job figures for %s: %s", job.migration_id, e)
            self._update(job, await self._with_traffic(job, lambda s: complete(s, final, now)))
            return
        if job.abort_reason is not None:
            kind, message = job.abort_reason
        elif isinstance(error, DriverError):
            kind = FAILURE_OF_DRIVER_ERROR.get(error.kind, FailureKind.OTHER)
            message = error.message
        else:
            kind, message = FailureKind.OTHER, f"{type(error).__name__}: {error}"
        self._update(job, await self._with_traffic(job, lambda s: fail(s, kind, message, now)))

    async def _ended_well_unwatched(self, job: Job) -> bool:
        vm_id = job.plan.vm_id
        if job.plan.mode is MigrationMode.LIVE:
            return bool(await self.run_blocking(self.driver.arrived_at, vm_id, job.plan.peer_uri))
        try:
            info = await self.run_blocking(self.driver.domain, vm_id)
        except DriverError as e:
            return e.kind is DriverErrorKind.NO_DOMAIN  # a transient domain is gone once saved
        return info.state in (VmState.SAVED, VmState.SHUT_OFF)
