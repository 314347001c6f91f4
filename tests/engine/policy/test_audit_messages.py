"""The sentences of inventory events, each from its one builder: role changes (and when they
warn), host status changes (one severity rule for every writer), the legacy cluster level,
certificate expiry; and every builder records the actor it is given."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.certificates import ExpiringCertificate
from miglane.engine.domain.migration_path import choose_migration_uri
from miglane.engine.domain.model import (
    ENGINE_ACTOR,
    Event,
    EventSeverity,
    EventType,
    FallbackReason,
    HostStatus,
    MigrationPolicy,
    NetworkRole,
)
from miglane.engine.domain.roles import RoleChange, RoleChangeKind

from .builders import MGMT_ID, MIG_ID, MIGRATION, T0, cluster, host, networks

K = RoleChangeKind
NAMES = {MIG_ID: "migration", MGMT_ID: "ovirtmgmt"}
ACTOR = "alice"


@pytest.mark.parametrize(
    ("role", "kind", "version", "type_", "severity", "message"),
    [
        pytest.param(
            NetworkRole.MIGRATION, K.GRANTED, "4.7", EventType.ROLE_GRANTED, EventSeverity.INFO,
            "network 'migration' now holds the migration role in cluster 'prod'",
            id="granted",
        ),
        pytest.param(
            NetworkRole.MIGRATION, K.MOVED, "4.7", EventType.ROLE_MOVED, EventSeverity.INFO,
            "the migration role moved from network 'ovirtmgmt' to 'migration' in cluster 'prod'",
            id="moved",
        ),
        pytest.param(
            NetworkRole.MIGRATION, K.TAKEN, "4.7", EventType.ROLE_TAKEN, EventSeverity.WARNING,
            "network 'migration' no longer holds the migration role in cluster 'prod'; "
            "migrations now use the management network",
            id="migration role taken warns",
        ),
        pytest.param(
            NetworkRole.DISPLAY, K.TAKEN, "4.7", EventType.ROLE_TAKEN, EventSeverity.INFO,
            "network 'migration' no longer holds the display role in cluster 'prod'",
            id="other role taken",
        ),
        pytest.param(
            NetworkRole.MIGRATION, K.GRANTED, "3.2", EventType.ROLE_GRANTED,
            EventSeverity.WARNING,
            "network 'migration' now holds the migration role in cluster 'prod'; "
            + say.legacy_level_note(cluster(version="3.2")),
            id="granted on a legacy cluster warns",
        ),
        pytest.param(
            NetworkRole.DISPLAY, K.GRANTED, "3.2", EventType.ROLE_GRANTED, EventSeverity.INFO,
            "network 'migration' now holds the display role in cluster 'prod'",
            id="other role on a legacy cluster",
        ),
    ],
)  # fmt: skip
def test_role_events(
    role: NetworkRole,
    kind: RoleChangeKind,
    version: str,
    type_: EventType,
    severity: EventSeverity,
    message: str,
) -> None:
    to_id = "" if kind is K.TAKEN else MIG_ID
    from_id = {K.GRANTED: "", K.MOVED: MGMT_ID, K.TAKEN: MIG_ID}[kind]
    change = RoleChange(role, kind, to_id, from_id)
    [event] = say.role_events(cluster(version=version), change, NAMES, T0, actor=ACTOR)
    assert (event.type, event.severity, event.message) == (type_, severity, message)
    assert event.network_id == (to_id or from_id)
    assert event.attributes["role"] == role.label


def test_an_unchanged_role_says_nothing() -> None:
    change = RoleChange(NetworkRole.MIGRATION, K.UNCHANGED, MIG_ID, MIG_ID)
    assert say.role_events(cluster(), change, NAMES, T0, actor=ACTOR) == []


def test_an_unknown_network_is_named_by_its_id() -> None:
    change = RoleChange(NetworkRole.DISPLAY, K.MOVED, MIG_ID, "net-gone")
    [event] = say.role_events(cluster(), change, NAMES, T0, actor=ACTOR)
    assert "from network 'net-gone' to 'migration'" in event.message


@pytest.mark.parametrize(
    ("status", "severity"),
    [
        (HostStatus.UP, EventSeverity.INFO),
        (HostStatus.MAINTENANCE, EventSeverity.INFO),
        (HostStatus.PREPARING_FOR_MAINTENANCE, EventSeverity.INFO),
        (HostStatus.NON_OPERATIONAL, EventSeverity.WARNING),
        (HostStatus.UNREACHABLE, EventSeverity.WARNING),
    ],
)
def test_host_status_changes(status: HostStatus, severity: EventSeverity) -> None:
    before = host(
        1, status=HostStatus.UP if status is not HostStatus.UP else HostStatus.UNREACHABLE
    ).host
    after = replace(before, status=status, status_reason="because")
    [event] = say.host_status_changed(before, after, T0, actor=ACTOR)
    assert event.type is EventType.HOST_STATUS_CHANGED
    assert event.severity is severity
    assert event.message == f"host {before.name!r} is {status.label}: because"
    assert event.attributes == {"from": before.status.label, "to": status.label}
    assert (event.host_id, event.cluster_id) == (before.id, before.cluster_id)


def test_a_host_status_without_reason_has_no_colon() -> None:
    before = host(1, status=HostStatus.UNREACHABLE, status_reason="timeout").host
    [event] = say.host_status_changed(
        before, replace(before, status=HostStatus.UP, status_reason=""), T0, actor=ACTOR
    )
    assert event.message == f"host {before.name!r} is up"


def test_an_unchanged_host_status_says_nothing() -> None:
    before = host(1, status=HostStatus.UP).host
    assert say.host_status_changed(before, before, T0, actor=ACTOR) == []
    # The reason alone changing is a change.
    assert say.host_status_changed(before, replace(before, status_reason="new"), T0, actor=ACTOR)


@pytest.mark.parametrize(
    ("version", "legacy"), [("4.7", False), ("3.3", False), ("3.2", True), ("garbage", True)]
)
def test_cluster_created(version: str, legacy: bool) -> None:
    created = cluster(version=version)
    event = say.cluster_created(created, T0, actor=ACTOR)
    assert event.type is EventType.CLUSTER_CREATED
    assert (say.legacy_level_note(created) in event.message) is legacy
    assert event.attributes == {"name": "prod", "compatibility_version": version}


def test_the_legacy_level_sentence_is_the_same_everywhere() -> None:
    legacy = cluster(version="3.2")
    problem = say.legacy_level_problem(legacy)
    assert problem == (
        "cluster 'prod' is at level 3.2, which predates migration networks "
        f"({say.MIGRATION_NETWORK_MIN_LEVEL})"
    )
    path = choose_migration_uri(networks(version="3.2"), host(1), host(2))
    assert path.fallback_reason is FallbackReason.LEGACY_CLUSTER
    assert path.fallback_detail.startswith(problem)
    assert problem in say.cluster_created(legacy, T0, actor=ACTOR).message
    grant = RoleChange(NetworkRole.MIGRATION, K.GRANTED, MIG_ID, "")
    assert problem in say.role_events(legacy, grant, NAMES, T0, actor=ACTOR)[0].message


def test_network_updated_shows_old_and_new_values() -> None:
    faster = replace(MIGRATION, qos_mbps=5000, required=True, description="fast")
    event = say.network_updated(
        cluster(), MIGRATION, faster, ["required", "qos_mbps", "description"], T0, actor=ACTOR
    )
    assert event.message == (
        "network 'migration' of cluster 'prod' updated: required no → yes, "
        "qos_mbps none → 5000, description"
    )
    assert event.attributes == {"required": "yes", "qos_mbps": "5000", "description": "fast"}


@pytest.mark.parametrize(("vms", "tail"), [(0, ""), (3, " with the records of its 3 VM(s)")])
def test_host_removed(vms: int, tail: str) -> None:
    removed = host(1).host
    event = say.host_removed(removed, "prod", vms, T0, actor=ACTOR)
    assert event.message == f"host {removed.name!r} removed from cluster 'prod'{tail}"


ENCRYPTION_ON, ENCRYPTION_OFF = say.POLICY_SWITCH_SENTENCES["encrypted"]
LOCAL_DISKS_ON, LOCAL_DISKS_OFF = say.POLICY_SWITCH_SENTENCES["local_disk_migration"]


@pytest.mark.parametrize(
    ("before", "after", "changed", "said", "attributes"),
    [
        pytest.param(
            MigrationPolicy(local_disk_migration=False),
            MigrationPolicy(local_disk_migration=True),
            ["policy"],
            LOCAL_DISKS_ON,
            {"local_disk_migration": "yes"},
            id="local-disk migration on",
        ),
        pytest.param(
            MigrationPolicy(local_disk_migration=True),
            MigrationPolicy(local_disk_migration=False),
            ["policy"],
            LOCAL_DISKS_OFF,
            {"local_disk_migration": "no"},
            id="local-disk migration off",
        ),
        pytest.param(
            MigrationPolicy(encrypted=True),
            MigrationPolicy(encrypted=False),
            ["policy"],
            ENCRYPTION_OFF,
            {"encrypted": "no"},
            id="encryption off",
        ),
        pytest.param(
            MigrationPolicy(encrypted=False, local_disk_migration=False),
            MigrationPolicy(encrypted=True, local_disk_migration=True),
            ["description", "policy"],
            f"description, {ENCRYPTION_ON}, {LOCAL_DISKS_ON}",
            {"encrypted": "yes", "local_disk_migration": "yes"},
            id="both switched, with another field",
        ),
        pytest.param(
            MigrationPolicy(),
            MigrationPolicy(parallel_connections=4),
            ["policy"],
            "policy",
            {},
            id="no switch turned: just the field",
        ),
    ],
)
def test_cluster_updated_says_policy_switches_in_words(
    before: MigrationPolicy,
    after: MigrationPolicy,
    changed: list[str],
    said: str,
    attributes: dict[str, str],
) -> None:
    event = say.cluster_updated(
        cluster(policy=before), cluster(policy=after), changed, T0, actor=ACTOR
    )
    assert event.message == f"cluster {cluster().name!r} updated: {said}"
    for name, shown in attributes.items():
        assert event.attributes[name] == shown
    unswitched = set(say.POLICY_SWITCH_SENTENCES) - set(attributes)
    assert not unswitched & set(event.attributes)


def _every_builder(actor: str) -> list[Event]:
    before = host(1, status=HostStatus.UP).host
    grant = RoleChange(NetworkRole.MIGRATION, K.GRANTED, MIG_ID, "")
    soon = ExpiringCertificate("h1", "host", "ab12", T0 + timedelta(days=3), days_left=3)
    return [
        say.cluster_created(cluster(), T0, actor=actor),
        say.cluster_updated(cluster(), cluster(), ["description"], T0, actor=actor),
        say.cluster_deleted(cluster(), T0, actor=actor),
        say.network_created(cluster(), MIGRATION, T0, actor=actor),
        say.network_updated(cluster(), MIGRATION, MIGRATION, ["description"], T0, actor=actor),
        say.network_deleted(cluster(), MIGRATION, T0, actor=actor),
        *say.role_events(cluster(), grant, NAMES, T0, actor=actor),
        say.host_added(cluster(), before, T0, actor=actor),
        say.host_removed(before, "prod", 0, T0, actor=actor),
        *say.host_status_changed(before, replace(before, status_reason="x"), T0, actor=actor),
        say.certificate_expiring(soon, T0, actor=actor),
    ]


@pytest.mark.parametrize("actor", [ACTOR, ENGINE_ACTOR])
def test_every_builder_records_its_actor(actor: str) -> None:
    events = _every_builder(actor)
    assert len(events) == 11
    assert {event.actor for event in events} == {actor}


@pytest.mark.parametrize(
    ("days", "when"),
    [
        (12, "expires on 2026-01-13 (12 day(s) left)"),
        (0, "expires on 2026-01-01 (0 day(s) left)"),
        (-2, "expired on 2025-12-30"),
    ],
)
def test_certificate_expiring(days: int, when: str) -> None:
    not_after = T0 + timedelta(days=days)
    expiring = ExpiringCertificate("h1", "host", "ab12", not_after, days_left=days)
    event = say.certificate_expiring(
        expiring, T0, actor=ENGINE_ACTOR, cluster_id="cl-1", host_id="host-1"
    )
    assert event.type is EventType.CERTIFICATE_EXPIRING
    assert event.severity is EventSeverity.WARNING
    assert event.message == (
        f"the host certificate of 'h1' (ab12) {when}; re-issue it ({expiring.reissue_hint})"
    )
    assert event.attributes == {
        "name": "h1",
        "role": "host",
        "serial": "ab12",
        "not_after": not_after.isoformat(),
    }
    assert (event.cluster_id, event.host_id) == ("cl-1", "host-1")
