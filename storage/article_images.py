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

    def unchecked(self, article_ids: Sequence[int]) -> list[ImageToCheck]:
        ids = sorted(set(article_ids))
        if not ids:
            return []
        rows = self.db.rows(
            "SELECT id, image_url FROM articles WHERE image_url IS NOT NULL"
            f" AND image_verdict IS NULL AND id IN ({marks(ids)}) ORDER BY id",
            ids,
        )
        return [ImageToCheck(r["id"], r["image_url"]) for r in rows]

    def record(self, article_id: int, verdict: str) -> None:
        """The check's verdict; a verdict already there (another worker's) stays."""
        self.db.execute(
            "UPDATE articles SET image_verdict=? WHERE id=? AND image_verdict IS NULL",
            (verdict[:300], article_id),
        )
