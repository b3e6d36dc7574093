"""The words of a question or a search: split, stop words dropped, stemmed for prefix queries."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers.answers.folding import data_lines, fold
from storage.search import MIN_STEM, Concept, Word

# The light stem lives with the store's search part: keyword filters match with it too.
from storage.search import stem as stem

MAX_CONCEPTS = 12  # query words used at most: bounds the FTS query and the scoring work

_TOKEN = re.compile(r"[^\W_]+")

STOP_WORDS = frozenset(data_lines("stopwords_de.txt") + data_lines("stopwords_en.txt"))
QUESTION_WORDS = frozenset(
    data_lines("question_words_de.txt") + data_lines("question_words_en.txt")
)


def words_of(text: str) -> list[str]:
    """The words a person wrote: fullwidth letters and ligatures as the plain letters they
    stand for, split at anything that is not a letter or a digit (hyphens too). Each is one
    word of the index (tests/test_index_folding.py)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text))


@dataclass(frozen=True, slots=True)
class QueryWord:
    """A content word of a query and how it is looked for."""

    shown: str  # as the person wrote it
    concept: Concept


def query_words(text: str) -> list[QueryWord]:
    """The content words of a question or search, stop words removed, each with its stem as a
    prefix (German inflections and compound heads match: "KI-Modelle" finds "KI Modell")."""
    out: list[QueryWord] = []
    seen: set[str] = set()
    for word in words_of(text):
        lowered = word.lower()
        if lowered in STOP_WORDS or (len(lowered) < 2 and not lowered.isdigit()):
            continue
        root = stem(lowered)
        key = fold(root)
        if key in seen or root in STOP_WORDS:
            continue
        seen.add(key)
        prefix = len(root) >= MIN_STEM and not root.isdigit()
        out.append(QueryWord(word, Concept.of(Word(root, prefix=prefix))))
        if len(out) == MAX_CONCEPTS:
            break
    return out


def is_question(text: str) -> bool:
    """A message that asks something: ends with '?', or starts with a question word."""
    stripped = text.strip()
    if stripped.rstrip(" )»“\"'").endswith(("?", "？")):
        return True
    first = words_of(stripped[:40])
    return bool(first) and first[0].lower() in QUESTION_WORDS
