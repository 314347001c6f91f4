"""Measuring each running VM's memory dirty rate and working set in the background, on a stated
CPU budget.

A VM's turn is two page-sampling calculations back to back: SHORT_PERIOD_S (its dirty rate) and
LONG_PERIOD_S (whether the bytes it dirties keep growing with the period, or stop at a working
set it keeps rewriting: `domain.working_set`), then PAUSE_BETWEEN_VMS_S without any.
The budget: one calculation at a time, and at most CALC_STARTS_PER_S of them started (one per
5 s, as when a turn was a single 1 s calculation and a 4 s pause). A page-sampling calculation
costs its CPU at its start and end: it hashes 512 sampled pages per GiB of guest memory, sleeps
for its period, and hashes them again, so a longer period costs no more. A calculation is in
flight CALC_DUTY_CYCLE (50%) of the time, which costs nothing but the next one waiting. On the
lab (a 256 MiB TCG guest, 40-60 s windows, back to back; README, "The agent"): QEMU used
0.22-0.27% of a core without calculations, 0.35-0.52% with this schedule and 0.22-0.25% with
the former one (1 s, then 4 s of pause); 4 s calculations alone cost no more than 1 s ones
(0.28-0.30% against 0.25-0.37%: the spread is noise of ~0.1%); the agent 0.06-0.08% of a core.
A Migrate asks for a fresh value of a stale VM (`request`): it is measured next, still within
the budget, and the migration never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from miglane.agent.domain.model import DirtyRate, DomainInfo, VmState
from miglane.agent.domain.working_set import working_set_bytes
from miglane.agent.driver import DriverError, HypervisorDriver
from miglane.agent.jobs import Job

log = logging.getLogger(__name__)

# The dirty rate's period; the long one is 4x it, so a guest dirtying fresh memory shows 4x the
# bytes there and a bounded one about the same (`working_set.BOUNDED_FRACTION`). Libvirt's
# result is an integer MiB/s: a longer period would round a small working set away.
SHORT_PERIOD_S = 1
LONG_PERIOD_S = 4
PAUSE_BETWEEN_VMS_S = 5.0
TURN_S = SHORT_PERIOD_S + LONG_PERIOD_S + PAUSE_BETWEEN_VMS_S
CALC_STARTS_PER_S = 2 / TURN_S
CALC_DUTY_CYCLE = (SHORT_PERIOD_S + LONG_PERIOD_S) / TURN_S
# A value older than this is refreshed before a migration of its VM.
STALE_AFTER_S = 60.0
# How often the result is looked for once the calculation period is over, and for how long.
RESULT_POLL_S = 0.25
RESULT_WAIT_S = 5.0

Blocking = Callable[..., Awaitable[Any]]


class DirtyRateRefresher:
    """Keeps the latest dirty rate of every running VM of one host (`latest`)."""

    def __init__(
        self,
        driver: HypervisorDriver,
        blocking: Blocking,
        running_jobs: Callable[[], Iterable[Job]] = list,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        enabled: bool = True,
    ) -> None:
        self.driver = driver
        # Off before `start`: nothing is measured; `rates` stay as set (tests that need fixed
        # figures).
        self.enabled = enabled
        # VMs with a running job are skipped: libvirt would make the calculation wait for the
        # migration's job (up to 30 s), and the migration reports its own dirty rate.
        self._running_jobs = running_jobs
        self._task: asyncio.Task[None] | None = None
        self._blocking = blocking
        self._clock = clock
        self._sleep = sleep
        self.rates: dict[str, DirtyRate] = {}
        self._urgent: list[str] = []

    def latest(self, vm_id: str) -> DirtyRate | None:
        return self.rates.get(vm_id)

    def request(self, vm_id: str) -> None:
        """Measures `vm_id` next when its value is missing or stale; returns at once."""
        known = self.rates.get(vm_id)
        if known is not None and self._clock() - known.measured_at < STALE_AFTER_S:
            return
        if vm_id not in self._urgent:
            self._urgent.append(vm_id)

    def start(self) -> None:
        """Runs `run` in the background, when enabled."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="dirty-rates")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        """Measures one VM after the other until cancelled."""
        while True:
            vm_id = await self._next_vm()
            if vm_id is not None:
                await self.measure(vm_id)
            await self._sleep(PAUSE_BETWEEN_VMS_S)

    async def _next_vm(self) -> str | None:
        try:
            domains: list[DomainInfo] = await self._blocking(self.driver.list_domains)
        except DriverError as e:
            log.warning("listing domains for dirty rates: %s", e.message)
            return None
        running = {d.id for d in domains if d.state is VmState.RUNNING} - {
            job.plan.vm_id for job in self._running_jobs()
        }
        for gone in set(self.rates) - {d.id for d in domains}:
            del self.rates[gone]
        while self._urgent:
            vm_id = self._urgent.pop(0)
            if vm_id in running:
                return vm_id
        if not running:
            return None
        # The one measured longest ago (never measured first).
        return min(running, key=lambda v: (v in self.rates, self._age_key(v)))

    def _age_key(self, vm_id: str) -> float:
        known = self.rates.get(vm_id)
        return known.measured_at if known is not None else 0.0

    async def measure(self, vm_id: str) -> DirtyRate | None:
        """One turn of `vm_id`: its dirty rate over SHORT_PERIOD_S, then its working set with
        one over LONG_PERIOD_S; None when the hypervisor refused or gave no dirty rate (a long
        calculation that fails leaves the working set unknown, 0)."""
        short = await self._calculate(vm_id, SHORT_PERIOD_S)
        if short is None:
            return None
        long = await self._calculate(vm_id, LONG_PERIOD_S)
        working_set = (
            working_set_bytes(short, long, SHORT_PERIOD_S, LONG_PERIOD_S) if long is not None else 0
        )
        sample = DirtyRate(short, self._clock(), working_set)
        self.rates[vm_id] = sample
        return sample

    async def _calculate(self, vm_id: str, period_s: int) -> int | None:
        """One calculation of `period_s`: bytes per second, None when refused or no result."""
        try:
            await self._blocking(self.driver.start_dirty_rate_calc, vm_id, period_s)
            await self._sleep(period_s)
            waited = 0.0
            while True:
                rate: int | None = await self._blocking(self.driver.dirty_rate, vm_id)
                if rate is not None:
                    return rate
                if waited >= RESULT_WAIT_S:
                    return None
                await self._sleep(RESULT_POLL_S)
                waited += RESULT_POLL_S
        except DriverError as e:
            log.info("dirty rate of %s not measured: %s", vm_id, e.message)
            return None
