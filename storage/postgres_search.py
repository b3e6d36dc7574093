"""The store's search part on PostgreSQL: a weighted tsvector per article with a GIN index,
the same interface and answers as storage.search (SQLite's FTS5) for the handlers.

How words are matched. The handlers look for words as people wrote them, lightly stemmed, as
prefixes ("rechenzentrum*"), folded as FTS5's `unicode61 remove_diacritics 2` folds them.
PostgreSQL here has no `unaccent` (pgserver ships no contrib, and a managed server may not
allow CREATE EXTENSION), so the store folds in Python: each field is split into words as the
handlers split them and folded (lower case, accents off, "ß" kept) before `to_tsvector`, and
every query word is folded the same way. The article's language picks the configuration that
stems it and drops its stop words (German `german`, English `english`, others `simple`); a
query word is looked for as itself and as its German and its English stem (ts_lexize, as a
prefix where the handlers ask for one), so that a question in either language finds an
article in the other that shares its names. The raw words are indexed too (`simple`): the
stem of a prefix is not always a prefix of the stem, and without them "informatio*" would not
find "information" (3.2 % of the test archive's words went missing by their own query word),
where the English stem is "inform"."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from storage.db import ARTICLE_COLUMNS, Db
from storage.models import Article
from storage.search import MARK_END, MARK_START, Concept, NewestMatches, SearchHit, Word
from storage.snippets import snippet

if TYPE_CHECKING:
    from storage.store import Store

# The text search configuration of each article language; any other language is only folded.
CONFIGS = {"de": "german", "en": "english"}
_PLAIN = "simple"
# ts_rank weights {D, C, B, A}: body (C) 1, tags (B) 2, title (A) 4, as SQLite's bm25 weights.
_RANK_WEIGHTS = "{0, 0.25, 0.5, 1}"

# m003_search on PostgreSQL (storage/postgres_schema.py). The vector is written once by the
# store after the article's tags (as SQLite's index row since m006); articles are never edited
# or deleted in place, so no trigger keeps it. search_terms counts the articles holding each
# word (the raw, unstemmed words, as SQLite's article_fts_terms): which words start with what
# (compounds) and how rare a word is, without reading the articles (ts_stat reads them all).
SEARCH_SCHEMA = """
ALTER TABLE articles ADD COLUMN search_vector tsvector NOT NULL DEFAULT ''::tsvector;
CREATE INDEX idx_articles_search ON articles USING gin (search_vector);
CREATE TABLE search_terms (term TEXT COLLATE "C" PRIMARY KEY, articles BIGINT NOT NULL);
"""

# Each field folded, stemmed in the article's language and its raw words added, weighted;
# several articles a statement (arrays), for rebuilding a whole archive.
_FIELD = "(to_tsvector(v.cfg::regconfig, v.{0}) || to_tsvector('simple', v.{0}))"
_WRITE_VECTORS = (
    "UPDATE articles a SET search_vector ="
    f" setweight({_FIELD.format('title')}, 'A') || setweight({_FIELD.format('tags')}, 'B')"
    f" || setweight({_FIELD.format('body')}, 'C')"
    " FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[])"
    " AS v(id, cfg, title, tags, body) WHERE a.id = v.id"
)
_COUNT_TERMS = (
    "INSERT INTO search_terms (term, articles)"
    " SELECT word, count(*) FROM unnest(?::text[]) AS d(words),"
    " unnest(tsvector_to_array(to_tsvector('simple', d.words))) AS word GROUP BY word"
    " ON CONFLICT (term) DO UPDATE SET articles = search_terms.articles + excluded.articles"
)
_ARTICLES_AFTER = "SELECT id, title, body, language FROM articles WHERE id > ? ORDER BY id LIMIT ?"
_TAGS_OF = (
    "SELECT at.article_id, t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id"
    " WHERE at.article_id BETWEEN ? AND ? ORDER BY at.article_id, at.position"
)
_STEMS = "SELECT ts_lexize('german_stem', ?) AS de, ts_lexize('english_stem', ?) AS en"
_TOTAL = "SELECT count(*) FROM articles"
# Every match marked (the words of the folded body stay one space apart, so they can be counted).
_MARK_ALL = f"'HighlightAll=true, StartSel={MARK_START}, StopSel={MARK_END}'"

_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=4096)
def fold(word: str) -> str:
    """Lower case without accents, as SQLite's index and the handlers fold ("Wärme" ->
    "warme", "ß" kept)."""
    return "".join(
        c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c)
    )


def index_text(text: str) -> str:
    """The words of a text as the index holds them: split where the handlers split words
    (anything but a letter or digit separates), folded, one space between them. PostgreSQL's
    parser then sees plain words only: no e-mail, URL or "1.100" tokens that a question's
    words could not match."""
    return " ".join(fold(w) for w in _WORD.findall(unicodedata.normalize("NFKC", text)))


@dataclass(frozen=True, slots=True)
class _Indexed:
    article_id: int
    title: str
    body: str
    tags: Sequence[str]
    language: str


def write_vector(
    db: Db, article_id: int, *, title: str, body: str, tags: Sequence[str], language: str
) -> None:
    """Write an article's search vector and count its words (in the store's write, once its
    tags are known)."""
    _write(db, [_Indexed(article_id, title, body, tags, language)])


def _write(db: Db, articles: Sequence[_Indexed]) -> None:
    fields = [
        (index_text(a.title), index_text(" ".join(a.tags)), index_text(a.body)) for a in articles
    ]
    db.execute(
        _WRITE_VECTORS,
        (
            [a.article_id for a in articles],
            [CONFIGS.get(a.language, _PLAIN) for a in articles],
            *(list(column) for column in zip(*fields, strict=True)),
        ),
    )
    db.execute(_COUNT_TERMS, ([" ".join(f) for f in fields],))


def rebuild_index(db: Db, *, batch: int = 500) -> int:
    """Every article's vector and the word counts written anew, a batch of articles a write
    (after `db copy` has filled the articles table); returns how many articles."""
    with db.write():
        db.execute("DELETE FROM search_terms")
    done, last = 0, 0
    while rows := db.rows(_ARTICLES_AFTER, (last, batch)):
        first, last = int(rows[0]["id"]), int(rows[-1]["id"])
        tags: dict[int, list[str]] = {}
        for tag in db.rows(_TAGS_OF, (first, last)):
            tags.setdefault(int(tag[0]), []).append(str(tag[1]))
        with db.write():
            _write(
                db,
                [
                    _Indexed(
                        int(r["id"]),
                        r["title"],
                        r["body"],
                        tags.get(int(r["id"]), []),
                        r["language"],
                    )
                    for r in rows
                ],
            )
        done += len(rows)
    return done


def _quoted(lexeme: str, prefix: bool) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "")


class PostgresSearch:
    """Full-text search over articles that are not removed, as storage.search.Search, on
    PostgreSQL."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.engine
        self._stems: dict[str, tuple[str, ...]] = {}

    # -- queries ------------------------------------------------------------------------------

    def _forms(self, word: str) -> tuple[str, ...]:
        """A folded word and its German and English stems (a stop word has none there)."""
        if word not in self._stems:
            row = self.db.one(_STEMS, (word, word))
            assert row is not None  # a SELECT without FROM has its one row
            stems = [s for col in ("de", "en") for s in (row[col] or [])]
            if len(self._stems) > 20_000:  # a bound, not a policy: stems never change
                self._stems.clear()
            self._stems[word] = tuple(dict.fromkeys([word, *stems]))
        return self._stems[word]

    def _word(self, word: Word) -> str | None:
        parts = []
        for key in index_text(word.text).split():
            forms = [_quoted(f, word.prefix) for f in self._forms(key)]
            parts.append(forms[0] if len(forms) == 1 else "(" + " | ".join(forms) + ")")
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"

    def ts_query(self, concepts: Sequence[Concept], *, match_all: bool) -> str:
        """The tsquery for concepts (each word folded, with its stems); empty when there is
        nothing to look for. The article's words were stemmed in its own language, a query's
        are tried in both: a German question also finds an English article with its names."""
        parts = []
        for concept in concepts:
            variants = []
            for variant in concept.variants:
                words = [w for w in (self._word(w) for w in variant) if w]
                if words:
                    variants.append(words[0] if len(words) == 1 else "(" + " & ".join(words) + ")")
            if variants:
                parts.append(
                    variants[0] if len(variants) == 1 else "(" + " | ".join(variants) + ")"
                )
        return (" & " if match_all else " | ").join(parts)

    # -- the public interface (storage.search.Search's) ---------------------------------------

    def find(
        self,
        concepts: Sequence[Concept],
        *,
        match_all: bool = False,
        newest_first: bool = False,
        limit: int = 10,
        snippets: bool = True,
    ) -> list[SearchHit]:
        """Matching articles, most relevant first (or newest first, as find_newest). Relevance
        is ts_rank (title 4, tags 2, body 1, divided by the log of the length) of each concept
        times its rarity, summed: BM25's idea, so that a rare word counts for more than a
        common one."""
        if newest_first:
            newest = self.find_newest(concepts, match_all=match_all, limit=limit, snippets=snippets)
            return newest.hits
        query = self.ts_query(concepts, match_all=match_all)
        if not query:
            return []
        parts = [(self.ts_query([c], match_all=True), c) for c in concepts]
        parts = [(q, c) for q, c in parts if q]
        weights = self.rarity([c for _, c in parts])
        score = " + ".join(
            f"? * ts_rank('{_RANK_WEIGHTS}', a.search_vector, ?::tsquery, 1)" for _ in parts
        )
        params: list[object] = []
        for (q, _), weight in zip(parts, weights, strict=True):
            params += [weight, q]
        rows = self.db.rows(
            f"SELECT a.id, {score} AS score FROM articles a"
            " WHERE a.search_vector @@ ?::tsquery AND a.removed = 0"
            " ORDER BY score DESC, a.id DESC LIMIT ?",
            (*params, query, limit),
        )
        best = {int(r["id"]): float(r["score"]) for r in rows}
        return self._hits(query, list(best), best, snippets=snippets)

    def find_newest(
        self,
        concepts: Sequence[Concept],
        *,
        match_all: bool = False,
        limit: int = 10,
        snippets: bool = True,
    ) -> NewestMatches:
        """How many articles match, and the newest `limit` of them (relevance 0)."""
        query = self.ts_query(concepts, match_all=match_all)
        if not query:
            return NewestMatches(total=0, hits=[])
        rows = self.db.rows(
            "SELECT a.id, count(*) OVER () AS total FROM articles a"
            " WHERE a.search_vector @@ ?::tsquery AND a.removed = 0"
            " ORDER BY coalesce(a.published, a.added) DESC, a.id DESC LIMIT ?",
            (query, limit),
        )
        if not rows:
            return NewestMatches(total=0, hits=[])
        total = int(rows[0]["total"])
        hits = self._hits(query, [int(r["id"]) for r in rows], {}, snippets=snippets)
        return NewestMatches(total=total, hits=hits)

    def count(self, concepts: Sequence[Concept], *, match_all: bool = False) -> int:
        query = self.ts_query(concepts, match_all=match_all)
        if not query:
            return 0
        return int(
            self.db.scalar(
                "SELECT count(*) FROM articles WHERE search_vector @@ ?::tsquery AND removed = 0",
                (query,),
            )
        )

    def rarity(self, concepts: Sequence[Concept]) -> list[float]:
        """How much finding each concept says (BM25's inverse document frequency), from the
        counted words: a concept is in as many articles as its rarest variant, a prefix in as
        many as the words it starts are (summed: an article with two of them counts twice,
        an upper bound that is exact for a single word)."""
        total = int(self.db.scalar(_TOTAL))
        out = []
        for concept in concepts:
            found = min(
                (
                    max((self._articles_with(w) for w in variant), default=0)
                    for variant in concept.variants
                ),
                default=0,
            )
            found = min(found, total)
            out.append(math.log(1 + (total - found + 0.5) / (found + 0.5)))
        return out

    def _articles_with(self, word: Word) -> int:
        """Roughly how many articles hold this word (its rarest part for several)."""
        counts = []
        for key in index_text(word.text).split():
            if word.prefix:
                n = self.db.scalar(
                    "SELECT sum(articles) FROM search_terms WHERE term >= ? AND term < ?",
                    (key, key + "\U0010ffff"),
                )
            else:
                n = self.db.scalar("SELECT articles FROM search_terms WHERE term = ?", (key,))
            counts.append(int(n or 0))
        return min(counts, default=0)

    def has_words_starting(self, start: str) -> bool:
        """Whether an indexed word starts with `start` (folded as the index folds words)."""
        key = index_text(start)
        if not key or " " in key:
            return False
        return bool(
            self.db.scalar(
                "SELECT 1 FROM search_terms WHERE term >= ? AND term < ? LIMIT 1",
                (key, key + "\U0010ffff"),
            )
        )

    # -- hits ---------------------------------------------------------------------------------

    def _hits(
        self, query: str, ids: Sequence[int], relevance: Mapping[int, float], *, snippets: bool
    ) -> list[SearchHit]:
        if not ids:
            return []
        articles = self._articles(ids)
        snips = self._snippets(query, articles) if snippets else {}
        return [
            SearchHit(a, relevance=relevance.get(a.id, 0.0), snippet=snips.get(a.id, ""))
            for a in articles
        ]

    def _articles(self, ids: Sequence[int]) -> list[Article]:
        rows = {
            int(r["id"]): r
            for r in self.db.rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({', '.join('?' * len(ids))})",
                ids,
            )
        }
        return [self.store.articles.article(rows[i]) for i in ids if i in rows]

    def _snippets(self, query: str, articles: Sequence[Article]) -> dict[int, str]:
        """Each article's body around its matches: PostgreSQL marks the matching words of
        the folded body (ts_headline, every match), and the snippet is cut from the body as
        written, word for word."""
        if not articles:
            return {}
        rows = self.db.rows(
            f"SELECT n, ts_headline(cfg::regconfig, body, ?::tsquery, {_MARK_ALL}) AS stemmed,"
            f" ts_headline('simple', body, ?::tsquery, {_MARK_ALL}) AS raw"
            " FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS t(cfg, body, n)",
            (
                query,
                query,
                [CONFIGS.get(a.language, _PLAIN) for a in articles],
                [index_text(a.body) for a in articles],
            ),
        )
        out: dict[int, str] = {}
        for row in rows:
            article = articles[int(row["n"]) - 1]
            matched = {
                i
                for marked in (row["stemmed"], row["raw"])
                for i, w in enumerate(str(marked).split())
                if w.startswith(MARK_START)
            }
            out[article.id] = snippet(article.body, matched)
        return out
