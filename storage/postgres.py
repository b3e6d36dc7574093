"""PostgreSQL under the store's database layer (storage.db): a connection that speaks the
store's SQL (`?` and `:name` placeholders) and hands out rows like sqlite3.Row, taken from a
psycopg connection pool and replaced when the server drops it; the migrations runner; and
what a psycopg error means as a storage fault."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from storage.faults import Fault, StorageError
from storage.location import Location

log = logging.getLogger(__name__)

# Every write() holds this transaction-scoped advisory lock: one writer at a time across all
# workers, the guarantee SQLite's BEGIN IMMEDIATE gives, so each read-then-write rule of the
# store holds on both engines. ("newsbot" read as a number.)
WRITE_LOCK_KEY = int.from_bytes(b"newsbot", "big")
CONNECT_TIMEOUT_S = 5
# How long a call waits for a connection from the pool while the server is away, before it
# fails as UNREACHABLE (a transient fault the running bot waits out with growing pauses).
POOL_WAIT_S = 5.0
POOL_MAX = 4

# The pool logs every failed reconnection attempt; the bot logs one line per outage itself.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


# -- the store's SQL, spoken to PostgreSQL --------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<quoted>'(?:[^']|'')*'|"(?:[^"]|"")*")   # string literals and quoted names
    | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)  # $$ ... $$ bodies
    | (?P<comment>--[^\n]*)
    | (?P<cast>::)
    | (?P<named>:(?P<name>[A-Za-z_][A-Za-z0-9_]*))
    | (?P<mark>\?)
    | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """The store's SQL for psycopg: `?` -> `%s`, `:name` -> `%(name)s`, `%` -> `%%`; quoted
    text, `$$` bodies, comments and `::type` casts are left as they are."""

    def one(match: re.Match[str]) -> str:
        if match.group("mark"):
            return "%s"
        if match.group("percent"):
            return "%%"
        if match.group("named"):
            return f"%({match.group('name')})s"
        return match.group(0)

    return _TOKEN.sub(one, sql)


class Row:
    """A result row read by position or by column name, like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return tuple(self._values) == tuple(other._values)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=True))!r})"


def _rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    desc = cursor.description
    index = {col.name: i for i, col in enumerate(desc)} if desc else {}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, index)

    return make


class PgConnection:
    """The store's one PostgreSQL connection, in autocommit mode (write() opens transactions
    explicitly), taken from the pool. When the server drops it, the failing call raises
    StorageError(UNREACHABLE) and the next call takes a fresh connection."""

    def __init__(self, location: Location) -> None:
        self.location = location
        _check_reachable(location)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            location.target,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            open=False,
            name="newsbot",
        )
        self._pool.open(wait=False)
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            try:
                self._conn = self._pool.getconn(timeout=POOL_WAIT_S)
            except PoolTimeout as err:
                raise StorageError(
                    Fault.UNREACHABLE, "no connection", path=self.location.display
                ) from err
        return self._conn

    @property
    def in_transaction(self) -> bool:
        if self._conn is None:
            return False
        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> psycopg.Cursor[Row]:
        cursor = self.conn.cursor(row_factory=_rows)
        try:
            cursor.execute(translate(sql), params)
        except psycopg.Error as err:
            raise self._fault(err) from err
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Row]:
        cursor = self.conn.cursor(row_factory=_rows)
        try:
            cursor.executemany(translate(sql), rows)
        except psycopg.Error as err:
            raise self._fault(err) from err
        return cursor

    def _fault(self, err: psycopg.Error) -> BaseException:
        """A broken connection goes back to the pool (which drops it); a storage fault is
        raised as one, anything else (a bug in a query) as itself."""
        if self._conn is not None and self._conn.broken:
            self._pool.putconn(self._conn)
            self._conn = None
        fault = pg_fault(err)
        if fault is None:
            return err
        fault.params.setdefault("path", self.location.display)
        return fault

    def close(self) -> None:
        if self._conn is not None:
            self._pool.putconn(self._conn)
            self._conn = None
        self._pool.close()


def _check_reachable(location: Location) -> None:
    """Connect once, directly, so that a wrong URL, a wrong password or a server that is not
    there is told apart and said in one line at start, rather than as a pool timeout."""
    try:
        with psycopg.connect(location.target, connect_timeout=CONNECT_TIMEOUT_S):
            pass
    except psycopg.Error as err:
        fault = pg_fault(err) or StorageError(Fault.UNREACHABLE, _first_line(err))
        fault.params.setdefault("path", location.display)
        raise fault from None


# -- faults ---------------------------------------------------------------------------------

_BY_SQLSTATE = {
    "28P01": Fault.AUTH,  # invalid_password
    "28000": Fault.AUTH,  # invalid_authorization_specification
    "3D000": Fault.NO_DATABASE,  # invalid_catalog_name
    "53100": Fault.FULL,  # disk_full
    "53200": Fault.FULL,  # out_of_memory
    "25006": Fault.READ_ONLY,  # read_only_sql_transaction (a standby)
    "40P01": Fault.BUSY,  # deadlock_detected
    "55P03": Fault.BUSY,  # lock_not_available
    "57P01": Fault.UNREACHABLE,  # admin_shutdown
    "57P02": Fault.UNREACHABLE,  # crash_shutdown
    "57P03": Fault.UNREACHABLE,  # cannot_connect_now (starting up)
}


def pg_fault(err: BaseException) -> StorageError | None:
    """The storage fault behind a psycopg error, or None for an error in a query (a bug)."""
    if not isinstance(err, psycopg.Error):
        return None
    state = err.sqlstate or ""
    fault = _BY_SQLSTATE.get(state)
    if fault is None:
        text = str(err)
        if "password authentication failed" in text or "no password supplied" in text:
            fault = Fault.AUTH
        elif "does not exist" in text and "database" in text:
            fault = Fault.NO_DATABASE
        elif isinstance(err, psycopg.OperationalError | pg_errors.ConnectionException):
            fault = Fault.UNREACHABLE
    if fault is None:
        return None
    return StorageError(fault, _first_line(err))


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


# -- migrations -----------------------------------------------------------------------------

_LEDGER = (
    "CREATE TABLE IF NOT EXISTS newsbot_migrations (position BIGINT GENERATED ALWAYS AS IDENTITY,"
    " name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
)


def applied_migrations(conn: PgConnection) -> list[str]:
    """The migrations this database has, in the order they were applied."""
    exists = conn.execute("SELECT to_regclass('newsbot_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute("SELECT name FROM newsbot_migrations ORDER BY position").fetchall()
    return [str(row[0]) for row in rows]


def apply_migrations(conn: PgConnection, names: Sequence[str], stamp: str) -> None:
    """Run these migrations' scripts, in order, inside the caller's write transaction."""
    from storage.postgres_schema import MIGRATIONS

    scripts = dict(MIGRATIONS)
    conn.execute(_LEDGER)
    for name in names:
        script = scripts[name]
        if script.strip():
            # A script without parameters may hold several statements (and $$ bodies):
            # it goes to the server as it is, not through translate().
            conn.conn.execute(script.encode())
        conn.execute(
            "INSERT INTO newsbot_migrations (name, applied) VALUES (?, ?)",
            (name, stamp),
        )
