"""The background dirty-rate refresher: one calculation at a time, within its CPU budget."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from miglane.agent.dirty_rates import (
    CALC_DUTY_CYCLE,
    CALC_PERIOD_S,
    STALE_AFTER_S,
    DirtyRateRefresher,
)
from miglane.agent.domain.model import MIB, DomainInfo, VmState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Driver:
    """Records when each calculation started and finishes after its period."""

    def __init__(self, clock: Clock, rates: dict[str, int]) -> None:
        self.clock = clock
        self.rates = rates
        self.calcs: list[tuple[str, float, float]] = []

    def list_domains(self) -> list[DomainInfo]:
        return [DomainInfo(vm, vm, VmState.RUNNING, 64) for vm in self.rates]

    def start_dirty_rate_calc(self, vm_id: str, seconds: int) -> None:
        self.calcs.append((vm_id, self.clock.now, self.clock.now + seconds))

    def dirty_rate(self, vm_id: str) -> int | None:
        done = [c for c in self.calcs if c[0] == vm_id and c[2] <= self.clock.now]
        return self.rates[vm_id] if done else None


async def immediately(fn: Any, *args: Any) -> Any:
    return fn(*args)


def refresher(
    rates: dict[str, int], migrating: frozenset[str] = frozenset()
) -> tuple[DirtyRateRefresher, Driver, Clock]:
    clock = Clock()
    driver = Driver(clock, rates)
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
    # One calculation at a time, each CALC_PERIOD_S long.
    for (_, _, end), (_, next_start, _) in zip(driver.calcs, driver.calcs[1:], strict=False):
        assert next_start >= end
    # Over every whole cycle (a calculation and the pause after it), the share calculating.
    finished, last_start = driver.calcs[:-1], driver.calcs[-1][1]
    busy = sum(end - begin for _, begin, end in finished)
    assert busy == len(finished) * CALC_PERIOD_S
    assert busy / (last_start - start) <= CALC_DUTY_CYCLE
    # Round robin: every VM once before any twice.
    assert {c[0] for c in driver.calcs[: len(rates)]} == set(rates)


async def test_a_stale_vm_asked_for_is_measured_next() -> None:
    rates = {"a": MIB, "b": 2 * MIB, "c": 3 * MIB}
    r, driver, clock = refresher(rates)
    await run_until(r, driver, 3)
    clock.now += STALE_AFTER_S
    fresh_before = len(driver.calcs)
    r.request("c")
    r.request("c")
    await run_until(r, driver, fresh_before + 1)
    assert driver.calcs[fresh_before][0] == "c"


async def test_a_fresh_value_is_not_measured_again_on_request() -> None:
    r, driver, _ = refresher({"a": MIB, "b": MIB})
    await r.measure("b")
    await r.measure("a")
    r.request("a")  # fresh: "b", measured longer ago, stays next
    await run_until(r, driver, 3)
    assert driver.calcs[2][0] == "b"


async def test_a_migrating_vm_is_not_measured() -> None:
    r, driver, _ = refresher({"a": MIB, "b": MIB}, migrating=frozenset({"a"}))
    r.request("a")
    await run_until(r, driver, 3)
    assert {vm for vm, _, _ in driver.calcs} == {"b"}
