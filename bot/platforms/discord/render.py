"""How replies look on Discord: escaped markdown, article embeds, and poll buttons that outlive
the process (DynamicItems keyed by the codec's custom_id)."""

from __future__ import annotations

import io
import json
import re
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import discord

from handlers.codec import DATA_PATTERN, encode
from handlers.events import ArticleCard, Button, Image, Reply, Rich, Span
from handlers.i18n import format_date
from handlers.render import hashtag

MAX_CONTENT = 2000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FOOTER = 2048
MAX_EMBED = 6000
MAX_THREAD_NAME = 100
MAX_LABEL = 80
BUTTONS_PER_ROW = 5
MAX_BUTTONS = 25
MAX_ALT_TEXT = 1024  # an attachment's description
ELLIPSIS = " …"
NO_MENTIONS = discord.AllowedMentions.none()

_SENTENCE_END = re.compile(r"[.!?…][\"“”»«')\]]*(?=\s)|\n")


def escape(text: str) -> str:
    """Text from feeds and people: no markdown, no mention syntax (allowed_mentions is none
    anyway, this keeps '@everyone' from even looking like one)."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def safe_url(url: str | None) -> str | None:
    """Only plain http(s) links; javascript: and friends become text."""
    if not url or any(ch.isspace() or ch in "<>" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in {"http", "https"} and parts.netloc else None


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters, cut at a word with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0] if " " in line[: limit - 1] else line[: limit - 1]
    return cut.rstrip(" ,;:-–\\") + "…"


def cut_sentences(text: str, limit: int) -> str:
    """At most `limit` characters ending on a whole sentence (or line); a first sentence that
    is longer alone is cut at a word."""
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    if room <= 0:
        return ""
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= room]
    if ends:
        return text[: ends[-1]].rstrip()
    return shorten(text[:room], room).rstrip("…").rstrip("\\ ") + ELLIPSIS


def _span(span: Span) -> str:
    if span.style == "pre":
        # A code block: a fixed-width font; only a fence inside could end it early.
        body = span.text.replace("`", "ˋ")
        return f"```\n{body}\n```" if body else ""
    if span.style == "code":
        # Nothing inside a code span is markdown; only its own fence must not appear.
        body = span.text.replace("`", "ˋ")
        return f"`{body}`" if body else ""
    text = escape(span.text)
    if not text.strip():
        return text
    if span.style == "bold":
        return f"**{text}**"
    if span.style == "italic":
        return f"_{text}_"
    if span.style == "link":
        url = safe_url(span.url)
        if url is None:
            return text
        if span.text == span.url:
            return f"<{url}>"
        label = text.replace("]", "\\]")
        # <url> keeps Discord from unfurling every link of a list into a preview.
        return f"[{label}](<{url}>)"
    return text


def _fit(span: Span, room: int, *, first: bool) -> str | None:
    """The longest rendering of the span's leading whole sentences within `room` characters;
    the very first span of a reply may be cut at a word instead, so that something is said."""
    raw = span.text
    ends = sorted({m.end() for m in _SENTENCE_END.finditer(raw)}, reverse=True)
    for end in ends:
        candidate = _span(Span(raw[:end].rstrip(), span.style))
        if len(candidate) <= room:
            return candidate
    if not first:
        return None
    budget = room
    while budget > 1:
        candidate = _span(Span(shorten(raw, budget), span.style))
        if len(candidate) <= room:
            return candidate
        # Escaping made it longer: try again with less raw text.
        budget -= len(candidate) - room
    return None


def markdown(text: Rich, limit: int = MAX_CONTENT) -> str:
    """The neutral markup as Discord markdown, escaped, at most `limit` characters; a reply
    that is too long ends on a whole sentence of the span where it overflows."""
    out: list[str] = []
    used = 0
    for span in text.spans:
        piece = _span(span)
        if used + len(piece) <= limit:
            out.append(piece)
            used += len(piece)
            continue
        room = limit - used - len(ELLIPSIS)
        if span.style in {"plain", "bold", "italic"} and room > 0:
            fitted = _fit(span, room, first=not "".join(out).strip())
            if fitted:
                out.append(fitted)
        out.append(ELLIPSIS)
        break
    return "".join(out).strip() or "…"


def fits_one_message(text: Rich) -> bool:
    """Whether the text, as markdown, fits one message's 2,000 characters uncut."""
    return len(markdown(text, limit=sys.maxsize)) <= MAX_CONTENT


def source_of(url: str | None) -> str | None:
    safe = safe_url(url)
    if safe is None:
        return None
    host = urlsplit(safe).hostname or ""
    return host.removeprefix("www.") or None


def _footer(card: ArticleCard, language: str) -> str:
    """#N, date, source and the vote total."""
    parts = [f"#{card.article_id}"]
    if card.published is not None:
        parts.append(format_date(card.published, language))
    parts += [part for part in (source_of(card.url), card.footer) if part]
    return shorten(" · ".join(parts), MAX_FOOTER)


def _tail(card: ArticleCard) -> str:
    """The hashtags and the poll question, under the summary."""
    # A hashtag is "#" and word characters: only its body needs escaping ("_").
    tail = [" ".join("#" + escape(hashtag(tag)[1:]) for tag in card.tags)]
    if card.question:
        tail.append(f"_{escape(card.question)}_")
    return "\n\n".join(part for part in tail if part)


def article_embed(card: ArticleCard, language: str) -> discord.Embed:
    """Linked title, summary, hashtags and the poll question; #N, date, source and the vote
    total in the footer. Within Discord's limits: 256 / 4096 / 2048, 6000 in all."""
    # Embed titles are not markdown-rendered everywhere: only mentions are defused.
    title = shorten(discord.utils.escape_mentions(card.title), MAX_TITLE)
    footer = _footer(card, language)
    tail_text = _tail(card)
    room = min(MAX_DESCRIPTION, MAX_EMBED - len(title) - len(footer)) - len(tail_text) - 2
    shown = card.summary and card.summary != card.title
    summary = cut_sentences(escape(card.summary), max(room, 0)) if shown else ""
    description = "\n\n".join(part for part in (summary, tail_text) if part)
    embed = discord.Embed(
        title=title, url=safe_url(card.url), description=description[:MAX_DESCRIPTION]
    )
    embed.set_footer(text=footer)
    if (image := safe_url(card.image)) is not None:
        embed.set_image(url=image)
    return embed


def thread_name(reply: Reply) -> str:
    """A discussion thread or forum post is named after the article."""
    name = reply.card.title if reply.card else reply.text.plain().split("\n", 1)[0]
    return shorten(name, MAX_THREAD_NAME) or "newsbot"


class CoreButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=DATA_PATTERN):
    """A button whose custom_id is the codec's data and nothing else: any process of this bot
    can answer it, however old the message, because the core checks it again on arrival.

    Its presses are taken from the client's on_interaction, which sees every one: discord.py
    silently drops a DynamicItem press whose custom_id is no longer on the message, and the
    person would see "This interaction failed". A DynamicItem still, because a View of them is
    not kept in memory for every message sent, as a View of plain buttons would be."""

    def __init__(self, data: str, label: str, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=shorten(label, MAX_LABEL) or "·",
                custom_id=data,
                style=discord.ButtonStyle.secondary,
                row=row,
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CoreButton:
        return cls(match.string, str(getattr(item, "label", None) or "·"))


def buttons_view(rows: tuple[tuple[Button, ...], ...]) -> discord.ui.View | None:
    """All buttons, five to a row (the poll's five options fit in one)."""
    flat = [b for row in rows for b in row][:MAX_BUTTONS]
    if not flat:
        return None
    view = discord.ui.View(timeout=None)
    for index, button in enumerate(flat):
        view.add_item(CoreButton(encode(button), button.label, row=index // BUTTONS_PER_ROW))
    return view


@dataclass(slots=True)
class Rendered:
    """A reply laid out for Discord: text or an embed, and its buttons."""

    content: str | None
    embed: discord.Embed | None
    view: discord.ui.View | None
    chart: Image | None = None

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
        if self.content is not None:
            kwargs["content"] = self.content
        if self.embed is not None:
            kwargs["embed"] = self.embed
        if self.view is not None:
            kwargs["view"] = self.view
        if self.chart is not None:
            kwargs["file"] = attachment(self.chart)
        return kwargs

    def look(self) -> str:
        """The message as people see it, to compare with what it shows now."""
        embed = self.embed.to_dict() if self.embed is not None else None
        buttons = self.view.to_components() if self.view is not None else []
        return json.dumps([self.content, embed, buttons], sort_keys=True, default=str)

    def edit_kwargs(self) -> dict[str, Any]:
        # An edit replaces everything: no text under an embed, no buttons on a removed post.
        return {
            "content": self.content,
            "embeds": [self.embed] if self.embed is not None else [],
            "view": self.view,
            "allowed_mentions": NO_MENTIONS,
        }


def attachment(image: Image) -> discord.File:
    """The picture as an upload, its text as the alt text. A fresh File for every send:
    discord.py closes one after sending it."""
    alt = image.alt if len(image.alt) <= MAX_ALT_TEXT else image.alt[: MAX_ALT_TEXT - 1] + "…"
    return discord.File(io.BytesIO(image.png), filename=image.filename, description=alt)


def render(reply: Reply, default_language: str) -> Rendered:
    """Call inside the event loop: a View needs it. A reply is laid out in the language the
    core wrote it in (a post keeps its own); `default_language` for one that does not say."""
    if reply.card is not None:
        embed = article_embed(reply.card, reply.language or default_language)
        return Rendered(None, embed, buttons_view(reply.buttons))
    # A post in a template's words: the text, and its lead image in an embed of its own.
    image = safe_url(reply.image)
    shown = discord.Embed().set_image(url=image) if image is not None else None
    return Rendered(markdown(reply.text), shown, buttons_view(reply.buttons), reply.chart)


def notice_text(reply: Reply) -> str:
    return markdown(Rich.of(reply.notice or ""), MAX_CONTENT)
