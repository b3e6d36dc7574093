"""Feeds from an OPML file (`newsbot feeds import`, or a file sent with `/feeds import`), each
added, skipped or refused by the rules of /feeds add; and the known feeds as OPML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError
from handlers.feed_adding import add_feed_url
from handlers.i18n import t
from handlers.opml import MAX_OPML_BYTES, read_opml, write_opml
from handlers.permissions import audit
from storage.store import Store
from storage.tags import clean_tags, fit_tag

Outcome = Literal["added", "skipped", "refused"]
SHOWN_IN_A_CHAT = 40  # entries listed in a chat's answer; the counts cover all of them


@dataclass(frozen=True, slots=True)
class ImportedFeed:
    """What became of one entry of the file: `why` says it for a skipped or refused one."""

    url: str
    outcome: Outcome
    feed_id: int | None = None
    tags: tuple[str, ...] = ()
    why: str = ""


def import_opml(store: Store, data: bytes, interval: int) -> list[ImportedFeed]:
    """Add the feeds of an OPML file, its folders' titles as their tags; a hostile or empty
    file is refused as a whole (UserError)."""
    entries = read_opml(data)
    if not entries:
        raise UserError("opml.empty")
    done: list[ImportedFeed] = []
    for entry in entries:
        # Any form a tag is shown in names the known tag, as `newsbot feeds add --tags`.
        tags = [store.known_tag(tag) or tag for tag in clean_tags(map(fit_tag, entry.folders))]
        try:
            added = add_feed_url(store, entry.url, tags, interval)
        except UserError as err:
            done.append(ImportedFeed(entry.url, "refused", why=t(err.key, **err.params)))
            continue
        feed = added.feed
        if added.created:
            done.append(ImportedFeed(entry.url, "added", feed.id, feed.tags))
        else:
            why = t("opml.known", id=feed.id)
            done.append(ImportedFeed(entry.url, "skipped", feed.id, feed.tags, why))
    return done


def import_lines(done: list[ImportedFeed], shown: int | None = None) -> list[str]:
    """One line per entry (the first `shown` of them), then the counts."""
    lines = [_line(item) for item in done[:shown]]
    if shown is not None and len(done) > shown:
        lines.append(t("opml.more", count=len(done) - shown))
    counts = {kind: sum(item.outcome == kind for item in done) for kind in _KINDS}
    lines.append(t("opml.summary", **counts))
    return lines


_KINDS: tuple[Outcome, ...] = ("added", "skipped", "refused")


def _line(item: ImportedFeed) -> str:
    if item.outcome == "added":
        tags = ", ".join(item.tags) or "–"
        return t("opml.line.added", id=item.feed_id, url=item.url, tags=tags)
    return t(f"opml.line.{item.outcome}", url=item.url, why=item.why)


def export_opml(store: Store) -> str:
    """The feed URLs the scheduler polls (files and folders are this machine's own), as OPML."""
    feeds = [(feed.location, feed.tags) for feed in store.feeds() if feed.kind == "url"]
    return write_opml(feeds, t("opml.title"))


def import_reply(ctx: Ctx, cmd: Command) -> Reply:
    """/feeds import with an OPML file attached (a bot admin's: cmd_feeds checked it)."""
    file = cmd.attachment
    if file is None:
        raise UserError("feeds.import_needs_file")
    if file.size > MAX_OPML_BYTES:
        raise UserError("opml.too_large", limit=MAX_OPML_BYTES // 1000)
    if file.data is None:
        raise UserError("feeds.import_unreadable")
    done = import_opml(ctx.store, file.data, ctx.config.source_interval)
    added = sum(item.outcome == "added" for item in done)
    if added:
        audit(ctx, cmd, "feeds.import", target=f"{added} feeds", reason=file.name[:100])
    # Feed addresses can carry access keys: shown to the admin only where the platform can.
    return Reply(text=Rich.of("\n".join(import_lines(done, SHOWN_IN_A_CHAT))), private=True)
