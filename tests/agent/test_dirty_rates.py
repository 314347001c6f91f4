"""The background dirty-rate refresher: one calculation at a time, within its CPU budget."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from miglane.agent.dirty_rates import (
    CALC_DUTY_CYCLE,
    CALC_STARTS_PER_S,
    LONG_PERIOD_S,
    SHORT_PERIOD_S,
    DirtyRateRefresher,
)
from miglane.agent.domain.model import MIB, DomainInfo, VmState
from miglane.agent.domain.working_set import working_set_bytes
from miglane.agent.fake_driver import FakeClock, FakeDriver, FakeFabric


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Driver:
    """Records when each calculation started and finishes after its period; a VM with a
    working set in `sets` dirties at most that over a period."""

    def __init__(
        self, clock: Clock, rates: dict[str, int], sets: dict[str, int] | None = None
    ) -> None:
        self.clock = clock
        self.rates = rates
        self.sets = sets or {}
        self.calcs: list[tuple[str, float, float]] = []

    def list_domains(self) -> list[DomainInfo]:
        return [DomainInfo(vm, vm, VmState.RUNNING, 64) for vm in self.rates]

    def start_dirty_rate_calc(self, vm_id: str, seconds: int) -> None:
        self.calcs.append((vm_id, self.clock.now, self.clock.now + seconds))

    def dirty_rate(self, vm_id: str) -> int | None:
        done = [c for c in self.calcs if c[0] == vm_id and c[2] <= self.clock.now]
        if not done:
            return None
        period = done[-1][2] - done[-1][1]
        dirtied = min(self.rates[vm_id] * period, self.sets.get(vm_id, self.rates[vm_id] * period))
        return int(dirtied / period)


async def immediately(fn: Any, *args: Any) -> Any:
    return fn(*args)


def refresher(
    rates: dict[str, int],
    migrating: frozenset[str] = frozenset(),
    sets: dict[str, int] | None = None,
) -> tuple[DirtyRateRefresher, Driver, Clock]:
    clock = Clock()
    driver = Driver(clock, rates, sets)
    jobs = [SimpleNamespace(plan=SimpleNamespace(vm_id=vm)) for vm in migrating]
    r = DirtyRateRefresher(
        driver,  # type: ignore[arg-type]
        immediately,
        lambda: jobs,  # type: ignore[arg-type,return-value]
        clock=clock,
        sleep=clock.sleep,
    )
    return r, driver, clock


async def run_until(refresher: DirtyRateRefresher, driver: Driver, calcs: int) -> None:
    task = asyncio.create_task(refresher.run())
    while len(driver.calcs) < calcs:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_measures_every_vm_in_turn_within_the_budget() -> None:
    rates = {"a": 10 * MIB, "b": 0, "c": 300 * MIB}
    r, driver, clock = refresher(rates)
    start = clock.now
    await run_until(r, driver, 30)
    assert {vm: r.latest(vm).bytes_per_second for vm in rates} == rates  # type: ignore[union-attr]
    # One calculation at a time; each VM's turn a short one, then a long one.
    for (_, _, end), (_, next_start, _) in zip(driver.calcs, driver.calcs[1:], strict=False):
        assert next_start >= end
    periods = [end - begin for _, begin, end in driver.calcs]
    assert periods == [SHORT_PERIOD_S, LONG_PERIOD_S] * (len(periods) // 2)
    # Over every whole turn (its calculations and the pause after it): how many started, and
    # the share of the time one was in flight.
    whole_turns, next_turn = driver.calcs[:-2], driver.calcs[-2][1]
    busy = sum(end - begin for _, begin, end in whole_turns)
    assert len(whole_turns) / (next_turn - start) <= CALC_STARTS_PER_S
    assert busy / (next_turn - start) <= CALC_DUTY_CYCLE
    # Round robin: every VM's turn once before any twice.
    assert {c[0] for c in driver.calcs[: 2 * len(rates)]} == set(rates)


async def test_a_guest_rewriting_a_working_set_reports_it() -> None:
    rates = {"bounded": 40 * MIB, "unbounded": 40 * MIB, "idle": 0}
    sets = {"bounded": 16 * MIB}
    r, driver, _ = refresher(rates, sets=sets)
    await run_until(r, driver, 2 * len(rates) + 1)
    working_sets = {vm: r.latest(vm).working_set_bytes for vm in rates}  # type: ignore[union-attr]
    assert working_sets == {"bounded": 16 * MIB, "unbounded": 0, "idle": 0}
    # The dirty rate is the short period's: what the guest dirtied in it, per second.
    assert r.latest("bounded").bytes_per_second == 16 * MIB // SHORT_PERIOD_S  # type: ignore[union-attr]


async def test_a_failed_long_calculation_keeps_the_rate() -> None:
    r, driver, _ = refresher({"a": 5 * MIB})
    real = driver.dirty_rate

    def only_the_short_period(vm_id: str) -> int | None:
        _, begin, end = driver.calcs[-1]
        return real(vm_id) if end - begin == SHORT_PERIOD_S else None

    driver.dirty_rate = only_the_short_period  # type: ignore[method-assign]
    sample = await r.measure("a")
    assert sample is not None
    assert (sample.bytes_per_second, sample.working_set_bytes) == (5 * MIB, 0)


@pytest.mark.parametrize(
    ("short_mibps", "long_mibps", "expected_mib"),
    [
        # Nothing dirtied in the short period: no working set to tell.
        (0, 0, 0),
        (0, 1, 0),
        # Fresh memory all the time: 4x the bytes over 4x the period.
        (40, 40, 0),
        # Still clearly growing with the period (a set the guest covers in 2-3 s): not bounded.
        (20, 10, 0),
        # The same bytes over 1 s and 4 s: bounded, about them.
        (16, 4, 16),
        (52, 16, 64),  # the lab's 64 MiB set: fewer of its sampled pages hit in the short one
        # The lab's small sets: a few sampled pages; libvirt's integer MiB/s rounds the long
        # period's down, so the short one's bytes are the floor of the estimate.
        (8, 1, 8),
        (6, 0, 6),
        (2, 1, 0),  # 4 MiB over 4 s is not clearly less than 2 MiB/s x 4 s
        # Just under and at the bound (BOUNDED_FRACTION of 4x): 7 MiB < 8 MiB, 8 MiB is not.
        (4, 1.75, 7),
        (4, 2, 0),
    ],
)
def test_working_set_estimate(short_mibps: float, long_mibps: float, expected_mib: int) -> None:
    estimate = working_set_bytes(
        int(short_mibps * MIB), int(long_mibps * MIB), SHORT_PERIOD_S, LONG_PERIOD_S
    )
    assert estimate == expected_mib * MIB


def test_no_working_set_without_a_longer_period() -> None:
    assert working_set_bytes(8 * MIB, 8 * MIB, 4, 4) == 0


async def test_the_fake_driver_measures_a_working_set_like_libvirt() -> None:
    clock = FakeClock(1000)
    host = FakeFabric(clock).add_host("h1")
    rewriting = host.add_domain("rewriting", memory_mib=256, dirty_rate_mibps=64, dirty_set_mib=4)
    wide = host.add_domain("wide", memory_mib=256, dirty_rate_mibps=16)
    r = DirtyRateRefresher(
        FakeDriver(host),
        immediately,
        clock=clock.now,
        sleep=lambda seconds: asyncio.sleep(clock.real_seconds(seconds)),
    )
    measured = {vm: await r.measure(vm) for vm in (rewriting, wide)}
    # 4 MiB in either period: its rate is what the short one saw, its set those 4 MiB.
    assert measured[rewriting] is not None and measured[wide] is not None
    assert measured[rewriting].bytes_per_second == 4 * MIB // SHORT_PERIOD_S
    assert measured[rewriting].working_set_bytes == 4 * MIB
    # Fresh memory over both periods (its set is all of it): no bound.
    assert measured[wide].bytes_per_second == 16 * MIB
    assert measured[wide].working_set_bytes == 0
