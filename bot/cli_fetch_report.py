"""What `newsbot feeds fetch` prints: a line per source while there are few, else only the
sources that failed, and always a summary grouped by outcome and reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from bot.sources import FeedOutcome

# Up to this many sources each get their own line; beyond it only failures do, this many.
LISTED_SOURCES = 20


def outcome_line(outcome: FeedOutcome) -> str:
    from handlers.feeds import describe_failure
    from handlers.i18n import t

    where = {"id": outcome.feed.id, "location": outcome.feed.location}
    if outcome.kind == "new":
        return t(
            "cli.feeds.fetch_new",
            new=len(outcome.report.new),
            duplicates=outcome.report.duplicates,
            **where,
        )
    if outcome.kind == "unchanged":
        same = outcome.reason == "same_body"  # 200 with the bytes stored last time
        return t("cli.feeds.fetch_same_body" if same else "cli.feeds.fetch_unchanged", **where)
    reason = describe_failure(outcome.reason, outcome.detail)
    key = "cli.feeds.fetch_refused" if outcome.kind == "refused" else "cli.feeds.fetch_failed"
    return t(key, reason=reason, **where)


def print_fetch_report(outcomes: Sequence[FeedOutcome], out: TextIO) -> None:
    from handlers.i18n import tn

    troubled = [o for o in outcomes if o.kind not in ("new", "unchanged")]
    listed = outcomes if len(outcomes) <= LISTED_SOURCES else troubled[:LISTED_SOURCES]
    for outcome in listed:
        out.write(outcome_line(outcome) + "\n")
    if len(listed) < len(troubled):
        out.write(tn("cli.feeds.more_failed", len(troubled) - len(listed)) + "\n")
    out.write(tn("cli.feeds.sources", len(outcomes)) + ": " + summary(outcomes) + "\n")


def summary(outcomes: Sequence[FeedOutcome]) -> str:
    """After "12 sources: ", e.g. "3 read (17 new, 4 known), 8 unchanged, 1 failed (timeout: 1)"."""
    from handlers.i18n import format_amount, tn

    news = [o for o in outcomes if o.kind == "new"]
    parts = []
    if news:
        parts.append(
            tn(
                "cli.feeds.summary_new",
                len(news),
                new=format_amount(sum(len(o.report.new) for o in news)),
                known=format_amount(sum(o.report.duplicates for o in news)),
            )
        )
    unchanged = sum(1 for o in outcomes if o.kind == "unchanged")
    if unchanged:
        parts.append(tn("cli.feeds.summary_unchanged", unchanged))
    parts.extend(by_reason(outcomes, kind) for kind in ("refused", "failed"))
    return ", ".join(part for part in parts if part)


def by_reason(outcomes: Sequence[FeedOutcome], kind: str) -> str:
    """ "2 failed (timeout: 1; HTTP 404: 1)", or "" when none did."""
    from handlers.feeds import describe_failure
    from handlers.i18n import format_amount, t, tn

    reasons = Counter(describe_failure(o.reason) for o in outcomes if o.kind == kind)
    if not reasons:
        return ""
    grouped = "; ".join(
        t("cli.ingest.reason", reason=reason, number=format_amount(count))
        for reason, count in reasons.most_common()
    )
    return f"{tn(f'cli.feeds.summary_{kind}', reasons.total())} ({grouped})"
