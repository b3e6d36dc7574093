"""The store's posts: the messages that show an article, and whether their counts are current."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from storage.db import Db, Row, chat_scope, to_ts
from storage.models import ChatRef, MessageRef, Post

# -- SQLite dialect: two-argument max() (GREATEST on PostgreSQL) ------------------------------
_RECORD_SQL = (
    "INSERT INTO posts (article_id, platform, chat_id, message_id, rendered_version,"
    " language, posted_at) VALUES (?,?,?,?,?,?,?)"
    " ON CONFLICT(platform, chat_id, message_id) DO UPDATE SET"
    " rendered_version = {newest}(posts.rendered_version, excluded.rendered_version),"
    " language = coalesce(excluded.language, posts.language)"
    # A message shows one article for good: another article's poll version must never make
    # its post look current.
    " WHERE posts.article_id = excluded.article_id"
)
_RECORD = {
    "sqlite": _RECORD_SQL.format(newest="max"),
    "postgresql": _RECORD_SQL.format(newest="GREATEST"),
}
_RENDERED = {
    "sqlite": "UPDATE posts SET rendered_version = max(rendered_version, ?) WHERE id=?",
    "postgresql": "UPDATE posts SET rendered_version = GREATEST(rendered_version, ?) WHERE id=?",
}


def post_from_row(row: Row) -> Post:
    return Post(
        id=row["id"],
        article_id=row["article_id"],
        message=MessageRef(ChatRef(row["platform"], row["chat_id"]), row["message_id"]),
        rendered_version=row["rendered_version"],
        language=row["language"],
    )


class Posts:
    """A post records the poll version its message shows: older than the poll means stale."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def record(
        self, article_id: int, message: MessageRef, poll_version: int, language: str | None
    ) -> None:
        self.db.execute(
            _RECORD[self.db.dialect],
            (
                article_id,
                message.chat.platform,
                message.chat.chat_id,
                message.message_id,
                poll_version,
                language,
                to_ts(self.db.now()),
            ),
        )

    def stale(
        self, platforms: Iterable[str], limit: int, only_chats: Mapping[str, Collection[str]]
    ) -> list[Post]:
        """Posts whose counts are older than their poll and that are not waiting out a failed
        edit (storage/post_refresh.py): the coalescing job edits these."""
        where, params = chat_scope(platforms, only_chats, "p")
        if not where:
            return []
        # From the queue of polls whose posts show older counts (m011), never all posts. (A
        # join would let SQLite build a Bloom filter over all posts first.)
        rows = self.db.rows(
            "SELECT p.* FROM posts p WHERE p.article_id IN (SELECT article_id FROM stale_polls)"
            " AND p.rendered_version < (SELECT version FROM polls q"
            " WHERE q.article_id = p.article_id)"
            " AND (p.refresh_after IS NULL OR p.refresh_after <= ?)"
            f" AND ({where}) ORDER BY p.article_id, p.id LIMIT ?",
            (to_ts(self.db.now()), *params, limit),
        )
        return [post_from_row(r) for r in rows]

    def rendered(self, post_id: int, version: int) -> None:
        self.db.execute(_RENDERED[self.db.dialect], (version, post_id))

    def outdated(self, message: MessageRef) -> None:
        """The message does not show what was recorded for it (an edit failed): the refresh
        job edits it again, whatever the version of its poll."""
        self.db.execute(
            "UPDATE posts SET rendered_version = -1"
            " WHERE platform=? AND chat_id=? AND message_id=?",
            (message.chat.platform, message.chat.chat_id, message.message_id),
        )

    def at(self, message: MessageRef) -> Post | None:
        row = self.db.one(
            "SELECT * FROM posts WHERE platform=? AND chat_id=? AND message_id=?",
            (message.chat.platform, message.chat.chat_id, message.message_id),
        )
        return post_from_row(row) if row else None

    def of(self, article_id: int) -> list[Post]:
        rows = self.db.rows("SELECT * FROM posts WHERE article_id=? ORDER BY id", (article_id,))
        return [post_from_row(r) for r in rows]
