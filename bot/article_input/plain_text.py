"""One article in the plain-text format, read in steps: headers, tags line, question, body."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.article_input.fields import detect_language, parse_date, title_from_body
from bot.article_input.text import InputRejected, decode_text, input_tags, one_line, paragraphs
from bot.article_input.urls import safe_link
from storage.models import NewArticle
from storage.tags import split_tag_line

log = logging.getLogger(__name__)

# Telegram polls allow 300 characters for the question; a longer "question" is body text.
QUESTION_LIMIT = 300
# Header lines (Titel:, URL:, Datum:) are only looked for this close to the top, so a body
# paragraph that happens to start with "Link:" further down stays body text.
HEADER_SCAN_LINES = 8

# --- plain-text articles ------------------------------------------------------------------

_HEADER = re.compile(r"(title|titel|url|link|date|datum|bild|image)\s*:\s*(.*)", re.IGNORECASE)
_TAGS_LINE = re.compile(r"(schlagwörter|schlagworte|tags)\s*:(.*)", re.IGNORECASE)
_HEADER_KINDS = {
    "title": "title",
    "titel": "title",
    "url": "url",
    "link": "url",
    "date": "date",
    "datum": "date",
    "bild": "image",
    "image": "image",
}


@dataclass
class _Lines:
    """The file's lines and which of them a step has claimed (a header, the tags line, the
    question): what is left is the body."""

    lines: list[str]
    used: set[int] = field(default_factory=set)

    def unclaimed(self) -> list[int]:
        """Indexes of the non-empty lines no step has claimed yet."""
        return [i for i, line in enumerate(self.lines) if line.strip() and i not in self.used]


def _read_headers(text: _Lines) -> dict[str, str]:
    """Title:, URL:, Date: (and their German names) near the top; the first of each kind wins."""
    fields: dict[str, str] = {}
    for index, line in enumerate(text.lines[:HEADER_SCAN_LINES]):
        header = _HEADER.fullmatch(line.strip())
        if header is not None:
            text.used.add(index)
            fields.setdefault(_HEADER_KINDS[header.group(1).lower()], header.group(2).strip())
    return fields


def _read_tags_line(text: _Lines) -> int | None:
    """The index of the last "Schlagwörter:"/"Tags:" line, claimed; None if there is none."""
    for index in reversed(text.unclaimed()):
        if _TAGS_LINE.fullmatch(text.lines[index].strip()):
            text.used.add(index)
            return index
    return None


def _tags_of(text: _Lines, tags_index: int | None) -> tuple[str, ...]:
    if tags_index is None:
        return ()
    tags_line = _TAGS_LINE.fullmatch(text.lines[tags_index].strip())
    assert tags_line is not None
    return input_tags(split_tag_line(tags_line.group(2)))


def _read_question(text: _Lines, tags_index: int | None) -> str | None:
    """The last line, if it asks something short, is the poll question, claimed."""
    remaining = text.unclaimed()
    if not remaining or (tags_index is not None and remaining[-1] < tags_index):
        return None
    last = remaining[-1]
    candidate = one_line(text.lines[last])
    # Without a tags line the last line might just be a body paragraph that asks something,
    # so it only becomes the poll question if other body text remains.
    if not candidate.endswith(("?", "？")) or len(candidate) > QUESTION_LIMIT:
        return None
    if tags_index is None and len(remaining) < 2:
        return None
    text.used.add(last)
    return candidate


def _read_body(text: _Lines) -> str:
    """What no step claimed, as paragraphs, without blank lines around it."""
    body_lines = [line for i, line in enumerate(text.lines) if i not in text.used]
    while body_lines and not body_lines[0].strip():
        body_lines.pop(0)
    while body_lines and not body_lines[-1].strip():
        body_lines.pop()
    body = "\n\n".join(paragraphs(body_lines))
    if not body:
        raise InputRejected("empty", "the file has no article text")
    return body


def _header_url(value: str | None) -> str | None:
    url = safe_link(value) if value else None
    if value and url is None:
        log.info("ignoring a URL header that is not an http(s) link")
    return url


def _header_date(value: str | None) -> datetime | None:
    published = parse_date(value) if value else None
    if value and published is None:
        log.info("ignoring a date header that is not a recognised date: %r", value)
    return published


def parse_text_article(data: bytes, *, source: str = "file") -> NewArticle:
    """One article in the plain-text format: headers, paragraphs, a tags line, a poll question."""
    text = _Lines([line.rstrip() for line in decode_text(data).split("\n")])
    fields = _read_headers(text)
    tags_index = _read_tags_line(text)
    question = _read_question(text, tags_index)
    body = _read_body(text)
    title = one_line(fields.get("title", "")) or title_from_body(body)
    return NewArticle(
        title=title,
        body=body,
        tags=_tags_of(text, tags_index),
        url=_header_url(fields.get("url")),
        published=_header_date(fields.get("date")),
        guid=None,
        question=question,
        language=detect_language(f"{title}\n{body}"),
        source=source,
        image=_header_url(fields.get("image")),
    )
