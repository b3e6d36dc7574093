"""The store's search part: full-text queries over the archive (FTS5, BM25) and term statistics."""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.db import ARTICLE_COLUMNS
from storage.models import Article

if TYPE_CHECKING:
    from storage.postgres_search import PostgresSearch
    from storage.store import Store

# Marks around matched words in snippets: control characters that article text never holds
# (ingest strips them), turned into bold spans by the handlers.
MARK_START, MARK_END = "\x02", "\x03"
# Title matches count most, then tags, then the body (bm25 column weights).
_WEIGHTS = (4.0, 1.0, 2.0)
_SNIPPET_TOKENS = 14
# The tokenizer option in the index's definition (m003_search), quotes doubled inside.
_TOKENIZER = re.compile(r"tokenize\s*=\s*'((?:[^']|'')*)'", re.IGNORECASE)


# Light stemming: one inflection ending off, so that a prefix query finds every form
# ("Rechenzentrums" -> "rechenzentrum*", "Modelle" -> "modell*", "batteries" -> "batter*").
_ENDINGS = ("ern", "ens", "ies", "ing", "en", "er", "es", "em", "ed", "e", "s", "n", "y")
# Then one derivation ending, so that "pausierbar" finds "pausieren", "Verwaltung" "verwaltet".
_DERIVATIONS = ("ungen", "ung", "lich", "bar", "keit", "heit")
MIN_STEM = 4


def _strip(word: str, endings: Iterable[str]) -> str:
    for ending in endings:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def stem(word: str) -> str:
    """A light stem for prefix matching: one inflection and one derivation ending off."""
    lowered = word.lower()
    if lowered.isdigit():
        return lowered
    return _strip(_strip(lowered, _ENDINGS), _DERIVATIONS)


@dataclass(frozen=True, slots=True)
class Word:
    """A word to look for, as people wrote it (the index folds case and accents itself).
    prefix: also words starting with it ("rechenzentrum" finds "Rechenzentrums")."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Concept:
    """One word of a query and its variants: it matches when all words of any one variant
    match (the word's stem, or all parts of a split compound: "Halbleiter" and "Fabrik")."""

    variants: tuple[tuple[Word, ...], ...]

    @staticmethod
    def of(*words: Word) -> Concept:
        """A concept matched by any one of these words."""
        return Concept(tuple((w,) for w in words))


@dataclass(frozen=True, slots=True)
class SearchHit:
    article: Article
    relevance: float  # BM25, higher is better (0 for find_newest: not ranked)
    snippet: str  # body text around the matches, matched words between MARK_START/MARK_END


@dataclass(frozen=True, slots=True)
class NewestMatches:
    """How many articles match a query, and the newest of them (Search.find_newest)."""

    total: int
    hits: list[SearchHit]


def _word(word: Word) -> str:
    # Always a quoted string: what people type never becomes FTS5 syntax.
    quoted = '"' + word.text.replace('"', '""') + '"'
    return quoted + "*" if word.prefix else quoted


def fts_query(concepts: Sequence[Concept], *, match_all: bool) -> str:
    """The FTS5 expression for concepts; empty when there is nothing to look for."""
    parts = []
    for concept in concepts:
        variants = []
        for variant in concept.variants:
            words = [_word(w) for w in variant if w.text.strip()]
            if words:
                variants.append("(" + " AND ".join(words) + ")")
        if variants:
            parts.append("(" + " OR ".join(variants) + ")")
    return (" AND " if match_all else " OR ").join(parts)


class Search:
    """Full-text search over articles that are not removed, on the Store's connection. The
    index (table article_fts, migration m003_search) gets an article's row from
    Store.add_article (m006) and is kept in sync by triggers after that."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.engine

    def find(
        self,
        concepts: Sequence[Concept],
        *,
        match_all: bool = False,
        newest_first: bool = False,
        limit: int = 10,
        snippets: bool = True,
    ) -> list[SearchHit]:
        """Matching articles, most relevant first (or newest first among the matches, as
        find_newest), with a snippet of each unless `snippets` is false."""
        if newest_first:
            newest = self.find_newest(concepts, match_all=match_all, limit=limit, snippets=snippets)
            return newest.hits
        query = fts_query(concepts, match_all=match_all)
        if not query:
            return []
        best = self._most_relevant(query, limit)
        return self._hits(query, list(best), best, snippets=snippets)

    def find_newest(
        self,
        concepts: Sequence[Concept],
        *,
        match_all: bool = False,
        limit: int = 10,
        snippets: bool = True,
    ) -> NewestMatches:
        """How many articles match, and the newest `limit` of them, from one pass over the
        matches (counting and sorting separately read every match's article twice). Their
        relevance is 0: ordered by date, nothing ranks them, and BM25 costs a pass over the
        index."""
        query = fts_query(concepts, match_all=match_all)
        if not query:
            return NewestMatches(total=0, hits=[])
        rows = self.db.rows(
            "SELECT a.id, count(*) OVER () AS total FROM article_fts"
            " JOIN articles a ON a.id = article_fts.rowid WHERE article_fts MATCH ?"
            " AND a.removed = 0 ORDER BY coalesce(a.published, a.added) DESC, a.id DESC LIMIT ?",
            (query, limit),
        )
        if not rows:
            return NewestMatches(total=0, hits=[])
        total = int(rows[0]["total"])
        hits = self._hits(query, [int(r["id"]) for r in rows], {}, snippets=snippets)
        return NewestMatches(total=total, hits=hits)

    def _most_relevant(self, query: str, limit: int) -> dict[int, float]:
        """The `limit` best matches that are not removed, best first: id -> relevance. BM25 is
        ranked on the index alone; only the best few are then looked up in the articles
        table (looking up every match there costs more than the ranking), more of them when
        removed articles were among them."""
        fetch = limit + 8
        while True:
            rows = self.db.rows(
                "SELECT f.rowid AS id, f.score, a.removed FROM (SELECT rowid,"
                " bm25(article_fts, ?, ?, ?) AS score FROM article_fts WHERE article_fts MATCH ?"
                " ORDER BY score, rowid DESC LIMIT ?) f JOIN articles a ON a.id = f.rowid"
                " ORDER BY f.score, f.rowid DESC",
                (*_WEIGHTS, query, fetch),
            )
            kept = [r for r in rows if not r["removed"]][:limit]
            if len(kept) == limit or len(rows) < fetch:
                return {int(r["id"]): -float(r["score"]) for r in kept}
            fetch *= 4

    def _hits(
        self, query: str, ids: Sequence[int], relevance: Mapping[int, float], *, snippets: bool
    ) -> list[SearchHit]:
        """The hits for these matching ids, in their order, with their snippets computed for
        these rows only: the rowid range is the index's constraint and the exact ids a filter
        (`+rowid`), so that one cursor serves them all."""
        if not ids:
            return []
        snips: dict[int, str] = {}
        if snippets:
            rows = self.db.rows(
                "SELECT rowid, snippet(article_fts, 1, ?, ?, '…', ?) AS snip FROM article_fts"
                " WHERE article_fts MATCH ? AND rowid BETWEEN ? AND ?"
                f" AND +rowid IN ({', '.join('?' * len(ids))})",
                (MARK_START, MARK_END, _SNIPPET_TOKENS, query, min(ids), max(ids), *ids),
            )
            snips = {int(r["rowid"]): r["snip"] for r in rows}
        return [
            SearchHit(a, relevance=relevance.get(a.id, 0.0), snippet=snips.get(a.id, ""))
            for a in self._articles(ids)
        ]

    def _articles(self, ids: Sequence[int]) -> list[Article]:
        """These articles, in this order, read in one query."""
        rows = {
            int(r["id"]): r
            for r in self.db.rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({', '.join('?' * len(ids))})",
                ids,
            )
        }
        return [self.store.articles.article(rows[i]) for i in ids if i in rows]

    def count(self, concepts: Sequence[Concept], *, match_all: bool = False) -> int:
        query = fts_query(concepts, match_all=match_all)
        if not query:
            return 0
        return int(
            self.db.scalar(
                "SELECT count(*) FROM article_fts JOIN articles a ON a.id = article_fts.rowid"
                " WHERE article_fts MATCH ? AND a.removed = 0",
                (query,),
            )
        )

    def rarity(self, concepts: Sequence[Concept]) -> list[float]:
        """How much finding each concept says (inverse document frequency, BM25's form): a
        word in every article says nothing, one in a single article says a lot."""
        # The index's size table has one small row per article; counting the index itself
        # reads every article's text.
        total = int(self.db.scalar("SELECT count(*) FROM article_fts_docsize"))
        out = []
        for concept in concepts:
            # Removed articles are counted too: a weight, not a result, and the join would
            # cost more than the difference.
            found = int(
                self.db.scalar(
                    "SELECT count(*) FROM article_fts WHERE article_fts MATCH ?",
                    (fts_query([concept], match_all=False),),
                )
            )
            out.append(math.log(1 + (total - found + 0.5) / (found + 0.5)))
        return out

    def has_words_starting(self, start: str) -> bool:
        """Whether an indexed word starts with `start` (folded as the index folds words)."""
        return bool(
            self.db.scalar(
                "SELECT 1 FROM article_fts_terms WHERE term >= ? AND term < ? LIMIT 1",
                (start, start + "\U0010ffff"),
            )
        )

    def index_words(self, texts: Sequence[str]) -> list[list[str]]:
        """The words the index makes of each text, in order, split and folded by the index's
        own tokenizer (read from its definition and run on a scratch in-memory table, so the
        archive is untouched). For checking that the answers' folding agrees with the index."""
        definition = str(self.db.scalar("SELECT sql FROM sqlite_master WHERE name = 'article_fts'"))
        match = _TOKENIZER.search(definition)
        tokenizer = match.group(1) if match else "unicode61"  # FTS5's default
        out: list[list[str]] = [[] for _ in texts]
        with closing(sqlite3.connect(":memory:")) as scratch:
            scratch.execute(
                f"CREATE VIRTUAL TABLE probe USING fts5(text, tokenize = '{tokenizer}')"
            )
            scratch.execute("CREATE VIRTUAL TABLE probe_words USING fts5vocab(probe, 'instance')")
            scratch.executemany(
                "INSERT INTO probe (rowid, text) VALUES (?, ?)", enumerate(texts, start=1)
            )
            for doc, term in scratch.execute(
                "SELECT doc, term FROM probe_words ORDER BY doc, offset"
            ):
                out[doc - 1].append(term)
        return out


def search_for(store: Store) -> Search | PostgresSearch:
    """The store's search on its engine: FTS5 on SQLite, a tsvector column on PostgreSQL
    (storage/postgres_search.py), with the same methods and answers."""
    if store.engine.dialect == "postgresql":
        # Imported here: that module builds on this one's query types.
        from storage.postgres_search import PostgresSearch

        return PostgresSearch(store)
    return Search(store)
