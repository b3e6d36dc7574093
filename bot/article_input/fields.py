"""Article fields read from text: dates, the language, a title made from the body."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.article_input.text import LANGUAGES, one_line
from handlers.sentences import sentences

TITLE_LIMIT = 120
# A title made from the body: its first sentence when short, else its first clause, at most
# this long, cut at a word. A clause shorter than DERIVED_CLAUSE_MIN ("Am Montag,") is no title.
DERIVED_TITLE_LIMIT = 90
DERIVED_CLAUSE_MIN = 30
_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s[–—-](?=\s)|\s(?=\()")

_DOTTED_DATE = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*Uhr)?)?",
    re.IGNORECASE,
)


def parse_date(value: str) -> datetime | None:
    """ISO 8601, RFC 2822 or DD.MM.YYYY [HH:MM] as aware UTC; naive values count as UTC."""
    value = value.strip()
    if not value:
        return None
    parsed: datetime | None = None
    dotted = _DOTTED_DATE.fullmatch(value)
    if dotted:
        day, month, year, hour, minute, second = dotted.groups()
        try:
            parsed = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError:
            return None
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            try:
                parsed = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# Words frequent in one language and rare in the other; words both share ("in", "an", "so",
# "also", "die" is kept: as an English word it is rare in news) are left out.
_GERMAN_WORDS = frozenset(
    {
        "der", "die", "das", "und", "nicht", "ist", "mit", "den", "dem", "des", "ein", "eine",
        "einen", "einem", "einer", "sich", "auf", "für", "von", "zu", "im", "auch", "es",
        "sie", "wir", "ich", "nach", "bei", "aus", "wie", "noch", "wird", "werden", "wurde",
        "sind", "hat", "haben", "oder", "aber", "dass", "als", "um", "über", "nur", "vor",
        "durch", "zum", "zur", "dieser", "diese", "dieses", "wenn", "kein", "keine", "mehr",
        "schon",
    }
)  # fmt: skip
_ENGLISH_WORDS = frozenset(
    {
        "the", "and", "is", "of", "with", "to", "a", "that", "this", "for", "are", "was",
        "were", "be", "been", "has", "have", "not", "it", "on", "by", "from", "at", "which",
        "will", "would", "they", "their", "its", "or", "but", "can", "could", "more", "than",
        "into", "about", "after", "over", "there", "what", "who", "when", "should",
        "these", "those", "our", "we", "you",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-zäöüß]+")


def detect_language(text: str) -> str | None:
    """'de' or 'en' by counting common function words; None when neither clearly wins."""
    german = english = 0
    for count, match in enumerate(_WORD.finditer(text.lower())):
        if count >= 3_000:  # plenty for a verdict; keeps huge bodies cheap
            break
        word = match.group()
        if word in _GERMAN_WORDS:
            german += 1
        elif word in _ENGLISH_WORDS:
            english += 1
    if german >= 2 and german > english:
        return "de"
    if english >= 2 and english > german:
        return "en"
    return None


def language_code(value: object) -> str | None:
    """'de-DE' -> 'de'; anything but German or English -> None."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


# --- titles -------------------------------------------------------------------------------


# Abbreviations whose full stop does not end a sentence.
def first_sentence(text: str) -> str:
    """The first sentence of a paragraph."""
    found = sentences(text)
    return found[0] if found else " ".join(text.split())


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """At most limit characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def title_from_body(body: str) -> str:
    """A short title made from the body, for an article that has none: the first sentence if
    it is short, else its first clause, at most DERIVED_TITLE_LIMIT characters cut at a word.
    Posts start their summary after it (handlers.render.summary_after_title)."""
    first_paragraph = body.strip().split("\n\n", 1)[0]
    sentence = one_line(first_sentence(first_paragraph))
    # A headline does not end in a full stop, but keep '?', '!' and a real ellipsis.
    if sentence.endswith(".") and not sentence.endswith(".."):
        sentence = sentence[:-1]
    if len(sentence) <= DERIVED_TITLE_LIMIT:
        return sentence
    for end in _CLAUSE_END.finditer(sentence):
        if end.start() >= DERIVED_CLAUSE_MIN:
            sentence = sentence[: end.start()]
            break
    return shorten(sentence, DERIVED_TITLE_LIMIT)
