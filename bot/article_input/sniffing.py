"""Any upload: told apart by file name or first character, then read by the right parser."""

from __future__ import annotations

import logging

from bot.article_input.feed_xml import parse_feed, sniff_encoding
from bot.article_input.json_input import json_articles, load_json, parse_json_articles
from bot.article_input.plain_text import parse_text_article
from bot.article_input.text import InputRejected
from storage.models import NewArticle

log = logging.getLogger(__name__)

# --- any input ----------------------------------------------------------------------------

_FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


def _first_character(data: bytes) -> str:
    encoding, skip = sniff_encoding(data[:64])
    prefix = data[skip : skip + 256]
    text = prefix.decode(encoding or "utf-8", errors="ignore")
    stripped = text.lstrip()
    return stripped[:1]


def parse_any(data: bytes, *, name: str = "", source: str | None = None) -> list[NewArticle]:
    """Articles from an upload of any supported kind, told apart by file name or first character."""
    articles = _parse_by_name(data, name, source)
    if articles is None:
        articles = _parse_by_content(data, source)
    if not articles:
        raise InputRejected("no_articles", "no article with a title or text was found")
    return articles


def _parse_by_name(data: bytes, name: str, source: str | None) -> list[NewArticle] | None:
    """Articles read by the parser the file name points to; None when the name tells nothing."""
    suffix = name.lower().rsplit("/", 1)[-1]
    if suffix.endswith(".json"):
        return parse_json_articles(data, source=source or "json")
    if suffix.endswith(_FEED_SUFFIXES):
        return parse_feed(data, source=source or "feed")
    if suffix.endswith((".txt", ".md", ".text")):
        return [parse_text_article(data, source=source or "file")]
    return None


def _parse_by_content(data: bytes, source: str | None) -> list[NewArticle]:
    """Articles read by the parser the first character points to."""
    first = _first_character(data)
    if first in ("[", "{"):
        return _parse_json_or_text(data, source)
    if first == "<":
        return parse_feed(data, source=source or "feed")
    return [parse_text_article(data, source=source or "file")]


def _parse_json_or_text(data: bytes, source: str | None) -> list[NewArticle]:
    try:
        document = load_json(data)
    except InputRejected as exc:
        # "[Eilmeldung] ..." is a text article that merely looks like JSON; valid JSON with
        # wrong fields, on the other hand, is reported as bad JSON by json_articles.
        if exc.reason_key != "bad_json":
            raise
        log.debug("not JSON (%s); reading it as a text article", exc.detail)
        return [parse_text_article(data, source=source or "file")]
    return json_articles(document, source or "json")
