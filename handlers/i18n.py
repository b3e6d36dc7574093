"""Translations: gettext catalogues (de, en) read with Babel, compiled for gettext's plural
forms, and the locale of the current turn."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import io
import logging
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
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


@dataclass(frozen=True, slots=True)
class Messages:
    """One language's catalogue: plain messages by key, messages about a count (msgid_plural)
    by key with their forms, and the catalogue compiled, whose ngettext picks the form."""

    plain: dict[str, str]
    plural: dict[str, tuple[str, ...]]
    compiled: gettext.GNUTranslations


@cache
def messages(language: str) -> Messages:
    path = resources.files("handlers") / "locales" / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        cat = read_po(handle, locale=language)
    plain: dict[str, str] = {}
    plural: dict[str, tuple[str, ...]] = {}
    for m in cat:
        if not m.id:
            continue
        if m.pluralizable and isinstance(m.string, tuple | list):
            forms = tuple(str(s) for s in m.string)
            if all(forms):
                plural[str(m.id[0])] = forms
        elif m.string:
            plain[str(m.id)] = str(m.string)
    # Compiled in memory: the .po files stay the one source, and gettext's own plural rule
    # (the catalogue's Plural-Forms header) chooses between "1 vote" and "2 votes".
    mo = io.BytesIO()
    write_mo(mo, cat)
    mo.seek(0)
    return Messages(plain, plural, gettext.GNUTranslations(mo))


def catalogue(language: str) -> dict[str, str]:
    """The plain messages (those not about a count) of `language`, by key."""
    return messages(language).plain


def plural_catalogue(language: str) -> dict[str, tuple[str, ...]]:
    """The messages about a count of `language`, by key, with their plural forms."""
    return messages(language).plural


def normalise_language(value: str | None) -> str | None:
    """'de-AT', 'en_US', 'EN' -> 'de'/'en'; anything else -> None."""
    if not value:
        return None
    base = value.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def t(key: str, language: str | None = None, /, **params: object) -> str:
    """The message `key` in `language` (default: the current turn's), with {params} filled. A
    message about a count takes the plural form that fits the parameter `count`."""
    lang = language or current_language.get()
    text = _text(key, lang, params.get("count"))
    if text is None:
        text = _text(key, DEFAULT_LANGUAGE, params.get("count"))
        if text is None:
            log.error("missing message %s", key)
            return key
    if not params:
        return text
    count = params.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and abs(count) >= 1000:
        # "1,850 files" / "1.850 Dateien": a count reads with the language's grouping.
        params = {**params, "count": format_amount(count, lang)}
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        log.exception("bad parameters for message %s", key)
        return text


def tn(key: str, count: int, language: str | None = None, /, **params: object) -> str:
    """The message `key` about `count` things, in the plural form that fits `count`."""
    return t(key, language, count=count, **params)


def _text(key: str, language: str, count: object) -> str | None:
    catalogue_ = messages(language)
    if key in catalogue_.plural:
        if not isinstance(count, int):
            log.error("message %s needs a whole number as count", key)
            return catalogue_.plural[key][-1]
        return catalogue_.compiled.ngettext(key, key, count)
    return catalogue_.plain.get(key)


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


def format_amount(value: float, language: str | None = None) -> str:
    """A number as the language writes it: "1,850" / "1.850", "0.5" / "0,5"; whole numbers
    without decimals, others with at most two."""
    return format_decimal(
        round(value, 2), format="#,##0.##", locale=language or current_language.get()
    )


def format_number(value: float, language: str | None = None) -> str:
    return format_decimal(
        round(value, 2), format="#,##0.00", locale=language or current_language.get()
    )
