"""Opening the SQLite file (read-write, or read-only when it cannot be written), and checking
its schema against the migrations this code knows."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from storage.faults import Fault, StorageError, storage_fault
from storage.schema import migrations

SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
BUSY_TIMEOUT_MS = 10_000


def writable(path: str | Path) -> bool:
    """Whether this process can write the database and create its WAL files beside it. A file
    that does not exist yet counts as writable: creating it reports its own fault."""
    file = Path(path)
    if not file.exists():
        return True
    return os.access(file, os.W_OK) and os.access(file.parent, os.W_OK)


def connect(
    path: str, *, read_only: bool = False, synchronous: str = "NORMAL"
) -> sqlite3.Connection:
    """An autocommit connection (transactions are opened explicitly by the store) with newsbot's
    PRAGMAs. Raises StorageError, with the path, for a file that cannot be used."""
    mode = synchronous.upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(f"bad synchronous mode {synchronous!r}")
    if path == ":memory:":
        return _configured(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
    try:
        if read_only:
            return _connect_read_only(path)
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(Fault.CANNOT_OPEN, err.strerror or str(err)) from None
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        try:
            _configured(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {mode}")
        except BaseException:
            conn.close()
            raise
        return conn
    except (sqlite3.Error, StorageError) as err:
        fault = storage_fault(err)
        if fault is None:
            raise
        if fault.fault is Fault.CANNOT_OPEN and Path(path).exists() and not writable(path):
            fault = StorageError(Fault.READ_ONLY, fault.detail)
        fault.params.setdefault("path", path)
        raise fault from None


def _configured(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Reading the schema reads the file's header: a file that is not SQLite fails here, at
    # open, rather than at some later query.
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def _connect_read_only(path: str) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri()
    try:
        return _open_configured(f"{uri}?mode=ro")
    except sqlite3.OperationalError as err:
        # A WAL database in a folder that cannot be written: SQLite cannot create the shared
        # memory file that readers use (CANTOPEN on a read-only mount, READONLY_DIRECTORY
        # without permission). With no WAL file there, no one is writing, and the file alone
        # is the whole database, so it can be read as immutable.
        code = getattr(err, "sqlite_errorcode", 0) & 0xFF
        if code not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            raise
        if Path(f"{path}-wal").exists():
            raise
    return _open_configured(f"{uri}?mode=ro&immutable=1")


def _open_configured(uri: str) -> sqlite3.Connection:
    """A read-only connection to `uri`, configured; closed again if configuring fails."""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        return _configured(conn)
    except BaseException:
        conn.close()
        raise


def known_migrations() -> list[str]:
    """The names of the migrations this code knows, in the order they are applied."""
    return [m.name for m in migrations.pending(Database(memory=True))]


def pending_migrations(applied: list[str], path: str) -> list[str]:
    """Migrations a database that has `applied` still needs. Refuses (StorageError) a database
    that has migrations this code does not know: it was written by a newer newsbot."""
    known = known_migrations()
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StorageError(
            Fault.SCHEMA_NEWER,
            f"unknown migrations {', '.join(unknown)}",
            path=path,
            db_version=unknown[-1],
            code_version=known[-1],
        )
    done = set(applied)
    return [name for name in known if name not in done]
