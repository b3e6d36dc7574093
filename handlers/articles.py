"""Reading the archive: tags, the newest articles, one article, poll results, the best-rated."""

from __future__ import annotations

from handlers.buttons import Key, Pressed, button
from handlers.charts import BarChart
from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, Span, UserError, bold
from handlers.i18n import format_number, t, tn
from handlers.poll_charts import results_chart, top_chart, with_chart
from handlers.post_compose import PostLook
from handlers.registry import Param, command, parse_id, parse_tag
from handlers.render import (
    ShownText,
    article_line,
    article_post,
    results_text,
    shown_poll,
    summarize,
    summary_after_title,
)
from storage.models import Article, ChatRef


def require_article(ctx: Ctx, value: str | int) -> Article:
    article_id = value if isinstance(value, int) else parse_id(value)
    article = ctx.store.get_article(article_id, include_removed=False)
    if article is None:
        raise UserError("error.no_article", id=article_id)
    return article


def post_reply(ctx: Ctx, article: Article, chat: ChatRef) -> Reply:
    """An article asked for by name (/article N) as a post in the chat's look (its style,
    with or without its picture): from its body, which is the page's full text for a
    --fulltext source (a post in a feed shows the feed's own text)."""
    chars = ctx.config.summary_chars
    body = summarize(summary_after_title(article.title, article.body), chars)
    return article_post(
        article,
        ctx.store.get_poll(article.id),
        summary_chars=chars,
        polls=ctx.config.polls,
        look=PostLook.of(ctx.store.chat_settings(chat)),
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
    return [post_reply(ctx, require_article(ctx, cmd.args[0]), cmd.chat)]


def results_parts(ctx: Ctx, article_id: str | int) -> tuple[Reply, BarChart]:
    """In the database thread: the bars as text, and the chart to draw of them."""
    article = require_article(ctx, article_id)
    poll = ctx.store.get_poll(article.id)
    if poll is None:
        raise UserError("error.no_poll", id=article.id)
    shown = shown_poll(poll, ctx.config.polls) if ctx.config.polls else poll
    return Reply(text=results_text(article, shown)), results_chart(article, shown)


# /results and /top read the store in the database thread, then draw (or find) their chart.
@command("results", Param("id", "id"))
async def cmd_results(ctx: Ctx, cmd: Command) -> list[Reply]:
    reply, chart = await ctx.db.run(results_parts, ctx, cmd.args[0])
    return [await with_chart(reply, chart)]


@button("results", Key("article", "article"), on_post=True)
async def press_results(ctx: Ctx, pressed: Pressed) -> list[Reply]:
    reply, chart = await ctx.db.run(results_parts, ctx, pressed.keys[0])
    return [await with_chart(reply, chart)]


def top_parts(ctx: Ctx, args: tuple[str, ...]) -> tuple[Reply, BarChart | None]:
    """In the database thread: the best-rated articles as text, and their chart if any."""
    tag = known_spelling(ctx, parse_tag(args)) if args else None
    rated = ctx.store.top_articles(
        tag, limit=ctx.config.list_limit, prior_weight=ctx.config.top_prior_weight
    )
    if not rated:
        return Reply(text=Rich.of(t("top.none"))), None
    header = t("top.header_tag", tag=tag) if tag else t("top.header")
    lines = [Rich.of(bold(header))]
    for rank, r in enumerate(rated, start=1):
        line = article_line(r.article)
        detail = tn("top.line", r.votes, rating=format_number(r.rating))
        lines.append(Rich.of(f"{rank}. ") + line + Rich((Span(f" — {detail}"),)))
    return Reply(text=Rich.join(lines)), top_chart(header, rated)


@command("top", Param("tag", "tag", required=False))
async def cmd_top(ctx: Ctx, cmd: Command) -> list[Reply]:
    reply, chart = await ctx.db.run(top_parts, ctx, cmd.args)
    return [reply if chart is None else await with_chart(reply, chart)]
