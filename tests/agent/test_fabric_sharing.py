"""Max-min fair sharing of links among migration flows, and the fake fabric that uses it."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest

from miglane.agent.domain.fabric import Flow, fair_rates
from miglane.agent.domain.model import MIB, Nic
from miglane.agent.driver import MigrationParams
from miglane.agent.fake_driver import EGRESS, INGRESS, FakeClock, FakeDriver, FakeFabric
from miglane.agent.testing import default_nics

LINK = 1000.0
OUT_A, OUT_B, IN_C, IN_D = "a-out", "b-out", "c-in", "d-in"
CAPACITIES = {OUT_A: LINK, OUT_B: LINK, IN_C: LINK, IN_D: LINK}


@pytest.mark.parametrize(
    ("flows", "expected"),
    [
        pytest.param({"f": Flow(400.0, (OUT_A, IN_C))}, {"f": 400.0}, id="one flow under its cap"),
        pytest.param({"f": Flow(5000.0, (OUT_A, IN_C))}, {"f": LINK}, id="one flow above the link"),
        pytest.param(
            {"f": Flow(5000.0, (OUT_A, IN_C)), "g": Flow(5000.0, (OUT_A, IN_D))},
            {"f": LINK / 2, "g": LINK / 2},
            id="two flows from one source split its egress",
        ),
        pytest.param(
            {"f": Flow(5000.0, (OUT_A, IN_C)), "g": Flow(5000.0, (OUT_B, IN_C))},
            {"f": LINK / 2, "g": LINK / 2},
            id="two sources into one destination split its ingress",
        ),
        pytest.param(
            {
                "f": Flow(100.0, (OUT_A, IN_C)),
                "g": Flow(5000.0, (OUT_A, IN_C)),
                "h": Flow(5000.0, (OUT_A, IN_D)),
            },
            {"f": 100.0, "g": (LINK - 100.0) / 2, "h": (LINK - 100.0) / 2},
            id="a capped flow leaves the rest to the others",
        ),
        pytest.param(
            {
                "f": Flow(5000.0, (OUT_A, IN_C)),
                "g": Flow(5000.0, (OUT_B, IN_C)),
                "h": Flow(5000.0, (OUT_B, IN_D)),
            },
            # f and g share C's ingress; h takes what g leaves of B's egress.
            {"f": LINK / 2, "g": LINK / 2, "h": LINK / 2},
            id="the most constrained end decides",
        ),
        pytest.param(
            {"f": Flow(300.0, ("unmeasured",))}, {"f": 300.0}, id="a link without capacity"
        ),
        pytest.param({"f": Flow(0.0, (OUT_A,))}, {"f": 0.0}, id="a flow capped at nothing"),
    ],
)
def test_fair_rates(flows: dict[str, Flow[str]], expected: dict[str, float]) -> None:
    rates = fair_rates(flows, CAPACITIES)
    assert rates == pytest.approx(expected)
    for link, capacity in CAPACITIES.items():
        carried = sum(rates[key] for key, flow in flows.items() if link in flow.links)
        assert carried <= capacity * (1 + 1e-9)


# -- the fake fabric -------------------------------------------------------------------------

SLOW_LINK_MBPS = 80  # 10 MB/s: the fake's migrations last simulated seconds
SPEED = 20.0


def _address(nic: Nic) -> str:
    return nic.addresses[0].split("/")[0]


def _fabric() -> tuple[FakeFabric, list[FakeDriver]]:
    fabric = FakeFabric(FakeClock(SPEED))
    drivers = []
    for i in range(3):
        nics = tuple(dataclasses.replace(n, speed_mbps=SLOW_LINK_MBPS) for n in default_nics(i))
        drivers.append(FakeDriver(fabric.add_host(f"h{i}", nics=nics)))
    return fabric, drivers


def _migrate(src: FakeDriver, vm: str, dst: FakeDriver, nic_name: str) -> threading.Thread:
    nic = next(n for n in dst.host.nics if n.name == nic_name)
    params = MigrationParams(dst.host.peer_uri, f"tcp://{_address(nic)}:49152", 1000)
    thread = threading.Thread(target=src.migrate, args=(vm, params), daemon=True)
    thread.start()
    return thread


def _wait(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _rate(driver: FakeDriver, vm: str) -> float:
    stats = driver.job_stats(vm)
    return stats.memory_bps if stats is not None else 0.0


def test_fake_migrations_share_the_source_link_and_take_it_back() -> None:
    fabric, (h0, h1, h2) = _fabric()
    capacity = SLOW_LINK_MBPS * 1_000_000 / 8
    big = h0.host.add_domain("big", memory_mib=64)
    small = h0.host.add_domain("small", memory_mib=8)
    first = _migrate(h0, big, h1, "mig0")
    second = _migrate(h0, small, h2, "mig0")
    assert _wait(lambda: len(h0.outgoing_jobs()) == 2)
    assert _rate(h0, big) == pytest.approx(capacity / 2, rel=0.01)
    assert _rate(h0, small) == pytest.approx(capacity / 2, rel=0.01)
    assert fabric.link_rates()[("h0", "mig0", EGRESS)] == pytest.approx(capacity)
    second.join(10)
    assert not second.is_alive()
    assert _wait(lambda: _rate(h0, big) == pytest.approx(capacity, rel=0.01))
    first.join(30)
    assert not first.is_alive()
    assert fabric.link_rates() == {}


def test_fake_migrations_over_different_networks_do_not_share() -> None:
    fabric, (h0, h1, h2) = _fabric()
    capacity = SLOW_LINK_MBPS * 1_000_000 / 8
    over_migration = h0.host.add_domain("a", memory_mib=32)
    over_management = h0.host.add_domain("b", memory_mib=32)
    threads = [_migrate(h0, over_migration, h1, "mig0"), _migrate(h0, over_management, h2, "eth0")]
    assert _wait(lambda: len(h0.outgoing_jobs()) == 2)
    assert _rate(h0, over_migration) == pytest.approx(capacity, rel=0.01)
    assert _rate(h0, over_management) == pytest.approx(capacity, rel=0.01)
    rates = fabric.link_rates()
    assert rates[("h0", "mig0", EGRESS)] == pytest.approx(capacity)
    assert rates[("h0", "eth0", EGRESS)] == pytest.approx(capacity)
    assert rates[("h2", "eth0", INGRESS)] == pytest.approx(capacity)
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


class _HeldClock(FakeClock):
    """Simulated time that moves only when the test moves it."""

    def __init__(self) -> None:
        super().__init__()
        self.value = 0.0

    def now(self) -> float:
        return self.value


def test_a_flow_ending_in_a_long_step_leaves_the_others_their_shared_rate_until_then() -> None:
    clock = _HeldClock()
    fabric = FakeFabric(clock)
    drivers = []
    for i in range(3):
        nics = tuple(dataclasses.replace(n, speed_mbps=SLOW_LINK_MBPS) for n in default_nics(i))
        drivers.append(FakeDriver(fabric.add_host(f"h{i}", nics=nics)))
    h0, h1, h2 = drivers
    capacity = SLOW_LINK_MBPS * 1_000_000 / 8
    small = h0.host.add_domain("small", memory_mib=8)
    big = h0.host.add_domain("big", memory_mib=64)
    # The one to end first is simulated first: the fabric must not give the other the whole
    # link back before the moment it ended.
    threads = [_migrate(h0, small, h1, "mig0")]
    assert _wait(lambda: len(h0.outgoing_jobs()) == 1)
    threads.append(_migrate(h0, big, h2, "mig0"))
    assert _wait(lambda: len(h0.outgoing_jobs()) == 2)
    clock.value = 1000.0  # one step far past both ends
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    small_s = h1.host.completed[small].elapsed_ms / 1000
    big_s = h2.host.completed[big].elapsed_ms / 1000
    assert small_s == pytest.approx(2 * 8 * MIB / capacity, rel=0.01)
    assert big_s == pytest.approx((64 + 8) * MIB / capacity, rel=0.01)
