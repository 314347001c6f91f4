-- The engine database as schema version 4 created it (before VMs had a migration priority).
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
    dirty_rates TEXT NOT NULL DEFAULT '[]'
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
PRAGMA user_version=4;
