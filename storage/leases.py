"""Leases in the store: one worker at a time may do a named thing until its lease expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Db, from_ts, to_ts

# One statement, atomic on both engines: a new name is taken, a held one only by its own
# holder (a renewal) or once it has expired.
_TAKE = (
    "INSERT INTO leases (name, holder, expires) VALUES (?,?,?)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires"
    " WHERE leases.holder = excluded.holder OR leases.expires < ?"
)


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the lease called `name`, and until when."""

    name: str
    holder: str
    expires: datetime


class Leases:
    """Named leases. A holder renews its lease by taking it again before it expires; a holder
    that dies stops renewing, and the name is free for another once `expires` has passed."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def take(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew `name` for `seconds`; False when another holder's lease runs."""
        now = self.db.now()
        until = to_ts(now + timedelta(seconds=seconds))
        return self.db.changes(_TAKE, (name, holder, until, to_ts(now))) == 1

    def release(self, name: str, holder: str) -> bool:
        """Give `name` back at once (a clean stop); False when `holder` did not hold it."""
        return self.db.changes("DELETE FROM leases WHERE name=? AND holder=?", (name, holder)) == 1

    def holder(self, name: str) -> Lease | None:
        """The lease on `name` while it runs; None when it is free."""
        row = self.db.one(
            "SELECT name, holder, expires FROM leases WHERE name=? AND expires >= ?",
            (name, to_ts(self.db.now())),
        )
        return _lease(row["name"], row["holder"], row["expires"]) if row else None

    def running(self, prefix: str) -> list[Lease]:
        """Every lease whose name starts with `prefix` and has not expired."""
        rows = self.db.rows(
            "SELECT name, holder, expires FROM leases WHERE name LIKE ? AND expires >= ?"
            " ORDER BY name",
            (like_prefix(prefix), to_ts(self.db.now())),
        )
        return [_lease(r["name"], r["holder"], r["expires"]) for r in rows]


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for names starting with `prefix` (which holds no wildcard)."""
    if "%" in prefix or "_" in prefix:
        raise ValueError(f"lease prefix with a wildcard: {prefix!r}")
    return prefix + "%"


def _lease(name: str, holder: str, expires: str) -> Lease:
    moment = from_ts(expires)
    assert moment is not None
    return Lease(name, holder, moment)
