"""Long German words searched as their parts too: "Halbleiterfabrik" as "Halbleiter" + "Fabrik"."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from handlers.answers.folding import fold
from handlers.answers.words import QueryWord, stem
from handlers.context import Ctx
from storage.search import Concept, Word

# Compounds are split into parts of at least this many letters, each one a known word start.
_MIN_PART = 4
_MIN_COMPOUND = 8
_LINKING = ("s", "es", "n", "en")  # Fugen: Arbeit-s-platz, Satellit-en-anbieter


def split_compound(word: str, known: Callable[[str], bool]) -> tuple[str, str] | None:
    """A long word as head and tail that both start words of the archive, the most even
    split first ("halbleiterfabrik" -> "halbleiter", "fabrik"), a linking "s" or "en" dropped
    from the head where only that is known ("satellitenanbieter" -> "satellit", "anbiet", the
    tail stemmed). None when no split is known."""
    best: tuple[str, str] | None = None
    for cut in range(_MIN_PART, len(word) - _MIN_PART + 1):
        head, tail = word[:cut], stem(word[cut:])
        if len(tail) < _MIN_PART or (best and min(len(head), len(tail)) <= min(map(len, best))):
            continue
        heads = [head] + [
            head[: -len(link)]
            for link in _LINKING
            if head.endswith(link) and len(head) - len(link) >= _MIN_PART
        ]
        found = next((h for h in heads if known(h)), None)
        if found and known(tail):
            best = (found, tail)
    return best


def with_compound_parts(ctx: Ctx, words: Sequence[QueryWord]) -> list[QueryWord]:
    """Long words also match as their parts together: "Halbleiterfabrik" finds an article
    about a "Fabrik" for "Halbleiter", "Chipwerk" one with "Chips" and a "Werk"."""
    cache: dict[str, bool] = {}

    def known(start: str) -> bool:
        if start not in cache:
            cache[start] = ctx.search.has_words_starting(fold(start))
        return cache[start]

    out = []
    for word in words:
        [[first]] = word.concept.variants
        parts = split_compound(first.text, known) if len(first.text) >= _MIN_COMPOUND else None
        if parts is None:
            out.append(word)
            continue
        head, tail = (Word(p, prefix=True) for p in parts)
        out.append(QueryWord(word.shown, Concept(((first,), (head, tail)))))
    return out
