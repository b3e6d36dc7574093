"""Translations: gettext catalogues (de, en) read with Babel, and the locale of the current turn."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import string
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from importlib import resources

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
DOMAIN = "newsbot"

# The language of the reply being built, set once per command or press (as Red-DiscordBot does)
# so that deep helpers need not pass it around.
current_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_language", default=DEFAULT_LANGUAGE
)


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Build what is inside the block in `language` (a post, say, while the rest of the
    answer is in the presser's)."""
    token = current_language.set(language)
    try:
        yield
    finally:
        current_language.reset(token)


@cache
def catalogue(language: str) -> dict[str, str]:
    path = resources.files("handlers") / "locales" / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        cat = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string}


def normalise_language(value: str | None) -> str | None:
    """'de-AT', 'en_US', 'EN' -> 'de'/'en'; anything else -> None."""
    if not value:
        return None
    base = value.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def t(key: str, language: str | None = None, /, **params: object) -> str:
    """The message `key` in `language` (default: the current turn's), with {params} filled."""
    lang = language or current_language.get()
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue(DEFAULT_LANGUAGE).get(key)
        if text is None:
            log.error("missing message %s", key)
            return key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        log.exception("bad parameters for message %s", key)
        return text


def tn(key: str, count: int, language: str | None = None, /, **params: object) -> str:
    """Like t(), for a message about `count` things: `key.one` when there is exactly one."""
    lang = language or current_language.get()
    if count == 1 and f"{key}.one" in catalogue(lang):
        key = f"{key}.one"
    return t(key, lang, count=count, **params)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def format_date(value: datetime, language: str | None = None) -> str:
    """A date, with the time of day only when there is one (feeds often give just the day)."""
    return _formatted_date(value, language or current_language.get())


# Every press re-renders its post with the article's date: babel takes longer than the vote.
@functools.lru_cache(maxsize=4096)
def _formatted_date(value: datetime, locale: str) -> str:
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return babel_format_date(value, "medium", locale=locale)
    return format_datetime(value, "short", locale=locale)


def format_number(value: float, language: str | None = None) -> str:
    return format_decimal(
        round(value, 2), format="#,##0.00", locale=language or current_language.get()
    )
