"""The store's lead images: which articles' images wait for their one check, and its verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.db import Db, marks


@dataclass(frozen=True, slots=True)
class ImageToCheck:
    """An article whose lead image has not been checked yet."""

    article_id: int
    url: str


class ArticleImages:
    """An image is checked once per article, however many chats the article goes to: the
    verdict ("ok", or why not) is kept with the article."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def unchecked(self, delivery_ids: Sequence[int]) -> list[ImageToCheck]:
        """The unchecked images of these deliveries' articles, for those going to a chat that
        shows pictures (not turned off, not the compact style): no picture is fetched for a
        post that would not show it."""
        ids = sorted(set(delivery_ids))
        if not ids:
            return []
        rows = self.db.rows(
            "SELECT DISTINCT a.id, a.image_url FROM deliveries d"
            " JOIN articles a ON a.id = d.article_id"
            " LEFT JOIN chats c ON c.platform = d.platform AND c.chat_id = d.chat_id"
            f" WHERE d.id IN ({marks(ids)}) AND a.image_url IS NOT NULL"
            " AND a.image_verdict IS NULL AND coalesce(c.images, 1) = 1"
            " AND coalesce(c.post_style, 'default') != 'compact' ORDER BY a.id",
            ids,
        )
        return [ImageToCheck(r["id"], r["image_url"]) for r in rows]

    def offer(self, article_id: int, url: str) -> bool:
        """`url` (a full-text page's og:image) as the article's lead image, when it has none
        yet; checked before its first post like any other. Whether it was taken."""
        return bool(
            self.db.changes(
                "UPDATE articles SET image_url=?, image_verdict=NULL"
                " WHERE id=? AND image_url IS NULL",
                (url[:2000], article_id),
            )
        )

    def record(self, article_id: int, verdict: str) -> None:
        """The check's verdict; a verdict already there (another worker's) stays."""
        self.db.execute(
            "UPDATE articles SET image_verdict=? WHERE id=? AND image_verdict IS NULL",
            (verdict[:300], article_id),
        )
