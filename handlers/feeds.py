"""Feed sources managed from any chat by bot admins: /feeds add, list, remove, pause, resume."""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit

from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, Span, UserError, bold, code
from handlers.feed_adding import add_feed_url
from handlers.feed_adding import feed_url_problem as feed_url_problem  # for bot.cli_feeds
from handlers.feeds_import import import_reply
from handlers.i18n import format_date, t
from handlers.permissions import BOT_ADMIN, audit, require
from handlers.registry import Param, command, parse_id, split_tags
from storage.models import Feed

ACTIONS = ("list", "add", "remove", "pause", "resume", "import")
# What a failed fetch can end in (bot.feed_fetch reasons), each with a message feeds.reason.*;
# parse rejections reuse the input.* messages.
FETCH_REASONS = frozenset(
    {
        "scheme", "bad_url", "private_address", "too_large", "too_many_redirects", "dns",
        "timeout", "network", "connect", "encoding", "http_status", "bad_redirect",
    }
)  # fmt: skip
INPUT_REASONS = frozenset(
    {
        "empty", "binary", "doctype", "too_deep", "not_a_feed", "no_articles", "bad_encoding",
        "missing", "bad_json", "json_shape",
    }
)  # fmt: skip


def describe_failure(reason: str, detail: str = "") -> str:
    """A fetch or parse failure in the current language, with the technical detail."""
    if reason in FETCH_REASONS:
        label = t(f"feeds.reason.{reason}")
    elif reason in INPUT_REASONS:
        label = t(f"input.{reason}")
    else:
        label = reason
    return f"{label} ({detail})" if detail and detail != label else label


def describe_error(last_error: str) -> str:
    """A stored last error ("reason: detail") for people."""
    reason, _, detail = last_error.partition(": ")
    return describe_failure(reason, detail)


FULLTEXT_WORD = "fulltext"  # `/feeds add URL TAGS fulltext`


def fulltext_installed() -> bool:
    """Whether the fulltext extra (trafilatura) is installed, so that a source may ask for it."""
    return importlib.util.find_spec("trafilatura") is not None


def interval_text(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def feed_lines(feed: Feed) -> list[Rich]:
    never = t("feeds.never")
    lines = [
        Rich.of(
            bold(f"#{feed.id}"),
            Span(f" · {t('feeds.state.' + feed.state)} · "),
            code(feed.location),
            Span(t("feeds.fulltext_marker") if feed.fulltext else ""),
        ),
        Rich.of(
            "   "
            + t(
                "feeds.details",
                tags=", ".join(feed.tags) or "–",
                interval=interval_text(feed.interval_seconds),
            )
        ),
        Rich.of(
            "   "
            + t(
                "feeds.times",
                last=format_date(feed.last_success) if feed.last_success else never,
                next=format_date(feed.next_fetch)
                if feed.next_fetch and feed.state == "active"
                else "–",
            )
        ),
    ]
    if feed.last_error:
        lines.append(
            Rich.of(
                "   "
                + t("feeds.error", failures=feed.failures, error=describe_error(feed.last_error))
            )
        )
    return lines


def list_reply(ctx: Ctx) -> Reply:
    feeds = ctx.store.feeds()
    if not feeds:
        return Reply(text=Rich.of(t("feeds.none")), private=True)
    lines = [Rich.of(bold(t("feeds.header", count=len(feeds))))]
    for feed in feeds:
        lines += [Rich.of(""), *feed_lines(feed)]
    # Feed addresses can carry access keys: shown to the admin only where the platform can.
    return Reply(text=Rich.join(lines), private=True)


def require_feed(ctx: Ctx, args: tuple[str, ...]) -> Feed:
    if len(args) != 1:
        raise UserError("feeds.usage")
    feed_id = parse_id(args[0], not_an_id="feeds.bad_id")
    feed = ctx.store.get_feed(feed_id)
    if feed is None:
        raise UserError("feeds.unknown", id=feed_id)
    return feed


def add_feed(ctx: Ctx, cmd: Command, args: tuple[str, ...]) -> Reply:
    if not args:
        raise UserError("feeds.usage")
    location = args[0]
    fulltext = len(args) > 1 and args[-1].lower() == FULLTEXT_WORD
    if fulltext:
        args = args[:-1]
        if not fulltext_installed():
            raise UserError("feeds.fulltext_missing")
    tags = split_tags(ctx, args[1:]) if len(args) > 1 else []
    added = add_feed_url(ctx.store, location, tags, ctx.config.source_interval, fulltext=fulltext)
    feed = added.feed
    if not added.created:
        return Reply(text=Rich.of(t("feeds.exists", id=feed.id, location=feed.location)))
    # The host only: a feed address can carry an access key, and the log is kept for long.
    audit(ctx, cmd, "feeds.add", target=f"feed:{feed.id}", reason=urlsplit(location).hostname)
    return Reply(text=Rich.of(t("feeds.added", id=feed.id, location=feed.location)))


@command(
    "feeds",
    Param("action", "text", required=False),
    Param("args", "words", required=False),
    who=BOT_ADMIN,
    takes_file=True,
)
def cmd_feeds(ctx: Ctx, cmd: Command) -> list[Reply]:
    require(ctx, cmd, BOT_ADMIN)
    action = cmd.args[0].lower() if cmd.args else "list"
    args = cmd.args[1:]
    if action not in ACTIONS:
        raise UserError("feeds.usage")
    if action == "list":
        return [list_reply(ctx)]
    if action == "add":
        return [add_feed(ctx, cmd, args)]
    if action == "import":
        return [import_reply(ctx, cmd)]
    feed = require_feed(ctx, args)
    target = f"feed:{feed.id}"
    if action == "remove":
        ctx.store.remove_feed(feed.id)
        audit(ctx, cmd, "feeds.remove", target=target)
        return [Reply(text=Rich.of(t("feeds.removed", id=feed.id, location=feed.location)))]
    state = "paused" if action == "pause" else "active"
    ctx.store.set_feed_state(feed.id, state)
    audit(ctx, cmd, f"feeds.{action}", target=target)
    done = t("feeds.paused", id=feed.id) if state == "paused" else t("feeds.resumed", id=feed.id)
    return [Reply(text=Rich.of(done))]
