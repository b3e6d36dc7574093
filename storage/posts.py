"""The store's posts: the messages that show an article, and whether their counts are current."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import timedelta

from storage.db import Db, Row, chat_scope, marks, to_ts
from storage.models import ChatRef, MessageRef, Post

# -- SQLite dialect: two-argument max() (GREATEST on PostgreSQL) ------------------------------
_RECORD_SQL = (
    "INSERT INTO posts (article_id, platform, chat_id, message_id, rendered_version,"
    " language, posted_at, photo) VALUES (?,?,?,?,?,?,?,?)"
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
        message=MessageRef(
            ChatRef(row["platform"], row["chat_id"]), row["message_id"], photo=bool(row["photo"])
        ),
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
                int(message.photo),
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
        rows = self._stale_rows(where, params, limit, unclaimed=False)
        return [post_from_row(r) for r in rows]

    def claim_stale(
        self,
        platforms: Iterable[str],
        limit: int,
        only_chats: Mapping[str, Collection[str]],
        *,
        worker: str,
        lease: float,
    ) -> list[Post]:
        """Stale posts that no other worker is editing, claimed by `worker` for `lease`
        seconds: every worker's refresh job takes its own share, and a worker that dies
        leaves its share to the others when the claim runs out."""
        where, params = chat_scope(platforms, only_chats, "p")
        if not where:
            return []
        # A look without the write lock first: most runs find nothing to edit, and they
        # must not queue behind (or hold up) the votes being written.
        if not self._stale_rows(where, params, 1, unclaimed=True):
            return []
        with self.db.write():
            rows = self._stale_rows(where, params, limit, unclaimed=True)
            if rows:
                ids = [r["id"] for r in rows]
                until = to_ts(self.db.now() + timedelta(seconds=lease))
                self.db.execute(
                    "UPDATE posts SET refresh_claimed_by=?, refresh_claimed_until=?"
                    f" WHERE id IN ({marks(ids)})",
                    (worker, until, *ids),
                )
        return [post_from_row(r) for r in rows]

    def _stale_rows(
        self, where: str, params: list[str], limit: int, *, unclaimed: bool
    ) -> list[Row]:
        now = to_ts(self.db.now())
        claim = " AND (p.refresh_claimed_until IS NULL OR p.refresh_claimed_until < ?)"
        # From the queue of polls whose posts show older counts (m011), never all posts. (A
        # join would let SQLite build a Bloom filter over all posts first.)
        return self.db.rows(
            "SELECT p.* FROM posts p WHERE p.article_id IN (SELECT article_id FROM stale_polls)"
            " AND p.rendered_version < (SELECT version FROM polls q"
            " WHERE q.article_id = p.article_id)"
            " AND (p.refresh_after IS NULL OR p.refresh_after <= ?)"
            + (claim if unclaimed else "")
            + f" AND ({where}) ORDER BY p.article_id, p.id LIMIT ?",
            (now, *((now,) if unclaimed else ()), *params, limit),
        )

    def renew_refresh_claims(self, worker: str, lease: float) -> int:
        """The posts `worker` is editing stay its own for `lease` more seconds."""
        until = to_ts(self.db.now() + timedelta(seconds=lease))
        return self.db.changes(
            "UPDATE posts SET refresh_claimed_until=? WHERE refresh_claimed_by=?", (until, worker)
        )

    def release_refresh_claims(self, worker: str, post_ids: Sequence[int] | None = None) -> int:
        """`worker` is done with these posts (all of its posts when None): free for any
        worker's refresh job while they are stale."""
        ids = list(post_ids) if post_ids is not None else []
        if post_ids is not None and not ids:
            return 0
        only = f" AND id IN ({marks(ids)})" if post_ids is not None else ""
        return self.db.changes(
            "UPDATE posts SET refresh_claimed_by=NULL, refresh_claimed_until=NULL"
            " WHERE refresh_claimed_by=?" + only,
            (worker, *ids),
        )

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
