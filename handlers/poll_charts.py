"""The charts of /results and /top, in the reader's language, attached to the text answers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from handlers.charts import CHARTS, Bar, BarChart, chart_png
from handlers.events import Image, Reply
from handlers.i18n import current_language, format_number, t, tn
from storage.models import Article, Poll, RatedArticle

TOP_SCALE = 5.0  # ratings run from 1 to 5


def results_chart(article: Article, poll: Poll) -> BarChart:
    """The five options with their counts and shares, the total and the mean. The key holds
    the poll's version: a burst of /results between two votes draws once."""
    total = poll.total
    bars = tuple(
        Bar(
            label=f"{o.position}. {o.label} ({o.score})",
            value=o.votes,
            note=f"{o.votes} · {round(100 * o.votes / total) if total else 0} %",
        )
        for o in poll.options
    )
    mean = poll.mean
    footer = (
        t("results.no_votes")
        if mean is None
        else tn("chart.results_footer", total, mean=format_number(mean))
    )
    return BarChart(
        title=t("results.header", id=article.id, title=article.title),
        subtitle=poll.question,
        bars=bars,
        scale=max(total, 1),
        footer=footer,
        key=("results", article.id, poll.version, current_language.get()),
    )


def top_chart(header: str, rated: Sequence[RatedArticle]) -> BarChart:
    """The best-rated articles: each one's rating on the 1 to 5 scale and its votes."""
    bars = tuple(
        Bar(
            label=f"{rank}. #{r.article.id} {r.article.title}",
            value=r.rating,
            note=tn("top.line", r.votes, rating=format_number(r.rating)),
        )
        for rank, r in enumerate(rated, start=1)
    )
    return BarChart(
        title=header,
        subtitle=t("chart.top_subtitle"),
        bars=bars,
        scale=TOP_SCALE,
        footer=t("chart.top_footer"),
        key=("top", current_language.get()),
    )


async def with_chart(reply: Reply, chart: BarChart) -> Reply:
    """The reply with its chart: the text stays, as caption or alt text and in the terminal.
    A chart not drawn yet is drawn in a worker thread: neither the event loop nor the
    database thread waits the milliseconds it takes."""
    png = CHARTS.cached(chart)
    if png is None:
        png = await asyncio.to_thread(chart_png, chart)
    return dataclasses.replace(reply, chart=Image(png=png, alt=reply.text.plain()))


def results_png(article: Article, poll: Poll, language: str | None = None) -> bytes:
    """The /results chart of a poll as PNG bytes, in `language` (default: the current one),
    for callers outside a chat turn (a web page). Cached as /results is; call it off the
    event loop: a first drawing takes milliseconds."""
    token = current_language.set(language or current_language.get())
    try:
        chart = results_chart(article, poll)
    finally:
        current_language.reset(token)
    return chart_png(chart)
