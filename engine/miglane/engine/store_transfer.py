"""Moving an engine's state from one database to another (SQLite <-> PostgreSQL): every table
copied in one transaction on the target, each table's rows counted and checksummed on both sides
before the commit, and the auto-numbered keys going on where the source left them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from miglane.engine.store import Store
from miglane.engine.store_dialect import Database, StoreError
from miglane.engine.store_schema import TABLES, Table

_BATCH = 500


class TargetNotEmpty(StoreError):
    """The target database already holds state (and was not to be replaced)."""


@dataclass(frozen=True)
class TableTally:
    """What a table holds: its row count, a checksum of its rows (in key order, columns by
    name) and the last number its auto-numbered key gave out."""

    table: str
    rows: int
    checksum: str
    counter: int

    def line(self) -> str:
        return (
            f"{self.table}: {self.rows} rows, sha256 {self.checksum[:16]}, last key {self.counter}"
        )


def tally(db: Database, table: Table) -> TableTally:
    digest = hashlib.sha256()
    cursor = db.execute(f"SELECT * FROM {table.name} ORDER BY {table.order_by}")
    columns = sorted(column[0] for column in cursor.description)
    count = 0
    while batch := cursor.fetchmany(_BATCH):
        for row in batch:
            digest.update(json.dumps([row[c] for c in columns]).encode())
            digest.update(b"\n")
        count += len(batch)
    counter = db.counter(table.name, table.counter) if table.counter else 0
    return TableTally(table.name, count, digest.hexdigest(), counter)


def _copy(source: Database, target: Database, table: Table) -> None:
    cursor = source.execute(f"SELECT * FROM {table.name} ORDER BY {table.order_by}")
    columns = [column[0] for column in cursor.description]
    insert = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    while batch := cursor.fetchmany(_BATCH):
        target.executemany(insert, [tuple(row[c] for c in columns) for row in batch])


def _occupied(target: Database) -> list[str]:
    """'table: N rows' for each table of `target` that holds rows."""
    found = []
    for table in TABLES:
        row = target.execute(f"SELECT COUNT(*) AS n FROM {table.name}").fetchone()
        if row["n"]:
            found.append(f"{table.name}: {row['n']} rows")
    return found


def transfer(
    source: Store, target: Store, *, replace: bool = False, report: Callable[[str], None] = print
) -> list[TableTally]:
    """Copies every table of `source` into `target` (both at this engine's schema version).

    A target holding any row is refused (TargetNotEmpty) unless `replace`, which empties it
    first. Nothing is committed unless every table's count, checksum and key counter on the
    target equal the source's (StoreError otherwise). `report` gets one line per table."""
    src, dst = source.database, target.database
    with src.transaction(snapshot=True), dst.transaction():
        occupied = _occupied(dst)
        if occupied and not replace:
            raise TargetNotEmpty(
                f"{dst.name} already holds engine state ({', '.join(occupied)}); "
                "pass --replace-target to empty it first"
            )
        for table in reversed(TABLES):
            dst.execute(f"DELETE FROM {table.name}")
        tallies = []
        for table in TABLES:
            _copy(src, dst, table)
            if table.counter:
                dst.set_counter(table.name, table.counter, src.counter(table.name, table.counter))
            expected, copied = tally(src, table), tally(dst, table)
            if copied != expected:
                raise StoreError(
                    f"{table.name} differs after the copy: source {expected.line()}; "
                    f"target {copied.line()} (nothing was committed)"
                )
            report(f"{expected.line()}: source and target agree")
            tallies.append(expected)
    return tallies
