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
    suffix = name.lower().rsplit("/", 1)[-1]
    if suffix.endswith(".json"):
        articles = parse_json_articles(data, source=source or "json")
    elif suffix.endswith(_FEED_SUFFIXES):
        articles = parse_feed(data, source=source or "feed")
    elif suffix.endswith((".txt", ".md", ".text")):
        articles = [parse_text_article(data, source=source or "file")]
    else:
        first = _first_character(data)
        if first in ("[", "{"):
            try:
                document = load_json(data)
            except InputRejected as exc:
                # "[Eilmeldung] ..." is a text article that merely looks like JSON; valid
                # JSON with wrong fields, on the other hand, is reported as bad JSON below.
                if exc.reason_key != "bad_json":
                    raise
                log.debug("not JSON (%s); reading it as a text article", exc.detail)
                articles = [parse_text_article(data, source=source or "file")]
            else:
                articles = json_articles(document, source or "json")
        elif first == "<":
            articles = parse_feed(data, source=source or "feed")
        else:
            articles = [parse_text_article(data, source=source or "file")]
    if not articles:
        raise InputRejected("no_articles", "no article with a title or text was found")
    return articles
