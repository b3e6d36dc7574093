"""How articles, posts and results read: summaries on whole sentences, posts with live counts."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from handlers.context import PollDefaults
from handlers.events import Button, Reply, Rich, Span, bold, italic, pre
from handlers.i18n import current_language, format_number, t
from handlers.post_compose import PostLook, compose, post_fields
from handlers.sentences import sentences
from storage.models import Article, Poll, Translation
from storage.tags import hashtag as hashtag  # the adapters render tags with it too

DEFAULT_LOOK = PostLook()


# A post is rendered again on every press and refresh: its summary is worth keeping.
@functools.lru_cache(maxsize=1024)
def summarize(body: str, limit: int = 600) -> str:
    """Whole sentences up to about `limit` characters; a first sentence that is longer alone is
    cut at a word boundary with an ellipsis."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    out = ""
    for sentence in sentences(body):
        candidate = f"{out} {sentence}".strip()
        if len(candidate) > limit:
            break
        out = candidate
    if out:
        return out
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:-–")
    return cut + " …"


_SENTENCE_GOES_ON = re.compile(r"\s*(?:[,;:]|[–—-](?=\s)|(?=\())")
_SENTENCE_ENDED = re.compile(r"[.!?…]+[\"'“”»«)\]]*(?=\s|$)")


def _end_of_prefix(body: str, head: str) -> int | None:
    """Where `head` ends in `body` when the body begins with it (spaces and line breaks may
    differ), else None."""
    at = 0
    for ch in head:
        if ch.isspace():
            continue
        while at < len(body) and body[at].isspace():
            at += 1
        if at >= len(body) or body[at] != ch:
            return None
        at += 1
    return at


def summary_after_title(title: str, body: str) -> str:
    """The body without the title it begins with (a title made from its first sentence or
    clause, or a feed's lead repeated as its title), so that a post does not say it twice:
    after a whole sentence the next one; after a clause or a cut title the rest of the
    sentence, marked with an ellipsis. A title that is only the body's first words (a name)
    leaves the body as it is."""
    head = title.removesuffix("…").rstrip()
    end = _end_of_prefix(body, head) if head else None
    if end is None:
        return body
    rest = body[end:]
    ended = _SENTENCE_ENDED.match(rest)
    if ended is not None:
        after = rest[ended.end() :].strip()
        return after or body
    goes_on = _SENTENCE_GOES_ON.match(rest)
    if goes_on is not None or title.endswith("…"):
        after = rest[goes_on.end() if goes_on is not None else 0 :].strip()
        return f"… {after}" if after else body
    return body


def original_summary(article: Article, summary_chars: int = 600) -> str:
    """The summary a post shows of the article's own text: the feed's, never a page's full
    text (a --fulltext source keeps that as the body, for search and /ask)."""
    return summarize(summary_after_title(article.title, article.post_text), summary_chars)


@dataclass(frozen=True, slots=True)
class ShownText:
    """The title and summary a post shows, and the original's language when they are a
    machine translation."""

    title: str
    summary: str
    translated_from: str | None = None


def wants_translation(article: Article, language: str, translate: bool) -> bool:
    """Whether a chat of `language` with translation `translate` should see this article
    translated."""
    return translate and not article.removed and article.language != language


def shown_text(
    article: Article,
    language: str,
    translate: bool,
    translation: Translation | None,
    summary_chars: int = 600,
) -> ShownText:
    """What a post of the article shows in a chat of `language`: the stored translation when
    the chat wants one and there is one, else the original (a translation that failed or is
    not there yet never holds a post back)."""
    if translation is not None and wants_translation(article, language, translate):
        return ShownText(translation.title, translation.summary, article.language)
    return ShownText(article.title, original_summary(article, summary_chars))


def language_name(code: str) -> str:
    """A language's name in the current language ("Englisch" in German)."""
    try:
        return str(Locale.parse(current_language.get()).languages.get(code, code))
    except (UnknownLocaleError, ValueError):
        return code


def shown_poll(poll: Poll, polls: Mapping[str, PollDefaults]) -> Poll:
    """The poll as the current language shows it. A stored option is its position: its label
    is the one the settings give that position in this language, so an English chat reads
    "Good" where a German one reads "Gut". A default question is translated the same way; an
    article's own question stays as written."""
    defaults = polls.get(current_language.get())
    if defaults is None:
        return poll
    asked_by_default = poll.question in {d.question for d in polls.values()}
    return dataclasses.replace(
        poll,
        question=defaults.question if asked_by_default else poll.question,
        options=tuple(
            dataclasses.replace(o, label=option_label(o.position, o.label, defaults))
            for o in poll.options
        ),
    )


def option_label(position: int, stored: str, defaults: PollDefaults) -> str:
    """The label of option `position` (1 = best) in the language of `defaults`."""
    return defaults.options[position - 1] if 1 <= position <= len(defaults.options) else stored


def button_label(label: str, votes: int) -> str:
    return f"{label} · {votes}"


def poll_buttons(poll: Poll) -> tuple[tuple[Button, ...], ...]:
    if poll.closed:
        return ()
    return tuple(
        (
            Button(
                label=button_label(o.label, o.votes),
                action="vote",
                params=(str(poll.article_id), str(o.position)),
                text_twin=f"/vote {poll.article_id} {o.position}",
            ),
        )
        for o in poll.options
    )


def article_post(
    article: Article,
    poll: Poll | None,
    *,
    summary_chars: int = 600,
    polls: Mapping[str, PollDefaults] | None = None,
    look: PostLook = DEFAULT_LOOK,
    shown: ShownText | None = None,
) -> Reply:
    """An article as a post in a chat's look (handlers/post_compose.py): title, summary,
    hashtags, link and date, #N, the poll (in the current language when `polls`, the
    configured defaults, are given), and its lead image where the chat shows images.
    `shown`: the title and summary to show (a translation, see `shown_text`), else the
    article's own."""
    version = poll.version if poll else None
    if poll is not None and polls:
        poll = shown_poll(poll, polls)
    if article.removed:
        return Reply(
            text=Rich.of(italic(t("post.removed"))),
            article_id=article.id,
            poll_version=version,
            language=current_language.get(),
        )
    shown = shown or ShownText(article.title, original_summary(article, summary_chars))
    note = None
    if shown.translated_from is not None:
        note = t("post.translated", language=language_name(shown.translated_from))
    fields = post_fields(article, shown.summary, title=shown.title, translated=note)
    post = compose(fields, poll, look)
    return Reply(
        text=post.text,
        buttons=poll_buttons(poll) if poll else (),
        article_id=article.id,
        poll_version=version,
        card=post.card,
        language=current_language.get(),
        image=post.image,
    )


def bar(count: int, total: int, width: int = 10) -> str:
    filled = round(width * count / total) if total else 0
    return "█" * filled + "░" * (width - filled)


def bars_table(poll: Poll) -> str:
    """One row per option, its label, score, bar, votes and share in columns that line up
    in a fixed-width font."""
    total = poll.total
    label_width = max((len(o.label) for o in poll.options), default=0)
    votes_width = max((len(str(o.votes)) for o in poll.options), default=1)
    rows = []
    for o in poll.options:
        share = f"{round(100 * o.votes / total)} %" if total else "0 %"
        rows.append(
            f"{o.position}. {o.label:<{label_width}} ({o.score}) {bar(o.votes, total)}"
            f" {o.votes:>{votes_width}} · {share:>5}"
        )
    return "\n".join(rows)


def results_text(
    article: Article, poll: Poll, polls: Mapping[str, PollDefaults] | None = None
) -> Rich:
    if polls:
        poll = shown_poll(poll, polls)
    lines = [Rich.of(bold(t("results.header", id=article.id, title=article.title)))]
    lines.append(Rich.of(italic(poll.question)))
    total = poll.total
    lines.append(Rich.of(pre(bars_table(poll))))
    lines.append(Rich.of(t("results.total", total=total)))
    if poll.mean is not None:
        lines.append(Rich.of(t("results.mean", mean=format_number(poll.mean))))
    else:
        lines.append(Rich.of(t("results.no_votes")))
    if poll.closed:
        lines.append(Rich.of(italic(t("results.closed"))))
    return Rich.join(lines)


def article_line(article: Article) -> Rich:
    tags = " ".join(hashtag(tg) for tg in article.tags)
    return Rich.of(
        bold(f"#{article.id}"), Span(" "), Span(article.title), Span(f"  {tags}" if tags else "")
    )
