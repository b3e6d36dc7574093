"""Finding the article that answers a question: candidates by BM25, re-ranked by how much of
the question each one holds, and the best one's quote with up to two related articles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handlers.answers.compounds import with_compound_parts
from handlers.answers.folding import WordIndex
from handlers.answers.quoting import best_sentences, quote_text
from handlers.answers.words import QueryWord, query_words
from handlers.context import Ctx
from storage.models import Article

CANDIDATES = 20  # articles re-scored for /ask
# Share of the question's weight (rarity-weighted words) an article must contain to count as
# an answer, or as a related article; below it, the archive says it has none. Chosen on
# tests/data/questions.json and the unanswerable questions in tests/test_answers.py.
MIN_COVERAGE = 0.25


@dataclass(frozen=True, slots=True)
class Ranked:
    article: Article
    coverage: float  # share of the question's weight the article contains, 0..1
    matched: int  # how many of the question's words it contains
    relevance: float  # BM25

    def answers(self, words: int, min_coverage: float) -> bool:
        """Whether the article answers the question: it contains at least two of its words
        (all of them, for a one-word question) and enough of its weight. One shared word is a
        coincidence ("Wetter", "Bank"), not an answer."""
        return self.matched >= min(2, words) and self.coverage >= min_coverage


def article_text(article: Article) -> str:
    return f"{article.title}\n{article.body}\n{' '.join(article.tags)}"


def rank(ctx: Ctx, words: Sequence[QueryWord], weights: Sequence[float]) -> list[Ranked]:
    """Candidates by BM25, re-ranked by how much of the question each one contains (the
    rarity-weighted share of its words), BM25 breaking ties."""
    concepts = [w.concept for w in words]
    total = sum(weights) or 1.0
    ranked = []
    for hit in ctx.search.find(concepts, limit=CANDIDATES, snippets=False):
        index = WordIndex(article_text(hit.article))
        found = [w for w, c in zip(weights, concepts, strict=True) if index.covers(c)]
        ranked.append(Ranked(hit.article, sum(found) / total, len(found), hit.relevance))
    ranked.sort(key=lambda r: (r.coverage, r.relevance), reverse=True)
    return ranked


@dataclass(frozen=True, slots=True)
class Answer:
    article: Article
    quote: str
    related: list[tuple[Article, str]]  # further articles with their best sentences


def find_answer(ctx: Ctx, question: str) -> tuple[Answer | None, list[QueryWord]]:
    """The best article's most relevant sentences and up to two related articles (None when
    nothing clears the relevance threshold), with the question's words."""
    words = with_compound_parts(ctx, query_words(question))
    if not words:
        return None, words
    weights = ctx.search.rarity([w.concept for w in words])
    ranked = rank(ctx, words, weights)
    if not ranked or not ranked[0].answers(len(words), MIN_COVERAGE):
        return None, words
    others = [r.article for r in ranked[1:] if r.answers(len(words), MIN_COVERAGE)]
    related = [
        (other, quote_text(best_sentences(other, question, words, weights))) for other in others[:2]
    ]
    quote = quote_text(best_sentences(ranked[0].article, question, words, weights))
    return Answer(ranked[0].article, quote, related), words
