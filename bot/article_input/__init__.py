"""Turn uploaded or fetched bytes (plain-text articles, RSS/Atom/RDF, JSON) into NewArticles.

text: bytes to clean text; fields: dates, language, titles; urls: links and dedupe keys;
html_text: HTML to text; plain_text, feed_xml, json_input: one parser per format; sniffing:
which parser an upload needs. Tags follow the one set of rules in storage/tags.py.
"""

from __future__ import annotations

from bot.article_input.feed_xml import decode_xml, parse_feed
from bot.article_input.fields import (
    detect_language,
    first_sentence,
    parse_date,
    shorten,
    title_from_body,
)
from bot.article_input.html_text import html_to_text
from bot.article_input.json_input import parse_json_articles
from bot.article_input.plain_text import parse_text_article
from bot.article_input.sniffing import parse_any
from bot.article_input.text import (
    MAX_FEED_BYTES,
    MAX_FEED_ENTRIES,
    MAX_JSON_BYTES,
    MAX_TEXT_BYTES,
    InputRejected,
    decode_text,
    normalise_text,
    without_surrogates,
)
from bot.article_input.urls import normalise_guid, normalise_url, safe_link

__all__ = [
    "MAX_FEED_BYTES",
    "MAX_FEED_ENTRIES",
    "MAX_JSON_BYTES",
    "MAX_TEXT_BYTES",
    "InputRejected",
    "decode_text",
    "decode_xml",
    "detect_language",
    "first_sentence",
    "html_to_text",
    "normalise_guid",
    "normalise_text",
    "normalise_url",
    "parse_any",
    "parse_date",
    "parse_feed",
    "parse_json_articles",
    "parse_text_article",
    "safe_link",
    "shorten",
    "title_from_body",
    "without_surrogates",
]
