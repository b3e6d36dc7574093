"""The read-only dashboard's pages: server-rendered HTML without JavaScript, every value from
the store or a feed escaped on its way in, every word from the catalogues."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers.context import PollDefaults
from handlers.i18n import current_language, format_date, format_number, t
from handlers.poll_charts import results_png
from handlers.render import bars_table, shown_poll
from storage.models import Article, AuditEntry, Feed, Poll
from storage.oversight import PausedChat

# No script may run, from us or from anything that slipped into a page; styles inline only.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)
_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em}"
    "nav a{margin-right:1em}table{border-collapse:collapse;width:100%}"
    "td,th{border-bottom:1px solid #8884;padding:.3em .5em;text-align:left;vertical-align:top}"
    "pre{margin:.3em 0;font-size:13px}article{border-bottom:1px solid #8886;padding:.6em 0}"
    "@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8bf}}"
)
NAV = (("/", "dash.nav.results"), ("/feeds", "dash.nav.feeds"), ("/paused", "dash.nav.paused"))
AUDIT = ("/audit", "dash.nav.audit")


def esc(value: object) -> str:
    """Text as HTML shows it, quotes included (it may land in an attribute)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True, slots=True)
class ArticleResult:
    article: Article
    poll: Poll | None


def page(heading: str, body: str, language: str) -> str:
    links = "".join(f'<a href="{href}">{esc(t(key, language))}</a>' for href, key in (*NAV, AUDIT))
    return (
        f'<!doctype html><html lang="{esc(language)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(t('dash.title', language))} · {esc(heading)}</title>"
        f"<style>{_STYLE}</style></head><body><nav>{links}</nav>"
        f"<h1>{esc(heading)}</h1>{body}</body></html>"
    )


def results_page(
    found: Sequence[ArticleResult],
    query: str,
    language: str,
    polls: Mapping[str, PollDefaults],
) -> str:
    heading = t("dash.results.found", language, query=query) if query else None
    form = (
        f'<form method="get" action="/"><label>{esc(t("dash.search.label", language))} '
        f'<input type="search" name="q" value="{esc(query)}"></label> '
        f'<button type="submit">{esc(t("dash.search.button", language))}</button></form>'
    )
    items = "".join(_article(item, language, polls) for item in found)
    body = form + (items or f"<p>{esc(t('dash.results.none', language))}</p>")
    return page(heading or t("dash.results.latest", language), body, language)


def _article(item: ArticleResult, language: str, polls: Mapping[str, PollDefaults]) -> str:
    article = item.article
    title = esc(article.title)
    if article.url and article.url.startswith(("https://", "http://")):
        title = f'<a href="{esc(article.url)}" rel="noreferrer noopener">{title}</a>'
    tags = " ".join(f"#{esc(tag)}" for tag in article.tags)
    return (
        f'<article id="a{article.id}"><h2>{article.id}. {title}</h2><p>{tags}</p>'
        f"{result_figure(item.poll, language, polls, article.id)}</article>"
    )


def result_figure(
    poll: Poll | None, language: str, polls: Mapping[str, PollDefaults], article_id: int
) -> str:
    """One article's results: its /results chart (an <img> of /chart/N.png, drawn and cached
    as in chats), and the bars as text beside it for those who read text."""
    if poll is None:
        return f"<p>{esc(t('dash.results.no_poll', language))}</p>"
    token = current_language.set(language)
    try:
        shown = shown_poll(poll, polls)
    finally:
        current_language.reset(token)
    bars = bars_table(shown)
    lines = [f"<p><em>{esc(shown.question)}</em></p>"]
    if shown.total:
        alt = esc(f"{shown.question}\n{bars}")
        lines.append(f'<img src="/chart/{article_id}.png" alt="{alt}" style="max-width:100%">')
    lines.append(f"<pre>{esc(bars)}</pre>")
    lines.append(f"<p>{esc(t('results.total', language, total=shown.total))}")
    if shown.mean is not None:
        mean = format_number(shown.mean, language)
        lines.append(f" · {esc(t('results.mean', language, mean=mean))}")
    return "".join(lines) + "</p>"


def chart_png(
    article: Article, poll: Poll, language: str, polls: Mapping[str, PollDefaults]
) -> bytes:
    """The article's /results chart as a chat in `language` sees it (labels in that language);
    drawn once per poll version (handlers.poll_charts caches it). Not on the event loop."""
    token = current_language.set(language)
    try:
        shown = shown_poll(poll, polls)
    finally:
        current_language.reset(token)
    return results_png(article, shown, language)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], language: str) -> str:
    head = "".join(f"<th>{esc(t(key, language))}</th>" for key in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(value: datetime | None, language: str) -> str:
    return format_date(value, language) if value is not None else t("dash.never", language)


def feeds_page(feeds: Sequence[Feed], language: str) -> str:
    rows = [
        (
            f.location,
            t(f"feeds.state.{f.state}", language),
            _when(f.last_success, language),
            f.failures,
            f.last_error or "",
            _when(f.next_fetch, language) if f.state == "active" else "",
        )
        for f in feeds
    ]
    headers = [
        *("dash.col.source", "dash.col.state", "dash.col.last_success"),
        *("dash.col.failures", "dash.col.last_error", "dash.col.next_fetch"),
    ]
    body = (
        table(headers, rows, language) if rows else f"<p>{esc(t('dash.feeds.none', language))}</p>"
    )
    return page(t("dash.nav.feeds", language), body, language)


def paused_page(paused: Sequence[PausedChat], language: str) -> str:
    rows = [(p.chat.key(), p.reason or "") for p in paused]
    if rows:
        body = table(("dash.col.chat", "dash.col.reason"), rows, language)
    else:
        body = f"<p>{esc(t('dash.paused.none', language))}</p>"
    return page(t("dash.nav.paused", language), body, language)


def audit_page(entries: Sequence[AuditEntry] | None, language: str) -> str:
    """The audit log; None: the reader is not an owner (see bot/http_access.py)."""
    if entries is None:
        body = f"<p>{esc(t('dash.audit.token_only', language))}</p>"
    elif not entries:
        body = f"<p>{esc(t('dash.audit.none', language))}</p>"
    else:
        rows = [
            (
                format_date(e.at, language),
                f"{e.platform}:{e.chat_id}" if e.chat_id else e.platform,
                e.actor,
                e.action,
                e.target or "",
                e.reason or "",
                e.outcome,
            )
            for e in entries
        ]
        headers = [
            *("dash.col.when", "dash.col.chat", "dash.col.actor", "dash.col.action"),
            *("dash.col.target", "dash.col.reason", "dash.col.outcome"),
        ]
        body = table(headers, rows, language)
    return page(t("dash.nav.audit", language), body, language)


def message_page(key: str, language: str) -> str:
    """A page that only says one thing (refused, not found, unavailable)."""
    return page(t("dash.title", language), f"<p>{esc(t(key, language))}</p>", language)
