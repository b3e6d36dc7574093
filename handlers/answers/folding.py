"""Words as the search index holds them: lower case, accents off, for checking in Python
which question words a text contains."""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from importlib.resources import files

from storage.search import Concept, Word

_TOKEN = re.compile(r"[^\W_]+")


def data_lines(name: str) -> list[str]:
    """The lines of a data file of this package, without comments and blank lines."""
    text = files("handlers.answers").joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case without accents, as the search index compares words ("Wärme" -> "warme";
    lower() rather than casefold(), which would turn "ß" into "ss" where the index does not)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def index_words(text: str) -> list[str]:
    """The words of a text as the index splits them (hyphens and punctuation separate), folded."""
    return [fold(w) for w in _TOKEN.findall(unicodedata.normalize("NFKC", text))]


class WordIndex:
    """The folded words of a text, for checking which query words it contains."""

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
