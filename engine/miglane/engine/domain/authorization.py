"""Who may call what: the minimal role of every EngineService RPC, in one table. viewer reads
and watches; operator also migrates, cancels, changes bandwidth and puts hosts in and out of
maintenance; admin also changes clusters, networks and their roles, hosts, and VMs' migration
priorities. Identities that
are not people (the engine's own, hosts') hold none of these roles: the engine API refuses them."""

from __future__ import annotations

from miglane.pki import Role

# Each role may do what the roles before it may.
_RANKED = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)

_VIEWER_RPCS = (
    "GetCluster",
    "ListClusters",
    "GetNetwork",
    "ListNetworks",
    "GetHost",
    "ListHosts",
    "ListVms",
    "GetVm",
    "ListMigrationCandidates",
    "GetMigration",
    "ListMigrations",
    "WatchMigrations",
    "ListEvents",
    "WatchEvents",
)
_OPERATOR_RPCS = ("MigrateVm", "CancelMigration", "SetMigrationBandwidth", "SetHostMaintenance")
_ADMIN_RPCS = (
    "CreateCluster",
    "UpdateCluster",
    "DeleteCluster",
    "CreateNetwork",
    "UpdateNetwork",
    "DeleteNetwork",
    "SetNetworkRole",
    "UnsetNetworkRole",
    "AddHost",
    "RemoveHost",
    "SetVmMigrationPriority",
)

REQUIRED_ROLE: dict[str, Role] = {
    **dict.fromkeys(_VIEWER_RPCS, Role.VIEWER),
    **dict.fromkeys(_OPERATOR_RPCS, Role.OPERATOR),
    **dict.fromkeys(_ADMIN_RPCS, Role.ADMIN),
}


def allows(role: Role, rpc: str) -> bool:
    """Whether `role` may call `rpc` (an RPC missing from the table: nobody may)."""
    needed = REQUIRED_ROLE.get(rpc)
    if needed is None or role not in _RANKED:
        return False
    return _RANKED.index(role) >= _RANKED.index(needed)


def _with_article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def refusal(rpc: str, name: str, role: Role) -> str | None:
    """None when `name` (holding `role`) may call `rpc`; else the sentence saying why not,
    e.g. "SetNetworkRole needs the admin role; alice is an operator"."""
    if allows(role, rpc):
        return None
    needed = REQUIRED_ROLE.get(rpc)
    if needed is None:
        return f"{rpc} is open to no role; {name} is {_with_article(role.value)}"
    return f"{rpc} needs the {needed.value} role; {name} is {_with_article(role.value)}"
