"""What can go wrong with the database file itself, named so that callers can say it in one line."""

from __future__ import annotations

import enum
import sqlite3


class Fault(enum.StrEnum):
    """A storage fault. The value is the last part of its message key (`storage.<value>`)."""

    NOT_DATABASE = "not_database"  # the file is not SQLite (or not readable as such)
    CORRUPT = "corrupt"  # SQLite, but damaged
    READ_ONLY = "read_only"  # the file or its folder cannot be written
    FULL = "full"  # the disk (or the database's size limit) is full
    BUSY = "busy"  # another process held the write lock for longer than the busy timeout
    CANNOT_OPEN = "cannot_open"  # the file or its folder cannot be opened or created
    IO = "io"  # the operating system reported an I/O error
    SCHEMA_NEWER = "schema_newer"  # written by a newer newsbot: this one refuses to use it
    NEEDS_MIGRATION = "needs_migration"  # older schema, and the file is read-only
    # PostgreSQL only:
    UNREACHABLE = "unreachable"  # no server answers at the URL's address (or it went away)
    AUTH = "auth"  # the server refused the URL's user or password
    NO_DATABASE = "no_database"  # the server has no database of the URL's name


# Faults a running bot waits out (retrying with backoff) instead of stopping: space can be
# freed, a lock released, a mount made writable again.
TRANSIENT = frozenset({Fault.READ_ONLY, Fault.FULL, Fault.BUSY, Fault.IO, Fault.UNREACHABLE})
# Faults that mean NEWSBOT_DB itself is wrong (exit 2 at start), not that the store failed.
WRONG_SETTING = frozenset({Fault.AUTH, Fault.NO_DATABASE, Fault.UNREACHABLE})

_BY_CODE = {
    sqlite3.SQLITE_NOTADB: Fault.NOT_DATABASE,
    sqlite3.SQLITE_CORRUPT: Fault.CORRUPT,
    sqlite3.SQLITE_READONLY: Fault.READ_ONLY,
    sqlite3.SQLITE_PERM: Fault.READ_ONLY,
    sqlite3.SQLITE_FULL: Fault.FULL,
    sqlite3.SQLITE_BUSY: Fault.BUSY,
    sqlite3.SQLITE_LOCKED: Fault.BUSY,
    sqlite3.SQLITE_CANTOPEN: Fault.CANNOT_OPEN,
    sqlite3.SQLITE_IOERR: Fault.IO,
}


class StorageError(Exception):
    """The database cannot be used as asked. `params` fill the message (path, versions)."""

    def __init__(self, fault: Fault, detail: str = "", **params: str) -> None:
        super().__init__(f"{fault.value}: {detail}" if detail else fault.value)
        self.fault = fault
        self.detail = detail
        self.params = params

    @property
    def transient(self) -> bool:
        return self.fault in TRANSIENT


def storage_fault(err: BaseException) -> StorageError | None:
    """The storage fault behind an exception, or None when it is something else (a bug)."""
    if isinstance(err, StorageError):
        return err
    if type(err).__module__.startswith("psycopg"):
        # Imported only when PostgreSQL is in use: it is the only source of psycopg errors.
        from storage.postgres import pg_fault

        return pg_fault(err)
    if isinstance(err, sqlite3.DatabaseError):
        code = getattr(err, "sqlite_errorcode", None)
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, ...) keep the primary
        # code in their low byte.
        fault = _BY_CODE.get(code & 0xFF) if isinstance(code, int) else None
        if fault is None and "not a database" in str(err):
            fault = Fault.NOT_DATABASE
        if fault is not None:
            return StorageError(fault, str(err))
    return None
