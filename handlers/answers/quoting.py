"""The sentences of an article that answer a question, and how they are quoted."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from handlers.answers.folding import WordIndex
from handlers.answers.words import QueryWord
from handlers.sentences import sentences
from storage.models import Article

MAX_QUOTE_SENTENCES = 3
QUOTE_CHARS = 700
TOPIC_WEIGHT = 0.3  # a question word in the article's title, when choosing sentences to quote

_AMOUNT_QUESTION = re.compile(
    r"^\W*(wie\s+(viele?|hoch|teuer|lange?|schnell|gro(ß|ss)|oft|weit|schwer)|wann|"
    r"how\s+(many|much|long|often|fast|far|heavy|big)|when|what\s+(share|percentage))\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


def best_sentences(
    article: Article, question: str, words: Sequence[QueryWord], weights: Sequence[float]
) -> list[tuple[int, str]]:
    """The one to three sentences that share most words with the question, in the article's
    order. The words that found the article (its topic: in its title, or in most of its
    sentences) tell less about where the answer is than the question's other words ("Wie
    schnell fahren die Lieferroboter?": "fahren" more than "Lieferroboter"); a question for
    an amount or a date prefers sentences with figures."""
    found = [(s, WordIndex(s)) for s in sentences(article.body)]
    if not found:
        return []
    local = _local_weights(found, WordIndex(article.title), words, weights)
    wants_figure = bool(_AMOUNT_QUESTION.match(question))
    scored: list[tuple[float, int, str]] = []
    for position, (sentence, index) in enumerate(found):
        score = sum(w for w, q in zip(local, words, strict=True) if index.covers(q.concept))
        if wants_figure and _DIGIT.search(sentence):
            score *= 1.5
        scored.append((score, position, sentence))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return _within_quote_length(scored)


def _local_weights(
    found: Sequence[tuple[str, WordIndex]],
    title: WordIndex,
    words: Sequence[QueryWord],
    weights: Sequence[float],
) -> list[float]:
    """Each question word's weight within this article: higher the fewer sentences hold it,
    lower when it is in the title (the topic); 0 when no sentence holds it."""
    count = len(found)
    local = []
    for word, weight in zip(words, weights, strict=True):
        holding = sum(1 for _, index in found if index.covers(word.concept))
        topic = TOPIC_WEIGHT if title.covers(word.concept) else 1.0
        local.append(weight * topic * math.log(1 + count / holding) if holding else 0.0)
    return local


def _within_quote_length(scored: Sequence[tuple[float, int, str]]) -> list[tuple[int, str]]:
    """From sentences best first: up to MAX_QUOTE_SENTENCES that score above 0 and at least
    half the best (else the best alone), while they fit in QUOTE_CHARS, in the article's order."""
    top = scored[0][0]
    chosen = [s for s in scored[:MAX_QUOTE_SENTENCES] if s[0] > 0 and s[0] >= top * 0.5]
    picked: list[tuple[int, str]] = []
    length = 0
    for _, position, sentence in chosen or scored[:1]:
        if picked and length + len(sentence) > QUOTE_CHARS:
            break
        picked.append((position, sentence))
        length += len(sentence)
    return sorted(picked)


def quote_text(picked: Sequence[tuple[int, str]]) -> str:
    """Sentences as one quote; a gap between them is marked with an ellipsis."""
    out = ""
    previous: int | None = None
    for position, sentence in picked:
        if previous is not None:
            out += " " if position == previous + 1 else " … "
        out += sentence
        previous = position
    return out
