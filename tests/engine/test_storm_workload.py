"""The storm benchmark's helpers (`miglane.testing.storm`): its fixed-seed workload, the peers'
policies, the lower bound, the "could not converge" count and the fake's shared-link figures."""

from __future__ import annotations

import pytest

from miglane.engine.domain.model import MIB, BandwidthMode
from miglane.testing.storm import (
    DIRTY_MIBPS,
    KUBEVIRT_DEFAULT,
    KUBEVIRT_MAX_PER_CLUSTER,
    LINK_BPS,
    MEMORY_GIB,
    OVIRT_BANDWIDTH_MIBPS,
    OVIRT_DEFAULT,
    STORM_VMS,
    StartedMigration,
    StormOutcome,
    StormVm,
    could_not_converge,
    fake_shared_link_seconds,
    lower_bound_s,
    storm_workload,
)


def test_the_workload_is_the_same_every_run_and_within_its_bounds() -> None:
    vms = storm_workload()
    assert vms == storm_workload()
    assert vms != storm_workload(seed=12345)
    assert len(vms) == STORM_VMS
    assert len({vm.name for vm in vms}) == STORM_VMS
    assert all(MEMORY_GIB[0] * 1024 <= vm.memory_mib <= MEMORY_GIB[1] * 1024 for vm in vms)
    assert all(DIRTY_MIBPS[0] <= vm.dirty_mibps <= DIRTY_MIBPS[1] for vm in vms)
    # Spread over the ranges, not stuck at one end.
    assert len({vm.memory_mib for vm in vms}) > STORM_VMS // 3
    assert max(vm.dirty_mibps for vm in vms) > DIRTY_MIBPS[1] // 2


def test_the_lower_bound_is_the_memory_over_the_link_plus_what_hot_guests_dirty() -> None:
    idle = [StormVm("a", 1024, 0), StormVm("b", 2048, 0)]
    assert lower_bound_s(idle) == pytest.approx(3 * 1024 * MIB / LINK_BPS, rel=1e-6)
    hot = [StormVm("a", 1024, 300), StormVm("b", 2048, 0)]
    assert lower_bound_s(hot) > lower_bound_s(idle)


@pytest.mark.parametrize(
    ("dirty_mibps", "rate_mibps", "expected"),
    [
        pytest.param(0, OVIRT_BANDWIDTH_MIBPS, False, id="an idle guest converges at any rate"),
        pytest.param(100, OVIRT_BANDWIDTH_MIBPS, True, id="dirtier than its cap: never"),
        pytest.param(100, 596, False, id="the same guest at half a 10 GbE link"),
        pytest.param(300, 596, False, id="the hottest guest at half a 10 GbE link"),
    ],
)
def test_could_not_converge_is_the_models_verdict_at_the_rate_it_got(
    dirty_mibps: int, rate_mibps: int, expected: bool
) -> None:
    assert could_not_converge(StormVm("v", 8192, dirty_mibps), rate_mibps * MIB) is expected


def test_the_peers_policies_are_their_defaults() -> None:
    assert OVIRT_DEFAULT.bandwidth_mode is BandwidthMode.CUSTOM
    assert OVIRT_DEFAULT.custom_mibps == OVIRT_BANDWIDTH_MIBPS
    assert (OVIRT_DEFAULT.max_outgoing_per_host, OVIRT_DEFAULT.max_incoming_per_host) == (2, 2)
    assert KUBEVIRT_DEFAULT.bandwidth_mode is BandwidthMode.HYPERVISOR_DEFAULT
    assert KUBEVIRT_DEFAULT.max_outgoing_per_host == 2
    assert KUBEVIRT_DEFAULT.max_concurrent_per_cluster == KUBEVIRT_MAX_PER_CLUSTER


def test_an_outcome_counts_from_the_evacuations_start_and_judges_each_job() -> None:
    hot = StormVm("hot", 8192, 100)
    idle = StormVm("idle", 8192, 0)
    outcome = StormOutcome(
        began_s=10.0,
        jobs=(
            StartedMigration(hot, 10.0, 400.0, 52 * MIB, completed=False),
            StartedMigration(idle, 10.0, 170.0, 52 * MIB, completed=True),
            StartedMigration(hot, 400.0, 420.0, 596 * MIB, completed=True),
        ),
        left_on_source=0,
    )
    assert outcome.makespan_s == pytest.approx(410.0)
    assert [job.vm for job in outcome.not_converging] == [hot]
    assert outcome.fabric_agreement() == (3, 3)


def test_the_fake_gives_flows_sharing_a_link_their_fair_share() -> None:
    alone = fake_shared_link_seconds([64], 400)[0]
    shared = fake_shared_link_seconds([64, 64], 400)
    assert alone == pytest.approx(64 * MIB / (400e6 / 8), rel=0.02)
    assert shared == pytest.approx([2 * alone, 2 * alone], rel=0.05)
