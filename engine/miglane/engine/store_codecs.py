"""How the engine's values are written to and read from database rows (SQLite's or
PostgreSQL's): times as microseconds since the epoch, policies, NICs, facts and migrations as
JSON, and each table's row as a model."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from miglane.engine.domain.model import (
    ACTIVE_PHASES,
    BandwidthMode,
    Cluster,
    ConvergencePolicy,
    ConvergenceVerdict,
    DirtyRateSample,
    DiskKind,
    Event,
    EventSeverity,
    EventType,
    FallbackReason,
    Help,
    Host,
    HostFacts,
    HostStatus,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    MigrationPriority,
    Network,
    NetworkRole,
    Nic,
    PathProof,
    PathVerdict,
    Vm,
    VmDisk,
    VmNic,
    VmState,
)
from miglane.engine.store_dialect import Row

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # The key to continue after, None on the last page.
    next_after: int | None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# Values JSON writes as they are (enums among them: they are ints and strs).
_LEAVES = (str, int, float, type(None))


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def plain(value: Any) -> Any:
    """A model as JSON-ready values: what `dataclasses.asdict` gives for it (dataclasses as
    dicts in field order, tuples and lists as lists, which JSON writes alike), without its
    deep copy of every leaf. The copy guards nothing here (the models are frozen, their leaves
    immutable) and made encoding a migration a fifth of the store worker's time."""
    if isinstance(value, _LEAVES):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {name: plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def micros(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: the engine stores aware times only")
    return (when - _EPOCH) // _MICROSECOND


def moment(count: int | None) -> datetime | None:
    """The time `count` microseconds after the epoch (None stays None)."""
    if count is None:
        return None
    return _EPOCH + count * _MICROSECOND


def required_moment(count: int) -> datetime:
    when = moment(count)
    assert when is not None
    return when


def policy_json(policy: MigrationPolicy) -> str:
    return json.dumps({k: int(v) if isinstance(v, bool) else v for k, v in plain(policy).items()})


def policy_from_json(text: str) -> MigrationPolicy:
    raw = json.loads(text)
    known = {f.name for f in fields(MigrationPolicy)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    values["bandwidth_mode"] = BandwidthMode(values.get("bandwidth_mode", BandwidthMode.AUTO))
    values["convergence"] = ConvergencePolicy(
        values.get("convergence", ConvergencePolicy.MINIMAL_DOWNTIME)
    )
    for flag in ("encrypted", "compressed", "auto_converge", "local_disk_migration"):
        values[flag] = bool(values.get(flag, getattr(MigrationPolicy, flag)))
    return MigrationPolicy(**values)


def nics_json(nics: Sequence[Nic]) -> str:
    return json.dumps([{**plain(nic), "addresses": list(nic.addresses)} for nic in nics])


# Hosts are read far more often than agents report new NICs or facts; the decoded values are
# immutable, so one decoding serves every read of the same text (up to this many texts).
_DECODED_MAX = 20_000


@functools.lru_cache(maxsize=_DECODED_MAX)
def nics_from_json(text: str) -> tuple[Nic, ...]:
    known = {f.name for f in fields(Nic)}
    nics = []
    for raw in json.loads(text):
        values = {k: v for k, v in raw.items() if k in known}
        values["addresses"] = tuple(values.get("addresses", ()))
        nics.append(Nic(**values))
    return tuple(nics)


@functools.lru_cache(maxsize=_DECODED_MAX)
def facts_from_json(text: str) -> HostFacts:
    known = {f.name for f in fields(HostFacts)}
    return HostFacts(**{k: v for k, v in json.loads(text).items() if k in known})


_MIGRATION_TIMES = (
    "created_at",
    "started_at",
    "finished_at",
    "predicted_finish_at",
    "planned_finish_at",
    "admitted_at",
    "first_data_at",
    "last_data_at",
)


def migration_json(migration: Migration) -> str:
    body = plain(migration)
    for name in _MIGRATION_TIMES:
        body[name] = micros(getattr(migration, name))
    body["phase"] = int(migration.phase)
    body["fallback_reason"] = int(migration.fallback_reason)
    body["verdict"] = int(migration.verdict)
    body["convergence_help"] = migration.convergence_help.value
    body["tried_host_ids"] = list(migration.tried_host_ids)
    body["path_proof"]["verdict"] = int(migration.path_proof.verdict)
    body["priority"] = int(migration.priority)
    override = migration.priority_override
    body["priority_override"] = int(override) if override is not None else None
    return json.dumps(body)


def migration_from_json(text: str) -> Migration:
    raw = json.loads(text)
    known = {f.name for f in fields(Migration)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    for name in _MIGRATION_TIMES:
        values[name] = moment(values.get(name))
    values["phase"] = MigrationPhase(values["phase"])
    values["fallback_reason"] = FallbackReason(values.get("fallback_reason", 0))
    values["verdict"] = ConvergenceVerdict(values.get("verdict", 0))
    values["convergence_help"] = Help(values.get("convergence_help", Help.NONE.value))
    values["tried_host_ids"] = tuple(values.get("tried_host_ids", ()))
    values["path_proof"] = _path_proof(values.get("path_proof") or {})
    values["priority"] = MigrationPriority(values.get("priority", MigrationPriority.NORMAL))
    override = values.get("priority_override")
    values["priority_override"] = MigrationPriority(override) if override is not None else None
    return Migration(**values)


def _path_proof(raw: dict[str, Any]) -> PathProof:
    """A record written before proofs of path were kept has none: UNSPECIFIED."""
    known = {f.name for f in fields(PathProof)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    values["verdict"] = PathVerdict(values.get("verdict", 0))
    return PathProof(**values)


def in_clause(values: Iterable[int | str]) -> tuple[str, list[int | str]]:
    items = list(values)
    return "(" + ",".join("?" * len(items)) + ")", items


ACTIVE_SQL, ACTIVE_ARGS = in_clause(int(p) for p in sorted(ACTIVE_PHASES))


# ---------------------------------------------------------------- rows <-> models


def cluster_from_row(row: Row, holders: Mapping[NetworkRole, str]) -> Cluster:
    """`holders`: the cluster's role holders (network_roles rows)."""
    return Cluster(
        id=row["id"],
        name=row["name"],
        compatibility_version=row["compatibility_version"],
        policy=policy_from_json(row["policy"]),
        description=row["description"],
        created_at=required_moment(row["created_at"]),
        migration_network_id=holders.get(NetworkRole.MIGRATION, ""),
        management_network_id=holders.get(NetworkRole.MANAGEMENT, ""),
        display_network_id=holders.get(NetworkRole.DISPLAY, ""),
    )


def cluster_values(cluster: Cluster) -> tuple[Any, ...]:
    """(id, name, compatibility_version, policy, description, created_at)"""
    return (
        cluster.id,
        cluster.name,
        cluster.compatibility_version,
        policy_json(cluster.policy),
        cluster.description,
        micros(cluster.created_at),
    )


def network_from_row(row: Row, roles: Iterable[NetworkRole]) -> Network:
    """`roles`: the roles the network holds (network_roles rows)."""
    return Network(
        id=row["id"],
        cluster_id=row["cluster_id"],
        name=row["name"],
        subnet=row["subnet"],
        required=bool(row["required"]),
        roles=tuple(sorted(roles)),
        qos_mbps=row["qos_mbps"],
        description=row["description"],
        created_at=moment(row["created_at"]),
    )


def network_values(network: Network) -> tuple[Any, ...]:
    """(id, cluster_id, name, subnet, required, qos_mbps, description, created_at)"""
    return (
        network.id,
        network.cluster_id,
        network.name,
        network.subnet,
        int(network.required),
        network.qos_mbps,
        network.description,
        micros(network.created_at),
    )


# What a host is decoded from: its row's values in this order.
HOST_COLUMNS = (
    "id",
    "cluster_id",
    "name",
    "agent_address",
    "status",
    "status_reason",
    "created_at",
    "nics",
    "facts",
    "last_seen_at",
)


def host_from_row(row: Row) -> Host:
    """The same Host object for the same values, as long as it is remembered (as NICs and
    facts are): reads of a host whose row did not change can tell so by identity."""
    return _host_from_values(tuple([row[column] for column in HOST_COLUMNS]))


@functools.lru_cache(maxsize=_DECODED_MAX)
def _host_from_values(values: tuple[Any, ...]) -> Host:
    id_, cluster_id, name, agent_address, status, reason, created_at, nics, facts, seen = values
    return Host(
        id=id_,
        cluster_id=cluster_id,
        name=name,
        agent_address=agent_address,
        status=HostStatus(status),
        status_reason=reason,
        created_at=required_moment(created_at),
        nics=nics_from_json(nics),
        facts=facts_from_json(facts),
        last_seen_at=moment(seen),
    )


def host_state_values(host: Host) -> tuple[Any, ...]:
    """(name, agent_address, status, status_reason, last_seen_at, nics, facts): what changes."""
    return (
        host.name,
        host.agent_address,
        int(host.status),
        host.status_reason,
        micros(host.last_seen_at),
        nics_json(host.nics),
        json.dumps(plain(host.facts)),
    )


def disks_json(disks: Sequence[VmDisk]) -> str:
    return json.dumps([{**plain(disk), "kind": int(disk.kind)} for disk in disks])


def disks_from_json(text: str) -> tuple[VmDisk, ...]:
    known = {f.name for f in fields(VmDisk)}
    disks = []
    for raw in json.loads(text):
        values = {k: v for k, v in raw.items() if k in known}
        values["kind"] = DiskKind(values.get("kind", DiskKind.UNSPECIFIED))
        disks.append(VmDisk(**values))
    return tuple(disks)


def vm_nics_json(nics: Sequence[VmNic]) -> str:
    return json.dumps([plain(nic) for nic in nics])


def vm_nics_from_json(text: str) -> tuple[VmNic, ...]:
    known = {f.name for f in fields(VmNic)}
    return tuple(VmNic(**{k: v for k, v in raw.items() if k in known}) for raw in json.loads(text))


# What a VM is decoded from: its row's values in this order (`migration_id` joined in).
VM_COLUMNS = (
    "id",
    "name",
    "host_id",
    "cluster_id",
    "state",
    "memory_mib",
    "migration_id",
    "disks",
    "nics",
    "dirty_rates",
    "priority",
)


def vm_from_row(row: Row) -> Vm:
    """`row` carries the id of the VM's active migration, if any, as `migration_id`. Decoded
    once per row's values while remembered (as hosts are): each read of a cluster decodes the
    VMs of all its active migrations, whose rows change far less often."""
    return _vm_from_values(tuple([row[column] for column in VM_COLUMNS]))


@functools.lru_cache(maxsize=_DECODED_MAX)
def _vm_from_values(values: tuple[Any, ...]) -> Vm:
    id_, name, host_id, cluster_id, state, memory_mib, migration_id = values[:7]
    disks, nics, dirty_rates, priority = values[7:]
    return Vm(
        id=id_,
        name=name,
        host_id=host_id,
        cluster_id=cluster_id,
        state=VmState(state),
        memory_mib=memory_mib,
        migration_id=migration_id or "",
        disks=disks_from_json(disks),
        nics=vm_nics_from_json(nics),
        dirty_rates=dirty_rates_from_json(dirty_rates),
        priority=MigrationPriority(priority),
    )


def dirty_rates_json(samples: Sequence[DirtyRateSample]) -> str:
    return json.dumps([[s.bytes_per_second, s.measured_at, s.working_set_bytes] for s in samples])


def dirty_rates_from_json(text: str) -> tuple[DirtyRateSample, ...]:
    """Samples written before working sets were measured have two items: not known (0)."""
    return tuple(
        DirtyRateSample(int(sample[0]), float(sample[1]), int(sample[2]) if len(sample) > 2 else 0)
        for sample in json.loads(text)
    )


def migration_values(migration: Migration) -> tuple[Any, ...]:
    """(cluster_id, vm_id, source_host_id, destination_host_id, phase, body)"""
    return (
        migration.cluster_id,
        migration.vm_id,
        migration.source_host_id,
        migration.destination_host_id,
        int(migration.phase),
        migration_json(migration),
    )


def event_from_row(row: Row) -> Event:
    return Event(
        sequence=row["sequence"],
        type=EventType(row["type"]),
        severity=EventSeverity(row["severity"]),
        created_at=required_moment(row["created_at"]),
        cluster_id=row["cluster_id"],
        network_id=row["network_id"],
        host_id=row["host_id"],
        vm_id=row["vm_id"],
        migration_id=row["migration_id"],
        message=row["message"],
        attributes=json.loads(row["attributes"]),
        actor=row["actor"],
    )


def event_values(event: Event) -> tuple[Any, ...]:
    """(type, severity, created_at, cluster_id, network_id, host_id, vm_id, migration_id,
    message, attributes, actor)"""
    return (
        int(event.type),
        int(event.severity),
        micros(event.created_at),
        event.cluster_id,
        event.network_id,
        event.host_id,
        event.vm_id,
        event.migration_id,
        event.message,
        json.dumps(dict(event.attributes), sort_keys=True),
        event.actor,
    )
