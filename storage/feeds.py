"""The store's sources (feeds, files, the demo): when each is due, how it fared, when it parks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from storage.db import Db, Row, from_ts, to_ts
from storage.models import Feed, FeedAdded


def _feed(row: Row) -> Feed:
    return Feed(
        id=row["id"],
        location=row["location"],
        kind=row["kind"],
        tags=tuple(t for t in row["tags"].split("\n") if t),
        interval_seconds=row["interval_seconds"],
        state=row["state"],
        last_success=from_ts(row["last_success"]),
        last_error=row["last_error"],
        failures=row["failures"],
        next_fetch=from_ts(row["next_fetch"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        fulltext=bool(row["fulltext"]),
    )


class Feeds:
    """Sources by id; a source that fails `park_after` times in a row is parked."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def add(
        self,
        location: str,
        kind: str,
        *,
        interval_seconds: int,
        tags: Sequence[str],
        fulltext: bool = False,
    ) -> FeedAdded:
        """Add a source; an existing location is returned unchanged (not created)."""
        now = to_ts(self.db.now())
        with self.db.write():
            known = self.db.scalar("SELECT id FROM feeds WHERE location=?", (location,))
            if known is not None:
                feed_id, created = int(known), False
            else:
                cur = self.db.execute(
                    "INSERT INTO feeds"
                    " (location, kind, tags, interval_seconds, next_fetch, added, fulltext)"
                    " VALUES (?,?,?,?,?,?,?) RETURNING id",
                    (location, kind, "\n".join(tags), interval_seconds, now, now, int(fulltext)),
                )
                feed_id, created = int(cur.fetchone()[0]), True
            feed = self.get(feed_id)
        assert feed is not None
        return FeedAdded(feed=feed, created=created)

    def get(self, feed_id: int) -> Feed | None:
        row = self.db.one("SELECT * FROM feeds WHERE id=?", (feed_id,))
        return _feed(row) if row else None

    def all(self) -> list[Feed]:
        return [_feed(r) for r in self.db.rows("SELECT * FROM feeds ORDER BY id")]

    def remove(self, feed_id: int) -> Feed | None:
        feed = self.get(feed_id)
        if feed:
            self.db.execute("DELETE FROM feeds WHERE id=?", (feed_id,))
        return feed

    def set_state(self, feed_id: int, state: str) -> Feed | None:
        self.db.execute(
            "UPDATE feeds SET state=?, failures = CASE WHEN ?='active' THEN 0 ELSE failures END,"
            " next_fetch=? WHERE id=?",
            (state, state, to_ts(self.db.now()), feed_id),
        )
        return self.get(feed_id)

    def due(self) -> list[Feed]:
        rows = self.db.rows(
            "SELECT * FROM feeds WHERE state='active' AND next_fetch <= ? ORDER BY next_fetch, id",
            (to_ts(self.db.now()),),
        )
        return [_feed(r) for r in rows]

    def claim_due(self, worker: str, *, lease: float, limit: int) -> list[Feed]:
        """Due sources that no other worker is fetching, claimed by `worker` for `lease`
        seconds (a worker that dies mid-fetch leaves its sources to the others then)."""
        now = self.db.now()
        with self.db.write():
            rows = self.db.rows(
                "SELECT * FROM feeds WHERE state='active' AND next_fetch <= ?"
                " AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_fetch LIMIT ?",
                (to_ts(now), to_ts(now), limit),
            )
            until = to_ts(now + timedelta(seconds=lease))
            self.db.executemany(
                "UPDATE feeds SET claimed_by=?, claimed_until=? WHERE id=?",
                [(worker, until, r["id"]) for r in rows],
            )
        return [_feed(r) for r in rows]

    def release(self, feed_id: int, worker: str) -> None:
        """`worker` is done with its fetch of the source."""
        self.db.execute(
            "UPDATE feeds SET claimed_by=NULL, claimed_until=NULL WHERE id=? AND claimed_by=?",
            (feed_id, worker),
        )

    def fetched(
        self,
        feed_id: int,
        *,
        next_in: float,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None = None,
    ) -> None:
        """A fetch that went well; `body_hash` is given only once every item of that body is
        stored, and then replaces the one before."""
        now = self.db.now()
        self.db.execute(
            "UPDATE feeds SET last_success=?, failures=0, last_error=NULL, next_fetch=?,"
            " etag=coalesce(?, etag), last_modified=coalesce(?, last_modified), fetched_once=1,"
            " body_hash=coalesce(?, body_hash) WHERE id=?",
            (
                to_ts(now),
                to_ts(now + timedelta(seconds=next_in)),
                etag,
                last_modified,
                body_hash,
                feed_id,
            ),
        )

    def failed(self, feed_id: int, error: str, *, next_in: float, park_after: int) -> Feed:
        self.db.execute(
            "UPDATE feeds SET failures = failures + 1, last_error=?, next_fetch=?,"
            " state = CASE WHEN failures + 1 >= ? THEN 'parked' ELSE state END WHERE id=?",
            (error[:500], to_ts(self.db.now() + timedelta(seconds=next_in)), park_after, feed_id),
        )
        feed = self.get(feed_id)
        assert feed is not None
        return feed

    def fetched_once(self, feed_id: int) -> bool:
        return bool(self.db.scalar("SELECT fetched_once FROM feeds WHERE id=?", (feed_id,)))
