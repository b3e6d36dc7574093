"""Words as the search index holds them. This must agree with the index's FTS5 tokenizer
(`unicode61 remove_diacritics 2`, storage/schema.py m003_search): which question words a
sentence contains and which words start an indexed word are decided here, in Python, and must
be what the index matches. tests/test_index_folding.py checks every code point against SQLite.

The tokenizer keeps its own Unicode 6.1 tables (emoji newer than 2012 are parts of words,
letters newer than that are not lowered), so its view comes from tables taken from SQLite
(data/index_word_chars.txt, data/index_folding.txt), not from Python's newer unicodedata."""

from __future__ import annotations

import bisect
from functools import lru_cache
from importlib.resources import files

from storage.search import Concept, Word


def data_lines(name: str) -> list[str]:
    """The lines of a data file of this package, without comments and blank lines."""
    text = files("handlers.answers").joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _load() -> tuple[dict[int, int | None], dict[int, int | None]]:
    folding: dict[int, int | None] = {}
    for line in data_lines("index_folding.txt"):
        source, *target = line.split()
        folding[int(source, 16)] = int(target[0], 16) if target else None
    # Every code point that is not part of a word becomes a space, so that one translate and
    # one split make the words. Diacritics (folded to nothing) end no word when dropped:
    # "q\u0303x" is the one word "qx", as in the index; at a word's start they separate, which
    # dropping them does too.
    splitting = dict(folding)
    after = 0
    for line in [*data_lines("index_word_chars.txt"), "110000"]:
        first, _, last = line.partition("..")
        for separator in range(after, int(first, 16)):
            splitting.setdefault(separator, ord(" "))
        after = int(last or first, 16) + 1
    return folding, splitting


_FOLDING, _SPLITTING = _load()


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower case without accents, as the index folds words ("Wärme" -> "warme", "ß" kept)."""
    return text.translate(_FOLDING)


def index_words(text: str) -> list[str]:
    """The words the index makes of a text, folded, in order."""
    return text.translate(_SPLITTING).split()


class WordIndex:
    """The words of a text as the index holds them, for checking which query words it has."""

    def __init__(self, text: str) -> None:
        self.words = sorted(set(index_words(text)))
        self._set = set(self.words)

    def has(self, word: Word) -> bool:
        key = fold(word.text)
        if not word.prefix:
            return key in self._set
        at = bisect.bisect_left(self.words, key)
        return at < len(self.words) and self.words[at].startswith(key)

    def covers(self, concept: Concept) -> bool:
        return any(all(self.has(w) for w in variant) for variant in concept.variants)
