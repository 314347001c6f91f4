"""Bandwidth caps: override, HYPERVISOR_DEFAULT, CUSTOM, and AUTO split by the migrations
sharing a link, recomputed as that number changes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from miglane.engine.domain.bandwidth import (
    UNKNOWN_LINK_MIBPS,
    BandwidthCap,
    LinkBudget,
    MigrationFlow,
    bandwidth_cap,
    bandwidth_caps,
    bandwidth_changes,
    check_running_cap,
    link_budget,
    link_shares,
    mbps_to_mibps,
)
from miglane.engine.domain.errors import InvalidArgument
from miglane.engine.domain.migration_path import choose_migration_uri
from miglane.engine.domain.model import (
    DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS,
    BandwidthMode,
    HostView,
    MigrationPolicy,
    Network,
)

from .builders import MANAGEMENT, MGMT_ID, MIG_ID, MIGRATION, host, networks

AUTO = MigrationPolicy(bandwidth_mode=BandwidthMode.AUTO)


def test_megabits_to_mebibytes() -> None:
    assert mbps_to_mibps(1000) == pytest.approx(119.209, abs=1e-3)
    assert mbps_to_mibps(8 * 1_048_576 / 1_000_000) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("source", "destination", "migration_network", "management_network", "mibps", "basis"),
    [
        pytest.param(
            host(1, mig_speed=10000),
            host(2, mig_speed=1000),
            MIGRATION,
            MANAGEMENT,
            119.209,
            "slower link on migration network 'migration': destination mig0 1000 Mbit/s",
            id="slower of the two migration links",
        ),
        pytest.param(
            host(1, mig_speed=1000),
            host(2, mig_speed=10000),
            MIGRATION,
            MANAGEMENT,
            119.209,
            "source mig0 1000 Mbit/s",
            id="the source can be the slower",
        ),
        pytest.param(
            host(1, mig_speed=0),
            host(2, mig_speed=2500),
            MIGRATION,
            MANAGEMENT,
            298.023,
            "destination mig0 2500 Mbit/s",
            id="an unknown speed is ignored",
        ),
        pytest.param(
            host(1, mig_speed=0),
            host(2, mig_speed=0),
            MIGRATION,
            MANAGEMENT,
            52.0,
            "no link speed known on migration network 'migration': default 52 MiB/s",
            id="no speed known: oVirt's 52 MiB/s",
        ),
        pytest.param(
            host(1, mig_speed=10000),
            host(2, mig_speed=10000),
            replace(MIGRATION, qos_mbps=2000),
            MANAGEMENT,
            238.419,
            "QoS 2000 Mbit/s of migration network 'migration'",
            id="the network's QoS wins over links",
        ),
    ],
)
def test_link_budget(
    source: HostView,
    destination: HostView,
    migration_network: Network,
    management_network: Network,
    mibps: float,
    basis: str,
) -> None:
    cluster_networks = networks(
        migration_network=migration_network, management_network=management_network
    )
    path = choose_migration_uri(cluster_networks, source, destination)
    budget = link_budget(path, cluster_networks)
    assert budget.mibps == pytest.approx(mibps, abs=1e-3)
    assert basis in budget.basis


DEFAULT_BUDGET_MIBPS = mbps_to_mibps(DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS)
NAMED_BUDGET = (
    f"the cluster's management migration budget {DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS} "
    "Mbit/s (management_migration_budget_mbit_per_second)"
)


@pytest.mark.parametrize(
    ("source", "destination", "management_network", "policy", "mibps", "basis"),
    [
        pytest.param(
            host(1, mig_link_up=False, mgmt_speed=10000),
            host(2, mgmt_speed=10000),
            MANAGEMENT,
            None,
            DEFAULT_BUDGET_MIBPS,
            f"{NAMED_BUDGET} on management network 'ovirtmgmt', which also carries control",
            id="fallback: the default budget, not the 10G link",
        ),
        pytest.param(
            host(1, mig_link_up=False, mgmt_speed=10000),
            host(2, mgmt_speed=10000),
            MANAGEMENT,
            MigrationPolicy(management_migration_budget_mbps=2000),
            mbps_to_mibps(2000),
            "the cluster's management migration budget 2000 Mbit/s",
            id="fallback: the cluster's budget",
        ),
        pytest.param(
            host(1, mig_link_up=False, mgmt_speed=1000),
            host(2, mgmt_speed=1000),
            MANAGEMENT,
            MigrationPolicy(management_migration_budget_mbps=5000),
            mbps_to_mibps(1000),
            "slower link on management network 'ovirtmgmt': source mgmt0 1000 Mbit/s, below "
            "the cluster's management migration budget 5000 Mbit/s",
            id="fallback: a budget above the link gets the link",
        ),
        pytest.param(
            host(1, mig_link_up=False),
            host(2),
            replace(MANAGEMENT, qos_mbps=40),
            None,
            mbps_to_mibps(40),
            f"QoS 40 Mbit/s of management network 'ovirtmgmt', below {NAMED_BUDGET}",
            id="fallback: a management QoS below the budget",
        ),
        pytest.param(
            host(1, mig_link_up=False, mgmt_speed=0),
            host(2, mgmt_speed=0),
            MANAGEMENT,
            MigrationPolicy(management_migration_budget_mbps=1000),
            UNKNOWN_LINK_MIBPS,
            f"default {UNKNOWN_LINK_MIBPS} MiB/s, below the cluster's management",
            id="fallback without speeds: oVirt's default when below the budget",
        ),
    ],
)
def test_fallback_gets_the_management_budget(
    source: HostView,
    destination: HostView,
    management_network: Network,
    policy: MigrationPolicy | None,
    mibps: float,
    basis: str,
) -> None:
    cluster_networks = networks(policy=policy, management_network=management_network)
    path = choose_migration_uri(cluster_networks, source, destination)
    assert path.fell_back
    budget = link_budget(path, cluster_networks)
    assert budget.mibps == pytest.approx(mibps, abs=1e-3)
    assert basis in budget.basis


def test_no_migration_network_budgets_management() -> None:
    cluster_networks = networks(migration=False)
    path = choose_migration_uri(cluster_networks, host(1), host(2, mgmt_speed=100))
    budget = link_budget(path, cluster_networks)
    assert "management network 'ovirtmgmt'" in budget.basis
    assert budget.mibps == pytest.approx(DEFAULT_BUDGET_MIBPS)


def _fallback_budget() -> LinkBudget:
    cluster_networks = networks()
    path = choose_migration_uri(
        cluster_networks, host(1, mig_link_up=False, mgmt_speed=10000), host(2, mgmt_speed=10000)
    )
    return link_budget(path, cluster_networks)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_fallbacks_on_one_management_link_share_the_budget(count: int) -> None:
    budget = _fallback_budget()
    flows = [MigrationFlow(f"m{i}", "h1", f"h{i + 2}", MGMT_ID, budget) for i in range(count)]
    caps = bandwidth_caps(AUTO, flows)
    assert sum(cap.mibps for cap in caps.values()) <= budget.mibps
    assert {cap.mibps for cap in caps.values()} == {math.floor(budget.mibps / count)}
    assert all(NAMED_BUDGET in cap.basis for cap in caps.values())


def test_only_fallbacks_count_against_the_management_budget() -> None:
    """h1 sends two migrations over the migration network and two falling back to
    management: the fallbacks share the management budget between them, the others the
    migration link."""
    budget = _fallback_budget()
    flows = [
        MigrationFlow("mig-a", "h1", "h2", MIG_ID, BUDGET),
        MigrationFlow("mig-b", "h1", "h3", MIG_ID, BUDGET),
        MigrationFlow("mgmt-a", "h1", "h4", MGMT_ID, budget),
        MigrationFlow("mgmt-b", "h1", "h5", MGMT_ID, budget),
    ]
    caps = {ident: cap.mibps for ident, cap in bandwidth_caps(AUTO, flows).items()}
    assert caps["mgmt-a"] + caps["mgmt-b"] <= budget.mibps
    assert caps["mgmt-a"] == caps["mgmt-b"] == math.floor(budget.mibps / 2)
    assert caps["mig-a"] == caps["mig-b"] == math.floor(BUDGET.mibps / 2)


BUDGET = LinkBudget(119.209, "slower link on migration network 'migration': mig0 1000 Mbit/s")


@pytest.mark.parametrize(
    ("policy", "sharing", "override", "mibps", "basis"),
    [
        pytest.param(AUTO, 1, None, 119, "119 MiB/s: slower link", id="auto alone"),
        pytest.param(AUTO, 2, None, 59, "shared by 2 migrations", id="auto shared by 2"),
        pytest.param(AUTO, 3, None, 39, "shared by 3 migrations", id="auto shared by 3"),
        pytest.param(AUTO, 500, None, 1, "1 MiB/s", id="never 0, which means no cap"),
        pytest.param(AUTO, 0, None, 119, "119 MiB/s", id="sharing 0 counts as alone"),
        pytest.param(
            MigrationPolicy(bandwidth_mode=BandwidthMode.UNSPECIFIED),
            1,
            None,
            119,
            "slower link",
            id="unspecified is auto",
        ),
        pytest.param(
            MigrationPolicy(bandwidth_mode=BandwidthMode.HYPERVISOR_DEFAULT),
            3,
            None,
            0,
            "no cap: the cluster leaves bandwidth to the hypervisor",
            id="hypervisor default",
        ),
        pytest.param(
            MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=80),
            3,
            None,
            80,
            "80 MiB/s: the cluster's custom cap",
            id="custom, not shared",
        ),
        pytest.param(AUTO, 2, 500, 500, "500 MiB/s: set on the migration", id="override wins"),
        pytest.param(
            MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=80),
            1,
            0,
            0,
            "no cap: set on the migration",
            id="override 0: no cap",
        ),
    ],
)
def test_bandwidth_cap(
    policy: MigrationPolicy, sharing: int, override: int | None, mibps: int, basis: str
) -> None:
    cap = bandwidth_cap(policy, BUDGET, sharing, override)
    assert cap.mibps == mibps
    assert basis in cap.basis


def flow(
    ident: str,
    src: str,
    dst: str,
    *,
    network: str = "net-mig",
    current_mibps: int | None = None,
    override_mibps: int | None = None,
) -> MigrationFlow:
    return MigrationFlow(ident, src, dst, network, BUDGET, override_mibps, current_mibps)


def test_sharing_counts_the_busier_end() -> None:
    flows = [
        flow("a", "h1", "h2"),
        flow("b", "h1", "h3"),
        flow("c", "h1", "h4"),
        flow("d", "h5", "h4"),
        flow("e", "h6", "h7"),
        flow("f", "h1", "h8", network="net-mgmt"),  # another link of h1
    ]
    shares = link_shares(flows)
    counts = {ident: share.sharing for ident, share in shares.items()}
    assert counts == {"a": 3, "b": 3, "c": 3, "d": 2, "e": 1, "f": 1}


def test_caps_follow_the_number_sharing_the_link() -> None:
    """A migration starts alone, a second joins, the first ends: the caps are re-sent as the
    share changes, and only when it changes."""
    first = [flow("a", "h1", "h2")]
    assert [(c.migration_id, c.cap.mibps) for c in bandwidth_changes(AUTO, first)] == [("a", 119)]

    both = [flow("a", "h1", "h2", current_mibps=119), flow("b", "h1", "h3")]
    assert {(c.migration_id, c.cap.mibps) for c in bandwidth_changes(AUTO, both)} == {
        ("a", 59),
        ("b", 59),
    }

    steady = [flow("a", "h1", "h2", current_mibps=59), flow("b", "h1", "h3", current_mibps=59)]
    assert bandwidth_changes(AUTO, steady) == []

    alone = [flow("b", "h1", "h3", current_mibps=59)]
    assert [(c.migration_id, c.cap.mibps) for c in bandwidth_changes(AUTO, alone)] == [("b", 119)]


def test_override_and_fixed_modes_are_not_rebalanced() -> None:
    flows = [
        flow("a", "h1", "h2", current_mibps=500, override_mibps=500),
        flow("b", "h1", "h3"),
    ]
    changes = {c.migration_id: c.cap for c in bandwidth_changes(AUTO, flows)}
    # The override still shares the link: b gets half, a keeps its own number.
    assert changes == {"b": BandwidthCap(59, changes["b"].basis)}
    custom = MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=80)
    assert (
        bandwidth_changes(
            custom,
            [flow("a", "h1", "h2", current_mibps=80), flow("b", "h1", "h3", current_mibps=80)],
        )
        == []
    )


@pytest.mark.parametrize("mibps", [0, -1])
def test_a_running_cap_cannot_be_removed(mibps: int) -> None:
    with pytest.raises(InvalidArgument, match="can be changed, not removed"):
        check_running_cap(mibps)


def test_a_running_cap_can_be_changed() -> None:
    check_running_cap(1)


HALF_FOR_DISKS = MigrationPolicy(local_disk_bandwidth_percent=50)


@pytest.mark.parametrize(
    ("policy", "sharing", "override", "copies_disks", "mibps", "basis"),
    [
        pytest.param(HALF_FOR_DISKS, 1, None, False, 119, "slower link", id="no disk copy"),
        pytest.param(
            HALF_FOR_DISKS,
            1,
            None,
            True,
            59,
            "59 MiB/s: 50% for a local-disk copy (the cluster's local_disk_bandwidth_percent) "
            "of 119 MiB/s: slower link",
            id="auto, half for a disk copy",
        ),
        pytest.param(
            HALF_FOR_DISKS, 2, None, True, 29, "shared by 2 migrations", id="auto shared, half"
        ),
        pytest.param(AUTO, 1, None, True, 119, "119 MiB/s: slower link", id="default 100%"),
        pytest.param(
            replace(HALF_FOR_DISKS, bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=80),
            1,
            None,
            True,
            40,
            "of 80 MiB/s: the cluster's custom cap",
            id="custom, half",
        ),
        pytest.param(
            replace(HALF_FOR_DISKS, bandwidth_mode=BandwidthMode.HYPERVISOR_DEFAULT),
            1,
            None,
            True,
            0,
            "no cap: the cluster leaves bandwidth to the hypervisor",
            id="no cap has no share",
        ),
        pytest.param(
            HALF_FOR_DISKS, 1, 300, True, 300, "300 MiB/s: set on the migration", id="override"
        ),
        pytest.param(
            MigrationPolicy(local_disk_bandwidth_percent=1),
            500,
            None,
            True,
            1,
            "1 MiB/s: 1%",
            id="never 0, which means no cap",
        ),
    ],
)
def test_a_local_disk_copy_gets_the_policys_share(
    policy: MigrationPolicy,
    sharing: int,
    override: int | None,
    copies_disks: bool,
    mibps: int,
    basis: str,
) -> None:
    cap = bandwidth_cap(policy, BUDGET, sharing, override, copies_disks=copies_disks)
    assert cap.mibps == mibps
    assert basis in cap.basis


def test_the_disk_share_follows_the_flows() -> None:
    flows = [replace(flow("a", "h1", "h2"), copies_disks=True), flow("b", "h1", "h3")]
    caps = {c.migration_id: c.cap.mibps for c in bandwidth_changes(HALF_FOR_DISKS, flows)}
    assert caps == {"a": 29, "b": 59}
