"""The engine database's schema, one for SQLite and PostgreSQL (written in SQLite's spelling;
`store_dialect` translates): its tables, its version, creating it in an empty database and
upgrading a database an older engine wrote."""

from __future__ import annotations

from dataclasses import dataclass

from miglane.engine.domain.model import MigrationPriority
from miglane.engine.store_dialect import Database, StoreError

SCHEMA_VERSION = 5
# A VM's migration priority until an admin sets one.
_NORMAL = int(MigrationPriority.NORMAL)

_SCHEMA = f"""
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
    memory_mib INTEGER NOT NULL,
    -- JSON lists, as the VM's agent reported them.
    disks TEXT NOT NULL DEFAULT '[]',
    nics TEXT NOT NULL DEFAULT '[]',
    -- JSON list of [bytes per second, measured at], oldest first.
    dirty_rates TEXT NOT NULL DEFAULT '[]',
    -- Its migration priority (MigrationPriority), set by an admin.
    priority INTEGER NOT NULL DEFAULT {_NORMAL}
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
    attributes TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX events_cluster ON events(cluster_id, sequence);
"""

# The statements that bring a database from version N to N + 1, keyed by N. They run on SQLite
# and PostgreSQL alike: plain `ALTER TABLE t ADD COLUMN c TYPE NOT NULL DEFAULT v` (INTEGER is
# 64-bit on both), no PRAGMA, no table rebuilds.
_UPGRADES: dict[int, tuple[str, ...]] = {
    # Events gain who caused them; those written before actors were recorded keep it empty.
    1: ("ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT ''",),
    # VMs gain their disks and vNICs; those recorded before know none until the next report.
    2: (
        "ALTER TABLE vms ADD COLUMN disks TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE vms ADD COLUMN nics TEXT NOT NULL DEFAULT '[]'",
    ),
    # VMs gain their dirty-rate history; those recorded before have none until measured.
    3: ("ALTER TABLE vms ADD COLUMN dirty_rates TEXT NOT NULL DEFAULT '[]'",),
    # VMs gain their migration priority; those recorded before are NORMAL.
    4: (f"ALTER TABLE vms ADD COLUMN priority INTEGER NOT NULL DEFAULT {_NORMAL}",),
}


@dataclass(frozen=True)
class Table:
    name: str
    # The columns that order its rows (for copying and checksums).
    order_by: str
    # Its auto-numbered key, if it has one.
    counter: str | None = "seq"


# Every table, parents before children (the order to copy them in).
TABLES = (
    Table("clusters", "seq"),
    Table("networks", "seq"),
    Table("network_roles", "cluster_id, role", counter=None),
    Table("hosts", "seq"),
    Table("vms", "seq"),
    Table("migrations", "seq"),
    # Numbered MAX + 1 in each transaction (gap-free), not by a counter.
    Table("events", "sequence", counter=None),
)


def prepare_schema(db: Database) -> None:
    """Checks the database's integrity and version; creates the schema in an empty one and
    upgrades one an older engine wrote, in one transaction."""
    db.check_integrity()
    with db.transaction():
        db.lock_schema()
        version = db.schema_version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{db.name}: schema version {version}, this engine knows {SCHEMA_VERSION}: "
                "it was written by a newer engine"
            )
        statements = schema_statements() if version == 0 else upgrade_statements(version)
        for statement in statements:
            db.execute(db.ddl(statement))
        db.set_schema_version(SCHEMA_VERSION)


def upgrade_statements(version: int) -> list[str]:
    """Every step from `version` to SCHEMA_VERSION."""
    return [statement for step in range(version, SCHEMA_VERSION) for statement in _UPGRADES[step]]


def schema_statements(schema: str = _SCHEMA) -> list[str]:
    """The statements of a schema script (SQLite's spelling), comments dropped."""
    # Comments may hold ";": drop them before splitting into statements.
    code = "\n".join(line for line in schema.splitlines() if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]
