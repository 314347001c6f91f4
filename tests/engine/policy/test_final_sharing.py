"""The throughput a migration gets on a shared link, and the predictions recorded for an
admission pass's STARTs (at the pass's final sharing) and for running migrations whose cap the
balancer changed."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from miglane.engine.domain.admission import AdmissionVerdict, admit_queued
from miglane.engine.domain.bandwidth import (
    LinkBudget,
    MigrationFlow,
    bandwidth_caps,
    link_capacity_shares,
)
from miglane.engine.domain.forecast import (
    forecast_rebalanced,
    queued_prediction,
    started_prediction,
)
from miglane.engine.domain.model import MIB, Help, MigrationPhase, MigrationPolicy
from miglane.engine.domain.prediction import (
    PAYLOAD_PER_LINK,
    SWITCH_OVER_S,
    THROUGHPUT_PER_CAP,
    expected_throughput_bps,
)

from .builders import MIG_ID, T0, host, migration, networks, vm

AUTO = MigrationPolicy()
HOSTS = [host(i) for i in range(1, 5)]
LINK = LinkBudget(47.68, "QoS 400 Mbit/s of migration network 'migration'")


@pytest.mark.parametrize(
    ("cap_mibps", "link_share_mibps", "expected_mibps"),
    [
        pytest.param(32, None, 32 * THROUGHPUT_PER_CAP, id="the link unknown: the cap's overshoot"),
        pytest.param(
            47, 47.68, 47.68 * PAYLOAD_PER_LINK, id="caps add up to the link: its payload part"
        ),
        pytest.param(20, 40.0, 20 * THROUGHPUT_PER_CAP, id="a roomy link: the cap bounds it"),
        pytest.param(0, 40.0, 40 * PAYLOAD_PER_LINK, id="no cap: it fills its share"),
        pytest.param(0, None, 0.0, id="no cap and no link known: nothing to go by"),
    ],
)
def test_throughput_is_the_smaller_of_the_cap_and_the_links_payload(
    cap_mibps: float, link_share_mibps: float | None, expected_mibps: float
) -> None:
    got = expected_throughput_bps(cap_mibps, link_share_mibps)
    assert got == pytest.approx(expected_mibps * MIB)


def _flow(ident: str, source: str, destination: str) -> MigrationFlow:
    return MigrationFlow(ident, source, destination, MIG_ID, LINK)


@pytest.mark.parametrize(
    ("flows", "caps", "expected"),
    [
        pytest.param([_flow("a", "h1", "h2")], {"a": 47}, {"a": 47.68}, id="alone: the link"),
        pytest.param(
            [_flow("a", "h1", "h2"), _flow("b", "h1", "h3")],
            {"a": 23, "b": 23},
            {"a": 23.84, "b": 23.84},
            id="two leaving one source: half each",
        ),
        pytest.param(
            [_flow("a", "h1", "h2"), _flow("b", "h1", "h3")],
            {"a": 30, "b": 10},
            {"a": 47.68 * 0.75, "b": 47.68 * 0.25},
            id="in proportion to the caps",
        ),
        pytest.param(
            [_flow("a", "h1", "h2"), _flow("b", "h1", "h3"), _flow("c", "h4", "h3")],
            {"a": 23, "b": 23, "c": 23},
            {"a": 23.84, "b": 23.84, "c": 23.84},
            id="the end sharing most counts",
        ),
        pytest.param([_flow("a", "h1", "h2")], {"a": 0}, {"a": 47.68}, id="no cap: the whole link"),
    ],
)
def test_link_capacity_shares(
    flows: list[MigrationFlow], caps: dict[str, int], expected: dict[str, float]
) -> None:
    capped = {
        ident: replace(bandwidth_caps(AUTO, flows)[ident], mibps=c) for ident, c in caps.items()
    }
    shares = link_capacity_shares(flows, capped)
    assert shares == pytest.approx(expected)


def test_the_first_start_of_a_pass_is_predicted_at_the_share_it_gets_with_the_next() -> None:
    """Two idle VMs leave h1 in one pass: the first was judged alone on the link, but what it
    records is its half of the link once the second starts too."""
    first, second = vm("first", memory_mib=4096), vm("second", memory_mib=4096)
    verdicts = admit_queued(
        [migration("a", first, to=2), migration("b", second, to=3, seconds=1)],
        [],
        HOSTS,
        {first.id: first, second.id: second},
        networks(),
        now=T0,
    )
    assert [a.verdict for a in verdicts] == [AdmissionVerdict.START] * 2
    a, b = (admission.prediction for admission in verdicts)
    assert a is not None and b is not None
    assert a == b
    flows = [
        _flow("a", "h1", "h2"),
        _flow("b", "h1", "h3"),
    ]
    flows = [replace(f, budget=HOSTS_BUDGET) for f in flows]
    caps = bandwidth_caps(AUTO, flows)
    shares = link_capacity_shares(flows, caps)
    assert a == started_prediction(first, AUTO, Help.NONE, caps["a"].mibps, shares["a"])
    alone = queued_prediction(first, AUTO, math.floor(HOSTS_BUDGET.mibps))
    assert a.duration_s > alone.duration_s


def test_a_single_start_keeps_the_whole_link() -> None:
    only = vm("only", memory_mib=4096)
    [admission] = admit_queued(
        [migration("a", only, to=2)], [], HOSTS, {only.id: only}, networks(), now=T0
    )
    cap = math.floor(HOSTS_BUDGET.mibps)
    assert admission.prediction == started_prediction(
        only, AUTO, Help.NONE, cap, HOSTS_BUDGET.mibps
    )


# The lab builders' hosts: 10 GbE migration links, no QoS.
HOSTS_BUDGET = LinkBudget(10_000 * 1_000_000 / 8 / MIB, "slower link")


def test_a_running_migration_is_refreshed_at_its_new_cap() -> None:
    running = replace(
        migration("r", vm("r"), to=2, phase=MigrationPhase.RUNNING),
        data_remaining_bytes=400 * MIB,
        throughput_bps=40 * MIB,
        max_bandwidth_mibps=40,
    )
    refreshed = forecast_rebalanced(running, 20, 20.0, T0)
    seconds = 400 * MIB / expected_throughput_bps(20, 20.0) + SWITCH_OVER_S
    assert refreshed.max_bandwidth_mibps == 40  # the caller sets the cap; this, the forecast
    assert refreshed.predicted_finish_at == T0 + timedelta(seconds=seconds)


def test_a_running_migration_without_a_sample_keeps_its_prediction() -> None:
    running = migration("r", vm("r"), to=2, phase=MigrationPhase.RUNNING)
    assert forecast_rebalanced(running, 20, 20.0, T0) == running
