"""The sentences of inventory audit events — clusters, networks, role changes, hosts and host
status changes — and the legacy-cluster-level sentence: each built here once, as a pure
function returning the Event (with its type, severity, ids, attributes, and the actor the
caller names: who caused it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from enum import IntEnum

from miglane.engine.domain.certificates import ExpiringCertificate
from miglane.engine.domain.model import (
    Cluster,
    Event,
    EventSeverity,
    EventType,
    Host,
    HostStatus,
    MigrationPolicy,
    Network,
    NetworkRole,
)
from miglane.engine.domain.roles import (
    MIGRATION_NETWORK_MIN_VERSION,
    RoleChange,
    RoleChangeKind,
    migration_network_supported,
)

MIGRATION_NETWORK_MIN_LEVEL = ".".join(str(n) for n in MIGRATION_NETWORK_MIN_VERSION)

# Statuses that need the operator's attention; the others (up, maintenance and its
# preparation) are normal or chosen by the operator.
_TROUBLED = frozenset({HostStatus.NON_OPERATIONAL, HostStatus.UNREACHABLE})


def legacy_level_problem(cluster: Cluster) -> str:
    """THE sentence for a cluster whose level predates migration networks."""
    return (
        f"cluster {cluster.name!r} is at level {cluster.compatibility_version or '?'}, which "
        f"predates migration networks ({MIGRATION_NETWORK_MIN_LEVEL})"
    )


def legacy_level_note(cluster: Cluster) -> str:
    """The legacy sentence with its consequence, for events about the cluster."""
    return f"{legacy_level_problem(cluster)}, so the management network carries its migrations"


def shown_value(value: object) -> str:
    """A field's value as events show it (in messages and attributes)."""
    if isinstance(value, MigrationPolicy):
        return ", ".join(f"{f.name}={shown_value(getattr(value, f.name))}" for f in fields(value))
    if isinstance(value, IntEnum):
        return value.name.lower()
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# ---------------------------------------------------------------- clusters


def cluster_created(cluster: Cluster, at: datetime, *, actor: str) -> Event:
    if migration_network_supported(cluster.compatibility_version):
        message = f"cluster {cluster.name!r} created at level {cluster.compatibility_version}"
    else:
        message = f"cluster {cluster.name!r} created; {legacy_level_note(cluster)}"
    return Event(
        type=EventType.CLUSTER_CREATED,
        message=message,
        created_at=at,
        actor=actor,
        cluster_id=cluster.id,
        attributes={"name": cluster.name, "compatibility_version": cluster.compatibility_version},
    )


# Policy switches said in words when turned on or off, by MigrationPolicy attribute: (on, off).
POLICY_SWITCH_SENTENCES: dict[str, tuple[str, str]] = {
    # Whether guest memory crosses the network in clear text.
    "encrypted": (
        "migration encryption ON",
        "migration encryption OFF (guest memory crosses the migration network in clear text)",
    ),
    # Whether local disks, the biggest load of all, may be copied.
    "local_disk_migration": (
        "local-disk migration ON (local disks are copied over the migration network)",
        "local-disk migration OFF",
    ),
}


def cluster_updated(
    before: Cluster, updated: Cluster, changed: Sequence[str], at: datetime, *, actor: str
) -> Event:
    """`changed`: the names of the fields that changed. Turning a switch of
    `POLICY_SWITCH_SENTENCES` on or off is said in words, in place of "policy", and recorded
    as an attribute of its own."""
    said = list(changed)
    attributes = {field: shown_value(getattr(updated, field)) for field in changed}
    switched = []
    for name, (on, off) in POLICY_SWITCH_SENTENCES.items():
        value = getattr(updated.policy, name)
        if getattr(before.policy, name) != value:
            switched.append(on if value else off)
            attributes[name] = shown_value(value)
    if switched:
        said = [", ".join(switched) if field == "policy" else field for field in said]
    return Event(
        type=EventType.CLUSTER_UPDATED,
        message=f"cluster {updated.name!r} updated: {', '.join(said)}",
        created_at=at,
        actor=actor,
        cluster_id=updated.id,
        attributes=attributes,
    )


def cluster_deleted(cluster: Cluster, at: datetime, *, actor: str) -> Event:
    return Event(
        type=EventType.CLUSTER_DELETED,
        message=f"cluster {cluster.name!r} deleted",
        created_at=at,
        actor=actor,
        cluster_id=cluster.id,
        attributes={"name": cluster.name},
    )


# ---------------------------------------------------------------- networks


def network_created(cluster: Cluster, network: Network, at: datetime, *, actor: str) -> Event:
    return Event(
        type=EventType.NETWORK_CREATED,
        message=(
            f"network {network.name!r} ({network.subnet}) created in cluster {cluster.name!r}"
        ),
        created_at=at,
        actor=actor,
        cluster_id=cluster.id,
        network_id=network.id,
        attributes={
            "name": network.name,
            "subnet": network.subnet,
            "required": str(network.required),
        },
    )


def network_updated(
    cluster: Cluster,
    before: Network,
    after: Network,
    changed: Sequence[str],
    at: datetime,
    *,
    actor: str,
) -> Event:
    """Each changed field with its old and new value (the description only named)."""
    shown = ", ".join(
        f"{field} {shown_value(getattr(before, field))} → {shown_value(getattr(after, field))}"
        for field in changed
        if field != "description"
    )
    return Event(
        type=EventType.NETWORK_UPDATED,
        message=f"network {after.name!r} of cluster {cluster.name!r} updated: "
        + shown
        + (", description" if "description" in changed else ""),
        created_at=at,
        actor=actor,
        cluster_id=cluster.id,
        network_id=before.id,
        attributes={field: shown_value(getattr(after, field)) for field in changed},
    )


def network_deleted(cluster: Cluster, network: Network, at: datetime, *, actor: str) -> Event:
    return Event(
        type=EventType.NETWORK_DELETED,
        message=(
            f"network {network.name!r} ({network.subnet}) deleted from cluster {cluster.name!r}"
        ),
        created_at=at,
        actor=actor,
        cluster_id=cluster.id,
        network_id=network.id,
        attributes={"name": network.name, "subnet": network.subnet},
    )


# ---------------------------------------------------------------- roles


def _migration_role_note(cluster: Cluster, change: RoleChange) -> str:
    """What a change of the migration role means for the cluster's migrations ("" when
    nothing worth a warning)."""
    if change.role is not NetworkRole.MIGRATION:
        return ""
    if change.kind is RoleChangeKind.TAKEN:
        return "; migrations now use the management network"
    if not migration_network_supported(cluster.compatibility_version):
        return f"; {legacy_level_note(cluster)}"
    return ""


def role_events(
    cluster: Cluster, change: RoleChange, names: Mapping[str, str], at: datetime, *, actor: str
) -> list[Event]:
    """The event of one role change. `names`: network id -> name for the networks involved
    (an id missing from it is shown as is). No event when the holder does not change."""
    if not change.changes_holder:
        return []
    role = change.role.label
    note = _migration_role_note(cluster, change)
    source = names.get(change.from_network_id, change.from_network_id)
    target = names.get(change.to_network_id, change.to_network_id)
    where = f"in cluster {cluster.name!r}{note}"
    if change.kind is RoleChangeKind.GRANTED:
        type_, network_id = EventType.ROLE_GRANTED, change.to_network_id
        message = f"network {target!r} now holds the {role} role {where}"
        attributes = {"role": role, "network_name": target}
    elif change.kind is RoleChangeKind.MOVED:
        type_, network_id = EventType.ROLE_MOVED, change.to_network_id
        message = f"the {role} role moved from network {source!r} to {target!r} {where}"
        attributes = {
            "role": role,
            "from_network_id": change.from_network_id,
            "from_network_name": source,
            "to_network_id": change.to_network_id,
            "to_network_name": target,
        }
    else:
        type_, network_id = EventType.ROLE_TAKEN, change.from_network_id
        message = f"network {source!r} no longer holds the {role} role {where}"
        attributes = {"role": role, "network_name": source}
    return [
        Event(
            type=type_,
            message=message,
            created_at=at,
            actor=actor,
            severity=EventSeverity.WARNING if note else EventSeverity.INFO,
            cluster_id=cluster.id,
            network_id=network_id,
            attributes=attributes,
        )
    ]


# ---------------------------------------------------------------- hosts


def not_enrolled(host_name: str) -> str:
    """Why a host added by a DNS agent address got no certificate, and how to give it one."""
    return (
        "no certificate issued: its agent address names no IP address for the certificate; "
        f"issue one with `miglane pki issue-host {host_name} --address MANAGEMENT_ADDRESS`"
    )


def host_added(
    cluster: Cluster,
    host: Host,
    at: datetime,
    *,
    actor: str,
    certificate_serial: str = "",
    missing_certificate: bool = False,
) -> Event:
    """`certificate_serial`: the certificate the engine's CA issued the host (hex);
    `missing_certificate`: the CA could not issue one (WARNING, saying how to)."""
    attributes = {"name": host.name, "agent_address": host.agent_address}
    message = f"host {host.name!r} (agent {host.agent_address}) added to cluster {cluster.name!r}"
    if certificate_serial:
        attributes["certificate_serial"] = certificate_serial
    if missing_certificate:
        message += f"; {not_enrolled(host.name)}"
    return Event(
        type=EventType.HOST_ADDED,
        message=message,
        created_at=at,
        actor=actor,
        severity=EventSeverity.WARNING if missing_certificate else EventSeverity.INFO,
        cluster_id=cluster.id,
        host_id=host.id,
        attributes=attributes,
    )


def host_removed(
    host: Host, cluster_name: str, vm_count: int, at: datetime, *, actor: str
) -> Event:
    """`cluster_name`: the cluster's name, or its id when it is gone."""
    return Event(
        type=EventType.HOST_REMOVED,
        message=f"host {host.name!r} removed from cluster {cluster_name!r}"
        + (f" with the records of its {vm_count} VM(s)" if vm_count else ""),
        created_at=at,
        actor=actor,
        cluster_id=host.cluster_id,
        host_id=host.id,
        attributes={"name": host.name, "agent_address": host.agent_address},
    )


def host_status_severity(status: HostStatus) -> EventSeverity:
    """WARNING when the host needs attention (non-operational, unreachable), else INFO."""
    return EventSeverity.WARNING if status in _TROUBLED else EventSeverity.INFO


def host_status_changed(before: Host, after: Host, at: datetime, *, actor: str) -> list[Event]:
    """The event of a host's status change, whoever changed it (agent polls, maintenance);
    none when status and reason are unchanged."""
    if (before.status, before.status_reason) == (after.status, after.status_reason):
        return []
    return [
        Event(
            type=EventType.HOST_STATUS_CHANGED,
            message=f"host {after.name!r} is {after.status.label}"
            + (f": {after.status_reason}" if after.status_reason else ""),
            created_at=at,
            actor=actor,
            severity=host_status_severity(after.status),
            cluster_id=after.cluster_id,
            host_id=after.id,
            attributes={"from": before.status.label, "to": after.status.label},
        )
    ]


# ---------------------------------------------------------------- certificates


def certificate_expiring(
    expiring: ExpiringCertificate,
    at: datetime,
    *,
    actor: str,
    cluster_id: str = "",
    host_id: str = "",
) -> Event:
    """The one warning that a certificate of the engine's CA ends soon (or has ended); ids of
    the host it belongs to, when it is a host's."""
    days = expiring.days_left
    if days < 0:
        when = f"expired on {expiring.not_after:%Y-%m-%d}"
    else:
        when = f"expires on {expiring.not_after:%Y-%m-%d} ({days} day(s) left)"
    return Event(
        type=EventType.CERTIFICATE_EXPIRING,
        message=(
            f"the {expiring.role} certificate of {expiring.name!r} ({expiring.serial}) {when}; "
            f"re-issue it ({expiring.reissue_hint})"
        ),
        created_at=at,
        actor=actor,
        severity=EventSeverity.WARNING,
        cluster_id=cluster_id,
        host_id=host_id,
        attributes={
            "name": expiring.name,
            "role": expiring.role,
            "serial": expiring.serial,
            "not_after": expiring.not_after.isoformat(),
        },
    )
