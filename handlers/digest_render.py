"""How a digest reads: the new articles since the last one and the best-rated of the period,
each with a button that opens it with its poll, in as few messages as the platform allows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.context import Ctx
from handlers.events import Button, Reply, Rich, Span, bold, link
from handlers.i18n import format_number, t, tn
from storage.models import Article
from storage.schedule_times import period_start
from storage.schedules import TakenDigest

BEST_RATED = 5  # articles in a digest's best-rated list


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One line of a digest (a heading or an article) and the button that opens its article."""

    text: Rich
    button: Button | None = None


def open_button(article: Article) -> Button:
    return Button(
        label=t("digest.open", id=article.id),
        action="show_article",
        params=(str(article.id),),
        text_twin=f"/article {article.id}",
    )


def _title(article: Article) -> Span:
    return link(article.title, article.url) if article.url else Span(article.title)


def digest_entries(ctx: Ctx, taken: TakenDigest) -> list[DigestEntry]:
    """The digest's lines in the current language; [] when nothing new arrived."""
    articles = [
        a
        for a in (ctx.store.get_article(i, include_removed=False) for i in taken.article_ids)
        if a is not None
    ]
    if not articles:
        return []
    entries = [DigestEntry(Rich.of(bold(tn("digest.header", len(articles)))))]
    entries += [
        DigestEntry(Rich.of("• ", _title(a), f" #{a.id}"), open_button(a)) for a in articles
    ]
    # The articles of this period and the one before: those of the last digest have had a
    # whole period to gather votes, this one's hardly any yet.
    since = period_start(period_start(taken.taken_at, taken.kind), taken.kind)
    rated = ctx.store.schedules.best_rated(taken.chat, since, BEST_RATED)
    best = [(r, ctx.store.get_article(r.article_id, include_removed=False)) for r in rated]
    if best:
        entries.append(DigestEntry(Rich.of(bold(t("digest.best_header")))))
    for rating, article in best:
        if article is None:
            continue
        votes = tn("digest.votes", rating.votes, mean=format_number(rating.mean))
        text = Rich.of("• ", _title(article), f" #{article.id} – {votes}")
        entries.append(DigestEntry(text, open_button(article)))
    return entries


def _reply(entries: list[DigestEntry], language: str) -> Reply:
    """One message of entries; an article listed twice (new and best-rated) gets one button
    (Discord refuses two buttons with the same data on one message)."""
    buttons: dict[str, Button] = {}
    for entry in entries:
        if entry.button is not None:
            buttons.setdefault(entry.button.params[0], entry.button)
    return Reply(
        text=Rich.join([e.text for e in entries]),
        buttons=tuple((b,) for b in buttons.values()),
        language=language,
    )


def digest_parts(
    entries: list[DigestEntry], language: str, fits: Callable[[Reply], bool]
) -> list[Reply]:
    """The digest as one message if it `fits` the platform, else as several, each cut
    between whole entries; an entry too long alone is a message of its own."""
    parts: list[list[DigestEntry]] = []
    current: list[DigestEntry] = []
    for entry in entries:
        if current and not fits(_reply([*current, entry], language)):
            # A heading goes with the entries under it.
            carried = [current.pop()] if len(current) > 1 and current[-1].button is None else []
            parts.append(current)
            current = carried
        current.append(entry)
    if current:
        parts.append(current)
    return [_reply(part, language) for part in parts]
