"""The database layer every store module queries through: one connection, atomic writes."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlite_utils import Database

from storage.connection import connect, known_migrations, pending_migrations
from storage.faults import Fault, StorageError
from storage.location import Dialect, Location, parse_location
from storage.schema import migrations

if TYPE_CHECKING:
    from storage.postgres import PgConnection

_TS = "%Y-%m-%d %H:%M:%S.%f"

Params = Sequence[Any] | dict[str, Any]

# The columns an Article is made of: never `*`, which on PostgreSQL would also read each
# article's search vector.
ARTICLE_COLUMNS = (
    "id, title, body, url, published, added, language, source, removed, image_url, image_verdict,"
    " summary"
)
ARTICLE_COLUMNS_A = (
    "a.id, a.title, a.body, a.url, a.published, a.added, a.language, a.source, a.removed,"
    " a.image_url, a.image_verdict, a.summary"
)


class Row(Protocol):
    """A result row on either engine: by position, by column name, and its column names."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What the store uses of a cursor, on either engine."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the store uses of a connection: sqlite3.Connection, or storage.postgres's."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Params = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...

    # (Any, not Cursor: sqlite3.Connection's methods return sqlite3.Cursor, whose
    # row_factory the store sets; storage code that calls them types the result itself.)

    def close(self) -> None: ...


CommitHook = Callable[[Connection], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_ts(value: datetime) -> str:
    """Fixed-width UTC text, so that SQL compares times as strings correctly."""
    return value.astimezone(UTC).strftime(_TS)


def from_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    # The fixed-width format is ISO 8601, which fromisoformat reads ten times faster than
    # strptime; anything else still gets strptime's error.
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.strptime(value, _TS)
    if len(value) != 26 or parsed.tzinfo is not None:
        parsed = datetime.strptime(value, _TS)
    return parsed.replace(tzinfo=UTC)


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching `text` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def marks(values: Sequence[object]) -> str:
    """The "?" placeholders for an IN list of these values."""
    return ",".join("?" * len(values))


def chat_scope(
    platforms: Iterable[str], only_chats: Mapping[str, Collection[str]], table: str
) -> tuple[str, list[str]]:
    """A WHERE clause (and its parameters) for the rows of these platforms, those in
    `only_chats` limited to the chats listed there. Empty when nothing is in scope."""
    whole = sorted(set(platforms) - set(only_chats))
    parts: list[str] = []
    params: list[str] = []
    if whole:
        parts.append(f"{table}.platform IN ({marks(whole)})")
        params += whole
    for platform, chats in sorted(only_chats.items()):
        ids = sorted(set(chats))
        if ids:
            parts.append(f"({table}.platform = ? AND {table}.chat_id IN ({marks(ids)}))")
            params += [platform, *ids]
    return " OR ".join(parts), params


class Db:
    """One connection in autocommit mode (a SQLite file, or a PostgreSQL server: `dialect`),
    with the clock the store stamps rows with. A single statement is atomic by itself;
    `write()` groups statements into one transaction that takes the write lock up front
    (SQLite's BEGIN IMMEDIATE; on PostgreSQL one advisory lock), so that several processes
    can share the store, and nests as savepoints."""

    def __init__(
        self,
        location: str | Path | Location,
        *,
        clock: Callable[[], datetime] = utcnow,
        synchronous: str = "NORMAL",
        read_only: bool = False,
    ) -> None:
        self.location = location if isinstance(location, Location) else parse_location(location)
        self.dialect: Dialect = self.location.dialect
        self.path = self.location.display
        self.read_only = read_only
        self.clock = clock
        self._before_commit: list[CommitHook] = []
        self._database: Database | None = None
        self._pg: PgConnection | None = None
        self.conn: Connection
        if self.location.is_postgres:
            from storage.postgres import PgConnection

            self._pg = PgConnection(self.location)
            self.conn = self._pg
        else:
            sqlite = connect(self.location.target, read_only=read_only, synchronous=synchronous)
            # sqlite-utils runs the migrations; queries go straight to the connection.
            self._database = Database(sqlite)
            self.conn = sqlite

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The SQLite connection itself (backups); a PostgreSQL store has none."""
        if self._database is None:
            raise TypeError("a PostgreSQL store has no SQLite connection")
        return self._database.conn

    @property
    def database(self) -> Database:
        """The sqlite-utils view of a SQLite store (migrations, tests, benchmarks)."""
        if self._database is None:
            raise TypeError("a PostgreSQL store has no sqlite-utils view")
        return self._database

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.conn.close()

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """All statements inside commit together or not at all. Inside another write it is a
        savepoint: its failure undoes only its own statements, and the outer write decides."""
        if self.conn.in_transaction:
            with self._savepoint():
                yield self.conn
            return
        self._begin()
        try:
            yield self.conn
            for hook in self._before_commit:
                hook(self.conn)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _begin(self) -> None:
        if self._pg is not None:
            from storage.postgres import WRITE_LOCK_KEY

            self.conn.execute("BEGIN")
            try:
                self.conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))
            except BaseException:
                self._rollback()
                raise
        else:
            self.conn.execute("BEGIN IMMEDIATE")

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        name = f"newsbot_{secrets.token_hex(8)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            # Some errors (a full disk, an I/O error) make SQLite roll back the whole
            # transaction, savepoints included: there is nothing left to undo then, and
            # trying would hide the real error behind "no such savepoint".
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")

    def _rollback(self) -> None:
        # A COMMIT that failed (a deferred constraint, a full disk) leaves the transaction
        # open: the next write must not silently join it. After some errors SQLite has
        # already rolled back by itself.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def before_commit(self, hook: CommitHook) -> None:
        """Run `hook` inside every outermost write, just before it commits."""
        self._before_commit.append(hook)

    # -- queries --------------------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        result: Cursor = self.conn.execute(sql, params)
        return result

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        result: Cursor = self.conn.executemany(sql, rows)
        return result

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self.conn.execute(sql, params)
        if self._pg is None:
            cur.row_factory = sqlite3.Row
        return list(cur.fetchall())

    def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def changes(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; how many rows it changed."""
        return int(self.conn.execute(sql, params).rowcount)

    # -- the schema -----------------------------------------------------------------------

    def pending_migrations(self) -> list[str]:
        if self._pg is not None:
            from storage.postgres import applied_migrations

            return pending_migrations(applied_migrations(self._pg), self.path)
        return pending_migrations([m.name for m in migrations.applied(self.database)], self.path)

    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names. Deciding what is pending and applying
        it happen in one write transaction, so that processes starting at once on a new file
        wait for each other instead of racing: the later ones find nothing pending. A database
        with migrations this code does not know is refused (StorageError)."""
        if self.read_only:
            pending = self.pending_migrations()
            if pending:
                known = known_migrations()
                done = [name for name in known if name not in pending]
                raise StorageError(
                    Fault.NEEDS_MIGRATION,
                    path=self.path,
                    db_version=done[-1] if done else "-",
                    code_version=known[-1],
                )
            return []
        with self.write():
            pending = self.pending_migrations()
            if pending and self._pg is not None:
                from storage.postgres import apply_migrations

                apply_migrations(self._pg, pending, to_ts(self.now()))
            elif pending:
                migrations.apply(self.database)
        return pending
