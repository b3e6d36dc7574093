"""A post composed from its article's fields in a chat's style: as before, compact, full, or a
bot admin's template; with the article's lead image where the chat shows images."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from handlers.events import ArticleCard, Rich, Span, UserError, bold, italic, link
from handlers.i18n import format_date, t, tn
from storage.models import Article, ChatSettings, Poll, PostStyle
from storage.tags import hashtag

PLACEHOLDERS = ("title", "summary", "link", "tags", "source", "date", "id")
MAX_TEMPLATE = 1000  # characters of a template as typed


@dataclass(frozen=True, slots=True)
class PostLook:
    """How a chat's posts look (its settings), so that every post of it is composed alike."""

    style: PostStyle = "default"
    template: str | None = None
    images: bool = True

    @staticmethod
    def of(settings: ChatSettings) -> PostLook:
        return PostLook(settings.post_style, settings.post_template, settings.images)


@dataclass(frozen=True, slots=True)
class PostFields:
    """What a post says about its article. Whatever changes an article's words or picture on
    their way into a post (a translation, a page's og:image) changes these, not the styles."""

    article_id: int
    title: str
    summary: str
    url: str | None
    tags: tuple[str, ...]
    source: str | None  # the site, from the link
    published: datetime | None
    image: str | None  # the lead image, only once its check passed
    # "Machine-translated from German" when title and summary are a translation, else None.
    translated: str | None = None


def post_fields(
    article: Article, summary: str, *, title: str | None = None, translated: str | None = None
) -> PostFields:
    return PostFields(
        article_id=article.id,
        title=article.title if title is None else title,
        translated=translated,
        summary=summary,
        url=article.url,
        tags=article.tags,
        source=source_of(article.url),
        published=article.published,
        image=article.shown_image,
    )


def source_of(url: str | None) -> str | None:
    """The site a link leads to, without "www."."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    return host.removeprefix("www.") or None


@dataclass(frozen=True, slots=True)
class Composed:
    """A post's text, its card (for platforms that lay posts out themselves) and its image."""

    text: Rich
    card: ArticleCard | None
    image: str | None


def compose(fields: PostFields, poll: Poll | None, look: PostLook) -> Composed:
    """The post in the chat's style; the poll's question closes it (its buttons go under)."""
    image = fields.image if look.images else None
    if look.style == "template" and look.template:
        parts = [template_text(look.template, fields)]
    elif look.style == "compact":
        image = None
        parts = [*_head(fields, with_summary=False), _meta_line(fields, style="compact")]
    else:
        parts = [*_head(fields, with_summary=True), _meta_line(fields, style=look.style)]
    if fields.translated is not None and look.style != "template":
        parts.insert(-1, _translated_line(fields, fields.translated))
    if poll:
        parts.append(_question_line(poll))
    card = None if look.style == "template" else _card(fields, poll, look.style, image)
    return Composed(Rich.join(parts, "\n\n"), card, image)


def _head(fields: PostFields, *, with_summary: bool) -> list[Rich]:
    """The title (a link when the article has one), the summary unless it only repeats the
    title, and the hashtags."""
    title = link(fields.title, fields.url) if fields.url else bold(fields.title)
    parts: list[Rich] = [Rich.of(title)]
    if with_summary and fields.summary and fields.title != fields.summary:
        parts.append(Rich.of(fields.summary))
    if fields.tags:
        parts.append(Rich.of(" ".join(hashtag(tg) for tg in fields.tags)))
    return parts


def _translated_line(fields: PostFields, note: str) -> Rich:
    """ "Machine-translated from German · original" under a translated post."""
    spans: list[Span] = [italic(note)]
    if fields.url:
        spans += [Span(" · "), link(t("post.original"), fields.url)]
    return Rich(tuple(spans))


def _meta_line(fields: PostFields, *, style: PostStyle) -> Rich:
    """#N · date · link; the full style names the source too, the compact one has no date."""
    meta: list[Span] = [bold(f"#{fields.article_id}")]
    if style == "full" and fields.source:
        meta.append(Span(" · " + fields.source))
    if fields.published and style != "compact":
        meta.append(Span(" · " + format_date(fields.published)))
    if fields.url:
        meta += [Span(" · "), link(t("post.link"), fields.url)]
    return Rich(tuple(meta))


def _question_line(poll: Poll) -> Rich:
    question = [italic(poll.question)]
    if poll.closed:
        question.append(Span(" " + t("post.closed")))
    return Rich(tuple(question))


def _card(
    fields: PostFields, poll: Poll | None, style: PostStyle, image: str | None
) -> ArticleCard:
    """The same post as fields, for platforms that lay it out themselves (Discord embeds)."""
    summary = "" if style == "compact" else fields.summary
    if fields.translated is not None:
        summary = f"{summary}\n\n{fields.translated}".strip()
    return ArticleCard(
        article_id=fields.article_id,
        title=fields.title,
        summary=summary,
        tags=fields.tags,
        url=fields.url,
        published=None if style == "compact" else fields.published,
        question=poll.question if poll else "",
        footer=tn("post.total", poll.total) if poll else "",
        image=image,
    )


# -- templates ----------------------------------------------------------------------------


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder or None) pieces of a template; UserError when it is not
    one (too long, an unknown placeholder, a stray brace, a format spec)."""
    if len(template) > MAX_TEMPLATE:
        raise UserError("style.template_too_long", max=MAX_TEMPLATE)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise UserError("style.template_bad", names=_names()) from None
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            shown = name or "{}"
            raise UserError("style.template_unknown", name=shown[:40], names=_names())
        parts.append((literal, name))
    if not any(name for _, name in parts):
        raise UserError("style.template_bad", names=_names())
    return parts


def _names() -> str:
    return " ".join("{" + name + "}" for name in PLACEHOLDERS)


def template_text(template: str, fields: PostFields) -> Rich:
    """The template with each placeholder's value as plain text (a link for {link}): values
    are spans, escaped by each platform's adapter, never markup."""
    spans: list[Span] = []
    for literal, name in template_parts(template):
        if literal:
            spans.append(Span(literal))
        if name is not None:
            spans.extend(_value(name, fields))
    return Rich(tuple(spans))


def _value(name: str, fields: PostFields) -> list[Span]:
    if name == "link":
        return [link(fields.url, fields.url)] if fields.url else []
    values = {
        "title": fields.title,
        "summary": fields.summary,
        "tags": " ".join(hashtag(tg) for tg in fields.tags),
        "source": fields.source or "",
        "date": format_date(fields.published) if fields.published else "",
        "id": str(fields.article_id),
    }
    return [Span(values[name])]
