"""The database layer every store module queries through: one connection, atomic writes."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from storage.connection import connect, known_migrations, pending_migrations
from storage.faults import Fault, StorageError
from storage.schema import migrations

_TS = "%Y-%m-%d %H:%M:%S.%f"

Params = Sequence[Any] | dict[str, Any]
CommitHook = Callable[[sqlite3.Connection], None]


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
    """One SQLite connection in autocommit mode, with the clock the store stamps rows with.
    A single statement is atomic by itself; `write()` groups statements into one transaction
    that takes the write lock up front (BEGIN IMMEDIATE), so that several processes can share
    the file, and nests as savepoints."""

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        synchronous: str = "NORMAL",
        read_only: bool = False,
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.conn = connect(path, read_only=read_only, synchronous=synchronous)
        # sqlite-utils runs the migrations; queries go straight to the connection.
        self.database = Database(self.conn)
        self.clock = clock
        self._before_commit: list[CommitHook] = []

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.conn.close()

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all. Inside another write it is a
        savepoint: its failure undoes only its own statements, and the outer write decides."""
        if self.conn.in_transaction:
            with self._savepoint():
                yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            for hook in self._before_commit:
                hook(self.conn)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

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

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        cur = self.conn.execute(sql, params)
        cur.row_factory = sqlite3.Row
        return list(cur.fetchall())

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
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
        return pending_migrations(self.database, self.path)

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
            if pending:
                migrations.apply(self.database)
        return pending
