"""Limits feedparser lacks, applied to a feed's text before it is parsed and to its tag lists."""

from __future__ import annotations

import re
from typing import Any

from feedparser.mixin import _FeedParserMixin

from storage.tags import MAX_TAGS_PER_ARTICLE

# Real feeds nest a few levels (rss > channel > item > field, plus some XHTML in Atom content).
# feedparser costs about 25 µs and 0.3 KB per element, and 600,000 nested ones took 17 s and
# 321 MB, so anything deeper than this is refused before it is parsed.
MAX_XML_DEPTH = 100
# What feedparser collects per entry before our cleaning merges spellings and keeps
# MAX_TAGS_PER_ARTICLE: room for duplicates, while keeping its duplicate check (a list scan per
# tag, quadratic in the tag count) bounded.
FEEDPARSER_TAGS_PER_ENTRY = 4 * MAX_TAGS_PER_ARTICLE
TAGS_DROPPED = "newsbot_tags_dropped"  # set on an entry that had more tags than collected

# One linear pass over the markup: no token reads past the next "<" except comments and CDATA
# sections, which are skipped whole (an unclosed one runs to the end, as it does for the
# parsers). A start tag's attributes are read with their quotes, so a "/>" inside a quoted
# value does not pass for an empty element, and a start tag that never closes properly counts
# as opened: the depth found is never less than a parser's.
_MARKUP = re.compile(
    r"<(?:!--.*?(?:-->|\Z)"
    r"|!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|[?!][^<>]*>?"
    r"|/"
    r"|[A-Za-z_:][^\s/<>\"']*(?:[^\"'<>]|\"[^\"<]*\"|'[^'<]*')*>?)",
    re.DOTALL,
)


def nested_too_deeply(text: str, limit: int = MAX_XML_DEPTH) -> bool:
    """Whether the elements of an XML text nest deeper than limit, found in one linear scan
    that stops as soon as they do."""
    depth = 0
    for match in _MARKUP.finditer(text):
        token = match.group()
        kind = token[1]
        if kind == "/":
            depth = max(0, depth - 1)
        elif kind in "!?" or token.endswith("/>"):
            continue
        else:
            depth += 1
            if depth > limit:
                return True
    return False


_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")


def _is_xml_char(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _repair_reference(match: re.Match[str]) -> str:
    hex_digits, decimal_digits = match.groups()
    digits = (hex_digits or decimal_digits).lstrip("0") or "0"
    # More digits than any character has; int() would also refuse 4,300 of them.
    code = int(digits, 16 if hex_digits else 10) if len(digits) <= 8 else -1
    if _is_xml_char(code):
        return match.group()
    if 0 <= code < 0x20:
        return ""  # a control character: removed, as raw ones are from all text
    return "&#xFFFD;"


def repair_character_references(text: str) -> str:
    """Character references to what is not an XML character (&#xD800;, &#x110000;, &#1;)
    replaced: expat refuses them, and feedparser's fallback parser then raises on them, so one
    such reference failed the whole feed at every fetch."""
    if "&#" not in text:
        return text
    return _CHARACTER_REFERENCE.sub(_repair_reference, text)


_collect_tag = _FeedParserMixin._add_tag


def _collect_tag_bounded(self: Any, term: Any, scheme: Any, label: Any) -> None:
    context = self._get_context()
    tags = context.get("tags")
    if tags is not None and len(tags) >= FEEDPARSER_TAGS_PER_ENTRY:
        context[TAGS_DROPPED] = context.get(TAGS_DROPPED, 0) + 1
        return
    _collect_tag(self, term, scheme, label)


# feedparser checks each new tag against all the entry's earlier ones: an item with 32,000
# categories took 15 s to parse, 100,000 minutes. It has no option for this, so its collector
# is wrapped once, here, the only place newsbot parses feeds from.
_FeedParserMixin._add_tag = _collect_tag_bounded
