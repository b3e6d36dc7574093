"""The store's upkeep: figures about the database, online backups, and small key-value state."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from storage.db import Db
from storage.faults import Fault, StorageError, storage_fault
from storage.models import DbStats

# -- SQLite dialect: the upsert of the key-value table works on PostgreSQL as it is; the size
# is the file's on SQLite and the server's figure on PostgreSQL; the backup uses SQLite's
# backup API (pg_dump's job on PostgreSQL) ---------------------------------------------------
_SET_STATE = (
    "INSERT INTO state (key, value) VALUES (?, ?)"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
_POSTGRES_SIZE = "SELECT pg_database_size(current_database())"


class Maintenance:
    """What an operator asks of the database as a whole."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def get_state(self, key: str) -> str | None:
        value = self.db.scalar("SELECT value FROM state WHERE key=?", (key,))
        return str(value) if value is not None else None

    def set_state(self, key: str, value: str) -> None:
        self.db.execute(_SET_STATE, (key, value))

    def stats(self) -> DbStats:
        """Figures about the database: counts kept by triggers (m011), and the deliveries
        still to send or given up, counted on their status index."""
        counts = dict(self.db.execute("SELECT name, n FROM row_counts").fetchall())

        def count(sql: str) -> int:
            return int(self.db.scalar(sql) or 0)

        if self.db.location.is_postgres:
            size = int(self.db.scalar(_POSTGRES_SIZE))
        else:
            size = Path(self.db.path).stat().st_size if self.db.path != ":memory:" else 0
        return DbStats(
            articles=counts["articles"],
            tags=counts["tags"],
            subscriptions=counts["subscriptions"],
            votes=counts["votes"],
            deliveries_pending=count(
                "SELECT count(*) FROM deliveries WHERE status IN ('pending','sending')"
            ),
            deliveries_failed=count(
                "SELECT count(*) FROM deliveries WHERE status IN ('failed','paused')"
            ),
            posts=counts["posts"],
            feeds=counts["feeds"],
            size_bytes=size,
        )

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the database while writers go on: SQLite's backup API copies
        one snapshot in a single step. The copy is written beside the target and renamed
        over it only when complete, and it is one self-contained file (no WAL). Raises
        StorageError (with the target as path) when the copy cannot be written."""
        final = Path(target)
        if self.db.location.is_postgres:
            # No file to copy: the server's own tools (pg_dump) back it up.
            raise StorageError(
                Fault.CANNOT_OPEN, "a PostgreSQL store is backed up with pg_dump", path=str(final)
            )
        partial = final.with_name(final.name + ".partial")
        if self.db.path != ":memory:" and final.resolve() == Path(self.db.path).resolve():
            # Renaming over the live file would leave running processes writing to a ghost.
            raise StorageError(Fault.CANNOT_OPEN, "the backup is the database", path=str(final))
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            dest = sqlite3.connect(str(partial), isolation_level=None)
            try:
                self.db.sqlite.backup(dest)
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
            os.replace(partial, final)
        except (OSError, sqlite3.Error) as err:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            fault = storage_fault(err) or StorageError(Fault.CANNOT_OPEN, str(err))
            fault.params["path"] = str(final)
            raise fault from None
