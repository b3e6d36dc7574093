"""Texts an article gains after it is stored: its page's full text, and translations."""

from __future__ import annotations

from storage.db import Db, to_ts
from storage.models import Translation
from storage.postgres_search import index_text, write_vector

# PostgreSQL: the words of an article's old text no longer count (storage/postgres_search.py
# counts the articles holding each word); a word no article holds any more goes.
_UNCOUNT_TERMS = (
    "UPDATE search_terms s SET articles = s.articles - d.n FROM ("
    " SELECT word, count(*) AS n FROM unnest(?::text[]) AS w(words),"
    " unnest(tsvector_to_array(to_tsvector('simple', w.words))) AS word GROUP BY word) d"
    " WHERE s.term = d.word"
)


class ArticleTexts:
    """The full text that replaces a feed's teaser as the body (the teaser stays as the
    summary posts show), and translations of a post's title and summary, one per article and
    language."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def use_full_text(self, article_id: int, text: str) -> bool:
        """Make `text` the article's body, keeping the feed's text as its summary; the search
        index follows (SQLite: the m003 trigger; PostgreSQL: the vector rewritten here).
        False when the article is gone."""
        with self.db.write():
            row = self.db.one(
                "SELECT title, body, summary, language FROM articles WHERE id = ?", (article_id,)
            )
            if row is None:
                return False
            self.db.execute(
                "UPDATE articles SET body = ?, summary = coalesce(summary, body) WHERE id = ?",
                (text, article_id),
            )
            if self.db.dialect == "postgresql":
                tags = [
                    str(r[0])
                    for r in self.db.rows(
                        "SELECT t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id"
                        " WHERE at.article_id = ? ORDER BY at.position",
                        (article_id,),
                    )
                ]
                old = (row["title"], " ".join(tags), row["body"])
                self.db.execute(_UNCOUNT_TERMS, ([" ".join(map(index_text, old))],))
                self.db.execute("DELETE FROM search_terms WHERE articles <= 0")
                write_vector(
                    self.db,
                    article_id,
                    title=row["title"],
                    body=text,
                    tags=tags,
                    language=row["language"],
                )
        return True

    def translation(self, article_id: int, language: str) -> Translation | None:
        row = self.db.one(
            "SELECT title, summary FROM translations WHERE article_id = ? AND language = ?",
            (article_id, language),
        )
        if row is None:
            return None
        return Translation(article_id, language, row["title"], row["summary"])

    def save_translation(self, translation: Translation) -> None:
        """Store a translation; a pair stored meanwhile (another worker) keeps its first one."""
        self.db.execute(
            "INSERT INTO translations (article_id, language, title, summary, added)"
            " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM articles WHERE id = ?)"
            " ON CONFLICT (article_id, language) DO NOTHING",
            (
                translation.article_id,
                translation.language,
                translation.title,
                translation.summary,
                to_ts(self.db.now()),
                translation.article_id,
            ),
        )
