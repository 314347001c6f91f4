"""choose_migration_uri: the migration network when usable on both ends, otherwise management
with a reason and a sentence — every FallbackReason reachable; path_taken: a launched migration
keeps its path."""

from __future__ import annotations

from dataclasses import replace

import pytest

from miglane.engine.domain.bandwidth import link_budget
from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    agent_host,
    choose_migration_uri,
    path_taken,
    tcp_uri,
)
from miglane.engine.domain.model import FallbackReason, HostView, MigrationPhase

from .builders import (
    MGMT_ID,
    MIG_ID,
    MIGRATION,
    host,
    mgmt,
    mig,
    migration,
    networks,
    vm,
    without_migration,
)

R = FallbackReason


def fallback_cases() -> list[
    tuple[str, ClusterNetworks, HostView, HostView, FallbackReason, tuple[str, ...]]
]:
    src, dst = host(1), host(2)
    return [
        ("migration network on both", networks(), src, dst, R.NONE, ()),
        (
            "no migration network",
            networks(migration=False),
            src,
            dst,
            R.NO_MIGRATION_NETWORK,
            ("cluster 'prod' has no network with the migration role", "'ovirtmgmt'"),
        ),
        (
            "legacy cluster level",
            networks(version="3.2"),
            src,
            dst,
            R.LEGACY_CLUSTER,
            ("level 3.2", "predates migration networks (3.3)", "'migration'"),
        ),
        (
            "unparsable level counts as legacy",
            networks(version="garbage"),
            src,
            dst,
            R.LEGACY_CLUSTER,
            ("level garbage",),
        ),
        (
            "destination not attached",
            networks(),
            src,
            without_migration(dst),
            R.DESTINATION_NOT_ATTACHED,
            ("destination host 'host2' has no NIC on migration network 'migration' (10.0.2.0/24)",),
        ),
        (
            "destination link down",
            networks(),
            src,
            host(2, mig_link_up=False),
            R.DESTINATION_LINK_DOWN,
            (
                "on destination host 'host2', mig0 (10.0.2.2) on migration network 'migration'",
                "has its link down",
            ),
        ),
        (
            "source not attached",
            networks(),
            without_migration(src),
            dst,
            R.SOURCE_NOT_ATTACHED,
            ("source host 'host1' has no NIC on migration network 'migration'",),
        ),
        (
            "source link down",
            networks(),
            host(1, mig_link_up=False),
            dst,
            R.SOURCE_LINK_DOWN,
            ("on source host 'host1', mig0 (10.0.2.1)", "has its link down"),
        ),
        (
            "destination address empty",
            networks(),
            src,
            host(2, attachments=(mgmt(2), mig(2, address=""))),
            R.NO_ADDRESS,
            ("destination host 'host2' has no usable address", "mig0 has no address"),
        ),
        (
            "source address IPv6 link-local",
            networks(),
            host(1, attachments=(mgmt(1), mig(1, address="fe80::1"))),
            dst,
            R.NO_ADDRESS,
            ("source host 'host1' has no usable address", "link-local address fe80::1"),
        ),
        (
            "source address loopback",
            networks(),
            host(1, attachments=(mgmt(1), mig(1, address="127.0.0.1"))),
            dst,
            R.NO_ADDRESS,
            ("only 127.0.0.1, which no other host can reach",),
        ),
        (
            "no common address family",
            networks(),
            src,
            host(2, attachments=(mgmt(2), mig(2, address="fd00:2::2"))),
            R.NO_ADDRESS,
            ("10.0.2.1 on mig0", "fd00:2::2 on mig0", "no address family in common"),
        ),
        # Precedence: cluster-wide reasons first, then the destination, then the source.
        (
            "no network beats host problems",
            networks(migration=False),
            without_migration(src),
            without_migration(dst),
            R.NO_MIGRATION_NETWORK,
            (),
        ),
        (
            "legacy beats host problems",
            networks(version="3.0"),
            host(1, mig_link_up=False),
            without_migration(dst),
            R.LEGACY_CLUSTER,
            (),
        ),
        (
            "destination beats source",
            networks(),
            host(1, mig_link_up=False),
            without_migration(dst),
            R.DESTINATION_NOT_ATTACHED,
            (),
        ),
        (
            "link beats address",
            networks(),
            src,
            host(2, attachments=(mgmt(2), mig(2, link_up=False, address="fe80::2"))),
            R.DESTINATION_LINK_DOWN,
            (),
        ),
    ]


@pytest.mark.parametrize(
    ("source", "destination", "cluster_networks", "reason", "phrases"),
    [pytest.param(s, d, n, r, p, id=name) for name, n, s, d, r, p in fallback_cases()],
)
def test_fallback_reason_and_detail(
    source: HostView,
    destination: HostView,
    cluster_networks: ClusterNetworks,
    reason: FallbackReason,
    phrases: tuple[str, ...],
) -> None:
    path = choose_migration_uri(cluster_networks, source, destination)
    assert path.fallback_reason is reason
    for phrase in phrases:
        assert phrase in path.fallback_detail
    if reason is R.NONE:
        assert path.network_id == MIG_ID
        assert path.migration_uri == "tcp://10.0.2.2"
        assert path.fallback_detail == ""
        assert not path.fell_back
    else:
        # Never silent: management carries it, and the sentence says so.
        assert path.fell_back
        assert path.network_id == MGMT_ID
        assert path.migration_uri == "tcp://10.0.0.2"
        assert path.fallback_detail.endswith(
            "; the management network 'ovirtmgmt' (10.0.0.0/24) carries the data"
        )


def test_every_fallback_reason_is_reachable() -> None:
    reached = {case[4] for case in fallback_cases()}
    assert reached == set(FallbackReason) - {FallbackReason.UNSPECIFIED}


def test_ipv6_migration_network_uri_is_bracketed() -> None:
    v6 = replace(MIGRATION, subnet="fd00:2::/64")
    src = host(1, attachments=(mgmt(1), mig(1, address="fd00:2::1")))
    dst = host(2, attachments=(mgmt(2), mig(2, address="fd00:2::2")))
    path = choose_migration_uri(networks(migration_network=v6), src, dst)
    assert path.fallback_reason is R.NONE
    assert path.migration_uri == "tcp://[fd00:2::2]"
    assert path.source_attachment is not None and path.source_attachment.address == "fd00:2::1"


@pytest.mark.parametrize(
    ("dst", "uri"),
    [
        pytest.param(host(2), "tcp://10.0.0.2", id="management attachment address"),
        pytest.param(host(2, attachments=()), "tcp://10.0.0.2", id="else the agent address host"),
        pytest.param(
            replace(
                host(2, attachments=()),
                host=replace(host(2).host, agent_address="[fd00::2]:50061"),
            ),
            "tcp://[fd00::2]",
            id="bracketed IPv6 agent address",
        ),
        pytest.param(
            replace(host(2, attachments=()), host=replace(host(2).host, agent_address="")),
            "",
            id="nothing known: no URI, which the agent refuses",
        ),
    ],
)
def test_fallback_uri_is_the_destination_management_address(dst: HostView, uri: str) -> None:
    path = choose_migration_uri(networks(migration=False), host(1), dst)
    assert path.migration_uri == uri


def test_cluster_without_management_network_still_says_why() -> None:
    the_networks = networks(migration=False)
    bare = ClusterNetworks(replace(the_networks.cluster, management_network_id=""))
    path = choose_migration_uri(bare, host(1), host(2, attachments=()))
    assert path.network_id == ""
    assert path.fallback_reason is R.NO_MIGRATION_NETWORK
    assert path.fallback_detail.endswith("; the management network carries the data")


@pytest.mark.parametrize(
    ("address", "uri"),
    [
        ("10.0.2.5", "tcp://10.0.2.5"),
        ("fd00::5", "tcp://[fd00::5]"),
        ("h.example", "tcp://h.example"),
    ],
)
def test_tcp_uri(address: str, uri: str) -> None:
    assert tcp_uri(address) == uri


@pytest.mark.parametrize(
    ("agent_address", "expected"),
    [
        ("10.0.0.5:50061", "10.0.0.5"),
        ("[fd00::5]:50061", "fd00::5"),
        ("host5.example:1", "host5.example"),
        ("fd00::5", "fd00::5"),
        ("[broken", ""),
    ],
)
def test_agent_host(agent_address: str, expected: str) -> None:
    assert agent_host(agent_address) == expected


@pytest.mark.parametrize(
    ("phase", "keeps_its_path"),
    [
        (MigrationPhase.PREPARING, True),
        (MigrationPhase.RUNNING, True),
        # Not launched yet (or sent back to the queue): it takes the path there is now.
        (MigrationPhase.QUEUED, False),
    ],
)
def test_a_launched_migration_keeps_the_path_it_was_launched_on(
    phase: MigrationPhase, keeps_its_path: bool
) -> None:
    cluster_networks = networks()
    launched_on = choose_migration_uri(cluster_networks, host(1), host(2))
    record = replace(
        migration("m1", vm("v1", on=1), to=2, phase=phase),
        network_id=launched_on.network_id,
        migration_uri=launched_on.migration_uri,
        fallback_reason=launched_on.fallback_reason,
    )
    # The destination's migration link went down after the launch.
    link_down = host(2, mig_link_up=False)
    path = path_taken(cluster_networks, host(1), link_down, record)
    now = choose_migration_uri(cluster_networks, host(1), link_down)
    assert now.fallback_reason is R.DESTINATION_LINK_DOWN
    expected = launched_on if keeps_its_path else now
    assert (path.network_id, path.migration_uri, path.fallback_reason) == (
        expected.network_id,
        expected.migration_uri,
        expected.fallback_reason,
    )
    # Its AUTO budget is the budget of the network its data is on.
    assert link_budget(path, cluster_networks) == link_budget(expected, cluster_networks)
    assert path.source_attachment == expected.source_attachment
