"""The engine's state in SQLite: clusters, networks and their roles, hosts, VMs, migrations and
events.

WAL journal with `synchronous=FULL`: a committed change survives `kill -9` (and power loss);
anything not committed is rolled back on the next open. Every change the engine makes is one
`transaction()`, so a request is either wholly written with its events or not at all.

A Store is not thread-safe: one thread uses it at a time (InventoryService runs all store work
on a single worker thread).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from miglane.engine.domain.model import (
    ACTIVE_PHASES,
    BandwidthMode,
    Cluster,
    ConvergencePolicy,
    Event,
    EventSeverity,
    EventType,
    FallbackReason,
    Host,
    HostFacts,
    HostStatus,
    Migration,
    MigrationFilter,
    MigrationPhase,
    MigrationPolicy,
    Network,
    NetworkRole,
    Nic,
    Vm,
    VmState,
)

DATABASE_NAME = "engine.sqlite3"
SCHEMA_VERSION = 1

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE clusters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    compatibility_version TEXT NOT NULL,
    policy TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE networks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    name TEXT NOT NULL,
    subnet TEXT NOT NULL,
    required INTEGER NOT NULL,
    qos_mbps INTEGER,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (cluster_id, name)
);
-- The single source of truth for roles: the primary key makes "one network per role per
-- cluster" hold even against a buggy caller.
CREATE TABLE network_roles (
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    role INTEGER NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    PRIMARY KEY (cluster_id, role)
);
CREATE INDEX network_roles_network ON network_roles(network_id);
CREATE TABLE hosts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    name TEXT NOT NULL,
    agent_address TEXT NOT NULL UNIQUE,
    status INTEGER NOT NULL,
    status_reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    nics TEXT NOT NULL,
    facts TEXT NOT NULL,
    UNIQUE (cluster_id, name)
);
CREATE TABLE vms (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    cluster_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL
);
CREATE INDEX vms_host ON vms(host_id);
CREATE INDEX vms_cluster ON vms(cluster_id);
-- Migrations outlive hosts and clusters (history): no foreign keys. Filterable fields are
-- columns; the whole record is `body`.
CREATE TABLE migrations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    cluster_id TEXT NOT NULL,
    vm_id TEXT NOT NULL,
    source_host_id TEXT NOT NULL,
    destination_host_id TEXT NOT NULL,
    phase INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX migrations_cluster_phase ON migrations(cluster_id, phase);
CREATE INDEX migrations_vm ON migrations(vm_id);
CREATE TABLE events (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    type INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    cluster_id TEXT NOT NULL,
    network_id TEXT NOT NULL,
    host_id TEXT NOT NULL,
    vm_id TEXT NOT NULL,
    migration_id TEXT NOT NULL,
    message TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX events_cluster ON events(cluster_id, sequence);
"""


class StoreError(Exception):
    """The database cannot be used (corrupt, from a newer engine, ...)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # The key to continue after, None on the last page.
    next_after: int | None


# ---------------------------------------------------------------- value codecs


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the engine stores aware times only")
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return _EPOCH + micros * _MICROSECOND


def _required_moment(micros: int) -> datetime:
    moment = _moment(micros)
    assert moment is not None
    return moment


def _policy_json(policy: MigrationPolicy) -> str:
    return json.dumps({k: int(v) if isinstance(v, bool) else v for k, v in asdict(policy).items()})


def _policy_from_json(text: str) -> MigrationPolicy:
    raw = json.loads(text)
    known = {f.name for f in fields(MigrationPolicy)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    values["bandwidth_mode"] = BandwidthMode(values.get("bandwidth_mode", BandwidthMode.AUTO))
    values["convergence"] = ConvergencePolicy(
        values.get("convergence", ConvergencePolicy.MINIMAL_DOWNTIME)
    )
    for flag in ("encrypted", "compressed", "auto_converge"):
        values[flag] = bool(values.get(flag, False))
    return MigrationPolicy(**values)


def _nics_json(nics: Sequence[Nic]) -> str:
    return json.dumps([{**asdict(nic), "addresses": list(nic.addresses)} for nic in nics])


def _nics_from_json(text: str) -> tuple[Nic, ...]:
    known = {f.name for f in fields(Nic)}
    nics = []
    for raw in json.loads(text):
        values = {k: v for k, v in raw.items() if k in known}
        values["addresses"] = tuple(values.get("addresses", ()))
        nics.append(Nic(**values))
    return tuple(nics)


def _facts_from_json(text: str) -> HostFacts:
    known = {f.name for f in fields(HostFacts)}
    return HostFacts(**{k: v for k, v in json.loads(text).items() if k in known})


_MIGRATION_TIMES = ("created_at", "started_at", "finished_at")


def _migration_json(migration: Migration) -> str:
    body = asdict(migration)
    for name in _MIGRATION_TIMES:
        body[name] = _micros(getattr(migration, name))
    body["phase"] = int(migration.phase)
    body["fallback_reason"] = int(migration.fallback_reason)
    body["tried_host_ids"] = list(migration.tried_host_ids)
    return json.dumps(body)


def _migration_from_json(text: str) -> Migration:
    raw = json.loads(text)
    known = {f.name for f in fields(Migration)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    for name in _MIGRATION_TIMES:
        values[name] = _moment(values.get(name))
    values["phase"] = MigrationPhase(values["phase"])
    values["fallback_reason"] = FallbackReason(values.get("fallback_reason", 0))
    values["tried_host_ids"] = tuple(values.get("tried_host_ids", ()))
    return Migration(**values)


def _in_clause(values: Iterable[int | str]) -> tuple[str, list[int | str]]:
    items = list(values)
    return "(" + ",".join("?" * len(items)) + ")", items


_ACTIVE_SQL, _ACTIVE_ARGS = _in_clause(int(p) for p in sorted(ACTIVE_PHASES))


# ---------------------------------------------------------------- the store


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        # isolation_level=None: the sqlite3 module opens no implicit transactions; ours are
        # explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._depth = 0
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(f"cannot use the engine database {path}: {error}") from error

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / DATABASE_NAME)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        check = self._db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise StoreError(f"integrity check failed: {check}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise StoreError(
                f"schema version {version}, this engine knows {SCHEMA_VERSION}: "
                "it was written by a newer engine"
            )
        with self.transaction():
            # Comments may hold ";": drop them before splitting into statements.
            code = "\n".join(
                line for line in _SCHEMA.splitlines() if not line.lstrip().startswith("--")
            )
            for statement in code.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic change. Nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        self._db.execute("COMMIT")

    def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, args).fetchall()

    def _page(
        self, sql: str, args: list[Any], after: int, limit: int, key: str = "seq"
    ) -> tuple[list[sqlite3.Row], int | None]:
        """Keyset pagination: `sql` is a SELECT with a WHERE clause, without ORDER/LIMIT."""
        rows = self._all(f"{sql} AND {key} > ? ORDER BY {key} LIMIT ?", [*args, after, limit + 1])
        if len(rows) > limit:
            return rows[:limit], int(rows[limit - 1][key])
        return rows, None

    # ------------------------------------------------------------ clusters

    def _cluster(self, row: sqlite3.Row) -> Cluster:
        holders = self.role_holders(row["id"])
        return Cluster(
            id=row["id"],
            name=row["name"],
            compatibility_version=row["compatibility_version"],
            policy=_policy_from_json(row["policy"]),
            description=row["description"],
            created_at=_required_moment(row["created_at"]),
            migration_network_id=holders.get(NetworkRole.MIGRATION, ""),
            management_network_id=holders.get(NetworkRole.MANAGEMENT, ""),
            display_network_id=holders.get(NetworkRole.DISPLAY, ""),
        )

    def insert_cluster(self, cluster: Cluster) -> None:
        self._db.execute(
            "INSERT INTO clusters (id, name, compatibility_version, policy, description,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                cluster.id,
                cluster.name,
                cluster.compatibility_version,
                _policy_json(cluster.policy),
                cluster.description,
                _micros(cluster.created_at),
            ),
        )

    def update_cluster(self, cluster: Cluster) -> None:
        """Writes name, level, policy and description (the role fields are read-only)."""
        self._db.execute(
            "UPDATE clusters SET name = ?, compatibility_version = ?, policy = ?,"
            " description = ? WHERE id = ?",
            (
                cluster.name,
                cluster.compatibility_version,
                _policy_json(cluster.policy),
                cluster.description,
                cluster.id,
            ),
        )

    def delete_cluster(self, cluster_id: str) -> None:
        self._db.execute("DELETE FROM clusters WHERE id = ?", (cluster_id,))

    def get_cluster(self, cluster_id: str) -> Cluster | None:
        row = self._one("SELECT * FROM clusters WHERE id = ?", (cluster_id,))
        return self._cluster(row) if row else None

    def find_cluster_by_name(self, name: str) -> Cluster | None:
        row = self._one("SELECT * FROM clusters WHERE name = ?", (name,))
        return self._cluster(row) if row else None

    def list_clusters(self, after: int, limit: int) -> Page[Cluster]:
        rows, next_after = self._page("SELECT * FROM clusters WHERE 1", [], after, limit)
        return Page([self._cluster(r) for r in rows], next_after)

    def count_clusters(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM clusters").fetchone()[0])

    # ------------------------------------------------------------ networks and roles

    def _network(self, row: sqlite3.Row) -> Network:
        roles = tuple(
            sorted(
                NetworkRole(r["role"])
                for r in self._all(
                    "SELECT role FROM network_roles WHERE network_id = ?", (row["id"],)
                )
            )
        )
        return Network(
            id=row["id"],
            cluster_id=row["cluster_id"],
            name=row["name"],
            subnet=row["subnet"],
            required=bool(row["required"]),
            roles=roles,
            qos_mbps=row["qos_mbps"],
            description=row["description"],
            created_at=_moment(row["created_at"]),
        )

    def insert_network(self, network: Network) -> None:
        """Writes the network; its roles are written with set_role_holder."""
        self._db.execute(
            "INSERT INTO networks (id, cluster_id, name, subnet, required, qos_mbps,"
            " description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                network.id,
                network.cluster_id,
                network.name,
                network.subnet,
                int(network.required),
                network.qos_mbps,
                network.description,
                _micros(network.created_at),
            ),
        )

    def update_network(self, network: Network) -> None:
        self._db.execute(
            "UPDATE networks SET name = ?, subnet = ?, required = ?, qos_mbps = ?,"
            " description = ? WHERE id = ?",
            (
                network.name,
                network.subnet,
                int(network.required),
                network.qos_mbps,
                network.description,
                network.id,
            ),
        )

    def delete_network(self, network_id: str) -> None:
        """Deletes the network and (by cascade) the roles it held."""
        self._db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def get_network(self, network_id: str) -> Network | None:
        row = self._one("SELECT * FROM networks WHERE id = ?", (network_id,))
        return self._network(row) if row else None

    def networks_of_cluster(self, cluster_id: str) -> list[Network]:
        rows = self._all("SELECT * FROM networks WHERE cluster_id = ? ORDER BY seq", (cluster_id,))
        return [self._network(r) for r in rows]

    def list_networks(self, cluster_id: str, after: int, limit: int) -> Page[Network]:
        """All clusters when `cluster_id` is empty."""
        sql, args = "SELECT * FROM networks WHERE 1", list[Any]()
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [cluster_id]
        rows, next_after = self._page(sql, args, after, limit)
        return Page([self._network(r) for r in rows], next_after)

    def count_networks(self, cluster_id: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM networks WHERE cluster_id = ?", (cluster_id,))
        return int(row.fetchone()[0])

    def role_holders(self, cluster_id: str) -> dict[NetworkRole, str]:
        rows = self._all(
            "SELECT role, network_id FROM network_roles WHERE cluster_id = ?", (cluster_id,)
        )
        return {NetworkRole(r["role"]): r["network_id"] for r in rows}

    def set_role_holder(self, cluster_id: str, role: NetworkRole, network_id: str) -> None:
        """The role moves to `network_id` (replacing the previous holder, if any)."""
        self._db.execute(
            "INSERT INTO network_roles (cluster_id, role, network_id) VALUES (?, ?, ?)"
            " ON CONFLICT (cluster_id, role) DO UPDATE SET network_id = excluded.network_id",
            (cluster_id, int(role), network_id),
        )

    def clear_role(self, cluster_id: str, role: NetworkRole) -> None:
        self._db.execute(
            "DELETE FROM network_roles WHERE cluster_id = ? AND role = ?", (cluster_id, int(role))
        )

    # ------------------------------------------------------------ hosts

    def _host(self, row: sqlite3.Row) -> Host:
        return Host(
            id=row["id"],
            cluster_id=row["cluster_id"],
            name=row["name"],
            agent_address=row["agent_address"],
            status=HostStatus(row["status"]),
            status_reason=row["status_reason"],
            created_at=_required_moment(row["created_at"]),
            nics=_nics_from_json(row["nics"]),
            facts=_facts_from_json(row["facts"]),
            last_seen_at=_moment(row["last_seen_at"]),
        )

    def insert_host(self, host: Host) -> None:
        self._db.execute(
            "INSERT INTO hosts (id, cluster_id, name, agent_address, status, status_reason,"
            " created_at, last_seen_at, nics, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                host.id,
                host.cluster_id,
                host.name,
                host.agent_address,
                int(host.status),
                host.status_reason,
                _micros(host.created_at),
                _micros(host.last_seen_at),
                _nics_json(host.nics),
                json.dumps(asdict(host.facts)),
            ),
        )

    def update_host(self, host: Host) -> None:
        """Writes everything but id, cluster and creation time: what agent polling learns
        (status, reason, NICs, facts, last seen) and the name/address."""
        self._db.execute(
            "UPDATE hosts SET name = ?, agent_address = ?, status = ?, status_reason = ?,"
            " last_seen_at = ?, nics = ?, facts = ? WHERE id = ?",
            (
                host.name,
                host.agent_address,
                int(host.status),
                host.status_reason,
                _micros(host.last_seen_at),
                _nics_json(host.nics),
                json.dumps(asdict(host.facts)),
                host.id,
            ),
        )

    def delete_host(self, host_id: str) -> None:
        """Deletes the host and (by cascade) its VM records."""
        self._db.execute("DELETE FROM hosts WHERE id = ?", (host_id,))

    def get_host(self, host_id: str) -> Host | None:
        row = self._one("SELECT * FROM hosts WHERE id = ?", (host_id,))
        return self._host(row) if row else None

    def find_host(self, *, cluster_id: str, name: str) -> Host | None:
        row = self._one("SELECT * FROM hosts WHERE cluster_id = ? AND name = ?", (cluster_id, name))
        return self._host(row) if row else None

    def find_host_by_agent(self, agent_address: str) -> Host | None:
        row = self._one("SELECT * FROM hosts WHERE agent_address = ?", (agent_address,))
        return self._host(row) if row else None

    def hosts_of_cluster(self, cluster_id: str) -> list[Host]:
        rows = self._all("SELECT * FROM hosts WHERE cluster_id = ? ORDER BY seq", (cluster_id,))
        return [self._host(r) for r in rows]

    def all_hosts(self) -> list[Host]:
        return [self._host(r) for r in self._all("SELECT * FROM hosts ORDER BY seq")]

    def list_hosts(self, cluster_id: str, after: int, limit: int) -> Page[Host]:
        sql, args = "SELECT * FROM hosts WHERE 1", list[Any]()
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [cluster_id]
        rows, next_after = self._page(sql, args, after, limit)
        return Page([self._host(r) for r in rows], next_after)

    def count_hosts(self, cluster_id: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM hosts WHERE cluster_id = ?", (cluster_id,))
        return int(row.fetchone()[0])

    # ------------------------------------------------------------ VMs

    _VM_SELECT = (
        "SELECT v.*, (SELECT m.id FROM migrations m WHERE m.vm_id = v.id AND m.phase IN"
        f" {_ACTIVE_SQL} ORDER BY m.seq DESC LIMIT 1) AS migration_id FROM vms v WHERE 1"
    )

    def _vm(self, row: sqlite3.Row) -> Vm:
        return Vm(
            id=row["id"],
            name=row["name"],
            host_id=row["host_id"],
            cluster_id=row["cluster_id"],
            state=VmState(row["state"]),
            memory_mib=row["memory_mib"],
            migration_id=row["migration_id"] or "",
        )

    def replace_host_vms(self, host_id: str, vms: Sequence[Vm]) -> None:
        """The host's VM inventory becomes `vms` (as an agent reports it). A VM reported by
        another host moves to this one, keeping its key."""
        reported = {vm.id for vm in vms}
        for row in self._all("SELECT id FROM vms WHERE host_id = ?", (host_id,)):
            if row["id"] not in reported:
                self._db.execute("DELETE FROM vms WHERE id = ?", (row["id"],))
        for vm in vms:
            self._db.execute(
                "INSERT INTO vms (id, host_id, cluster_id, name, state, memory_mib)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " host_id = excluded.host_id, cluster_id = excluded.cluster_id,"
                " name = excluded.name, state = excluded.state, memory_mib = excluded.memory_mib",
                (vm.id, host_id, vm.cluster_id, vm.name, int(vm.state), vm.memory_mib),
            )

    def get_vm(self, vm_id: str) -> Vm | None:
        row = self._one(self._VM_SELECT + " AND v.id = ?", [*_ACTIVE_ARGS, vm_id])
        return self._vm(row) if row else None

    def vms_of_host(self, host_id: str) -> list[Vm]:
        rows = self._all(
            self._VM_SELECT + " AND v.host_id = ? ORDER BY v.seq", [*_ACTIVE_ARGS, host_id]
        )
        return [self._vm(r) for r in rows]

    def list_vms(self, cluster_id: str, host_id: str, after: int, limit: int) -> Page[Vm]:
        sql, args = self._VM_SELECT, list(_ACTIVE_ARGS)
        if cluster_id:
            sql, args = sql + " AND v.cluster_id = ?", [*args, cluster_id]
        if host_id:
            sql, args = sql + " AND v.host_id = ?", [*args, host_id]
        rows, next_after = self._page(sql, args, after, limit, key="v.seq")
        return Page([self._vm(r) for r in rows], next_after)

    # ------------------------------------------------------------ migrations

    def insert_migration(self, migration: Migration) -> None:
        self._db.execute(
            "INSERT INTO migrations (id, cluster_id, vm_id, source_host_id,"
            " destination_host_id, phase, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                migration.id,
                migration.cluster_id,
                migration.vm_id,
                migration.source_host_id,
                migration.destination_host_id,
                int(migration.phase),
                _migration_json(migration),
            ),
        )

    def update_migration(self, migration: Migration) -> None:
        """Replaces the whole record (the id stays)."""
        cursor = self._db.execute(
            "UPDATE migrations SET cluster_id = ?, vm_id = ?, source_host_id = ?,"
            " destination_host_id = ?, phase = ?, body = ? WHERE id = ?",
            (
                migration.cluster_id,
                migration.vm_id,
                migration.source_host_id,
                migration.destination_host_id,
                int(migration.phase),
                _migration_json(migration),
                migration.id,
            ),
        )
        if cursor.rowcount != 1:
            raise KeyError(f"no migration {migration.id!r} to update")

    def get_migration(self, migration_id: str) -> Migration | None:
        row = self._one("SELECT body FROM migrations WHERE id = ?", (migration_id,))
        return _migration_from_json(row["body"]) if row else None

    def active_migrations(self, cluster_id: str = "", host_id: str = "") -> list[Migration]:
        """Queued, preparing or running migrations, oldest first; of one cluster and/or with
        one host as source or destination when given."""
        sql, args = f"SELECT body FROM migrations WHERE phase IN {_ACTIVE_SQL}", list(_ACTIVE_ARGS)
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [*args, cluster_id]
        if host_id:
            sql, args = (
                sql + " AND (source_host_id = ? OR destination_host_id = ?)",
                [
                    *args,
                    host_id,
                    host_id,
                ],
            )
        return [_migration_from_json(r["body"]) for r in self._all(sql + " ORDER BY seq", args)]

    def migration_counts(self, host_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Per host: (outgoing, incoming) active migrations."""
        ids = list(host_ids)
        counts = {host_id: (0, 0) for host_id in ids}
        if not ids:
            return counts
        marks, id_args = _in_clause(ids)
        for column, index in (("source_host_id", 0), ("destination_host_id", 1)):
            rows = self._all(
                f"SELECT {column} AS host, COUNT(*) AS n FROM migrations WHERE phase IN"
                f" {_ACTIVE_SQL} AND {column} IN {marks} GROUP BY {column}",
                [*_ACTIVE_ARGS, *id_args],
            )
            for row in rows:
                pair = list(counts[row["host"]])
                pair[index] = int(row["n"])
                counts[row["host"]] = (pair[0], pair[1])
        return counts

    def list_migrations(self, where: MigrationFilter, after: int, limit: int) -> Page[Migration]:
        sql, args = "SELECT seq, body FROM migrations WHERE 1", list[Any]()
        if where.cluster_id:
            sql, args = sql + " AND cluster_id = ?", [*args, where.cluster_id]
        if where.vm_id:
            sql, args = sql + " AND vm_id = ?", [*args, where.vm_id]
        if where.host_id:
            sql += " AND (source_host_id = ? OR destination_host_id = ?)"
            args = [*args, where.host_id, where.host_id]
        if where.phases:
            marks, phase_args = _in_clause(int(p) for p in sorted(where.phases))
            sql, args = sql + f" AND phase IN {marks}", [*args, *phase_args]
        rows, next_after = self._page(sql, args, after, limit)
        return Page([_migration_from_json(r["body"]) for r in rows], next_after)

    # ------------------------------------------------------------ events

    def _event(self, row: sqlite3.Row) -> Event:
        return Event(
            sequence=row["sequence"],
            type=EventType(row["type"]),
            severity=EventSeverity(row["severity"]),
            created_at=_required_moment(row["created_at"]),
            cluster_id=row["cluster_id"],
            network_id=row["network_id"],
            host_id=row["host_id"],
            vm_id=row["vm_id"],
            migration_id=row["migration_id"],
            message=row["message"],
            attributes=json.loads(row["attributes"]),
        )

    def append_events(self, events: Iterable[Event]) -> list[Event]:
        """Writes the events and returns them with their sequence numbers."""
        stored = []
        for event in events:
            cursor = self._db.execute(
                "INSERT INTO events (type, severity, created_at, cluster_id, network_id,"
                " host_id, vm_id, migration_id, message, attributes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    int(event.type),
                    int(event.severity),
                    _micros(event.created_at),
                    event.cluster_id,
                    event.network_id,
                    event.host_id,
                    event.vm_id,
                    event.migration_id,
                    event.message,
                    json.dumps(dict(event.attributes), sort_keys=True),
                ),
            )
            assert cursor.lastrowid is not None
            stored.append(replace(event, sequence=cursor.lastrowid))
        return stored

    def list_events(self, cluster_id: str, after: int, limit: int) -> Page[Event]:
        sql, args = "SELECT * FROM events WHERE 1", list[Any]()
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [cluster_id]
        rows, next_after = self._page(sql, args, after, limit, key="sequence")
        return Page([self._event(r) for r in rows], next_after)

    def last_event_sequence(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(sequence), 0) FROM events").fetchone()
        return int(row[0])
