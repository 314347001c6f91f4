"""What differs between the store's two databases: URLs, a file that is not SQLite, SQLite's
journal and sync settings, an unreachable PostgreSQL server, and the schema statements as
PostgreSQL spells them."""

from __future__ import annotations

from pathlib import Path

import pytest

from miglane.engine.config import DATABASE_FILE, EngineConfig
from miglane.engine.store import Store, StoreError
from miglane.engine.store_dialect import (
    check_url,
    open_database,
    postgres_ddl,
    postgres_sql,
    redacted,
    sqlite_url,
)
from miglane.engine.store_schema import schema_statements, upgrade_statements


def test_the_default_database_is_the_state_dirs_sqlite_file(tmp_path: Path) -> None:
    assert EngineConfig(tmp_path).database_url == f"sqlite://{tmp_path / DATABASE_FILE}"
    assert EngineConfig(tmp_path, database="postgresql://x@/y").database_url == (
        "postgresql://x@/y"
    )


@pytest.mark.parametrize(
    "url", ["sqlite:///var/lib/e.db", "sqlite:rel/e.db", "postgresql://u@h/db", "postgres:///db"]
)
def test_known_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize("url", ["mysql://h/db", "/var/lib/e.db", "sqlite://", ""])
def test_unknown_urls_say_what_to_write(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///PATH or postgresql://"):
        check_url(url)


def test_passwords_stay_out_of_messages() -> None:
    assert redacted("postgresql://engine:s3cret@db:5432/m") == "postgresql://engine:***@db:5432/m"


def test_a_sqlite_url_opens_that_file(tmp_path: Path) -> None:
    Store.connect(sqlite_url(tmp_path / "sub" / "x.db")).close()
    assert (tmp_path / "sub" / "x.db").stat().st_size > 0


def test_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / DATABASE_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use the engine database"):
        Store.open(tmp_path)


def test_sqlite_runs_wal_with_full_sync(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        assert store.database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.database.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()


def test_an_unreachable_postgresql_server_is_a_store_error(tmp_path: Path) -> None:
    url = f"postgresql://engine:s3cret@/miglane?host={tmp_path}&port=1"
    with pytest.raises(StoreError, match="cannot use the engine database") as refused:
        open_database(url)
    assert "s3cret" not in str(refused.value)


def test_postgresql_spells_keys_and_integers_its_own_way() -> None:
    for statement in [*schema_statements(), *upgrade_statements(1)]:
        spelt = postgres_ddl(statement)
        assert "AUTOINCREMENT" not in spelt and "INTEGER" not in spelt
    assert postgres_ddl("ALTER TABLE vms ADD COLUMN priority INTEGER NOT NULL DEFAULT 0") == (
        "ALTER TABLE vms ADD COLUMN priority BIGINT NOT NULL DEFAULT 0"
    )
    assert postgres_sql("SELECT * FROM t WHERE a = ? AND b LIKE '5%'") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '5%%'"
    )
