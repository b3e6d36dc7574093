"""/why N: why article N did or did not reach this chat, as the first reason that applies."""

from __future__ import annotations

from collections.abc import Callable

from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError
from handlers.filters import filter_line
from handlers.i18n import format_date, t
from handlers.registry import parse_id
from handlers.schedules import waiting_line
from storage.filters import ArticleTrace

# A reason looks at what the store knows of the article in this chat and says its line, or
# None when it does not apply. REASONS is asked in order and the first line is the answer: a
# feature that holds articles back (quiet hours, a digest) adds its reason at its place, before
# the one that would otherwise claim the article (usually `_waiting`).
Reason = Callable[[ArticleTrace, int], str | None]


def _removed(trace: ArticleTrace, number: int) -> str | None:
    return t("why.removed", id=number) if trace.article and trace.article.removed else None


def _posted(trace: ArticleTrace, number: int) -> str | None:
    delivery = trace.delivery
    if delivery is None or delivery.status != "sent":
        return None
    when = format_date(delivery.sent_at) if delivery.sent_at else "?"
    return t("why.posted", id=number, date=when)


def _failed(trace: ArticleTrace, number: int) -> str | None:
    delivery = trace.delivery
    if delivery is None or delivery.status != "failed":
        return None
    return t("why.failed", id=number, error=delivery.last_error or "?")


def _delivery_paused(trace: ArticleTrace, number: int) -> str | None:
    delivery = trace.delivery
    if delivery is None or delivery.status != "paused":
        return None
    return t("why.delivery_paused", id=number, reason=delivery.last_error or "?")


def _waiting(trace: ArticleTrace, number: int) -> str | None:
    delivery = trace.delivery
    if delivery is None or delivery.status not in {"pending", "sending"}:
        return None
    when = format_date(delivery.next_try) if delivery.next_try else "?"
    return t("why.waiting", id=number, date=when)


def _no_tag(trace: ArticleTrace, number: int) -> str | None:
    if trace.subscriptions or trace.article is None:
        return None
    return t("why.no_tag", id=number, tags=", ".join(trace.article.tags) or "–")


def _subscription_paused(trace: ArticleTrace, number: int) -> str | None:
    if any(sub.active for sub in trace.subscriptions) or not trace.subscriptions:
        return None
    sub = trace.subscriptions[0]
    return t("why.subscription_paused", id=number, tag=sub.tag, reason=sub.reason or "?")


def _excluded(trace: ArticleTrace, number: int) -> str | None:
    rule = trace.verdict.excluded_by if trace.verdict else None
    return t("why.excluded", id=number, line=filter_line(rule)) if rule else None


def _no_include(trace: ArticleTrace, number: int) -> str | None:
    return t("why.no_include", id=number) if trace.verdict and trace.verdict.no_include else None


def _before_subscribing(trace: ArticleTrace, number: int) -> str | None:
    return t("why.not_queued", id=number)


REASONS: list[Reason] = [
    _removed,
    _posted,
    _failed,
    _delivery_paused,
    _waiting,
    _no_tag,
    _subscription_paused,
    _excluded,
    _no_include,
    _before_subscribing,  # the last word: it matches, but was never queued here
]


def _held(ctx: Ctx, cmd: Command, trace: ArticleTrace, number: int) -> str | None:
    """Quiet hours or the chat's digest hold the queued article back (handlers.schedules)."""
    if trace.delivery is None or trace.delivery.status not in {"pending", "digest"}:
        return None
    waiting = waiting_line(ctx, cmd.chat, number)
    return t("why.held", id=number, line=waiting) if waiting else None


def explain_article(ctx: Ctx, cmd: Command, value: str) -> list[Reply]:
    number = parse_id(value)
    trace = ctx.store.filters.trace(cmd.chat, number)
    if trace.article is None:
        raise UserError("error.no_article", id=number)
    line = _held(ctx, cmd, trace, number) or next(
        line for reason in REASONS if (line := reason(trace, number)) is not None
    )
    return [Reply(text=Rich.of(line), private=True)]
