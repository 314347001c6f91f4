"""Table tests of the pure rules: subnets, names, addresses, levels, roles, policy, paging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from miglane.engine.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
)
from miglane.engine.domain.model import (
    BandwidthMode,
    ConvergencePolicy,
    FallbackReason,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    Network,
    NetworkRole,
)
from miglane.engine.domain.networks import check_network_fits, find_overlap, parse_subnet
from miglane.engine.domain.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    next_page_token,
    parse_page,
)
from miglane.engine.domain.roles import (
    RoleChangeKind,
    cluster_level_fallback,
    level_change_moves_migrations,
    migration_network_supported,
    plan_role_grant,
    plan_role_unset,
    refuse_while_migrating,
    validate_role,
)
from miglane.engine.domain.validation import (
    NEWEST_COMPATIBILITY_VERSION,
    QOS_MBPS_MAX,
    resolve_policy,
    validate_agent_address,
    validate_compatibility_version,
    validate_description,
    validate_name,
)

# ---------------------------------------------------------------- subnets


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("10.0.2.0/24", "10.0.2.0/24"),
        ("10.0.2.0/255.255.255.0", "10.0.2.0/24"),
        ("192.168.1.7/32", "192.168.1.7/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("FD00:2:0::/64", "fd00:2::/64"),
        ("2001:db8::/32", "2001:db8::/32"),
        (" 10.1.0.0/16 ", "10.1.0.0/16"),
    ],
)
def test_valid_subnets_are_normalized(text: str, normalized: str) -> None:
    assert parse_subnet("subnet", text).with_prefixlen == normalized


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("10.0.2.5/24", "host bits set; the network address is 10.0.2.0/24"),
        ("fd00::5/64", "host bits set; the network address is fd00::/64"),
        ("10.0.2.0", "no prefix length"),
        ("10.0.2.0/33", "not an IPv4 or IPv6 CIDR"),
        ("10.0.2/24", "not an IPv4 or IPv6 CIDR"),
        ("010.000.002.000/24", "not an IPv4 or IPv6 CIDR"),
        ("256.0.0.0/8", "not an IPv4 or IPv6 CIDR"),
        ("fe80::/64%eth0", "zone"),
        ("banana/24", "not an IPv4 or IPv6 CIDR"),
        ("10.0.0.0/24" * 20, "too long"),
    ],
)
def test_invalid_subnets_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_subnet("subnet", text)
    assert caught.value.message.startswith("subnet: ")
    assert fragment in caught.value.message


def _net(name: str, subnet: str, **kw: object) -> Network:
    return Network(id=f"net-{name}", cluster_id="cl", name=name, subnet=subnet, **kw)  # type: ignore[arg-type]


EXISTING = [_net("mgmt", "10.0.1.0/24"), _net("mig", "10.0.2.0/24"), _net("v6", "fd00:2::/64")]


@pytest.mark.parametrize(
    ("subnet", "clash"),
    [
        ("10.0.3.0/24", None),
        ("10.0.0.0/16", "mgmt"),  # contains both: the first is named
        ("10.0.2.128/25", "mig"),  # inside
        ("10.0.2.0/24", "mig"),  # equal
        ("fd00:2::/48", "v6"),
        ("fd00:3::/64", None),
        ("::/0", "v6"),  # other family never overlaps IPv4 networks
        ("0.0.0.0/0", "mgmt"),
    ],
)
def test_overlap(subnet: str, clash: str | None) -> None:
    found = find_overlap(parse_subnet("subnet", subnet), EXISTING)
    assert (found.name if found else None) == clash


def test_network_fits_checks_name_then_overlap_and_ignores_itself() -> None:
    with pytest.raises(AlreadyExists, match="name: cluster 'c' already has a network named 'mig'"):
        check_network_fits(EXISTING, name="mig", subnet="10.9.0.0/24", cluster_name="c")
    with pytest.raises(FailedPrecondition, match=r"subnet: 10.0.0.0/8 overlaps network 'mgmt'"):
        check_network_fits(EXISTING, name="new", subnet="10.0.0.0/8", cluster_name="c")
    # A network never clashes with itself (rename, resize)...
    check_network_fits(
        EXISTING, name="mig", subnet="10.0.2.0/23", cluster_name="c", exclude_id="net-mig"
    )
    # ...but still with the others.
    with pytest.raises(FailedPrecondition, match="overlaps network 'mgmt'"):
        check_network_fits(
            EXISTING, name="mig", subnet="10.0.0.0/22", cluster_name="c", exclude_id="net-mig"
        )


# ---------------------------------------------------------------- names, descriptions, addresses


@pytest.mark.parametrize("name", ["a", "Default", "mig0", "host-1.lab", "x_y", "9" * 64])
def test_valid_names(name: str) -> None:
    assert validate_name("name", name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "is empty"),
        ("x" * 65, "65 characters long; at most 64"),
        ("x" * 100_000, "100000 characters long"),
        ("-lead", "not a valid name"),
        ("with space", "not a valid name"),
        ("naïve", "not a valid name"),
        ("semi;colon", "not a valid name"),
        ("new\nline", "not a valid name"),
    ],
)
def test_invalid_names(name: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_name("name", name)
    assert caught.value.message.startswith("name: ") and fragment in caught.value.message
    assert len(caught.value.message) < 300  # huge input is cut in messages


@pytest.mark.parametrize(
    ("text", "ok"),
    [("", True), ("two\nlines\tand tabs", True), ("x" * 1024, True), ("x" * 1025, False),
     ("nul\x00", False), ("bell\x07", False)],
)  # fmt: skip
def test_descriptions(text: str, ok: bool) -> None:
    if ok:
        assert validate_description("description", text) == text
    else:
        with pytest.raises(InvalidArgument, match=r"^description: "):
            validate_description("description", text)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("10.0.0.5:50052", "10.0.0.5:50052"),
        ("[FD00::0005]:50052", "[fd00::5]:50052"),
        ("Host1.Example.org:1", "host1.example.org:1"),
        ("localhost:65535", "localhost:65535"),
        ("h:0050", "h:50"),
    ],
)
def test_valid_agent_addresses(text: str, normalized: str) -> None:
    assert validate_agent_address("agent_address", text) == normalized


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("10.0.0.5", "not host:port"),
        (":50052", "not host:port"),
        ("10.0.0.5:0", "from 1 to 65535"),
        ("10.0.0.5:65536", "from 1 to 65535"),
        ("10.0.0.5:http", "from 1 to 65535"),
        ("10.0.0.5:-1", "from 1 to 65535"),
        ("fd00::5:50052", "brackets"),
        ("[fd00::zz]:50052", "not an IPv6 address"),
        ("[fd00::5]50052", "not host:port"),
        ("999.1.1.1:5", "not a valid IPv4 address"),
        ("bad_host:5", "neither an IP address nor a DNS name"),
        ("-bad.example:5", "neither an IP address nor a DNS name"),
        ("a" * 300 + ":5", "at most 255"),
    ],
)
def test_invalid_agent_addresses(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_agent_address("agent_address", text)
    assert caught.value.message.startswith("agent_address: ") and fragment in caught.value.message


# ---------------------------------------------------------------- compatibility levels


@pytest.mark.parametrize(
    ("version", "normalized"),
    [("", NEWEST_COMPATIBILITY_VERSION), ("3.3", "3.3"), ("4.07", "4.7"), ("3.0", "3.0")],
)
def test_valid_compatibility_versions(version: str, normalized: str) -> None:
    assert validate_compatibility_version("compatibility_version", version) == normalized


@pytest.mark.parametrize(
    ("version", "fragment"),
    [("4", "not MAJOR.MINOR"), ("4.x", "not MAJOR.MINOR"), ("v4.7", "not MAJOR.MINOR"),
     ("5.0", "not a level this engine knows"), ("2.9", "not a level"), ("4.7.1", "MAJOR.MINOR")],
)  # fmt: skip
def test_invalid_compatibility_versions(version: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^compatibility_version: ") as caught:
        validate_compatibility_version("compatibility_version", version)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("version", "supported"),
    [("3.0", False), ("3.2", False), ("3.3", True), ("3.6", True), ("4.0", True),
     ("4.7", True), ("10.0", True), ("", False), ("garbage", False), ("3", False)],
)  # fmt: skip
def test_migration_network_supported_from_3_3(version: str, supported: bool) -> None:
    assert migration_network_supported(version) is supported


@pytest.mark.parametrize(
    ("version", "migration", "reason"),
    [
        ("4.7", "net-mig", None),
        ("3.3", "net-mig", None),
        ("3.2", "net-mig", FallbackReason.LEGACY_CLUSTER),
        ("garbage", "net-mig", FallbackReason.LEGACY_CLUSTER),
        ("4.7", "", FallbackReason.NO_MIGRATION_NETWORK),
        ("3.0", "", FallbackReason.NO_MIGRATION_NETWORK),
    ],
)
def test_cluster_level_fallback(version: str, migration: str, reason: FallbackReason) -> None:
    assert cluster_level_fallback(version, migration) is reason


@pytest.mark.parametrize(
    ("old", "new", "moves"),
    [("3.2", "3.3", True), ("4.7", "3.0", True), ("3.3", "4.7", False), ("3.0", "3.2", False)],
)
def test_level_changes_that_move_migrations(old: str, new: str, moves: bool) -> None:
    assert level_change_moves_migrations(old, new) is moves


# ---------------------------------------------------------------- roles


M, D, G = NetworkRole.MANAGEMENT, NetworkRole.DISPLAY, NetworkRole.MIGRATION


@pytest.mark.parametrize(
    ("holders", "network", "role", "kind", "previous"),
    [
        ({}, "a", G, RoleChangeKind.GRANTED, ""),
        ({G: "b"}, "a", G, RoleChangeKind.MOVED, "b"),
        ({G: "a"}, "a", G, RoleChangeKind.UNCHANGED, "a"),
        ({M: "a"}, "a", G, RoleChangeKind.GRANTED, ""),  # one network may hold several roles
        ({M: "b", G: "c"}, "a", M, RoleChangeKind.MOVED, "b"),
    ],
)
def test_plan_role_grant(
    holders: dict[NetworkRole, str], network: str, role: NetworkRole, kind: RoleChangeKind,
    previous: str,
) -> None:  # fmt: skip
    change = plan_role_grant(holders, network, role)
    assert (change.kind, change.from_network_id, change.to_network_id) == (kind, previous, network)


@pytest.mark.parametrize(
    ("holders", "holder_name", "fragment"),
    [({}, "", "no network of the cluster holds it"), ({G: "net-b"}, "b", "network 'b' holds it")],
)
def test_unset_role_the_network_does_not_hold(
    holders: dict[NetworkRole, str], holder_name: str, fragment: str
) -> None:
    with pytest.raises(FailedPrecondition, match="does not hold the migration role") as caught:
        plan_role_unset(holders, _net("a", "10.0.0.0/24"), G, holder_name)
    assert fragment in caught.value.message


def test_unset_role_the_network_holds() -> None:
    change = plan_role_unset({G: "net-a"}, _net("a", "10.0.0.0/24"), G, "a")
    assert (change.kind, change.from_network_id, change.to_network_id) == (
        RoleChangeKind.TAKEN, "net-a", "",
    )  # fmt: skip


@pytest.mark.parametrize("role", [NetworkRole.UNSPECIFIED])
def test_unset_role_value_is_refused(role: NetworkRole) -> None:
    with pytest.raises(InvalidArgument, match=r"^role: is unset; give one of NETWORK_ROLE_"):
        validate_role("role", role)


def _migration(number: int, phase: MigrationPhase) -> Migration:
    return Migration(
        id=f"mig-{number}",
        cluster_id="cl",
        vm_id=f"vm-{number}",
        vm_name=f"web{number}",
        source_host_id="h1",
        phase=phase,
        created_at=datetime(2026, 1, 1, 0, 0, number, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("count", "shown", "more"),
    [(1, 1, ""), (5, 5, ""), (7, 5, "and 2 more")],
)
def test_refuse_while_migrating_names_the_migrations(count: int, shown: int, more: str) -> None:
    active = [_migration(i, MigrationPhase.RUNNING) for i in range(count)]
    with pytest.raises(FailedPrecondition) as caught:
        refuse_while_migrating("move the migration role", active)
    message = caught.value.message
    assert message.startswith(f"cannot move the migration role while {count} migration(s)")
    assert sum(f"VM web{i} (migration mig-{i}, running)" in message for i in range(count)) == shown
    assert more in message


def test_nothing_migrating_refuses_nothing() -> None:
    try:
        refuse_while_migrating("move the migration role", [])
    except FailedPrecondition as refused:
        pytest.fail(f"refused with nothing migrating: {refused.message}")


# ---------------------------------------------------------------- policy


def test_policy_defaults_resolve() -> None:
    raw = MigrationPolicy(
        bandwidth_mode=BandwidthMode.UNSPECIFIED,
        max_outgoing_per_host=0,
        max_incoming_per_host=0,
        convergence=ConvergencePolicy.UNSPECIFIED,
        no_progress_timeout_s=0,
        completion_timeout_s_per_gib=0,
        local_disk_bandwidth_percent=0,
        management_migration_budget_mbps=0,
    )
    assert resolve_policy("policy", raw) == MigrationPolicy()
    assert resolve_policy("policy", None) == MigrationPolicy()


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (
            MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM),
            "policy.custom_mib_per_second: is 0",
        ),
        (MigrationPolicy(custom_mibps=50), "policy.custom_mib_per_second: applies only with"),
        (MigrationPolicy(max_outgoing_per_host=65), "policy.max_outgoing_per_host: 65 is more"),
        (MigrationPolicy(parallel_connections=-1), "policy.parallel_connections: -1 is negative"),
        (
            MigrationPolicy(local_disk_bandwidth_percent=101),
            "policy.local_disk_bandwidth_percent: 101 is more than the maximum 100",
        ),
        (
            MigrationPolicy(management_migration_budget_mbps=-1),
            "policy.management_migration_budget_mbit_per_second: -1 is negative",
        ),
        (
            MigrationPolicy(management_migration_budget_mbps=QOS_MBPS_MAX + 1),
            f"policy.management_migration_budget_mbit_per_second: {QOS_MBPS_MAX + 1} is more",
        ),
    ],
)
def test_bad_policies(policy: MigrationPolicy, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_policy("policy", policy)
    assert fragment in caught.value.message


def test_management_migration_budget_is_kept() -> None:
    policy = MigrationPolicy(management_migration_budget_mbps=2500)
    assert resolve_policy("policy", policy).management_migration_budget_mbps == 2500


def test_local_disk_bandwidth_percent_is_kept() -> None:
    policy = MigrationPolicy(local_disk_bandwidth_percent=40)
    assert resolve_policy("policy", policy).local_disk_bandwidth_percent == 40


def test_custom_bandwidth_policy_keeps_its_cap() -> None:
    policy = MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=80)
    assert resolve_policy("policy", policy).custom_mibps == 80


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize(
    ("size", "effective"), [(0, DEFAULT_PAGE_SIZE), (1, 1), (1000, 1000), (5000, MAX_PAGE_SIZE)]
)
def test_page_sizes(size: int, effective: int) -> None:
    assert parse_page(size, "", "x").size == effective


def test_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"^page_size: -1 is negative"):
        parse_page(-1, "", "x")


def test_page_token_round_trip_and_scope() -> None:
    token = next_page_token("networks?cluster=a", 42)
    assert parse_page(10, token, "networks?cluster=a").after == 42
    with pytest.raises(InvalidArgument, match="another list or other filters"):
        parse_page(10, token, "networks?cluster=b")


@pytest.mark.parametrize(
    "token",
    ["garbage", "!!!", "e30", "eyJ2IjogMX0", "x" * 10_000, "eyJ2IjogMSwgInMiOiAiIiwgImEiOiAtMX0"],
)
def test_bad_page_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^page_token: is not a token this list returned"):
        parse_page(10, token, "x")
