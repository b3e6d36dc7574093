"""What an operator watches, read cheaply: the outbox's backlog per platform, the oldest due
feed, the maintained counts, and the chats that were paused with their reasons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Db, from_ts, to_ts
from storage.maintenance import Maintenance
from storage.models import ChatRef

# Pending rows are few (the outbox drains them) and idx_deliveries_due starts with status:
# this reads only the rows still to send, however many were sent before.
_BACKLOG = (
    "SELECT platform, count(*), min(CASE WHEN status='pending' THEN next_try END)"
    " FROM deliveries WHERE status IN ('pending','sending') GROUP BY platform ORDER BY platform"
)
_OLDEST_DUE_FEED = "SELECT min(next_fetch) FROM feeds WHERE state='active' AND next_fetch <= ?"
_PAUSED = (
    "SELECT platform, chat_id, max(reason) AS reason FROM subscriptions WHERE active = 0"
    " GROUP BY platform, chat_id ORDER BY platform, chat_id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Backlog:
    """A platform's deliveries still to send, and when the longest-waiting one was due."""

    platform: str
    pending: int
    oldest_due: datetime | None


@dataclass(frozen=True, slots=True)
class OpsFigures:
    """One scrape's worth of figures, read in one call."""

    now: datetime
    backlog: tuple[Backlog, ...]
    oldest_due_feed: datetime | None
    articles: int
    votes: int
    feeds: int
    deliveries_given_up: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class PausedChat:
    chat: ChatRef
    reason: str | None


class Oversight:
    """Reads for /healthz, /metrics and the dashboard; nothing here writes."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def figures(self) -> OpsFigures:
        now = self.db.now()
        backlog = tuple(
            Backlog(str(platform), int(count), from_ts(oldest))
            for platform, count, oldest in self.db.execute(_BACKLOG).fetchall()
        )
        due_feed = self.db.scalar(_OLDEST_DUE_FEED, (to_ts(now),))
        stats = Maintenance(self.db).stats()
        return OpsFigures(
            now=now,
            backlog=backlog,
            oldest_due_feed=from_ts(due_feed),
            articles=stats.articles,
            votes=stats.votes,
            feeds=stats.feeds,
            deliveries_given_up=stats.deliveries_failed,
            size_bytes=stats.size_bytes,
        )

    def paused_chats(self, limit: int = 200) -> list[PausedChat]:
        """Chats whose subscriptions were paused (the bot was removed, blocked...), with the
        reason given then."""
        return [
            PausedChat(ChatRef(r["platform"], r["chat_id"]), r["reason"])
            for r in self.db.rows(_PAUSED, (limit,))
        ]
