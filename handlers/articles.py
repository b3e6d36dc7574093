"""Reading the archive: tags, the newest articles, one article, poll results, the best-rated."""

from __future__ import annotations

from handlers.buttons import Key, Pressed, button
from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, Span, UserError, bold
from handlers.i18n import format_number, t, tn
from handlers.registry import Param, command, parse_id, parse_tag
from handlers.render import (
    ShownText,
    article_line,
    article_post,
    results_text,
    summarize,
    summary_after_title,
)
from storage.models import Article


def require_article(ctx: Ctx, value: str | int) -> Article:
    article_id = value if isinstance(value, int) else parse_id(value)
    article = ctx.store.get_article(article_id, include_removed=False)
    if article is None:
        raise UserError("error.no_article", id=article_id)
    return article


def post_reply(ctx: Ctx, article: Article) -> Reply:
    """An article asked for by name (/article N): from its body, which is the page's full
    text for a --fulltext source (a post in a feed shows the feed's own text)."""
    chars = ctx.config.summary_chars
    body = summarize(summary_after_title(article.title, article.body), chars)
    return article_post(
        article,
        ctx.store.get_poll(article.id),
        summary_chars=chars,
        polls=ctx.config.polls,
        shown=ShownText(article.title, body),
    )


def known_spelling(ctx: Ctx, tag: str) -> str:
    """The tag as articles spell it, whichever form it was typed in (#E_Autos -> E-Autos)."""
    return ctx.store.known_tag(tag) or tag


@command("tags")
def cmd_tags(ctx: Ctx, cmd: Command) -> list[Reply]:
    counts = ctx.store.tag_counts(limit=50)
    if not counts:
        return [Reply(text=Rich.of(t("tags.none")))]
    lines = [Rich.of(bold(t("tags.header")))]
    lines += [Rich.of(tn("tags.line", c.articles, tag=c.tag)) for c in counts]
    return [Reply(text=Rich.join(lines))]


@command("latest", Param("tag", "tag", required=False))
def cmd_latest(ctx: Ctx, cmd: Command) -> list[Reply]:
    tag = known_spelling(ctx, parse_tag(cmd.args)) if cmd.args else None
    articles = ctx.store.latest_articles(tag, limit=ctx.config.list_limit)
    if not articles:
        return [Reply(text=Rich.of(t("latest.none")))]
    header = t("latest.header_tag", tag=tag) if tag else t("latest.header")
    lines = [Rich.of(bold(header)), *(article_line(a) for a in articles), Rich.of(t("latest.more"))]
    return [Reply(text=Rich.join(lines))]


@command("article", Param("id", "id"))
def cmd_article(ctx: Ctx, cmd: Command) -> list[Reply]:
    return [post_reply(ctx, require_article(ctx, cmd.args[0]))]


def results_reply(ctx: Ctx, article: Article) -> Reply:
    poll = ctx.store.get_poll(article.id)
    if poll is None:
        raise UserError("error.no_poll", id=article.id)
    return Reply(text=results_text(article, poll, ctx.config.polls))


@command("results", Param("id", "id"))
def cmd_results(ctx: Ctx, cmd: Command) -> list[Reply]:
    return [results_reply(ctx, require_article(ctx, cmd.args[0]))]


@button("results", Key("article", "article"), on_post=True)
def press_results(ctx: Ctx, pressed: Pressed) -> list[Reply]:
    return [results_reply(ctx, require_article(ctx, pressed.keys[0]))]


@command("top", Param("tag", "tag", required=False))
def cmd_top(ctx: Ctx, cmd: Command) -> list[Reply]:
    tag = known_spelling(ctx, parse_tag(cmd.args)) if cmd.args else None
    rated = ctx.store.top_articles(
        tag, limit=ctx.config.list_limit, prior_weight=ctx.config.top_prior_weight
    )
    if not rated:
        return [Reply(text=Rich.of(t("top.none")))]
    header = t("top.header_tag", tag=tag) if tag else t("top.header")
    lines = [Rich.of(bold(header))]
    for rank, r in enumerate(rated, start=1):
        line = article_line(r.article)
        detail = tn("top.line", r.votes, rating=format_number(r.rating))
        lines.append(Rich.of(f"{rank}. ") + line + Rich((Span(f" — {detail}"),)))
    return [Reply(text=Rich.join(lines))]
