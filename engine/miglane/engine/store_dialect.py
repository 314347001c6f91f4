"""The two databases the engine's store runs on, SQLite and PostgreSQL: their URLs, opening a
connection, transactions, and the few places their SQL differs (placeholders, auto-numbered
keys, the schema version, the integrity check, key counters), so that the store's queries and
its schema are written once, in SQLite's spelling, and run unchanged on both.

    sqlite:///ABSOLUTE/PATH   (or sqlite:RELATIVE/PATH)
    postgresql://USER:PASSWORD@HOST:PORT/DATABASE?host=/socket/dir   (a libpq URI)
"""

from __future__ import annotations

import functools
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

SQLITE_SCHEME = "sqlite"
POSTGRES_SCHEMES = ("postgresql", "postgres")


# An auto-numbered key as the schema spells it (SQLite's way).
SQLITE_KEY_COLUMN = "INTEGER PRIMARY KEY AUTOINCREMENT"


class StoreError(Exception):
    """The database cannot be used (unreachable, corrupt, from a newer engine, ...)."""


class IntegrityViolation(Exception):
    """A write broke a constraint of the schema (a unique key, a foreign key): a caller's bug."""


class WriteFence(Protocol):
    """What a write transaction checks just before it commits, inside it (on the store's
    thread): raises when the engine's writes must not land any more (a deposed leader's), and
    the transaction is rolled back instead."""

    def check(self, database: Database) -> None: ...

    @property
    def stall_limit_s(self) -> float:
        """How long a transaction may stay open while its process does nothing with it
        (paused, stuck) before the database ends it (where it can) and frees its locks."""


class Row(Protocol):
    """A result row, read by column name (sqlite3.Row, or a dict from psycopg)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...


def sqlite_url(path: Path) -> str:
    return f"{SQLITE_SCHEME}://{path.absolute()}"


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)


def check_url(url: str) -> str:
    """`url` when it names a database the store can use; ValueError saying what to write."""
    if scheme_of(url) == SQLITE_SCHEME and sqlite_path(url) != Path():
        return url
    if scheme_of(url) in POSTGRES_SCHEMES:
        return url
    raise ValueError(
        f"unknown database URL {redacted(url)!r}: write sqlite:///PATH or postgresql://..."
    )


def sqlite_path(url: str) -> Path:
    """The file an `sqlite:` URL names."""
    rest = url[len(SQLITE_SCHEME) + 1 :]
    return Path(rest[2:] if rest.startswith("//") else rest)


def open_database(url: str) -> Database:
    """A connection to the database at `url` (an SQLite file is created when missing);
    StoreError when it cannot be opened."""
    check_url(url)
    if scheme_of(url) == SQLITE_SCHEME:
        return SqliteDatabase(url)
    return PostgresDatabase(url)


class Database(ABC):
    """One connection and its dialect. Not thread-safe: one thread uses it at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._depth = 0
        self._fence: WriteFence | None = None

    def fence_writes(self, fence: WriteFence) -> None:
        """Every write transaction from now on checks `fence` before it commits; one left idle
        longer than the fence's stall limit is ended by the database (where it can), so a
        paused writer's row locks never hold up the engine that took over from it."""
        self._fence = fence
        self._limit_idle_transactions(fence.stall_limit_s)

    def _limit_idle_transactions(self, seconds: float) -> None:  # noqa: B027 (SQLite: one engine)
        """Ends a transaction left idle for longer than `seconds`."""

    @property
    def name(self) -> str:
        """The URL, without a password."""
        return redacted(self.url)

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Runs one statement written with `?` placeholders."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def ddl(self, statement: str) -> str:
        """A schema statement (CREATE, ALTER) as this database spells it."""

    @abstractmethod
    def check_integrity(self) -> None:
        """StoreError when the database is damaged."""

    @abstractmethod
    def schema_version(self) -> int:
        """0 for an empty database."""

    @abstractmethod
    def set_schema_version(self, version: int) -> None: ...

    def lock_schema(self) -> None:  # noqa: B027 (SQLite's write transaction already is one)
        """Inside a transaction: engines starting together prepare the schema one at a time."""

    @abstractmethod
    def counter(self, table: str, column: str) -> int:
        """The last number the auto-numbered `column` gave out (0 when none)."""

    @abstractmethod
    def set_counter(self, table: str, column: str, value: int) -> None:
        """The next auto-number of `column` follows `value`."""

    @abstractmethod
    def _begin(self, *, snapshot: bool) -> None: ...

    @contextmanager
    def transaction(self, *, snapshot: bool = False) -> Iterator[None]:
        """One atomic change; nested uses join the outer transaction. `snapshot`: a read-only
        view that writers committing meanwhile do not change."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin(snapshot=snapshot)
        self._depth = 1
        try:
            yield
            # Last, so that the check's lock (if any) is held only for the commit, and a
            # deposition that came while the transaction ran is seen.
            if self._fence is not None and not snapshot:
                self._fence.check(self)
        except BaseException:
            self._depth = 0
            self.execute("ROLLBACK")
            raise
        self._depth = 0
        self.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: a part that can fail alone. When it raises, what it wrote is
        undone and the transaction goes on with what came before it."""
        if not self._depth:
            raise RuntimeError("a savepoint belongs inside a transaction")
        self.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK TO SAVEPOINT part")
            self.execute("RELEASE SAVEPOINT part")
            raise
        self.execute("RELEASE SAVEPOINT part")


class SqliteDatabase(Database):
    """A file: WAL journal with `synchronous=FULL`, so a committed change survives `kill -9`
    (and power loss) and anything not committed is rolled back on the next open."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module opens no implicit transactions; ours are
        # explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(f"cannot use the engine database {self.path}: {error}") from error

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.IntegrityError as error:
            raise IntegrityViolation(str(error)) from error

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.IntegrityError as error:
            raise IntegrityViolation(str(error)) from error

    def close(self) -> None:
        self._db.close()

    def ddl(self, statement: str) -> str:
        return statement

    def check_integrity(self) -> None:
        try:
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot use the engine database {self.path}: {error}") from error
        if check != "ok":
            raise StoreError(f"integrity check of {self.path} failed: {check}")

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version={int(version)}")

    def counter(self, table: str, column: str) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def set_counter(self, table: str, column: str, value: int) -> None:
        self._db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        if value:
            self._db.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value)
            )

    def _begin(self, *, snapshot: bool) -> None:
        # IMMEDIATE: the write lock is taken at the start, so a transaction never fails
        # half-way for a writer in another process.
        self._db.execute("BEGIN" if snapshot else "BEGIN IMMEDIATE")


@functools.lru_cache(maxsize=1024)
def postgres_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


_WORD_INTEGER = re.compile(r"\bINTEGER\b")


def postgres_ddl(statement: str) -> str:
    """A schema statement as PostgreSQL spells it: auto-numbered keys are identity columns and
    every INTEGER is 64-bit (as SQLite's are: times are microseconds since the epoch)."""
    statement = statement.replace(
        SQLITE_KEY_COLUMN, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    )
    return _WORD_INTEGER.sub("BIGINT", statement)


# Engines preparing one database's schema take this advisory lock, one after the other.
_SCHEMA_LOCK_KEY = 0x6D69676C616E65  # "miglane"


class PostgresDatabase(Database):
    """A PostgreSQL database (psycopg 3, autocommit outside our explicit transactions).

    Its integers are 64-bit (times are microseconds since the epoch); the schema version is the
    one row of `schema_version`; auto-numbered keys are identity columns."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        import psycopg
        from psycopg.rows import dict_row

        self._errors = psycopg
        try:
            self._db = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        except psycopg.Error as error:
            raise StoreError(f"cannot use the engine database {self.name}: {error}") from error

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        try:
            return self._db.execute(postgres_sql(sql), tuple(args))  # type: ignore[arg-type]
        except self._errors.IntegrityError as error:
            raise IntegrityViolation(str(error)) from error

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self._db.cursor() as cursor:
                cursor.executemany(postgres_sql(sql), rows)  # type: ignore[arg-type]
        except self._errors.IntegrityError as error:
            raise IntegrityViolation(str(error)) from error

    def close(self) -> None:
        self._db.close()

    def ddl(self, statement: str) -> str:
        return postgres_ddl(statement)

    def check_integrity(self) -> None:
        """PostgreSQL checks its own pages; a reachable database is a usable one."""

    def schema_version(self) -> int:
        row = self.execute("SELECT to_regclass('schema_version') IS NOT NULL AS known")
        if not row.fetchone()["known"]:
            return 0
        found = self.execute("SELECT version FROM schema_version").fetchone()
        return int(found["version"]) if found else 0

    def set_schema_version(self, version: int) -> None:
        self.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        self.execute("DELETE FROM schema_version")
        self.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_KEY,))

    def _limit_idle_transactions(self, seconds: float) -> None:
        self.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', ?, false)",
            (str(max(1, round(seconds * 1000))),),
        )

    def counter(self, table: str, column: str) -> int:
        row = self.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(?, ?)::regclass) AS n",
            (table, column),
        ).fetchone()
        return int(row["n"] or 0)

    def set_counter(self, table: str, column: str, value: int) -> None:
        self.execute(
            "SELECT setval(pg_get_serial_sequence(?, ?), ?, ?)",
            (table, column, max(value, 1), value > 0),
        )

    def _begin(self, *, snapshot: bool) -> None:
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if snapshot else "BEGIN")
