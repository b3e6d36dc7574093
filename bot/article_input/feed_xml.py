"""RSS 2.0, Atom and RDF feeds: decoded and screened before feedparser reads them."""

from __future__ import annotations

import codecs
import io
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from bot.article_input.fields import detect_language, language_code, title_from_body
from bot.article_input.html_text import html_to_text
from bot.article_input.lead_image import entry_image
from bot.article_input.text import (
    LONE_SURROGATES,
    MAX_FEED_BYTES,
    MAX_FEED_ENTRIES,
    InputRejected,
    check_size,
    input_tags,
    normalise_text,
    one_line,
    without_surrogates,
)
from bot.article_input.urls import normalise_guid, safe_link
from bot.feed_limits import (
    MAX_XML_DEPTH,
    TAGS_DROPPED,
    nested_too_deeply,
    repair_character_references,
)
from storage.models import NewArticle

log = logging.getLogger(__name__)

# --- feeds --------------------------------------------------------------------------------

# Any markup declaration that could define entities. Expat refuses entity bombs, but
# feedparser then falls back to its loose parser, which expands them (platform facts: a 106 KB
# feed became a 600 MB title), so these never reach feedparser at all.
_DANGEROUS_DECLARATION = re.compile(r"<!\s*(?:doctype|entity)\b", re.IGNORECASE)
_ENTITY_DECLARATION = re.compile(r"<!\s*entity\b", re.IGNORECASE)
_HTML_DOCTYPE = re.compile(r"<!\s*doctype\s+html\s*>", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"\s*<\?xml[^>]*\?>", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# '<?' or '<' followed by a letter in encodings without a BOM (XML 1.0 appendix F).
_UNMARKED: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


def sniff_encoding(data: bytes) -> tuple[str, int]:
    """The encoding a BOM or the XML layout implies, and how many BOM bytes to skip."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    for marker, encoding in _UNMARKED:
        if data.startswith(marker):
            return encoding, 0
    return "", 0


def decode_xml(data: bytes) -> str:
    """Decode an XML document the way a parser would: BOM, then the declaration, then UTF-8.

    We decode it ourselves and give feedparser UTF-8 only, so the text we check for DOCTYPE
    and ENTITY is exactly the text it parses: feedparser would otherwise honour any declared
    encoding (UTF-7, EBCDIC ...) in which the check's patterns look different.
    """
    encoding, skip = sniff_encoding(data)
    body = data[skip:]
    candidates: list[str] = []
    if encoding:
        candidates.append(encoding)
    else:
        declared = _XML_ENCODING.match(body[:1024])
        if declared:
            name = declared.group(1).decode("ascii").lower()
            # A declaration of UTF-16/32 without the layout of it is a lie; read it as UTF-8.
            if not name.startswith(("utf-16", "utf16", "utf-32", "utf32", "ucs")):
                candidates.append("gb18030" if name == "gb2312" else name)
        candidates.append("utf-8")
    for candidate in candidates:
        try:
            return body.decode(candidate, LONE_SURROGATES)
        except (UnicodeDecodeError, LookupError):
            continue
    # Like feedparser: a feed that lies about its encoding is usually Windows-1252.
    return body.decode("windows-1252", errors="replace")


def _screen_feed(data: bytes) -> bytes:
    """Size, emptiness and declaration checks; returns UTF-8 bytes safe to hand to feedparser."""
    check_size(data, MAX_FEED_BYTES)
    text = decode_xml(data)
    if not text.strip():
        raise InputRejected("empty", "the feed is empty")
    if _DANGEROUS_DECLARATION.search(text):
        if _HTML_DOCTYPE.search(text) and not _ENTITY_DECLARATION.search(text):
            raise InputRejected("not_a_feed", "this is an HTML page, not a feed")
        raise InputRejected("doctype", "feeds with DOCTYPE or ENTITY declarations are refused")
    if nested_too_deeply(text):
        raise InputRejected(
            "too_deep", f"elements nested more than {MAX_XML_DEPTH} levels deep are refused"
        )
    text = without_surrogates(repair_character_references(text))
    declaration = _XML_DECLARATION.match(text)
    if declaration:
        text = text[declaration.end() :]
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + text.lstrip()).encode("utf-8")


def _get(mapping: object, key: str) -> object:
    """A field of a feedparser dict without its deprecated updated->published fallback warning."""
    if isinstance(mapping, dict) and dict.__contains__(mapping, key):
        return dict.__getitem__(mapping, key)
    return None


def _text_field(detail: object, value: object) -> str:
    """A feedparser text construct as plain text (HTML types converted, plain kept as is)."""
    if not isinstance(value, str):
        return ""
    kind = _get(detail, "type")
    # No type at all: feedparser copied the field from elsewhere (summary from content) and
    # it may hold markup; only text declared plain is kept as it is.
    if kind is None or (isinstance(kind, str) and "html" in kind):
        return html_to_text(value)
    return normalise_text(value).strip()


def _entry_body(entry: Mapping[str, Any]) -> str:
    contents = _get(entry, "content")
    if isinstance(contents, list):
        # Prefer an HTML part: it is usually the full article, a plain part a teaser.
        parts = [c for c in contents if isinstance(c, dict) and isinstance(_get(c, "value"), str)]
        parts.sort(key=lambda c: "html" not in str(_get(c, "type")))
        for part in parts:
            text = _text_field(part, _get(part, "value"))
            if text:
                return text
    return _text_field(_get(entry, "summary_detail"), _get(entry, "summary"))


def entry_date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = _get(entry, key)
        # feedparser gives a time.struct_time already converted to UTC.
        if isinstance(value, tuple) and len(value) >= 6:
            year, month, day, hour, minute, second = value[:6]
            try:
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _entry_language(entry: Mapping[str, Any], feed_language: str | None) -> str | None:
    for key in ("title_detail", "summary_detail"):
        language = language_code(_get(_get(entry, key), "language"))
        if language:
            return language
    contents = _get(entry, "content")
    if isinstance(contents, list):
        for part in contents:
            language = language_code(_get(part, "language"))
            if language:
                return language
    return feed_language


def _entry_tags(entry: Mapping[str, Any]) -> tuple[str, ...]:
    tags = _get(entry, "tags")
    if not isinstance(tags, list):
        return ()
    dropped = _get(entry, TAGS_DROPPED)
    if dropped:
        log.info("a feed entry had %s more tags than the %s read", dropped, len(tags))
    terms: list[str] = []
    for tag in tags:
        term = _get(tag, "term") or _get(tag, "label")
        if isinstance(term, str):
            terms.append(term)
    return input_tags(terms)


def parse_feed(
    data: bytes, *, source: str = "feed", base_url: str | None = None
) -> list[NewArticle]:
    """Entries of an RSS 2.0, Atom or RDF feed; base_url resolves relative links."""
    entries, feed_language = feed_entries(data)
    articles = (entry_article(e, feed_language, source=source, base_url=base_url) for e in entries)
    return [a for a in articles if a is not None]


def feed_entries(data: bytes) -> tuple[list[Mapping[str, Any]], str | None]:
    """A feed's entries as feedparser reads them (at most MAX_FEED_ENTRIES) and its language;
    `entry_article` turns one into an article, so a caller may skip entries it already has."""
    safe_bytes = _screen_feed(data)
    # Always a stream: feedparser.parse(str) would treat the string as a URL or a file path.
    parsed = feedparser.parse(io.BytesIO(safe_bytes))
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version"):
        raise InputRejected("not_a_feed", "no RSS, Atom or RDF feed was found")
    feed = parsed.get("feed") or {}
    feed_language = language_code(_get(feed, "language"))
    if feed_language is None:
        feed_language = language_code(_get(_get(feed, "title_detail"), "language"))
    if len(entries) > MAX_FEED_ENTRIES:
        log.warning("feed has %d entries; using the first %d", len(entries), MAX_FEED_ENTRIES)
        entries = entries[:MAX_FEED_ENTRIES]
    return list(entries), feed_language


def entry_guid(entry: Mapping[str, Any]) -> str | None:
    raw_guid = _get(entry, "id")
    return (normalise_guid(raw_guid) if isinstance(raw_guid, str) else "") or None


def entry_link(entry: Mapping[str, Any], base_url: str | None) -> str | None:
    return safe_link(_get(entry, "link"), base_url)


def entry_article(
    entry: Mapping[str, Any],
    feed_language: str | None,
    *,
    source: str = "feed",
    base_url: str | None = None,
) -> NewArticle | None:
    """One feed entry as an article, or None when it has neither title nor text."""
    title = one_line(_text_field(_get(entry, "title_detail"), _get(entry, "title")))
    body = _entry_body(entry)
    if not title and not body:
        return None
    language = _entry_language(entry, feed_language) or detect_language(f"{title}\n{body}")
    return NewArticle(
        title=title or title_from_body(body),
        body=body,
        tags=_entry_tags(entry),
        url=entry_link(entry, base_url),
        published=entry_date(entry),
        guid=entry_guid(entry),
        question=None,
        language=language,
        source=source,
        image=entry_image(entry, base_url),
    )
