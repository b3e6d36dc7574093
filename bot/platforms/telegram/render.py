"""Telegram rendering: the neutral markup as escaped HTML, and buttons as inline keyboards."""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.codec import encode
from handlers.events import Button, Rich, Span

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # visible characters of a message, after entities are parsed
MAX_CAPTION = 1024  # visible characters of a photo's caption
ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?…]+[\"'“”»«)\]]*(?=\s)|\n")
_ENDS_SENTENCE = re.compile(r"[.!?…]+[\"'“”»«)\]]*\s*$")


def safe_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link; None for anything else (javascript:, data:)."""
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def render_html(text: Rich) -> str:
    """Spans as Telegram HTML. Every piece of text is escaped: nothing from a feed or a person
    ever becomes markup."""
    out: list[str] = []
    for span in text.spans:
        body = html.escape(span.text, quote=False)
        if span.style == "link":
            url = safe_url(span.url)
            if url is None:
                out.append(body)
            else:
                shown = body or html.escape(url, quote=False)
                out.append(f'<a href="{html.escape(url, quote=True)}">{shown}</a>')
        elif not span.text:
            continue
        elif span.style == "bold":
            out.append(f"<b>{body}</b>")
        elif span.style == "italic":
            out.append(f"<i>{body}</i>")
        elif span.style == "code":
            out.append(f"<code>{body}</code>")
        elif span.style == "pre":
            out.append(f"<pre>{body}</pre>")
        else:
            out.append(body)
    return "".join(out)


def utf16_len(text: str) -> int:
    # Telegram counts text in UTF-16 code units; an emoji outside the BMP counts twice.
    return len(text.encode("utf-16-le")) // 2


def fits_one_message(text: Rich) -> bool:
    """Whether the text fits one message as Telegram counts it."""
    return utf16_len(text.plain()) <= MAX_TEXT


def fits_caption(text: Rich) -> bool:
    """Whether the text fits under a photo as its caption."""
    return utf16_len(text.plain()) <= MAX_CAPTION


def _chars_within(text: str, room: int) -> int:
    """How many characters of `text` fit into `room` UTF-16 code units."""
    if utf16_len(text) <= room:
        return len(text)
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            return index
    return len(text)


def _cut_point(text: Rich, room: int) -> tuple[int, int]:
    """(span index, characters of it kept) to stay within `room` UTF-16 units: after the last
    whole sentence that fits, else the last word, else anywhere."""
    sentence: tuple[int, int] | None = None
    word: tuple[int, int] | None = None
    hard = (0, 0)
    for index, span in enumerate(text.spans):
        fits = _chars_within(span.text, max(room, 0))
        for match in _SENTENCE_END.finditer(span.text):
            if match.end() > fits:
                break
            sentence = (index, match.end())
        space = span.text.rfind(" ", 0, fits + 1)
        if space > 0:
            word = (index, space)
        hard = (index, fits)
        if fits < len(span.text):
            break
        if _ENDS_SENTENCE.search(span.text):
            sentence = (index, len(span.text))
        room -= utf16_len(span.text)
    return sentence or word or hard


def _cut(text: Rich, index: int, keep: int) -> Rich:
    """The spans before the cut, without trailing blanks, and an ellipsis."""
    spans = list(text.spans[:index])
    head = text.spans[index].text[:keep]
    if head.strip():
        spans.append(dataclasses.replace(text.spans[index], text=head))
    while spans and not spans[-1].text.strip():
        spans.pop()
    if spans:
        spans[-1] = dataclasses.replace(spans[-1], text=spans[-1].text.rstrip())
    spans.append(Span(" " + ELLIPSIS if spans else ELLIPSIS))
    return Rich(tuple(spans))


def fit(text: Rich, limit: int = MAX_TEXT) -> Rich:
    """At most `limit` visible characters: cut after the last whole sentence that fits (else the
    last word, else anywhere) and mark the cut with an ellipsis. The cut happens in the spans,
    before rendering, so no tag is ever split."""
    if utf16_len(text.plain()) <= limit:
        return text
    index, keep = _cut_point(text, limit - utf16_len(" " + ELLIPSIS))
    return _cut(text, index, keep)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def keyboard(buttons: Iterable[Iterable[Button]]) -> InlineKeyboardMarkup | None:
    """The buttons as an inline keyboard; each button's data comes from the one codec."""
    rows: list[list[InlineKeyboardButton]] = []
    for row in buttons:
        cells: list[InlineKeyboardButton] = []
        for button in row:
            try:
                data = encode(button)
            except ValueError:
                log.error("button %r cannot be encoded; left out", button.action)
                continue
            cells.append(InlineKeyboardButton(button.label or "·", callback_data=data))
        if cells:
            rows.append(cells)
    return InlineKeyboardMarkup(rows) if rows else None


@functools.lru_cache(maxsize=512)
def keyboard_json(buttons: tuple[tuple[Button, ...], ...]) -> str:
    """The buttons as the Bot API's `reply_markup` JSON ("" for none), as keyboard() would
    send them. A fan-out sends the same keyboard to every chat: it is built once, not turned
    into PTB objects and serialised again for each message."""
    markup = keyboard(buttons)
    return json.dumps(markup.to_dict()) if markup else ""
