"""The SQLite store: round trips, atomic transactions, the role constraint, reopening,
upgrading an older database."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from miglane.engine.domain.model import (
    DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT,
    DIRTY_RATE_HISTORY_LENGTH,
    BandwidthMode,
    Cluster,
    DirtyRateSample,
    DiskKind,
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
    MigrationPriority,
    Network,
    NetworkRole,
    Nic,
    Vm,
    VmDisk,
    VmNic,
    VmState,
)
from miglane.engine.store import DATABASE_NAME, Store, StoreError
from miglane.engine.store_codecs import policy_from_json, policy_json
from miglane.engine.store_schema import SCHEMA_VERSION

NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
# The database as the first schema version created it.
SCHEMA_V1 = Path(__file__).parent / "data" / "schema_v1.sql"
SCHEMA_V2 = Path(__file__).parent / "data" / "schema_v2.sql"
SCHEMA_V3 = Path(__file__).parent / "data" / "schema_v3.sql"
SCHEMA_V4 = Path(__file__).parent / "data" / "schema_v4.sql"


def cluster(id_: str = "cl-1", name: str = "c1") -> Cluster:
    policy = MigrationPolicy(
        bandwidth_mode=BandwidthMode.CUSTOM,
        custom_mibps=90,
        encrypted=True,
        local_disk_migration=True,
        local_disk_bandwidth_percent=40,
    )
    return Cluster(id_, name, "4.7", policy, "desc", NOW)


def network(id_: str, name: str, subnet: str) -> Network:
    return Network(id_, "cl-1", name, subnet, required=True, qos_mbps=1000, created_at=NOW)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = Store.open(tmp_path)
    with opened.transaction():
        opened.insert_cluster(cluster())
        opened.insert_network(network("net-a", "a", "10.0.1.0/24"))
        opened.insert_network(network("net-b", "b", "10.0.2.0/24"))
    yield opened
    opened.close()


def test_round_trips(store: Store, tmp_path: Path) -> None:
    host = Host(
        "host-1", "cl-1", "h1", "10.0.1.5:50052", HostStatus.UP, "", NOW,
        nics=(Nic("eth0", ("10.0.1.5/24", "fd00::5/64"), True, 10000, 9000, "52:54:00:00:00:01"),),
        facts=HostFacts(hostname="h1", cpus=8, memory_mib=32768),
        last_seen_at=NOW,
    )  # fmt: skip
    migration = Migration(
        "mig-1", "cl-1", "vm-1", "host-1", MigrationPhase.RUNNING, NOW,
        fallback_reason=FallbackReason.DESTINATION_LINK_DOWN, tried_host_ids=("host-2",),
        started_at=NOW, data_total_bytes=2**40, disk_total_bytes=2**30,
        disk_processed_bytes=2**29, disk_remaining_bytes=2**29,
    )  # fmt: skip
    vm = Vm(
        "vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512,
        disks=(
            VmDisk("vda", DiskKind.LOCAL, 2**30, "qcow2", "/images/web-vda.qcow2"),
            VmDisk("vdb", DiskKind.SHARED, 2**31, "raw", "nbd://10.0.0.250/web-vdb"),
        ),
        nics=(VmNic("prod-vlan", "52:54:00:aa:00:01"),),
    )  # fmt: skip
    with store.transaction():
        store.set_role_holder("cl-1", NetworkRole.MIGRATION, "net-b")
        store.insert_host(host)
        store.replace_host_vms("host-1", [vm])
        store.insert_migration(migration)
    store.close()

    reopened = Store.open(tmp_path)
    assert reopened.get_cluster("cl-1") == replace(cluster(), migration_network_id="net-b")
    assert reopened.get_network("net-b") == replace(
        network("net-b", "b", "10.0.2.0/24"), roles=(NetworkRole.MIGRATION,)
    )
    assert reopened.get_host("host-1") == host
    assert reopened.get_migration("mig-1") == migration
    assert reopened.get_vm("vm-1") == replace(vm, migration_id="mig-1")
    reopened.close()


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_network(network("net-c", "c", "10.0.3.0/24"))
        store.set_role_holder("cl-1", NetworkRole.DISPLAY, "net-c")
        store.append_events([Event(EventType.NETWORK_CREATED, "x", NOW, cluster_id="cl-1")])
        raise RuntimeError("crash in the middle")
    assert store.get_network("net-c") is None
    assert store.role_holders("cl-1") == {}
    assert store.last_event_sequence() == 0


def test_one_network_per_role_per_cluster_holds_in_the_schema(store: Store) -> None:
    with store.transaction():
        store.set_role_holder("cl-1", NetworkRole.MIGRATION, "net-a")
        store.set_role_holder("cl-1", NetworkRole.MIGRATION, "net-b")  # moves, never duplicates
    assert store.role_holders("cl-1") == {NetworkRole.MIGRATION: "net-b"}
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store._db.execute(
            "INSERT INTO network_roles (cluster_id, role, network_id) VALUES ('cl-1', 3, 'net-a')"
        )


def test_deleting_a_network_drops_its_roles(store: Store) -> None:
    with store.transaction():
        store.set_role_holder("cl-1", NetworkRole.MIGRATION, "net-a")
        store.delete_network("net-a")
    assert store.role_holders("cl-1") == {}


def test_keyset_pages(store: Store) -> None:
    with store.transaction():
        for i in range(5):
            store.insert_cluster(cluster(f"cl-x{i}", f"x{i}"))
    first = store.list_clusters(0, 4)
    assert [c.id for c in first.items] == ["cl-1", "cl-x0", "cl-x1", "cl-x2"]
    assert first.next_after is not None
    second = store.list_clusters(first.next_after, 4)
    assert [c.id for c in second.items] == ["cl-x3", "cl-x4"] and second.next_after is None


def test_migration_queries(store: Store) -> None:
    with store.transaction():
        for i, phase in enumerate(MigrationPhase):
            if phase is MigrationPhase.UNSPECIFIED:
                continue
            store.insert_migration(
                Migration(f"m{i}", "cl-1", f"vm{i}", "h1", phase, NOW, destination_host_id="h2")
            )
    assert [m.phase for m in store.active_migrations("cl-1")] == [
        MigrationPhase.QUEUED, MigrationPhase.PREPARING, MigrationPhase.RUNNING,
    ]  # fmt: skip
    assert store.active_migrations("other") == []
    assert len(store.active_migrations(host_id="h2")) == 3
    assert store.migration_counts(["h1", "h2", "h3"]) == {"h1": (3, 0), "h2": (0, 3), "h3": (0, 0)}
    finished = store.list_migrations(
        MigrationFilter(phases=frozenset({MigrationPhase.FAILED, MigrationPhase.CANCELLED})), 0, 10
    )
    assert [m.id for m in finished.items] == ["m5", "m6"]
    with pytest.raises(KeyError):
        store.update_migration(Migration("nope", "cl-1", "vm", "h1", MigrationPhase.QUEUED, NOW))


def test_refuses_a_database_from_a_newer_engine(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="newer engine"):
        Store.open(tmp_path)


def test_a_version_1_database_is_upgraded_and_keeps_its_events(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    db.executescript(SCHEMA_V1.read_text())
    db.execute(
        "INSERT INTO events (type, severity, created_at, cluster_id, network_id, host_id,"
        " vm_id, migration_id, message, attributes) VALUES (?, ?, 0, 'cl-1', '', '', '', '',"
        " 'written before actors', '{}')",
        (int(EventType.CLUSTER_CREATED), int(EventSeverity.INFO)),
    )
    db.commit()
    db.close()
    store = Store.open(tmp_path)
    try:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        [old] = store.list_events("", 0, 10).items
        assert (old.message, old.actor) == ("written before actors", "")
        [new] = store.append_events([Event(EventType.CLUSTER_UPDATED, "new", NOW, actor="alice")])
        assert store.list_events("", old.sequence, 10).items == [new]
    finally:
        store.close()
    reopened = Store.open(tmp_path)  # upgraded once: opens as the current version
    try:
        assert [e.actor for e in reopened.list_events("", 0, 10).items] == ["", "alice"]
    finally:
        reopened.close()


def _upgraded_with_a_vm(tmp_path: Path, schema: Path) -> Store:
    """A database made by an older `schema` holding one VM, opened (so upgraded) by the Store
    of this version."""
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    db.executescript(schema.read_text())
    db.execute(
        "INSERT INTO vms (id, host_id, cluster_id, name, state, memory_mib)"
        " VALUES ('vm-1', 'host-1', 'cl-1', 'web', ?, 512)",
        (int(VmState.RUNNING),),
    )
    db.commit()
    db.close()
    store = Store.open(tmp_path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    return store


def test_a_version_2_database_is_upgraded_and_keeps_its_vms(tmp_path: Path) -> None:
    store = _upgraded_with_a_vm(tmp_path, SCHEMA_V2)
    try:
        # Recorded before disks and vNICs were: none known until the agent's next report.
        assert store.get_vm("vm-1") == Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)
        disk = VmDisk("vda", DiskKind.LOCAL, 2**30)
        with store.transaction():
            store.insert_cluster(cluster())
            store.insert_host(
                Host("host-1", "cl-1", "h1", "10.0.1.5:50052", HostStatus.UP, "", NOW)
            )
            store.replace_host_vms(
                "host-1",
                [Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512, disks=(disk,))],
            )
        stored = store.get_vm("vm-1")
        assert stored is not None and stored.disks == (disk,)
    finally:
        store.close()


def test_a_version_3_database_is_upgraded_and_gains_dirty_rate_history(tmp_path: Path) -> None:
    store = _upgraded_with_a_vm(tmp_path, SCHEMA_V3)
    try:
        # Recorded before dirty rates were: none known until the agent measured one.
        assert store.get_vm("vm-1") == Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)
        with store.transaction():
            store.insert_cluster(cluster())
            store.insert_host(
                Host("host-1", "cl-1", "h1", "10.0.1.5:50052", HostStatus.UP, "", NOW)
            )
        reports = [
            DirtyRateSample(5 * 2**20, 100.0 + i) for i in range(DIRTY_RATE_HISTORY_LENGTH + 2)
        ]
        for sample in [reports[0], reports[0], *reports[1:]]:  # a repeated report counts once
            with store.transaction():
                store.replace_host_vms(
                    "host-1",
                    [
                        Vm(
                            "vm-1",
                            "web",
                            "host-1",
                            "cl-1",
                            VmState.RUNNING,
                            512,
                            dirty_rates=(sample,),
                        )
                    ],
                )
        stored = store.get_vm("vm-1")
        assert stored is not None
        assert stored.dirty_rates == tuple(reports[-DIRTY_RATE_HISTORY_LENGTH:])
        assert stored.dirty_rate == reports[-1]
    finally:
        store.close()


def test_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use the engine database"):
        Store.open(tmp_path)


def test_wal_and_full_sync(store: Store) -> None:
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_policy_stored_before_the_local_disk_share_reads_with_its_default() -> None:
    stored = json.loads(policy_json(MigrationPolicy(local_disk_bandwidth_percent=40)))
    del stored["local_disk_bandwidth_percent"]
    assert policy_from_json(json.dumps(stored)).local_disk_bandwidth_percent == (
        DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT
    )


def test_a_version_4_database_is_upgraded_and_its_vms_are_normal_priority(
    tmp_path: Path,
) -> None:
    store = _upgraded_with_a_vm(tmp_path, SCHEMA_V4)
    try:
        # Recorded before priorities were: NORMAL until an admin sets one.
        stored = store.get_vm("vm-1")
        assert stored == Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)
        assert stored.priority is MigrationPriority.NORMAL
        with store.transaction():
            store.insert_cluster(cluster())
            store.insert_host(
                Host("host-1", "cl-1", "h1", "10.0.1.5:50052", HostStatus.UP, "", NOW)
            )
            store.set_vm_priority("vm-1", MigrationPriority.HIGH)
        # The agent's next report does not reset the admin's choice.
        with store.transaction():
            store.replace_host_vms(
                "host-1", [Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 1024)]
            )
        stored = store.get_vm("vm-1")
        assert stored is not None
        assert (stored.priority, stored.memory_mib) == (MigrationPriority.HIGH, 1024)
    finally:
        store.close()


def test_a_migrations_priority_and_larger_share_round_trip(store: Store) -> None:
    queued = Migration.queued(
        "mig-p",
        cluster_id="cl-1",
        vm_id="vm-1",
        vm_name="web",
        source_host_id="host-1",
        created_at=NOW,
        queue_reason="",
        priority=MigrationPriority.LOW,
        priority_override=MigrationPriority.HIGH,
    )
    granted = replace(queued, granted_mibps=700)
    with store.transaction():
        store.insert_migration(granted)
    assert store.get_migration("mig-p") == granted
    plain = replace(queued, id="mig-q", priority_override=None, priority=MigrationPriority.LOW)
    with store.transaction():
        store.insert_migration(plain)
    assert store.get_migration("mig-q") == plain
