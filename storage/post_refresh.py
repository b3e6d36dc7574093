"""Keeping posts' live counts current: which posts are due for an edit, and the backoff and
last error of one whose edit failed."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import from_ts, to_ts
from storage.models import ChatRef, MessageRef, Post
from storage.store import Store

# -- SQLite dialect: two-argument max() (GREATEST on PostgreSQL) ------------------------------
_REFRESHED_SQL = (
    "UPDATE posts SET rendered_version = {newest}(rendered_version, ?), refresh_failures = 0,"
    " refresh_after = NULL, last_error = NULL WHERE id = ?"
)
_REFRESHED = {
    "sqlite": _REFRESHED_SQL.format(newest="max"),
    "postgresql": _REFRESHED_SQL.format(newest="GREATEST"),
}


@dataclass(frozen=True, slots=True)
class RefreshProblem:
    """A post whose counts could not be brought up to date: its article, the error, how many
    tries failed in a row, and when the next one is due."""

    article_id: int
    message: MessageRef
    error: str
    failures: int
    next_try: datetime | None


def stale_posts_due(
    store: Store,
    platforms: Iterable[str],
    limit: int = 200,
    *,
    only_chats: Mapping[str, Collection[str]] | None = None,
) -> list[Post]:
    """Posts whose counts are older than their poll and not waiting out a failed edit."""
    return store.stale_posts(platforms, limit, only_chats=only_chats)


def refresh_failed(store: Store, post_id: int, error: str, delay: float) -> None:
    """The edit of a post failed: keep it stale, try again after `delay` seconds."""
    store.engine.execute(
        "UPDATE posts SET refresh_failures = refresh_failures + 1, refresh_after = ?,"
        " last_error = ? WHERE id = ?",
        (to_ts(store.now() + timedelta(seconds=delay)), error[:500], post_id),
    )


def refresh_failures(store: Store, post_id: int) -> int:
    """Failed edits of a post in a row."""
    return int(
        store.engine.scalar("SELECT refresh_failures FROM posts WHERE id=?", (post_id,)) or 0
    )


def refreshed(store: Store, post_id: int, version: int) -> None:
    """A post shows the counts of poll `version`; any earlier failure is over."""
    store.engine.execute(_REFRESHED[store.engine.dialect], (version, post_id))


def refresh_problems(store: Store, chat: ChatRef, limit: int = 5) -> list[RefreshProblem]:
    """Posts in a chat whose last edit failed, most recent article first (for /why)."""
    rows = store.engine.rows(
        "SELECT article_id, message_id, last_error, refresh_failures, refresh_after FROM posts"
        " WHERE platform=? AND chat_id=? AND last_error IS NOT NULL"
        " ORDER BY article_id DESC, id DESC LIMIT ?",
        (chat.platform, chat.chat_id, limit),
    )
    return [
        RefreshProblem(
            article_id=r["article_id"],
            message=MessageRef(chat, r["message_id"]),
            error=r["last_error"],
            failures=r["refresh_failures"],
            next_try=from_ts(r["refresh_after"]),
        )
        for r in rows
    ]


def overtaken(store: Store, message: MessageRef, version: int) -> bool:
    """An edit showing poll `version` arrived at `message`; if the poll has moved on since,
    another worker's newer edit may have arrived before it, so the message is marked for
    the refresh job (True). Several workers edit a message in no agreed order: this makes
    the last edit show the newest counts, at the price of one edit more."""
    newer = store.engine.scalar(
        "SELECT 1 FROM posts p JOIN polls q ON q.article_id = p.article_id"
        " WHERE p.platform=? AND p.chat_id=? AND p.message_id=? AND q.version > ?",
        (message.chat.platform, message.chat.chat_id, message.message_id, version),
    )
    if newer:
        store.post_outdated(message)
    return bool(newer)
