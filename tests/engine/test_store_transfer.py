"""`miglane engine migrate-store`: an engine's state moved SQLite -> PostgreSQL -> SQLite with
nothing lost (every table counted and checksummed, key counters carried over), a non-empty
target refused unless it is to be replaced."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from miglane.cli.main import main as miglane
from miglane.engine.domain.model import (
    Cluster,
    Event,
    EventType,
    Host,
    HostStatus,
    Migration,
    MigrationFilter,
    MigrationPhase,
    MigrationPolicy,
    Network,
    NetworkRole,
    Vm,
    VmState,
)
from miglane.engine.store import Store
from miglane.engine.store_dialect import sqlite_url
from miglane.engine.store_schema import TABLES
from miglane.engine.store_transfer import TableTally, tally
from miglane.testing.postgres import PostgresServer

NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _fill(store: Store) -> None:
    """Some of every table, and a deleted cluster (its key number is used up)."""
    with store.transaction():
        for name in ("c1", "gone", "c2"):
            store.insert_cluster(Cluster(f"cl-{name}", name, "4.7", MigrationPolicy(), "", NOW))
        store.delete_cluster("cl-gone")
        store.insert_network(Network("net-1", "cl-c1", "mig", "10.1.0.0/16", created_at=NOW))
        store.set_role_holder("cl-c1", NetworkRole.MIGRATION, "net-1")
        for i in range(3):
            store.insert_host(
                Host(f"host-{i}", "cl-c1", f"h{i}", f"10.0.0.{i}:1", HostStatus.UP, "", NOW)
            )
            store.replace_host_vms(
                f"host-{i}", [Vm(f"vm-{i}", f"web{i}", f"host-{i}", "cl-c1", VmState.RUNNING, 512)]
            )
        store.insert_migration(
            Migration("mig-1", "cl-c1", "vm-0", "host-0", MigrationPhase.RUNNING, NOW)
        )
        store.append_events(
            Event(EventType.CLUSTER_CREATED, f"event {i} 'quoted' 100%", NOW, cluster_id="cl-c1")
            for i in range(1200)  # more than one copy batch
        )


def _tallies(url: str) -> list[TableTally]:
    store = Store.connect(url)
    try:
        return [tally(store.database, table) for table in TABLES]
    finally:
        store.close()


def _models(url: str) -> list[object]:
    """Everything the store holds, read back as the engine's models."""
    store = Store.connect(url)
    try:
        return [
            store.list_clusters(0, 100).items,
            store.list_networks("", 0, 100).items,
            store.list_hosts("", 0, 100).items,
            store.list_vms("", "", 0, 100).items,
            store.list_migrations(MigrationFilter(), 0, 100).items,
            store.list_events("", 0, 10_000).items,
        ]
    finally:
        store.close()


def _migrate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = miglane(["engine", "migrate-store", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_state_moves_to_postgresql_and_back_with_nothing_lost(
    tmp_path: Path, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = sqlite_url(tmp_path / "source.sqlite3")
    store = Store.connect(source)
    _fill(store)
    store.close()
    before = _tallies(source)
    postgres = postgres_server.create_database("moved")

    code, out, _ = _migrate(capsys, "--from", source, "--to", postgres)

    assert code == 0
    for expected in before:
        assert f"{expected.line()}: source and target agree" in out
    assert f"moved {len(TABLES)} tables, {sum(t.rows for t in before)} rows" in out
    assert _tallies(postgres) == before
    assert _models(postgres) == _models(source)

    # The moved state reads as the original, and new records go on where it left off.
    moved = Store.connect(postgres)
    try:
        assert [c.id for c in moved.list_clusters(0, 10).items] == ["cl-c1", "cl-c2"]
        cluster = moved.get_cluster("cl-c1")
        assert cluster is not None and cluster.migration_network_id == "net-1"
        assert [m.id for m in moved.active_migrations("cl-c1")] == ["mig-1"]
        vm = moved.get_vm("vm-0")
        assert vm is not None and vm.migration_id == "mig-1"
        with moved.transaction():
            moved.insert_cluster(Cluster("cl-new", "new", "4.7", MigrationPolicy(), "", NOW))
            [event] = moved.append_events([Event(EventType.CLUSTER_CREATED, "after", NOW)])
        clusters = moved.list_clusters(0, 10)
        # Keys are never reused: "gone" had number 2, c2 has 3, the new one 4.
        assert moved.list_clusters(3, 10).items == [clusters.items[-1]]
        assert clusters.items[-1].id == "cl-new"
        assert event.sequence == 1201
    finally:
        moved.close()

    back = sqlite_url(tmp_path / "back.sqlite3")
    code, out, _ = _migrate(capsys, "--from", postgres, "--to", back)
    assert code == 0
    assert _tallies(back) == _tallies(postgres)
    assert _models(back) == _models(postgres)


def test_a_target_holding_state_is_refused_unless_replaced(
    tmp_path: Path, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = sqlite_url(tmp_path / "source.sqlite3")
    store = Store.connect(source)
    _fill(store)
    store.close()
    target = postgres_server.create_database("occupied")
    occupant = Store.connect(target)
    with occupant.transaction():
        occupant.insert_cluster(Cluster("cl-x", "x", "4.7", MigrationPolicy(), "", NOW))
    occupant.close()
    occupied = _tallies(target)

    code, _, err = _migrate(capsys, "--from", source, "--to", target)

    assert code == 1
    assert "already holds engine state (clusters: 1 rows)" in err
    assert "--replace-target" in err
    assert _tallies(target) == occupied  # untouched

    code, _, _ = _migrate(capsys, "--from", source, "--to", target, "--replace-target")
    assert code == 0
    assert _tallies(target) == _tallies(source)


def test_the_checksum_sees_a_changed_value(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        _fill(store)
        [hosts] = [t for t in TABLES if t.name == "hosts"]
        before = tally(store.database, hosts)
        store.database.execute("UPDATE hosts SET status_reason = 'x' WHERE id = 'host-1'")
        after = tally(store.database, hosts)
        assert (after.rows, after.counter) == (before.rows, before.counter)
        assert after.checksum != before.checksum
    finally:
        store.close()


def test_a_missing_source_file_or_the_same_database_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = sqlite_url(tmp_path / "typo.sqlite3")
    code, _, err = _migrate(capsys, "--from", missing, "--to", sqlite_url(tmp_path / "b"))
    assert (code, err) == (
        1,
        f"migrate-store: no database at {tmp_path / 'typo.sqlite3'} (--from)\n",
    )
    assert not (tmp_path / "typo.sqlite3").exists() and not (tmp_path / "b").exists()
    code, _, err = _migrate(capsys, "--from", missing, "--to", missing)
    assert code == 1 and "the same database" in err


def test_an_unknown_url_is_refused_before_anything_is_opened(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        _migrate(capsys, "--from", "mysql://h/db", "--to", "sqlite:///x")
    assert exited.value.code == 2
    assert "sqlite:///PATH or postgresql://" in capsys.readouterr().err
