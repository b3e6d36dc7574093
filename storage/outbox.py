"""The store's outbox: one delivery row per article and chat, claimed with a lease and sent."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import timedelta

from storage.db import Db, Row, chat_scope, from_ts, marks, to_ts
from storage.models import ChatRef, Delivery, MessageRef
from storage.posts import Posts
from storage.schedules import Schedules

# A /subscribe backlog for a chat with keyword filters looks at most this many of the newest
# matching articles for ones that pass them (a bound on the work, not a promise).
BACKLOG_LOOK_BACK = 200

# -- SQLite dialect: UPDATE OR IGNORE (a row for the new chat may exist already: the row is
# then left as it is; PostgreSQL skips it by a NOT EXISTS), and the two-argument max()
# (GREATEST on PostgreSQL) -------------------------------------------------------------------
_MOVED = {
    "sqlite": (
        "UPDATE OR IGNORE deliveries SET chat_id=:chat, status='pending', lease_until=NULL,"
        " claimed_by=NULL, next_try=:now WHERE id=:id"
    ),
    "postgresql": (
        "UPDATE deliveries d SET chat_id=:chat, status='pending', lease_until=NULL,"
        " claimed_by=NULL, next_try=:now WHERE d.id=:id AND NOT EXISTS (SELECT 1 FROM"
        " deliveries c WHERE c.article_id = d.article_id AND c.platform = d.platform"
        " AND c.chat_id = :chat AND c.thread_id = d.thread_id AND c.id != d.id)"
    ),
}
_GIVE_BACK_SQL = (
    "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL,"
    " attempts={larger}(attempts-?, 0)"
)
_GIVE_BACK = {
    "sqlite": _GIVE_BACK_SQL.format(larger="max"),
    "postgresql": _GIVE_BACK_SQL.format(larger="GREATEST"),
}


def _delivery(row: Row) -> Delivery:
    next_try = from_ts(row["next_try"])
    assert next_try is not None
    return Delivery(
        id=row["id"],
        article_id=row["article_id"],
        chat=ChatRef(row["platform"], row["chat_id"]),
        status=row["status"],
        attempts=row["attempts"],
        next_try=next_try,
        message_id=row["message_id"],
        last_error=row["last_error"],
        thread=row["thread_id"],
    )


class Outbox:
    """The truth about what is still to be sent: a crash anywhere loses nothing."""

    def __init__(self, db: Db, posts: Posts, schedules: Schedules) -> None:
        self.db = db
        self.posts = posts
        self.schedules = schedules  # digests and quiet hours hold rows back

    def queue_article(
        self, article_id: int, tag_keys: Sequence[str], admitted: Sequence[ChatRef] = ()
    ) -> int:
        """One delivery per chat (and forum topic) with an active subscription to one of these
        tag keys and no keyword filters, and likewise for each chat in `admitted` (those with
        filters that the article passed: storage.filters.Filters.admitted); returns how many
        were queued."""
        now = to_ts(self.db.now())
        insert = (
            "INSERT INTO deliveries (article_id, platform, chat_id, thread_id, next_try, created)"
            " SELECT DISTINCT ?, s.platform, s.chat_id, s.thread_id, ?, ? FROM subscriptions s"
            f" WHERE s.active = 1 AND s.tag_key IN ({marks(tag_keys)})"
        )
        queued = self.db.changes(
            insert + " AND NOT EXISTS (SELECT 1 FROM chat_filters f"
            " WHERE f.platform = s.platform AND f.chat_id = s.chat_id)"
            " ON CONFLICT DO NOTHING",
            (article_id, now, now, *tag_keys),
        )
        for chat in admitted:
            queued += self.db.changes(
                insert + " AND s.platform = ? AND s.chat_id = ? ON CONFLICT DO NOTHING",
                (article_id, now, now, *tag_keys, chat.platform, chat.chat_id),
            )
        # Chats in digest mode get it in their next digest (storage/schedules.py).
        self.schedules.hold_for_digest([article_id])
        return queued

    def queue_backlog(
        self,
        chat: ChatRef,
        tag_keys: Sequence[str] | None,
        count: int,
        hold: timedelta = timedelta(0),
        thread: str = "",
        passes: Callable[[int], bool] | None = None,
    ) -> int:
        """Queue for the chat the newest `count` articles with one of these tag keys (any
        article for None) that were not queued there before; returns how many were queued.
        `hold`: the rows come due only then, unless release_held() frees them earlier (the
        answer to /subscribe goes out first). `thread`: the forum topic they go into.
        `passes`: the chat's keyword filters, which a queued article must pass (the newest
        BACKLOG_LOOK_BACK articles are looked at)."""
        limit = count if passes is None else max(count, BACKLOG_LOOK_BACK)
        if tag_keys is None:
            candidates = self.db.execute(
                "SELECT id FROM articles WHERE removed = 0 ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            candidates = self.db.execute(
                "SELECT DISTINCT a.id FROM articles a"
                " JOIN article_tags at ON at.article_id = a.id"
                f" JOIN tags t ON t.id = at.tag_id WHERE t.key IN ({marks(tag_keys)})"
                " AND a.removed = 0 ORDER BY a.id DESC LIMIT ?",
                (*tag_keys, limit),
            ).fetchall()
        if passes is not None:
            candidates = [c for c in candidates if passes(c[0])][:count]
        now = self.db.now()
        due = to_ts(now + hold)
        queued = 0
        for (article_id,) in reversed(candidates):
            queued += self.db.changes(
                "INSERT INTO deliveries (article_id, platform, chat_id, thread_id, next_try,"
                " created) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (article_id, chat.platform, chat.chat_id, thread, due, to_ts(now)),
            )
        self.schedules.hold_for_digest([int(c[0]) for c in candidates], chat)
        return queued

    def release_held(self, chat: ChatRef) -> int:
        """Make the chat's held rows due now; returns how many. A held row is one never tried
        (attempts 0) whose time lies ahead: only queue_backlog writes those, as a retry
        after a failure has tried at least once."""
        now = to_ts(self.db.now())
        return self.db.changes(
            "UPDATE deliveries SET next_try=? WHERE platform=? AND chat_id=?"
            " AND status='pending' AND attempts=0 AND next_try > ?",
            (now, chat.platform, chat.chat_id, now),
        )

    def claim(
        self,
        platforms: Iterable[str],
        only_chats: Mapping[str, Collection[str]],
        *,
        limit: int,
        lease: float,
        worker: str,
    ) -> list[Delivery]:
        """Take due deliveries for these platforms (those in `only_chats` for those chats
        only), leased to `worker`. A lease that ran out (a crash mid-send) frees its row."""
        where, params = chat_scope(platforms, only_chats, "d")
        if not where:
            return []
        now = self.db.now()
        with self.db.write():
            self.db.execute(
                "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL"
                " WHERE status='sending' AND lease_until < ?",
                (to_ts(now),),
            )
            # What is due for a chat in its quiet hours (a retry, a post released early)
            # waits until they end: then none of it is due now.
            self.schedules.hold_quiet()
            rows = self.db.rows(
                f"SELECT d.* FROM deliveries d WHERE d.status='pending' AND ({where})"
                " AND d.next_try <= ? ORDER BY d.next_try, d.id LIMIT ?",
                (*params, to_ts(now), limit),
            )
            if rows:
                until = to_ts(now + timedelta(seconds=lease))
                self.db.executemany(
                    "UPDATE deliveries SET status='sending', lease_until=?, claimed_by=?,"
                    " attempts=attempts+1 WHERE id=?",
                    [(until, worker or None, r["id"]) for r in rows],
                )
        return [
            dataclasses.replace(_delivery(r), status="sending", attempts=r["attempts"] + 1)
            for r in rows
        ]

    def release_claims(self, worker: str, *, count_attempt: bool) -> int:
        """Give back every row `worker` holds: at a clean stop (the attempt did not happen,
        `count_attempt=False`) or when it starts again after a crash (a send may have been on
        its way: the attempt counts). Returns how many rows were given back."""
        undo = 0 if count_attempt else 1
        return self.db.changes(
            _GIVE_BACK[self.db.dialect] + " WHERE status='sending' AND claimed_by=?",
            (undo, worker),
        )

    def renew_claims(self, worker: str, lease: float) -> int:
        """`worker` is still at work on the rows it holds: their lease runs `lease` seconds
        from now. Returns how many rows it holds."""
        until = to_ts(self.db.now() + timedelta(seconds=lease))
        return self.db.changes(
            "UPDATE deliveries SET lease_until=? WHERE status='sending' AND claimed_by=?",
            (until, worker),
        )

    def sent(
        self, delivery_id: int, message: MessageRef, poll_version: int, language: str | None
    ) -> None:
        with self.db.write():
            row = self.db.execute(
                "UPDATE deliveries SET status='sent', message_id=?, sent_at=?, lease_until=NULL,"
                " claimed_by=NULL, last_error=NULL WHERE id=? RETURNING article_id",
                (message.message_id, to_ts(self.db.now()), delivery_id),
            ).fetchone()
            if row:
                self.posts.record(int(row[0]), message, poll_version, language)

    def retry(self, delivery_id: int, error: str, delay: float) -> None:
        self.db.execute(
            "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL,"
            " last_error=?, next_try=? WHERE id=?",
            (error[:500], to_ts(self.db.now() + timedelta(seconds=delay)), delivery_id),
        )

    def release(self, delivery_id: int) -> None:
        self.db.execute(
            _GIVE_BACK[self.db.dialect] + " WHERE id=? AND status='sending'", (1, delivery_id)
        )

    def failed(self, delivery_id: int, error: str) -> None:
        self.db.execute(
            "UPDATE deliveries SET status='failed', lease_until=NULL, claimed_by=NULL,"
            " last_error=? WHERE id=?",
            (error[:500], delivery_id),
        )

    def moved(self, delivery_id: int, new_chat: ChatRef) -> None:
        self.db.execute(
            _MOVED[self.db.dialect],
            {"chat": new_chat.chat_id, "now": to_ts(self.db.now()), "id": delivery_id},
        )

    def for_chat(self, chat: ChatRef, status: str | None) -> list[Delivery]:
        sql = "SELECT * FROM deliveries WHERE platform=? AND chat_id=?"
        params: list[object] = [chat.platform, chat.chat_id]
        if status:
            sql += " AND status=?"
            params.append(status)
        return [_delivery(r) for r in self.db.rows(sql + " ORDER BY id", params)]

    def due_count(self, chat: ChatRef) -> int:
        return int(
            self.db.scalar(
                "SELECT count(*) FROM deliveries WHERE platform=? AND chat_id=? AND"
                " (status='sending' OR (status='pending' AND next_try <= ?))",
                (chat.platform, chat.chat_id, to_ts(self.db.now())),
            )
        )

    def pause_chat(self, chat: ChatRef, reason: str) -> int:
        """Park what waits for a chat that cannot be reached; returns how many rows."""
        return self.db.changes(
            "UPDATE deliveries SET status = 'paused', last_error = ?, lease_until = NULL,"
            " claimed_by = NULL"
            " WHERE platform=? AND chat_id=? AND status IN ('pending', 'sending')",
            (reason, chat.platform, chat.chat_id),
        )
