"""The store's articles: the archive, its tags and the search index row of each article."""

from __future__ import annotations

from collections.abc import Sequence

from storage.db import ARTICLE_COLUMNS, ARTICLE_COLUMNS_A, Db, Row, from_ts, like_pattern, to_ts
from storage.models import Article, NewArticle, TagCount
from storage.postgres_search import write_vector

# -- SQLite dialect: the FTS5 index row (PostgreSQL keeps a tsvector column instead) ---------
_INDEX_ROW = "INSERT INTO article_fts (rowid, title, body, tags) VALUES (?, ?, ?, ?)"

# -- SQLite dialect: LIKE ignores the case of ASCII letters (PostgreSQL's ILIKE in the "C"
# collation of the schema does the same; its LIKE does not) ---------------------------------
_FIND_SQL = (
    f"SELECT DISTINCT {ARTICLE_COLUMNS_A} FROM articles a"
    " LEFT JOIN article_tags at ON at.article_id = a.id"
    " LEFT JOIN tags t ON t.id = at.tag_id WHERE a.removed = 0 AND"
    " (a.title {like} ? ESCAPE '\\' OR t.name {like} ? ESCAPE '\\')"
    " ORDER BY a.id DESC LIMIT ?"
)
_FIND = {"sqlite": _FIND_SQL.format(like="LIKE"), "postgresql": _FIND_SQL.format(like="ILIKE")}


def _index_row(
    db: Db, article_id: int, *, title: str, body: str, tags: Sequence[str], language: str
) -> None:
    del language  # FTS5's tokenizer is the same for every language
    db.execute(_INDEX_ROW, (article_id, title, body, " ".join(tags)))


_WRITE_INDEX = {"sqlite": _index_row, "postgresql": write_vector}
# Keys per IN (...) lookup: well under SQLite's (and PostgreSQL's) limit on parameters.
_KEY_BATCH = 500


class Articles:
    """Articles are found by id, by tag key (already folded by the caller) or by text."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def duplicate_of(self, dedupe_key: str, chash: str, url_key: str | None) -> int | None:
        """The article already stored under this key, text or link, if any."""
        found = self.db.scalar(
            "SELECT id FROM articles WHERE dedupe_key = ? OR content_hash = ?"
            # (A typed NULL: PostgreSQL cannot tell the type of a bare parameter's NULL.)
            " OR (CAST(? AS TEXT) IS NOT NULL AND url_key = ?) LIMIT 1",
            (dedupe_key, chash, url_key, url_key),
        )
        return int(found) if found is not None else None

    def stored_keys(self, dedupe_keys: Sequence[str], url_keys: Sequence[str]) -> set[str]:
        """Those of the given dedupe keys and link keys that an article already has (one
        indexed lookup each, one statement per batch): what `duplicate_of` would find without
        the text."""
        found: set[str] = set()
        for column, keys in (("dedupe_key", dedupe_keys), ("url_key", url_keys)):
            unique = sorted(set(keys))
            for start in range(0, len(unique), _KEY_BATCH):
                batch = unique[start : start + _KEY_BATCH]
                marks = ",".join("?" * len(batch))
                rows = self.db.execute(
                    f"SELECT {column} FROM articles WHERE {column} IN ({marks})", batch
                )
                found.update(str(r[0]) for r in rows)
        return found

    def insert(
        self,
        new: NewArticle,
        *,
        dedupe_key: str,
        url_key: str | None,
        chash: str,
        language: str,
        tags: Sequence[tuple[str, str]],
    ) -> Article:
        """Store an article with its (key, name) tags in order; returns it as stored (known
        tags in their stored spelling). The caller holds the write and has checked for
        duplicates."""
        added = to_ts(self.db.now())
        published = to_ts(new.published) if new.published else None
        cur = self.db.execute(
            "INSERT INTO articles (dedupe_key, url_key, content_hash, title, body, url,"
            " published, added, language, source, image_url) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " RETURNING id",
            (
                dedupe_key,
                url_key,
                chash,
                new.title,
                new.body,
                new.url,
                published,
                added,
                language,
                new.source,
                new.image,
            ),
        )
        article_id = int(cur.fetchone()[0])
        self.db.executemany(
            "INSERT INTO tags (key, name) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", tags
        )
        self.db.executemany(
            "INSERT INTO article_tags (article_id, tag_id, position)"
            " SELECT ?, id, ? FROM tags WHERE key = ?",
            [(article_id, position, key) for position, (key, _name) in enumerate(tags)],
        )
        # The search index row, written once now that the tags are in (m006): a known tag
        # is indexed in its stored spelling, as the m003 triggers did.
        names = self._tags(article_id)
        _WRITE_INDEX[self.db.dialect](
            self.db, article_id, title=new.title, body=new.body, tags=names, language=language
        )
        stamped = from_ts(added)
        assert stamped is not None
        return Article(
            id=article_id,
            title=new.title,
            body=new.body,
            tags=names,
            url=new.url,
            published=from_ts(published),
            added=stamped,
            language=language,
            source=new.source,
            image_url=new.image,
        )

    def _tags(self, article_id: int) -> tuple[str, ...]:
        return tuple(
            r[0]
            for r in self.db.execute(
                "SELECT t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id"
                " WHERE at.article_id = ? ORDER BY at.position",
                (article_id,),
            )
        )

    def article(self, row: Row, tags: Sequence[str] | None = None) -> Article:
        """The article a row of the articles table (with any extra columns) describes; its
        tags are read unless given."""
        added = from_ts(row["added"])
        assert added is not None
        return Article(
            id=row["id"],
            title=row["title"],
            body=row["body"],
            tags=self._tags(row["id"]) if tags is None else tuple(tags),
            url=row["url"],
            published=from_ts(row["published"]),
            added=added,
            language=row["language"],
            source=row["source"],
            removed=bool(row["removed"]),
            image_url=row["image_url"],
            image_verdict=row["image_verdict"],
            summary=row["summary"],
        )

    def get(self, article_id: int, *, include_removed: bool = True) -> Article | None:
        row = self.db.one(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,))
        if row is None or (row["removed"] and not include_removed):
            return None
        return self.article(row)

    def latest(self, key: str | None, limit: int) -> list[Article]:
        """The newest articles not removed, those with the tag `key` only when it is given."""
        if key is not None:
            # Walks the tag's index from its newest article: reads `limit` rows, not the tag's.
            rows = self.db.rows(
                f"SELECT {ARTICLE_COLUMNS_A} FROM article_tags at"
                " JOIN articles a ON a.id = at.article_id"
                " WHERE at.tag_id = (SELECT id FROM tags WHERE key = ?) AND a.removed = 0"
                " ORDER BY at.article_id DESC LIMIT ?",
                (key, limit),
            )
        else:
            rows = self.db.rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE removed = 0"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        return [self.article(r) for r in rows]

    def find(self, text: str, limit: int) -> list[Article]:
        """Articles whose title or tags contain `text` (case-insensitive), newest first."""
        needle = like_pattern(text.strip())
        rows = self.db.rows(_FIND[self.db.dialect], (needle, needle, limit))
        return [self.article(r) for r in rows]

    def count(self, *, exclude_source: str | None = None) -> int:
        if exclude_source is None:
            return int(self.db.scalar("SELECT count(*) FROM articles"))
        return int(
            self.db.scalar("SELECT count(*) FROM articles WHERE source != ?", (exclude_source,))
        )

    # -- tags -------------------------------------------------------------------------------

    def tag_counts(self, limit: int) -> list[TagCount]:
        """The most used tags; the counts are kept by triggers (m011_maintained_counts)."""
        rows = self.db.rows(
            "SELECT name, articles FROM tags WHERE articles > 0"
            " ORDER BY articles DESC, key LIMIT ?",
            (limit,),
        )
        return [TagCount(tag=r["name"], articles=r["articles"]) for r in rows]

    def tags_matching(self, key: str, limit: int) -> list[str]:
        """Known tags whose key contains `key`, those starting with it first, most used first."""
        rows = self.db.rows(
            "SELECT t.name FROM tags t LEFT JOIN article_tags at ON at.tag_id = t.id"
            " WHERE t.key LIKE ? ESCAPE '\\' GROUP BY t.id"
            " ORDER BY substr(t.key, 1, length(?)) != ?, count(at.article_id) DESC, t.key LIMIT ?",
            (like_pattern(key), key, key, limit),
        )
        return [str(r["name"]) for r in rows]

    def tag_name(self, key: str) -> str | None:
        """The display spelling of the tag with this key, or None when it is not known."""
        name = self.db.scalar("SELECT name FROM tags WHERE key = ?", (key,))
        return str(name) if name is not None else None
