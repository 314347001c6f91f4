"""Network-role rules: each role is held by at most one network per cluster, granting moves it,
the migration role stays put while the cluster migrates, and which clusters (by role and level)
migrate over management."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from miglane.engine.domain.errors import FailedPrecondition, InvalidArgument
from miglane.engine.domain.model import (
    ASSIGNABLE_ROLES,
    FallbackReason,
    Migration,
    Network,
    NetworkRole,
)
from miglane.engine.domain.validation import parse_compatibility_version

# Migration networks arrived with cluster level 3.3; older clusters migrate over management.
MIGRATION_NETWORK_MIN_VERSION = (3, 3)


def migration_network_supported(compatibility_version: str) -> bool:
    """Whether a cluster at this level sends migration data over its migration network.

    A cluster below 3.3 may hold the role (so that raising its level takes effect at once),
    but its migrations use management with FALLBACK_REASON_LEGACY_CLUSTER. An unparsable level
    counts as legacy: the safe answer is the network that always exists.
    """
    try:
        return parse_compatibility_version(compatibility_version) >= MIGRATION_NETWORK_MIN_VERSION
    except ValueError:
        return False


def validate_role(field: str, role: NetworkRole) -> NetworkRole:
    if role not in ASSIGNABLE_ROLES:
        names = ", ".join(f"NETWORK_ROLE_{r.name}" for r in ASSIGNABLE_ROLES)
        raise InvalidArgument(field, f"is unset; give one of {names}")
    return role


class RoleChangeKind(Enum):
    GRANTED = "granted"
    MOVED = "moved"
    TAKEN = "taken"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RoleChange:
    role: NetworkRole
    kind: RoleChangeKind
    # The network that holds the role afterwards ("" when taken).
    to_network_id: str
    # The network that held it before ("" when none).
    from_network_id: str

    @property
    def changes_holder(self) -> bool:
        return self.kind is not RoleChangeKind.UNCHANGED


def plan_role_grant(
    holders: Mapping[NetworkRole, str], network_id: str, role: NetworkRole
) -> RoleChange:
    """Granting a role to a network: it moves from whichever network held it."""
    previous = holders.get(role, "")
    if previous == network_id:
        return RoleChange(role, RoleChangeKind.UNCHANGED, network_id, network_id)
    kind = RoleChangeKind.MOVED if previous else RoleChangeKind.GRANTED
    return RoleChange(role, kind, network_id, previous)


def plan_role_unset(
    holders: Mapping[NetworkRole, str], network: Network, role: NetworkRole, holder_name: str
) -> RoleChange:
    """Taking a role from a network, which must hold it. `holder_name` names the network that
    does hold it, for the message ("" when none)."""
    previous = holders.get(role, "")
    if previous != network.id:
        elsewhere = (
            f"network {holder_name!r} holds it"
            if previous
            else "no network of the cluster holds it"
        )
        raise FailedPrecondition(
            f"network_id: network {network.name!r} does not hold the {role.label} role "
            f"({elsewhere})"
        )
    return RoleChange(role, RoleChangeKind.TAKEN, "", network.id)


def refuse_while_migrating(action: str, active: Sequence[Migration], *, shown_max: int = 5) -> None:
    """The migration network cannot change under a running migration.

    `active` holds the cluster's queued/preparing/running migrations; the message names them
    so that the operator knows what to wait for or cancel.
    """
    if not active:
        return
    ordered = sorted(active, key=lambda m: (m.created_at, m.id))
    named = [f"VM {m.vm_name or m.vm_id} (migration {m.id}, {m.phase.label})" for m in ordered]
    listing = ", ".join(named[:shown_max])
    if len(named) > shown_max:
        listing += f" and {len(named) - shown_max} more"
    raise FailedPrecondition(
        f"cannot {action} while {len(active)} migration(s) of the cluster are queued or "
        f"running: {listing}; wait for them to finish or cancel them"
    )


def cluster_level_fallback(
    compatibility_version: str, migration_network_id: str
) -> FallbackReason | None:
    """Why the whole cluster migrates over management, before any per-host check: it has no
    network with the migration role (NO_MIGRATION_NETWORK), or its level predates migration
    networks (LEGACY_CLUSTER); None when it uses its migration network."""
    if not migration_network_id:
        return FallbackReason.NO_MIGRATION_NETWORK
    if not migration_network_supported(compatibility_version):
        return FallbackReason.LEGACY_CLUSTER
    return None


def level_change_moves_migrations(old_version: str, new_version: str) -> bool:
    """Whether changing the cluster level switches its migrations between the migration
    network and management."""
    return migration_network_supported(old_version) != migration_network_supported(new_version)
