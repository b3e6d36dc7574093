"""`newsbot db copy`: a whole store into an empty one, SQLite or PostgreSQL either way, checked
against its source before it is committed."""

from __future__ import annotations

import contextlib
import functools
import graphlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from storage.db import Db
from storage.faults import storage_fault
from storage.location import Location
from storage.schema import migrations

# Rows per read from the source and per write to the target.
BATCH = 2000
_cursor_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Table:
    """A table the copy carries over: its columns as the schema has them on both engines, the
    primary key it is read in order of, and whether the migrations put rows into it even in an
    empty store (the figures kept by triggers: row_counts, poll_totals)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    seeded: bool


@dataclass(frozen=True, slots=True)
class TableCopied:
    table: str
    rows: int


@dataclass(frozen=True, slots=True)
class Checked:
    """How many polls (their vote totals) and audit log entries were compared."""

    polls: int
    audit_entries: int


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What was copied, table by table in the order copied, and what was checked."""

    tables: tuple[TableCopied, ...]
    seconds: float
    checked: Checked

    @property
    def rows(self) -> int:
        return sum(copied.rows for copied in self.tables)


class CopyRefused(Exception):
    """The copy did not start: `reason` is "same_store", "no_source" (a SQLite file that is
    not there), "not_empty" (with `table`) or "source_behind" (the source needs migrations
    this code has; with `migration`)."""

    def __init__(self, reason: str, **params: str) -> None:
        super().__init__(reason, params)
        self.reason = reason
        self.params = params


class CopyFailed(Exception):
    """A table's rows could not be written to the target (with `table` and the database's
    `detail`, e.g. text PostgreSQL cannot hold). Nothing was committed."""

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(table, detail)
        self.params = {"table": table, "detail": detail}


class CopyMismatch(Exception):
    """The target did not read back as the source: `what` is "rows" (with `table`), "votes"
    (with `poll`) or "audit" (with `entry`). Nothing was committed."""

    def __init__(self, what: str, **params: str) -> None:
        super().__init__(what, params)
        self.what = what
        self.params = params


@functools.cache
def copy_plan() -> tuple[Table, ...]:
    """Every table of the store in an order that satisfies its foreign keys, read from the
    SQLite schema the migrations build (PostgreSQL's has the same tables and columns, plus
    its search vector). Left out: the migrations' ledger (each side migrates itself) and the
    search index (FTS5's tables; rebuilt on the target)."""
    reference = Database(memory=True)
    migrations.apply(reference)
    conn = reference.conn
    tables = [
        str(row[1])
        for row in conn.execute("PRAGMA table_list")
        if row[0] == "main" and row[2] == "table" and not str(row[1]).startswith(("sqlite_", "_"))
    ]
    order = graphlib.TopologicalSorter[str]()
    for name in sorted(tables):
        parents = {str(fk[2]) for fk in conn.execute(f"PRAGMA foreign_key_list({name})")}
        order.add(name, *sorted(parents - {name}))
    plan = []
    for name in order.static_order():
        info = conn.execute(f"PRAGMA table_info({name})").fetchall()
        key = tuple(str(col[1]) for col in sorted(info, key=lambda col: col[5]) if col[5])
        seeded = conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() is not None
        plan.append(Table(name, tuple(str(col[1]) for col in info), key, seeded))
    reference.close()
    return tuple(plan)


Advance = Callable[[int], object]


class CopyProgress(Protocol):
    """Hears how far a copy is: the source's rows once, then each batch as it is written."""

    def begin(self, rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...


def copy_store(
    source: Location,
    target: Location,
    on_table: Callable[[str, int], None] | None = None,
    progress: CopyProgress | None = None,
) -> CopyReport:
    """Copy every row of `source` into `target`, which is migrated first and must hold no
    rows. The source is read in one snapshot (a bot may go on writing it); the target is
    written in one transaction, explicit ids kept, the kept figures copied as they are with
    the target's triggers off, its search index rebuilt, and it is compared with the source
    before it commits: a failure anywhere leaves the target empty. Raises CopyRefused,
    CopyMismatch, or StorageError for a store that cannot be used."""
    if _same_store(source, target):
        raise CopyRefused("same_store")
    if not source.is_postgres and not source.path.is_file():
        # (Opening it would create an empty file, or fail with a less helpful line.)
        raise CopyRefused("no_source")
    started = time.monotonic()
    with contextlib.closing(Db(source, read_only=not source.is_postgres)) as src:
        pending = src.pending_migrations()
        if pending:
            raise CopyRefused("source_behind", migration=pending[0])
        with contextlib.closing(Db(target)) as dst:
            dst.migrate()
            plan = copy_plan()
            occupied = next((t.name for t in plan if not t.seeded and _has_rows(dst, t)), None)
            if occupied is not None:
                raise CopyRefused("not_empty", table=occupied)
            with _snapshot(src), dst.write():
                copied = []
                advance = _begin(src, plan, progress)
                with _triggers_off(dst, plan):
                    for table in plan:
                        count = _copy_table_or_say(src, dst, table, advance)
                        copied.append(TableCopied(table.name, count))
                        if on_table is not None:
                            on_table(table.name, count)
                _reset_identities(dst, plan)
                _REBUILD_SEARCH[dst.dialect](dst)
                checked = verify(src, dst, plan)
    return CopyReport(tuple(copied), time.monotonic() - started, checked)


def _same_store(a: Location, b: Location) -> bool:
    if a.dialect != b.dialect:
        return False
    if a.is_postgres:
        return a.target == b.target
    return Path(a.target).resolve() == Path(b.target).resolve()


def _has_rows(db: Db, table: Table) -> bool:
    return db.scalar(f"SELECT 1 FROM {table.name} LIMIT 1") is not None


# -- reading the source ----------------------------------------------------------------------


@contextlib.contextmanager
def _snapshot(db: Db) -> Iterator[None]:
    """Every read inside sees the source as it was when the first one began."""
    begin = {
        "sqlite": "BEGIN",
        "postgresql": "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    }
    db.execute(begin[db.dialect])
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")


def _batches(db: Db, sql: str) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The rows of a query as tuples, BATCH at a time; on PostgreSQL through a server-side
    cursor, so that a large table is never held whole (in the caller's transaction)."""
    from storage.postgres import PgConnection

    if isinstance(db.conn, PgConnection):
        with db.conn.conn.cursor(name=f"newsbot_copy_{next(_cursor_numbers)}") as cursor:
            cursor.itersize = BATCH
            cursor.execute(sql)
            while rows := cursor.fetchmany(BATCH):
                yield rows
        return
    sqlite_cursor = db.sqlite.execute(sql)
    try:
        while rows := sqlite_cursor.fetchmany(BATCH):
            yield rows
    finally:
        sqlite_cursor.close()


# -- writing the target ----------------------------------------------------------------------


def _begin(src: Db, plan: Sequence[Table], progress: CopyProgress | None) -> Advance:
    """Tell the progress, if any, the source's rows; what to call after each batch."""
    if progress is None:
        return lambda rows: None
    progress.begin(sum(int(src.scalar(f"SELECT count(*) FROM {t.name}") or 0) for t in plan))
    return progress.advance


def _copy_table_or_say(src: Db, dst: Db, table: Table, advance: Advance) -> int:
    """_copy_table; a row the target refuses is CopyFailed naming the table, a storage fault
    (a server gone away) stays one."""
    try:
        return _copy_table(src, dst, table, advance)
    except Exception as err:
        if storage_fault(err) is not None:
            raise
        lines = str(err).strip().splitlines()
        raise CopyFailed(table.name, lines[0] if lines else type(err).__name__) from err


def _copy_table(src: Db, dst: Db, table: Table, advance: Advance) -> int:
    """The table's rows from source to target in batches; how many. A table the migrations
    filled (an empty store's figures) takes the source's rows instead."""
    if table.seeded:
        dst.execute(f"DELETE FROM {table.name}")
    columns = ", ".join(table.columns)
    order = f" ORDER BY {', '.join(table.key)}" if table.key else ""
    count = 0
    write = _write_copy if dst.dialect == "postgresql" else _write_inserts
    for rows in _batches(src, f"SELECT {columns} FROM {table.name}{order}"):
        write(dst, table, rows)
        count += len(rows)
        advance(len(rows))
    return count


def _write_inserts(db: Db, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" * len(table.columns))
    db.executemany(f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})", rows)


def _write_copy(db: Db, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY: several times faster than INSERT for a whole table."""
    from storage.postgres import PgConnection

    assert isinstance(db.conn, PgConnection)
    statement = f"COPY {table.name} ({', '.join(table.columns)}) FROM STDIN"
    with db.conn.conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


@contextlib.contextmanager
def _triggers_off(db: Db, plan: Sequence[Table]) -> Iterator[None]:
    """The target's triggers do nothing while the rows go in: the figures they keep are copied
    as the source kept them (counting each copied vote again would also raise every poll's
    version and mark posts stale that are not). Inside the copy's transaction, so a failure
    cannot leave them off. On PostgreSQL as the tables' owner (`DISABLE TRIGGER USER` keeps
    the foreign keys checked), which needs no superuser as `session_replication_role` would;
    SQLite cannot switch a trigger off, so they are dropped and created again as they were."""
    if db.dialect == "postgresql":
        for table in plan:
            db.execute(f"ALTER TABLE {table.name} DISABLE TRIGGER USER")
        yield
        for table in plan:
            db.execute(f"ALTER TABLE {table.name} ENABLE TRIGGER USER")
        return
    triggers = db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY rowid")
    for trigger in triggers:
        db.execute(f"DROP TRIGGER {trigger['name']}")
    yield
    for trigger in triggers:
        db.execute(trigger["sql"])


def _reset_identities(db: Db, plan: Sequence[Table]) -> None:
    """Ids were copied as they are: each PostgreSQL identity column continues after the
    largest (SQLite's INTEGER PRIMARY KEY does so by itself)."""
    if db.dialect != "postgresql":
        return
    names = {table.name for table in plan}
    identities = db.rows(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for row in identities:
        table, column = str(row["table_name"]), str(row["column_name"])
        if table in names:
            db.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max({column}), 0) + 1,"
                f" false) FROM {table}",
                (table, column),
            )


def _rebuild_fts(db: Db) -> None:
    """SQLite's FTS5 rows, as storage/articles.py writes one when an article is stored: title,
    body and the tag names in the article's order."""
    db.execute("DELETE FROM article_fts")
    tags: dict[int, list[str]] = {}
    for rows in _batches(
        db,
        "SELECT at.article_id, t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id"
        " ORDER BY at.article_id, at.position",
    ):
        for article_id, name in rows:
            tags.setdefault(int(article_id), []).append(str(name))
    for rows in _batches(db, "SELECT id, title, body FROM articles ORDER BY id"):
        db.executemany(
            "INSERT INTO article_fts (rowid, title, body, tags) VALUES (?, ?, ?, ?)",
            [(i, title, body, " ".join(tags.get(int(i), []))) for i, title, body in rows],
        )


def _rebuild_vectors(db: Db) -> None:
    """PostgreSQL's search vectors and word counts, written by the search module."""
    from storage.postgres_search import rebuild_index

    rebuild_index(db)


_REBUILD_SEARCH: dict[str, Callable[[Db], None]] = {
    "sqlite": _rebuild_fts,
    "postgresql": _rebuild_vectors,
}


# -- checking --------------------------------------------------------------------------------

_VOTES_PER_OPTION = (
    "SELECT article_id, position, count(*) FROM votes"
    " GROUP BY article_id, position ORDER BY article_id, position"
)
_POLL_TOTALS = "SELECT article_id, version, votes, points FROM polls ORDER BY article_id"
_AUDIT = (
    "SELECT id, at, platform, chat_id, actor, action, target, reason, outcome"
    " FROM audit_log ORDER BY id"
)


def verify(src: Db, dst: Db, plan: Sequence[Table]) -> Checked:
    """The target reads back as the source: the same number of rows in every table, the same
    votes per poll option and the same totals per poll, the same audit log entry for entry.
    Raises CopyMismatch at the first difference; returns how many polls and audit entries
    were compared."""
    for table in plan:
        sql = f"SELECT count(*) FROM {table.name}"
        if src.scalar(sql) != dst.scalar(sql):
            raise CopyMismatch("rows", table=table.name)
    _same_rows(src, dst, _VOTES_PER_OPTION, "votes", "poll")
    polls = _same_rows(src, dst, _POLL_TOTALS, "votes", "poll")
    audit = _same_rows(src, dst, _AUDIT, "audit", "entry")
    return Checked(polls, audit)


def _same_rows(src: Db, dst: Db, sql: str, what: str, name: str) -> int:
    """Compare a query's rows on both sides, in step; how many."""
    count = 0
    for a, b in itertools.zip_longest(_rows(src, sql), _rows(dst, sql)):
        if a is None or b is None or tuple(a) != tuple(b):
            raise CopyMismatch(what, **{name: str((a or b)[0])})
        count += 1
    return count


def _rows(db: Db, sql: str) -> Iterator[tuple[Any, ...]]:
    for rows in _batches(db, sql):
        yield from rows
