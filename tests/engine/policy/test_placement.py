"""The scheduler: filters with host-by-host reasons, weights, manual rules, outcomes."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from miglane.engine.domain.migration_path import ClusterNetworks
from miglane.engine.domain.model import (
    FallbackReason,
    HostStatus,
    HostView,
    MigrationPhase,
    MigrationPolicy,
)
from miglane.engine.domain.placement import (
    HostLoad,
    PlacementOutcome,
    RejectionKind,
    assess_destinations,
    choose_destination,
    describe_rejections,
    host_loads,
    manual_destination_rejections,
)

from .builders import (
    T0,
    host,
    mgmt,
    mig,
    migration,
    networks,
    random_host,
    vm,
    without_migration,
)

K = RejectionKind
SOURCE = host(1)
VM = vm("web1", on=1, memory_mib=4096)


def rejections_of(
    candidate: HostView,
    cluster_networks: ClusterNetworks | None = None,
    **kwargs: Any,
) -> list[tuple[RejectionKind, str]]:
    hosts = [candidate] if candidate is SOURCE else [SOURCE, candidate]
    [assessment] = [
        a
        for a in assess_destinations(VM, SOURCE, hosts, cluster_networks or networks(), **kwargs)
        if a.host.host.id == candidate.host.id
    ]
    return [(r.kind, r.message) for r in assessment.rejections]


@pytest.mark.parametrize(
    ("candidate", "kwargs", "kind", "phrase"),
    [
        pytest.param(SOURCE, {}, K.SOURCE, "the VM runs there already", id="source"),
        pytest.param(
            host(2, cluster_id="c2"), {}, K.OTHER_CLUSTER, "in another cluster (c2)", id="cluster"
        ),
        *[
            pytest.param(
                host(2, status=status, status_reason="why"),
                {},
                K.NOT_UP,
                f"status {status.label} (why)",
                id=f"status {status.label}",
            )
            for status in HostStatus
            if status is not HostStatus.UP
        ],
        pytest.param(
            host(2, free_mib=4095),
            {},
            K.NOT_ENOUGH_MEMORY,
            "4095 MiB free, the VM needs 4096 MiB",
            id="memory",
        ),
        pytest.param(
            host(2, free_mib=8192),
            {"loads": {"h2": HostLoad(1, 6144)}},
            K.NOT_ENOUGH_MEMORY,
            "2048 MiB free (6144 MiB of 8192 promised to incoming migrations), the VM needs 4096",
            id="memory promised to incoming migrations",
        ),
        pytest.param(
            without_migration(host(2)),
            {},
            K.MIGRATION_NETWORK,
            "destination host 'host2' has no NIC on migration network 'migration'",
            id="migration network missing",
        ),
        pytest.param(
            host(2, mig_link_up=False),
            {},
            K.MIGRATION_NETWORK,
            "mig0 (10.0.2.2) on migration network 'migration' (10.0.2.0/24) has its link down",
            id="migration link down",
        ),
        pytest.param(
            host(2, attachments=(mgmt(2), mig(2, address="fe80::2"))),
            {},
            K.MIGRATION_NETWORK,
            "no usable address",
            id="migration network without address",
        ),
        pytest.param(
            host(2, incoming=2),
            {},
            K.INCOMING_LIMIT,
            "2 of 2 incoming migrations (max_incoming_per_host)",
            id="incoming limit from the host view",
        ),
        pytest.param(
            host(2),
            {"loads": {"h2": HostLoad(incoming=2)}},
            K.INCOMING_LIMIT,
            "2 of 2 incoming migrations",
            id="incoming limit from loads",
        ),
        pytest.param(
            host(2),
            {"now": T0, "busy_until": {"h2": T0 + timedelta(seconds=5)}},
            K.DESTINATION_BUSY,
            "its agent answered busy; skipped until 2026-01-01T12:00:05+00:00",
            id="busy",
        ),
        pytest.param(
            host(2),
            {"excluded_host_ids": ("h2",)},
            K.ALREADY_TRIED,
            "tried before for this VM",
            id="tried before",
        ),
    ],
)
def test_each_filter_rejects_with_a_reason(
    candidate: HostView, kwargs: dict[str, Any], kind: RejectionKind, phrase: str
) -> None:
    found = rejections_of(candidate, **kwargs)
    assert [k for k, _ in found] == [kind]
    assert phrase in found[0][1]


@pytest.mark.parametrize(
    ("candidate", "cluster_networks", "kwargs"),
    [
        pytest.param(host(2), networks(), {}, id="healthy"),
        pytest.param(host(2, free_mib=4096), networks(), {}, id="exactly enough memory"),
        pytest.param(host(2, incoming=1), networks(), {}, id="one incoming of two"),
        pytest.param(
            without_migration(host(2)), networks(migration=False), {}, id="no migration network"
        ),
        pytest.param(
            host(2, mig_link_up=False), networks(version="3.2"), {}, id="legacy cluster ignores it"
        ),
        pytest.param(
            host(2),
            networks(),
            {"now": T0, "busy_until": {"h2": T0}},
            id="busy until now: retry time reached",
        ),
        pytest.param(
            host(2, incoming=3),
            networks(policy=MigrationPolicy(max_incoming_per_host=4)),
            {},
            id="policy raises the incoming limit",
        ),
    ],
)
def test_suitable(
    candidate: HostView, cluster_networks: ClusterNetworks, kwargs: dict[str, Any]
) -> None:
    assert rejections_of(candidate, cluster_networks, **kwargs) == []


def test_rejections_accumulate() -> None:
    found = rejections_of(host(2, status=HostStatus.UNREACHABLE, free_mib=0, incoming=2))
    assert [k for k, _ in found] == [K.NOT_UP, K.NOT_ENOUGH_MEMORY, K.INCOMING_LIMIT]


def test_transient_kinds() -> None:
    assert {k for k in RejectionKind if k.transient} == {K.INCOMING_LIMIT, K.DESTINATION_BUSY}


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("hosts", "cluster_networks", "winner"),
    [
        pytest.param(
            [host(2, mig_speed=1000, incoming=0), host(3, mig_speed=10000, incoming=1)],
            networks(),
            "host3",
            id="fastest migration link first",
        ),
        pytest.param(
            [host(2, incoming=1), host(3, incoming=0)],
            networks(),
            "host3",
            id="then fewest incoming",
        ),
        pytest.param(
            [host(2, free_mib=8192), host(3, free_mib=65536)],
            networks(),
            "host3",
            id="then most free memory",
        ),
        pytest.param([host(3), host(2)], networks(), "host2", id="then name"),
        pytest.param(
            [host(2, mgmt_speed=100, mig_speed=25000), host(3, mgmt_speed=1000, mig_speed=1)],
            networks(migration=False),
            "host3",
            id="the management link when there is no migration network",
        ),
        pytest.param(
            [host(2, mgmt_speed=100, mig_speed=25000), host(3, mgmt_speed=1000, mig_speed=1)],
            networks(version="3.2"),
            "host3",
            id="the management link in a legacy cluster",
        ),
    ],
)
def test_weights(hosts: list[HostView], cluster_networks: ClusterNetworks, winner: str) -> None:
    decision = choose_destination(VM, SOURCE, [SOURCE, *hosts], cluster_networks)
    assert decision.outcome is PlacementOutcome.PLACED
    assert decision.destination is not None and decision.destination.host.name == winner


def test_score_is_between_0_and_100_and_shown_for_every_host() -> None:
    assessments = assess_destinations(
        VM, SOURCE, [SOURCE, host(2), host(3, mig_speed=1000), host(4, incoming=1)], networks()
    )
    assert [a.host.host.name for a in assessments] == ["host2", "host4", "host3", "host1"]
    assert assessments[0].score == 100.0
    assert all(0 <= a.score <= 100 for a in assessments)


# ---------------------------------------------------------------- outcomes


def test_placed_with_path_over_the_migration_network() -> None:
    decision = choose_destination(VM, SOURCE, [SOURCE, host(2)], networks())
    assert decision.outcome is PlacementOutcome.PLACED
    assert decision.path is not None
    assert decision.path.migration_uri == "tcp://10.0.2.2"
    assert decision.path.fallback_reason is FallbackReason.NONE


def test_scheduler_skips_a_destination_whose_migration_link_is_down() -> None:
    decision = choose_destination(
        VM, SOURCE, [SOURCE, host(2, mig_link_up=False, free_mib=10**6), host(3)], networks()
    )
    assert decision.destination is not None and decision.destination.host.name == "host3"


def test_source_without_migration_network_places_and_falls_back() -> None:
    source = without_migration(SOURCE)
    decision = choose_destination(VM, source, [source, host(2)], networks())
    assert decision.outcome is PlacementOutcome.PLACED
    assert decision.path is not None
    assert decision.path.fallback_reason is FallbackReason.SOURCE_NOT_ATTACHED


def test_wait_when_only_limits_and_busy_agents_stand_in_the_way() -> None:
    decision = choose_destination(
        VM,
        SOURCE,
        [SOURCE, host(2, incoming=2), host(3), host(4, free_mib=0)],
        networks(),
        now=T0,
        busy_until={"h3": T0 + timedelta(seconds=10)},
    )
    assert decision.outcome is PlacementOutcome.WAIT
    assert decision.reason.startswith(
        "every host that can take the VM is at its incoming limit or busy: "
    )
    assert "host2 2 of 2 incoming migrations" in decision.reason
    assert "host3 its agent answered busy" in decision.reason
    assert "host4" not in decision.reason


def test_no_host_says_host_by_host_why() -> None:
    decision = choose_destination(
        VM,
        SOURCE,
        [
            SOURCE,
            host(2, status=HostStatus.MAINTENANCE),
            host(3, free_mib=100),
            without_migration(host(4)),
        ],
        networks(),
    )
    assert decision.outcome is PlacementOutcome.NO_HOST
    assert decision.reason.startswith("no host can take VM 'web1' (4096 MiB): ")
    for phrase in (
        "host1: the VM runs there already",
        "host2: status maintenance",
        "host3: 100 MiB free, the VM needs 4096 MiB",
        "host4: destination host 'host4' has no NIC on migration network",
    ):
        assert phrase in decision.reason
    assert len(decision.assessments) == 4


def test_no_host_in_a_cluster_of_one() -> None:
    decision = choose_destination(VM, SOURCE, [SOURCE], networks())
    assert decision.outcome is PlacementOutcome.NO_HOST
    assert "host1: the VM runs there already" in decision.reason


def test_long_rejection_lists_are_cut() -> None:
    hosts = [host(i, status=HostStatus.UNREACHABLE) for i in range(2, 40)]
    assessments = assess_destinations(VM, SOURCE, hosts, networks())
    text = describe_rejections(VM, assessments, shown_max=5)
    assert text.count("status unreachable") == 5
    assert text.endswith("(and 33 more hosts)")


def test_tried_hosts_are_excluded_on_rerun() -> None:
    decision = choose_destination(
        VM, SOURCE, [SOURCE, host(2), host(3, mig_speed=1)], networks(), excluded_host_ids=("h2",)
    )
    assert decision.destination is not None and decision.destination.host.name == "host3"


# ---------------------------------------------------------------- manual


@pytest.mark.parametrize(
    ("destination", "kinds"),
    [
        pytest.param(host(2), [], id="UP host"),
        pytest.param(without_migration(host(2)), [], id="without the migration network"),
        pytest.param(host(2, mig_link_up=False), [], id="migration link down"),
        pytest.param(host(2, free_mib=0), [], id="short of memory (the hypervisor decides)"),
        pytest.param(host(2, incoming=5), [], id="at its incoming limit (queues)"),
        pytest.param(SOURCE, [K.SOURCE], id="the source"),
        pytest.param(host(2, status=HostStatus.NON_OPERATIONAL), [K.NOT_UP], id="not UP"),
        pytest.param(host(2, cluster_id="other"), [K.OTHER_CLUSTER], id="other cluster"),
    ],
)
def test_manual_destination(destination: HostView, kinds: list[RejectionKind]) -> None:
    found = manual_destination_rejections(VM, destination, networks())
    assert [r.kind for r in found] == kinds
    [assessment] = [
        a
        for a in assess_destinations(VM, SOURCE, [destination], networks())
        if a.host.host.id == destination.host.id
    ]
    assert assessment.manual_allowed is (kinds == [])


def test_manual_candidate_without_migration_network_shows_the_fallback() -> None:
    [assessment] = assess_destinations(VM, SOURCE, [host(2, mig_link_up=False)], networks())
    assert not assessment.suitable and assessment.manual_allowed
    assert assessment.path is not None
    assert assessment.path.fallback_reason is FallbackReason.DESTINATION_LINK_DOWN
    assert assessment.path.network_id == "net-mgmt"


# ---------------------------------------------------------------- loads


def test_host_loads_count_slot_holding_migrations() -> None:
    a, b, c, d = (vm(n, memory_mib=m) for n, m in (("a", 1000), ("b", 2000), ("c", 4000), ("d", 8)))
    migrations = [
        migration("m1", a, to=2, phase=MigrationPhase.RUNNING),
        migration("m2", b, to=2, phase=MigrationPhase.PREPARING),
        migration("m3", c, to=3, phase=MigrationPhase.QUEUED),
        migration("m4", d, to=3, phase=MigrationPhase.COMPLETED),
        migration("m5", d, phase=MigrationPhase.RUNNING),  # no destination yet
    ]
    memory = {x.id: x.memory_mib for x in (a, b, c, d)}
    assert host_loads(migrations, memory) == {"h2": HostLoad(2, 3000)}


# ---------------------------------------------------------------- the fast pass agrees


@pytest.mark.parametrize("seed", range(200))
def test_choice_is_the_best_suitable_assessment(seed: int) -> None:
    rng = random.Random(seed)
    hosts = [SOURCE, *(random_host(rng, i) for i in range(2, rng.randint(2, 12)))]
    rng.shuffle(hosts)
    cluster_networks = networks(
        migration=rng.random() > 0.2, version=rng.choice(["4.7", "4.7", "3.2"])
    )
    kwargs: dict = {
        "now": T0,
        "busy_until": {f"h{rng.randint(2, 12)}": T0 + timedelta(seconds=1)},
        "excluded_host_ids": (f"h{rng.randint(2, 12)}",),
        "loads": {f"h{rng.randint(2, 12)}": HostLoad(rng.randint(0, 2), rng.randint(0, 9000))},
    }
    decision = choose_destination(VM, SOURCE, hosts, cluster_networks, **kwargs)
    assessments = assess_destinations(VM, SOURCE, hosts, cluster_networks, **kwargs)
    suitable = [a for a in assessments if a.suitable]
    if suitable:
        assert decision.outcome is PlacementOutcome.PLACED
        assert decision.destination == suitable[0].host
        assert decision.score == suitable[0].score
        assert decision.path == suitable[0].path
    elif any(a.only_transient for a in assessments):
        assert decision.outcome is PlacementOutcome.WAIT
    else:
        assert decision.outcome is PlacementOutcome.NO_HOST


def test_placement_does_not_depend_on_host_order() -> None:
    hosts = [SOURCE, *(host(i) for i in range(2, 10))]
    chosen = {
        choose_destination(VM, SOURCE, order, networks()).destination.host.name  # type: ignore[union-attr]
        for order in (hosts, hosts[::-1], hosts[3:] + hosts[:3])
    }
    assert chosen == {"host2"}


def test_replace_keeps_builders_honest() -> None:
    # The view's attachments, not the host's NICs, are what the scheduler reads.
    view = replace(host(2), attachments=())
    assert rejections_of(view)[0][0] is K.MIGRATION_NETWORK
