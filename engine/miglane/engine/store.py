"""The engine's state: clusters, networks and their roles, hosts, VMs, migrations and events, in
SQLite (the default, a file under the state dir) or PostgreSQL (`store_dialect`).

Every change the engine makes is one `transaction()`, so a request is either wholly written with
its events or not at all; anything not committed is rolled back (SQLite: on the next open).

A Store is not thread-safe: one thread uses it at a time (`StoreWorker` runs all store work on
a single worker thread). The schema is in `store_schema`, row <-> model mapping in
`store_codecs`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from miglane.engine.config import DATABASE_FILE
from miglane.engine.domain.model import (
    Cluster,
    Event,
    EventType,
    Host,
    Migration,
    MigrationFilter,
    MigrationPhase,
    MigrationPriority,
    Network,
    NetworkRole,
    Vm,
    with_dirty_rate,
)
from miglane.engine.store_codecs import (
    ACTIVE_ARGS,
    ACTIVE_SQL,
    Page,
    cluster_from_row,
    cluster_values,
    dirty_rates_from_json,
    dirty_rates_json,
    disks_json,
    event_from_row,
    event_values,
    host_from_row,
    host_state_values,
    in_clause,
    micros,
    migration_from_json,
    migration_values,
    network_from_row,
    network_values,
    policy_json,
    vm_from_row,
    vm_nics_json,
)
from miglane.engine.store_dialect import (
    Database,
    Row,
    StoreError,
    WriteFence,
    open_database,
    sqlite_url,
)
from miglane.engine.store_schema import prepare_schema

DATABASE_NAME = DATABASE_FILE


_UPSERT_VM = (
    "INSERT INTO vms (id, host_id, cluster_id, name, state, memory_mib, disks, nics,"
    " dirty_rates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
    " host_id = excluded.host_id, cluster_id = excluded.cluster_id,"
    " name = excluded.name, state = excluded.state, memory_mib = excluded.memory_mib,"
    " disks = excluded.disks, nics = excluded.nics, dirty_rates = excluded.dirty_rates"
)


class Store:
    def __init__(self, database: Database) -> None:
        """The store on `database`, its schema created or upgraded (StoreError when it cannot
        be: a newer engine's, damaged); the store owns the connection from here on."""
        self.database = database
        self._db = database
        try:
            prepare_schema(database)
        except BaseException:
            database.close()
            raise

    @classmethod
    def connect(cls, url: str) -> Store:
        """The store at a database URL (`sqlite:///PATH` or `postgresql://...`)."""
        return cls(open_database(url))

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """The store in the state dir's SQLite file (created when missing)."""
        return cls.connect(sqlite_url(state_dir / DATABASE_NAME))

    def close(self) -> None:
        self._db.close()

    def fence_writes(self, fence: WriteFence) -> None:
        """Every write transaction from now on checks `fence` before it commits (a leader's
        writes fenced by its lease: `lease_store.LeaseFence`)."""
        self._db.fence_writes(fence)

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic change. Nested uses join the outer transaction."""
        return self._db.transaction()

    def savepoint(self) -> AbstractContextManager[None]:
        """Inside a transaction: a part undone alone when it raises (the rest is kept)."""
        return self._db.savepoint()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._db.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._db.execute(sql, args).fetchall()

    def _count(self, sql: str, args: Sequence[Any] = ()) -> int:
        """`sql`: a SELECT COUNT(*) AS n ..."""
        row = self._one(sql, args)
        assert row is not None
        return int(row["n"])

    def _page(
        self, sql: str, args: list[Any], after: int, limit: int, key: str = "seq"
    ) -> tuple[list[Row], int | None]:
        """Keyset pagination: `sql` is a SELECT with a WHERE clause, without ORDER/LIMIT;
        `key` the column to page on (qualified or not; read back by its bare name)."""
        rows = self._all(f"{sql} AND {key} > ? ORDER BY {key} LIMIT ?", [*args, after, limit + 1])
        if len(rows) > limit:
            return rows[:limit], int(rows[limit - 1][key.rsplit(".", 1)[-1]])
        return rows, None

    # ------------------------------------------------------------ clusters

    def _cluster(self, row: Row) -> Cluster:
        return cluster_from_row(row, self.role_holders(row["id"]))

    def insert_cluster(self, cluster: Cluster) -> None:
        self._db.execute(
            "INSERT INTO clusters (id, name, compatibility_version, policy, description,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            cluster_values(cluster),
        )

    def update_cluster(self, cluster: Cluster) -> None:
        """Writes name, level, policy and description (the role fields are read-only)."""
        self._db.execute(
            "UPDATE clusters SET name = ?, compatibility_version = ?, policy = ?,"
            " description = ? WHERE id = ?",
            (
                cluster.name,
                cluster.compatibility_version,
                policy_json(cluster.policy),
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
        rows, next_after = self._page("SELECT * FROM clusters WHERE TRUE", [], after, limit)
        return Page([self._cluster(r) for r in rows], next_after)

    def count_clusters(self) -> int:
        return self._count("SELECT COUNT(*) AS n FROM clusters")

    # ------------------------------------------------------------ networks and roles

    def _network(self, row: Row) -> Network:
        rows = self._all("SELECT role FROM network_roles WHERE network_id = ?", (row["id"],))
        return network_from_row(row, (NetworkRole(r["role"]) for r in rows))

    def insert_network(self, network: Network) -> None:
        """Writes the network; its roles are written with set_role_holder."""
        self._db.execute(
            "INSERT INTO networks (id, cluster_id, name, subnet, required, qos_mbps,"
            " description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            network_values(network),
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
        sql, args = "SELECT * FROM networks WHERE TRUE", list[Any]()
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [cluster_id]
        rows, next_after = self._page(sql, args, after, limit)
        return Page([self._network(r) for r in rows], next_after)

    def count_networks(self, cluster_id: str) -> int:
        return self._count("SELECT COUNT(*) AS n FROM networks WHERE cluster_id = ?", (cluster_id,))

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

    def _host(self, row: Row) -> Host:
        return host_from_row(row)

    def insert_host(self, host: Host) -> None:
        self._db.execute(
            "INSERT INTO hosts (id, cluster_id, created_at, name, agent_address, status,"
            " status_reason, last_seen_at, nics, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (host.id, host.cluster_id, micros(host.created_at), *host_state_values(host)),
        )

    def update_host(self, host: Host) -> None:
        """Writes everything but id, cluster and creation time: what agent polling learns
        (status, reason, NICs, facts, last seen) and the name/address."""
        self._db.execute(
            "UPDATE hosts SET name = ?, agent_address = ?, status = ?, status_reason = ?,"
            " last_seen_at = ?, nics = ?, facts = ? WHERE id = ?",
            (*host_state_values(host), host.id),
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

    def find_host_named(self, name: str) -> Host | None:
        """A host of that name in any cluster."""
        row = self._one("SELECT * FROM hosts WHERE name = ?", (name,))
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
        sql, args = "SELECT * FROM hosts WHERE TRUE", list[Any]()
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [cluster_id]
        rows, next_after = self._page(sql, args, after, limit)
        return Page([self._host(r) for r in rows], next_after)

    def count_hosts(self, cluster_id: str) -> int:
        return self._count("SELECT COUNT(*) AS n FROM hosts WHERE cluster_id = ?", (cluster_id,))

    # ------------------------------------------------------------ VMs

    _VM_SELECT = (
        "SELECT v.*, (SELECT m.id FROM migrations m WHERE m.vm_id = v.id AND m.phase IN"
        f" {ACTIVE_SQL} ORDER BY m.seq DESC LIMIT 1) AS migration_id FROM vms v WHERE TRUE"
    )

    def replace_host_vms(self, host_id: str, vms: Sequence[Vm]) -> None:
        """The host's VM inventory becomes `vms` (as an agent reports it). A VM reported by
        another host moves to this one, keeping its key; an admin's priority is kept."""
        reported = {vm.id for vm in vms}
        for row in self._all("SELECT id FROM vms WHERE host_id = ?", (host_id,)):
            if row["id"] not in reported:
                self._db.execute("DELETE FROM vms WHERE id = ?", (row["id"],))
        for vm in vms:
            known = self._one("SELECT dirty_rates FROM vms WHERE id = ?", (vm.id,))
            history = dirty_rates_from_json(known["dirty_rates"]) if known else ()
            history = with_dirty_rate(history, vm.dirty_rate)
            self._db.execute(
                _UPSERT_VM,
                (
                    vm.id,
                    host_id,
                    vm.cluster_id,
                    vm.name,
                    int(vm.state),
                    vm.memory_mib,
                    disks_json(vm.disks),
                    vm_nics_json(vm.nics),
                    dirty_rates_json(history),
                ),
            )

    def set_vm_priority(self, vm_id: str, priority: MigrationPriority) -> None:
        self._db.execute("UPDATE vms SET priority = ? WHERE id = ?", (int(priority), vm_id))

    def get_vm(self, vm_id: str) -> Vm | None:
        return next(iter(self.get_vms([vm_id])), None)

    def get_vms(self, vm_ids: Collection[str]) -> list[Vm]:
        """Those of `vm_ids` that exist, in one query (none asked: `IN (NULL)` finds none)."""
        marks = ", ".join("?" * len(vm_ids)) or "NULL"
        rows = self._all(f"{self._VM_SELECT} AND v.id IN ({marks})", [*ACTIVE_ARGS, *vm_ids])
        return [vm_from_row(r) for r in rows]

    def vms_of_host(self, host_id: str) -> list[Vm]:
        rows = self._all(
            self._VM_SELECT + " AND v.host_id = ? ORDER BY v.seq", [*ACTIVE_ARGS, host_id]
        )
        return [vm_from_row(r) for r in rows]

    def list_vms(self, cluster_id: str, host_id: str, after: int, limit: int) -> Page[Vm]:
        sql, args = self._VM_SELECT, list(ACTIVE_ARGS)
        if cluster_id:
            sql, args = sql + " AND v.cluster_id = ?", [*args, cluster_id]
        if host_id:
            sql, args = sql + " AND v.host_id = ?", [*args, host_id]
        rows, next_after = self._page(sql, args, after, limit, key="v.seq")
        return Page([vm_from_row(r) for r in rows], next_after)

    # ------------------------------------------------------------ migrations

    def insert_migration(self, migration: Migration) -> None:
        self._db.execute(
            "INSERT INTO migrations (cluster_id, vm_id, source_host_id, destination_host_id,"
            " phase, body, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*migration_values(migration), migration.id),
        )

    def update_migration(self, migration: Migration) -> None:
        """Replaces the whole record (the id stays)."""
        cursor = self._db.execute(
            "UPDATE migrations SET cluster_id = ?, vm_id = ?, source_host_id = ?,"
            " destination_host_id = ?, phase = ?, body = ? WHERE id = ?",
            (*migration_values(migration), migration.id),
        )
        if cursor.rowcount != 1:
            raise KeyError(f"no migration {migration.id!r} to update")

    def get_migration(self, migration_id: str) -> Migration | None:
        row = self._one("SELECT body FROM migrations WHERE id = ?", (migration_id,))
        return migration_from_json(row["body"]) if row else None

    def active_migrations(self, cluster_id: str = "", host_id: str = "") -> list[Migration]:
        """Queued, preparing or running migrations, oldest first; of one cluster and/or with
        one host as source or destination when given."""
        sql, args = f"SELECT body FROM migrations WHERE phase IN {ACTIVE_SQL}", list(ACTIVE_ARGS)
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [*args, cluster_id]
        if host_id:
            sql += " AND (source_host_id = ? OR destination_host_id = ?)"
            args = [*args, host_id, host_id]
        return [migration_from_json(r["body"]) for r in self._all(sql + " ORDER BY seq", args)]

    def latest_completed_migrations(self, limit: int) -> list[Migration]:
        """The `limit` completed migrations created last, oldest first."""
        sql = "SELECT body FROM migrations WHERE phase = ? ORDER BY seq DESC LIMIT ?"
        rows = self._all(sql, [int(MigrationPhase.COMPLETED), limit])
        return [migration_from_json(r["body"]) for r in reversed(rows)]

    def migration_counts(
        self, host_ids: Iterable[str], *, clusters: Iterable[str] = ()
    ) -> dict[str, tuple[int, int]]:
        """Per host: (outgoing, incoming) active migrations; `clusters`: the hosts' clusters,
        when the caller has them (`_counting` says why)."""
        ids = list(host_ids)
        counts = {host_id: (0, 0) for host_id in ids}
        if not ids:
            return counts
        for column, index in (("source_host_id", 0), ("destination_host_id", 1)):
            for row in self._all(*_counting(column, ids, clusters)):
                pair = list(counts[row["host"]])
                pair[index] = int(row["n"])
                counts[row["host"]] = (pair[0], pair[1])
        return counts

    def list_migrations(self, where: MigrationFilter, after: int, limit: int) -> Page[Migration]:
        sql, args = "SELECT seq, body FROM migrations WHERE TRUE", list[Any]()
        if where.cluster_id:
            sql, args = sql + " AND cluster_id = ?", [*args, where.cluster_id]
        if where.vm_id:
            sql, args = sql + " AND vm_id = ?", [*args, where.vm_id]
        if where.host_id:
            sql += " AND (source_host_id = ? OR destination_host_id = ?)"
            args = [*args, where.host_id, where.host_id]
        if where.phases:
            marks, phase_args = in_clause(int(p) for p in sorted(where.phases))
            sql, args = sql + f" AND phase IN {marks}", [*args, *phase_args]
        rows, next_after = self._page(sql, args, after, limit)
        return Page([migration_from_json(r["body"]) for r in rows], next_after)

    # ------------------------------------------------------------ events

    def append_events(self, events: Iterable[Event]) -> list[Event]:
        """Writes the events and returns them with their sequence numbers."""
        stored = []
        for event in events:
            # The next number is counted in the transaction (not drawn from a counter, which
            # PostgreSQL never rolls back): the sequence has no hole on either database.
            row = self._db.execute(
                "INSERT INTO events (sequence, type, severity, created_at, cluster_id,"
                " network_id, host_id, vm_id, migration_id, message, attributes, actor)"
                " VALUES ((SELECT COALESCE(MAX(sequence), 0) + 1 FROM events),"
                " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING sequence",
                event_values(event),
            ).fetchone()
            stored.append(replace(event, sequence=int(row["sequence"])))
        return stored

    def list_events(self, cluster_id: str, after: int, limit: int) -> Page[Event]:
        sql, args = "SELECT * FROM events WHERE TRUE", list[Any]()
        if cluster_id:
            sql, args = sql + " AND cluster_id = ?", [cluster_id]
        rows, next_after = self._page(sql, args, after, limit, key="sequence")
        return Page([event_from_row(r) for r in rows], next_after)

    def events_of_type(self, type_: EventType) -> list[Event]:
        rows = self._all("SELECT * FROM events WHERE type = ? ORDER BY sequence", (int(type_),))
        return [event_from_row(r) for r in rows]

    def last_event_sequence(self) -> int:
        return self._count("SELECT COALESCE(MAX(sequence), 0) AS n FROM events")


def _counting(column: str, host_ids: list[str], clusters: Iterable[str]) -> tuple[str, list[Any]]:
    """The query counting the active migrations of each of `host_ids` by `column`. Given the
    hosts' clusters (a host's migrations are all of its cluster), the database finds the
    active migrations by its (cluster, phase) index rather than reading every migration ever
    recorded."""
    marks, id_args = in_clause(host_ids)
    scope, scope_args = "", list[Any]()
    cluster_ids = sorted(set(clusters))
    if cluster_ids:
        cluster_marks, cluster_args = in_clause(cluster_ids)
        scope, scope_args = f" AND cluster_id IN {cluster_marks}", cluster_args
    sql = (
        f"SELECT {column} AS host, COUNT(*) AS n FROM migrations WHERE phase IN {ACTIVE_SQL}"
        f"{scope} AND {column} IN {marks} GROUP BY {column}"
    )
    return sql, [*ACTIVE_ARGS, *scope_args, *id_args]


__all__ = ["DATABASE_NAME", "Page", "Store", "StoreError"]
