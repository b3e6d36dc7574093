"""The update inbox: platform updates stored before they are confirmed, each handled once."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from storage.database_thread import calling_task
from storage.db import Connection, to_ts
from storage.models import InboxState

if TYPE_CHECKING:
    from storage.store import Store

log = logging.getLogger(__name__)

# How long a worker may hold an update before another one may take it over.
LEASE = timedelta(seconds=120)
# A stored update claimed by nobody this long after it came is an orphan: the worker that
# stored it (a webhook answers 200 once the update is stored) died before it could take it.
UNCLAIMED_GRACE = timedelta(seconds=30)
# Claims of one update before it is given up: an update that kills its process every time
# must not keep a bot from starting.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class InboxUpdate:
    """A stored update that was not finished: its id, its JSON, how often it was taken."""

    update_id: int
    payload: str
    attempts: int


@dataclass(frozen=True, slots=True)
class _Handling:
    source: str
    update_id: int
    task: object  # the asyncio task that handles it


# The update the current task is handling; write transactions of that task finish it.
_handling: ContextVar[_Handling | None] = ContextVar("newsbot_handling_update", default=None)


def _current_task() -> object:
    # In the database thread, the task that awaits the write: the handler's own.
    return calling_task()


class Inbox:
    """Updates per source (one bot: update ids count per bot), on the Store's connection.

    A row is 'pending' from the moment the update arrives until its effect is committed, then
    'done' ('failed' when it was given up). While an update is handled, every write transaction
    of its handler marks it done in that same transaction: after a crash an update is either
    replayed with no effect yet, or not replayed at all, so a press that toggles a vote is never
    applied twice."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.engine
        store.before_commit(self._finish_current)

    def receive(self, source: str, updates: Iterable[tuple[int, str]]) -> int:
        """Store a batch of (update id, JSON) in one transaction; ids stored before are left
        as they are. Returns how many were new."""
        now = to_ts(self.db.now())
        rows = [(source, update_id, payload, now) for update_id, payload in updates]
        if not rows:
            return 0
        with self.db.write():
            cur = self.db.executemany(
                "INSERT INTO update_inbox (source, update_id, payload, received)"
                " VALUES (?,?,?,?) ON CONFLICT (source, update_id) DO NOTHING",
                rows,
            )
            return cur.rowcount

    def claim(self, source: str, update_id: int, worker: str) -> bool:
        """Take a pending update for handling. False when it is finished, or held by a worker
        whose lease has not run out (this one included: a repeat arriving while the first copy
        is handled is not handled again)."""
        now = self.db.now()
        cur = self.db.execute(
            "UPDATE update_inbox SET claimed_by=?, claimed_until=?, attempts = attempts + 1"
            " WHERE source=? AND update_id=? AND state='pending'"
            " AND (claimed_until IS NULL OR claimed_until < ?)",
            (worker, to_ts(now + LEASE), source, update_id, to_ts(now)),
        )
        if cur.rowcount == 1:
            return True
        # An update that was never stored has nothing guarding it.
        return not self.db.scalar(
            "SELECT 1 FROM update_inbox WHERE source=? AND update_id=?", (source, update_id)
        )

    def state(self, source: str, update_id: int) -> InboxState | None:
        """'pending', 'done' or 'failed'; None for an update never stored (or forgotten)."""
        value = self.db.scalar(
            "SELECT state FROM update_inbox WHERE source=? AND update_id=?", (source, update_id)
        )
        return cast("InboxState", value) if value is not None else None

    def release(self, source: str, update_id: int) -> None:
        """Give an unfinished update back (its handler was cancelled), for a restart to take."""
        self.db.execute(
            "UPDATE update_inbox SET claimed_by=NULL, claimed_until=NULL"
            " WHERE source=? AND update_id=? AND state='pending'",
            (source, update_id),
        )

    def done(self, source: str, update_id: int) -> None:
        self._mark_done(self.db.conn, source, update_id)

    def _mark_done(self, conn: Connection, source: str, update_id: int) -> None:
        conn.execute(
            # The id alone recognises repeats: the update itself is no longer needed.
            "UPDATE update_inbox SET state='done', done_at=?, payload='', claimed_by=NULL,"
            " claimed_until=NULL WHERE source=? AND update_id=? AND state='pending'",
            (to_ts(self.db.now()), source, update_id),
        )

    @contextlib.contextmanager
    def handling(self, source: str, update_id: int) -> Iterator[None]:
        """While this is open, write transactions of the calling task mark the update done."""
        token = _handling.set(_Handling(source, update_id, _current_task()))
        try:
            yield
        finally:
            _handling.reset(token)

    def _finish_current(self, conn: Connection) -> None:
        # Tasks started by a handler inherit its context; only the handler's own writes are
        # its effect.
        current = _handling.get()
        if current is not None and current.task is _current_task():
            self._mark_done(conn, current.source, current.update_id)

    def unfinished(self, source: str, worker: str, *, take_over: bool) -> list[InboxUpdate]:
        """Pending updates nobody holds, oldest first, for `worker` to handle after a restart:
        what it held itself before is free again at once. take_over: this worker is the only
        consumer of the source (polling: Telegram allows one), so every claim is void. Updates
        taken MAX_ATTEMPTS times are given up."""
        now = to_ts(self.db.now())
        with self.db.write() as conn:
            conn.execute(
                "UPDATE update_inbox SET claimed_by=NULL, claimed_until=NULL"
                " WHERE source=? AND state='pending' AND (claimed_by=? OR ?)",
                (source, worker, take_over),
            )
            given_up = conn.execute(
                "UPDATE update_inbox SET state='failed', done_at=?"
                " WHERE source=? AND state='pending' AND attempts >= ?",
                (now, source, MAX_ATTEMPTS),
            ).rowcount
            rows = self.db.rows(
                "SELECT update_id, payload, attempts FROM update_inbox"
                " WHERE source=? AND state='pending'"
                " AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY update_id",
                (source, now),
            )
        if given_up:
            log.warning("%s: gave up %d updates taken %d times", source, given_up, MAX_ATTEMPTS)
        return [InboxUpdate(r["update_id"], r["payload"], r["attempts"]) for r in rows]

    def orphaned(self, source: str) -> list[InboxUpdate]:
        """Pending updates whose worker is gone, oldest first: held by a claim that ran out,
        or stored and claimed by nobody within UNCLAIMED_GRACE. With a webhook Telegram has
        had its 200 for them and never sends them again: a live worker takes them over
        (an update taken MAX_ATTEMPTS times is left to `unfinished` to give up)."""
        now = self.db.now()
        rows = self.db.rows(
            "SELECT update_id, payload, attempts FROM update_inbox"
            " WHERE source=? AND state='pending' AND attempts < ?"
            " AND ((claimed_until IS NOT NULL AND claimed_until < ?)"
            " OR (claimed_until IS NULL AND received < ?)) ORDER BY update_id",
            (source, MAX_ATTEMPTS, to_ts(now), to_ts(now - UNCLAIMED_GRACE)),
        )
        return [InboxUpdate(r["update_id"], r["payload"], r["attempts"]) for r in rows]

    def prune(self, keep: timedelta) -> int:
        """Forget finished updates older than `keep`; returns how many."""
        cutoff = to_ts(self.db.now() - keep)
        cur = self.db.execute(
            "DELETE FROM update_inbox WHERE state IN ('done','failed') AND done_at < ?",
            (cutoff,),
        )
        return cur.rowcount
