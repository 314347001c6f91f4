"""The store, on SQLite and on PostgreSQL alike: round trips, atomic transactions, the role
constraint, reopening, upgrading an older database, refusing a newer one."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_backends import DatabaseOf

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
from miglane.engine.store import Store, StoreError
from miglane.engine.store_codecs import (
    dirty_rates_from_json,
    dirty_rates_json,
    micros,
    policy_from_json,
    policy_json,
)
from miglane.engine.store_dialect import IntegrityViolation, open_database
from miglane.engine.store_schema import SCHEMA_VERSION, schema_statements

pytestmark = pytest.mark.both_store_backends

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
def url(tmp_path: Path, database_of: DatabaseOf) -> str:
    """The test's database (SQLite or PostgreSQL: the test runs on both)."""
    return database_of(tmp_path)


@pytest.fixture
def store(url: str):  # type: ignore[no-untyped-def]
    opened = Store.connect(url)
    with opened.transaction():
        opened.insert_cluster(cluster())
        opened.insert_network(network("net-a", "a", "10.0.1.0/24"))
        opened.insert_network(network("net-b", "b", "10.0.2.0/24"))
    yield opened
    opened.close()


def test_round_trips(store: Store, url: str) -> None:
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

    reopened = Store.connect(url)
    assert reopened.get_cluster("cl-1") == replace(cluster(), migration_network_id="net-b")
    assert reopened.get_network("net-b") == replace(
        network("net-b", "b", "10.0.2.0/24"), roles=(NetworkRole.MIGRATION,)
    )
    assert reopened.get_host("host-1") == host
    assert reopened.get_migration("mig-1") == migration
    assert reopened.get_vm("vm-1") == replace(vm, migration_id="mig-1")
    reopened.close()


def test_vms_are_looked_up_together(store: Store) -> None:
    host = Host("host-1", "cl-1", "h1", "10.0.1.5:50052", HostStatus.UP, "", NOW)
    vms = [Vm(f"vm-{i}", f"web{i}", "host-1", "cl-1", VmState.RUNNING, 512) for i in range(3)]
    with store.transaction():
        store.insert_host(host)
        store.replace_host_vms("host-1", vms)
        store.insert_migration(
            Migration("mig-1", "cl-1", "vm-1", "host-1", MigrationPhase.QUEUED, NOW)
        )
    found = {vm.id: vm for vm in store.get_vms(["vm-0", "vm-1", "vm-nope"])}
    assert found == {"vm-0": vms[0], "vm-1": replace(vms[1], migration_id="mig-1")}
    assert store.get_vms([]) == []


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
    with pytest.raises(IntegrityViolation), store.transaction():
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
    counted = store.migration_counts(["h1", "h2", "h3"])
    assert store.migration_counts(["h1", "h2", "h3"], clusters=["cl-1"]) == counted
    assert store.migration_counts(["h1", "h2"], clusters=["other"]) == {"h1": (0, 0), "h2": (0, 0)}
    finished = store.list_migrations(
        MigrationFilter(phases=frozenset({MigrationPhase.FAILED, MigrationPhase.CANCELLED})), 0, 10
    )
    assert [m.id for m in finished.items] == ["m5", "m6"]
    with pytest.raises(KeyError):
        store.update_migration(Migration("nope", "cl-1", "vm", "h1", MigrationPhase.QUEUED, NOW))


def test_refuses_a_database_from_a_newer_engine(store: Store, url: str) -> None:
    with store.transaction():
        store.database.set_schema_version(SCHEMA_VERSION + 1)
    store.close()
    with pytest.raises(StoreError, match="newer engine"):
        Store.connect(url)


def _old_database(url: str, schema: Path, *rows: tuple[str, tuple[object, ...]]) -> None:
    """A database as an older engine's `schema` (an SQLite script, spelt for this database as
    the current schema is) created it, holding the `rows` (INSERT statements and arguments)."""
    db = open_database(url)
    version = 0
    with db.transaction():
        for statement in schema_statements(schema.read_text()):
            if statement.startswith("PRAGMA user_version="):
                version = int(statement.split("=")[1])
            else:
                db.execute(db.ddl(statement))
        db.set_schema_version(version)
        for insert, args in rows:
            db.execute(insert, args)
    db.close()


def test_a_version_1_database_is_upgraded_and_keeps_its_events(url: str) -> None:
    _old_database(
        url,
        SCHEMA_V1,
        (
            "INSERT INTO events (type, severity, created_at, cluster_id, network_id, host_id,"
            " vm_id, migration_id, message, attributes) VALUES (?, ?, 0, 'cl-1', '', '', '', '',"
            " 'written before actors', '{}')",
            (int(EventType.CLUSTER_CREATED), int(EventSeverity.INFO)),
        ),
    )
    store = Store.connect(url)
    try:
        assert store.database.schema_version() == SCHEMA_VERSION
        [old] = store.list_events("", 0, 10).items
        assert (old.message, old.actor) == ("written before actors", "")
        [new] = store.append_events([Event(EventType.CLUSTER_UPDATED, "new", NOW, actor="alice")])
        assert store.list_events("", old.sequence, 10).items == [new]
    finally:
        store.close()
    reopened = Store.connect(url)  # upgraded once: opens as the current version
    try:
        assert [e.actor for e in reopened.list_events("", 0, 10).items] == ["", "alice"]
    finally:
        reopened.close()


def _upgraded_with_a_vm(url: str, schema: Path) -> Store:
    """A database made by an older `schema` holding cluster cl-1 with host host-1 running one
    VM, opened (so upgraded) by the Store of this version."""
    _old_database(
        url,
        schema,
        (
            "INSERT INTO clusters (id, name, compatibility_version, policy, description,"
            " created_at) VALUES ('cl-1', 'c1', '4.7', '{}', '', ?)",
            (micros(NOW),),
        ),
        (
            "INSERT INTO hosts (id, cluster_id, name, agent_address, status, status_reason,"
            " created_at, nics, facts) VALUES ('host-1', 'cl-1', 'h1', '10.0.1.5:50052', ?, '',"
            " ?, '[]', '{}')",
            (int(HostStatus.UP), micros(NOW)),
        ),
        (
            "INSERT INTO vms (id, host_id, cluster_id, name, state, memory_mib)"
            " VALUES ('vm-1', 'host-1', 'cl-1', 'web', ?, 512)",
            (int(VmState.RUNNING),),
        ),
    )
    store = Store.connect(url)
    assert store.database.schema_version() == SCHEMA_VERSION
    return store


def test_a_version_2_database_is_upgraded_and_keeps_its_vms(url: str) -> None:
    store = _upgraded_with_a_vm(url, SCHEMA_V2)
    try:
        # Recorded before disks and vNICs were: none known until the agent's next report.
        assert store.get_vm("vm-1") == Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)
        disk = VmDisk("vda", DiskKind.LOCAL, 2**30)
        with store.transaction():
            store.replace_host_vms(
                "host-1",
                [Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512, disks=(disk,))],
            )
        stored = store.get_vm("vm-1")
        assert stored is not None and stored.disks == (disk,)
    finally:
        store.close()


def test_a_version_3_database_is_upgraded_and_gains_dirty_rate_history(url: str) -> None:
    store = _upgraded_with_a_vm(url, SCHEMA_V3)
    try:
        # Recorded before dirty rates were: none known until the agent measured one.
        assert store.get_vm("vm-1") == Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)
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


def test_dirty_rate_samples_keep_their_working_set_and_old_ones_read_as_unknown() -> None:
    samples = (DirtyRateSample(8 * 2**20, 100.5, 4 * 2**20), DirtyRateSample(2**20, 101.0))
    assert dirty_rates_from_json(dirty_rates_json(samples)) == samples
    # Written before working sets were measured: [rate, measured_at].
    assert dirty_rates_from_json("[[5242880, 100.0]]") == (DirtyRateSample(5 * 2**20, 100.0, 0),)


def test_a_policy_stored_before_the_local_disk_share_reads_with_its_default() -> None:
    stored = json.loads(policy_json(MigrationPolicy(local_disk_bandwidth_percent=40)))
    del stored["local_disk_bandwidth_percent"]
    assert policy_from_json(json.dumps(stored)).local_disk_bandwidth_percent == (
        DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT
    )


def test_a_version_4_database_is_upgraded_and_its_vms_are_normal_priority(url: str) -> None:
    store = _upgraded_with_a_vm(url, SCHEMA_V4)
    try:
        # Recorded before priorities were: NORMAL until an admin sets one.
        stored = store.get_vm("vm-1")
        assert stored == Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)
        assert stored.priority is MigrationPriority.NORMAL
        with store.transaction():
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
