"""The NIC traffic a job reports for the proof of path: counters read at its start and since,
and the fake host's counters that stand in for the kernel's."""

from __future__ import annotations

import pytest

from miglane.agent.domain.job import (
    JobPlan,
    JobStatus,
    from_record,
    nic_traffic,
    plan_from_record,
    plan_to_record,
    to_record,
    with_nic_traffic,
)
from miglane.agent.domain.model import MigrationMode
from miglane.agent.fake_driver import FakeClock, FakeFabric
from miglane.agent.nics import tx_bytes_by_nic
from miglane.agent.testing import default_nics


@pytest.mark.parametrize(
    ("start", "now", "traffic"),
    [
        ({"mig0": 100, "eth0": 5}, {"mig0": 300, "eth0": 5}, (("eth0", 0), ("mig0", 200))),
        ({"mig0": 100}, {"mig0": 100, "eth1": 9}, (("mig0", 0),)),  # a NIC that appeared
        ({"mig0": 100, "gone": 4}, {"mig0": 150}, (("mig0", 50),)),  # one that went away
        ({"mig0": 100}, {"mig0": 7}, ()),  # recreated: its counter went back
    ],
)
def test_nic_traffic(start: dict[str, int], now: dict[str, int], traffic: tuple) -> None:
    assert nic_traffic(start, now) == traffic


def test_nothing_read_at_the_start_reports_nothing() -> None:
    status = JobStatus("m1", "vm", MigrationMode.LIVE)
    assert with_nic_traffic(status, {}, {"mig0": 5}) is status


def test_counters_survive_an_agent_restart_in_the_records() -> None:
    plan = JobPlan("m1", "vm", MigrationMode.LIVE, nic_tx_at_start=(("mig0", 10),))
    status = JobStatus("m1", "vm", MigrationMode.LIVE, nic_tx_bytes=(("mig0", 99),))
    assert plan_from_record(plan_to_record(plan)) == plan
    assert from_record(to_record(status)) == status


def test_the_agent_reads_its_own_namespace_counters() -> None:
    counters = tx_bytes_by_nic()
    assert "lo" in counters and all(sent >= 0 for sent in counters.values())


def test_fake_counters_grow_by_what_migrations_carry_out_of_the_nic() -> None:
    fabric = FakeFabric(FakeClock(1.0))
    host = fabric.add_host("h", nics=tuple(default_nics(0)))
    before = host.nic_tx_bytes()
    assert set(before) == {"eth0", "mig0"}
    fabric.sent["h", "mig0"] = 5_000_000.0
    after = host.nic_tx_bytes()
    assert after["mig0"] - before["mig0"] >= 5_000_000
    assert after["eth0"] - before["eth0"] < 5_000_000
