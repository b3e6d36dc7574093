"""`newsbot feeds`: add, list, remove and fetch the sources the scheduler polls; import and
export them as OPML."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE, record_ids

# Imported when a command runs, as in bot/cli.py: `newsbot --help` loads none of this.
if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.models import Feed
    from storage.store import Store

FeedsAction = Callable[["Settings", "Store", argparse.Namespace, TextIO], int]


def cmd_feeds(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """Run `newsbot feeds ACTION`; argparse has already refused any other action."""
    actions: dict[str, FeedsAction] = {
        "add": feeds_add,
        "list": feeds_list,
        "remove": feeds_remove,
        "fetch": feeds_fetch,
        "import": feeds_import,
        "export": feeds_export,
    }
    return actions[args.feeds_command](settings, store, args, out)


def feeds_add(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from handlers.feeds import fulltext_installed
    from handlers.i18n import t
    from storage.tags import clean_tags, split_tag_line

    source = source_location(args.location.strip(), out)
    if source is None:
        return EXIT_USAGE
    location, kind = source
    fulltext = bool(getattr(args, "fulltext", False))
    if fulltext and not fulltext_installed():
        out.write(t("feeds.fulltext_missing") + "\n")
        return EXIT_FAIL
    added = store.add_feed(
        location,
        kind,
        interval_seconds=args.interval or settings.source_interval,
        # Any form a tag is shown in (#E_Autos, "e-autos") names the known tag.
        tags=[store.known_tag(tag) or tag for tag in clean_tags(split_tag_line(args.tags))],
        fulltext=fulltext,
    )
    key = "cli.feeds.added" if added.created else "cli.feeds.exists"
    out.write(t(key, id=added.feed.id, location=added.feed.location) + "\n")
    return EXIT_OK


# Why a file cannot be read, in the CLI's language (the system's own text is English).
_READ_PROBLEMS = {
    FileNotFoundError: "cli.read.missing",
    IsADirectoryError: "cli.read.folder",
    PermissionError: "cli.read.denied",
}


def read_problem(err: OSError) -> str:
    from handlers.i18n import t

    key = next((k for kind, k in _READ_PROBLEMS.items() if isinstance(err, kind)), None)
    return t(key) if key else str(err.strerror or err)


def feeds_import(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """One line per entry of the file and the counts; a file that cannot be read or is
    refused as a whole is one line and exit 1."""
    from handlers.events import UserError
    from handlers.feeds_import import import_lines, import_opml
    from handlers.i18n import t
    from handlers.opml import MAX_OPML_BYTES

    try:
        with args.file.open("rb") as file:
            # One byte more than allowed is enough to know the file is too large.
            data = file.read(MAX_OPML_BYTES + 1)
    except OSError as err:
        out.write(t("cli.opml.cannot_read", path=args.file, error=read_problem(err)) + "\n")
        return EXIT_FAIL
    try:
        done = import_opml(store, data, args.interval or settings.source_interval)
    except UserError as err:
        out.write(t(err.key, **err.params) + "\n")
        return EXIT_FAIL
    out.write("\n".join(import_lines(done)) + "\n")
    return EXIT_OK


def feeds_export(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from handlers.feeds_import import export_opml

    out.write(export_opml(store))
    return EXIT_OK


def source_location(location: str, out: TextIO) -> tuple[str, str] | None:
    """The source as it is stored (a feed URL, or an existing file or folder as an absolute
    path) and its kind; None, with one line on out, when it is neither."""
    from handlers.feeds import feed_url_problem
    from handlers.i18n import t

    if "://" in location:
        problem = feed_url_problem(location)
        if problem is not None:
            out.write(t(problem, url=location) + "\n")
            return None
        return location, "url"
    path = Path(location).expanduser().resolve()
    if not path.exists():
        out.write(t("cli.feeds.not_found", location=location) + "\n")
        return None
    return str(path), "path"


FEED_COLUMNS = (
    "id", "state", "kind", "location", "tags", "interval", "last_ok", "next", "failures", "error",
    "fulltext",
)  # fmt: skip


def feed_row(feed: Feed) -> dict[str, object]:
    def when(moment: datetime | None) -> str | None:
        return moment.isoformat(timespec="seconds") if moment else None

    return {
        "id": feed.id,
        "state": feed.state,
        "kind": feed.kind,
        "location": feed.location,
        "tags": list(feed.tags),
        "interval": feed.interval_seconds,
        "last_ok": when(feed.last_success),
        "next": when(feed.next_fetch),
        "failures": feed.failures,
        "error": feed.last_error,
        "fulltext": feed.fulltext,
    }


def feeds_list(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """One row per source under a header of tab-separated columns, or a JSON list."""
    from handlers.i18n import t

    rows = [feed_row(feed) for feed in store.feeds()]
    if args.format == "json":
        import json

        json.dump(rows, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return EXIT_OK
    if not rows:
        out.write(t("cli.feeds.none") + "\n")
        return EXIT_OK
    out.write("\t".join(FEED_COLUMNS) + "\n")
    for row in rows:
        cells = [row[column] for column in FEED_COLUMNS]
        shown = [
            ",".join(cell) if isinstance(cell, list) else "-" if cell in (None, "", []) else cell
            for cell in cells
        ]
        out.write("\t".join(str(cell) or "-" for cell in shown) + "\n")
    return EXIT_OK


def feeds_remove(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from handlers.i18n import t

    found = record_ids([args.id])
    if found is None:
        return EXIT_USAGE
    feed_id = found[0]
    removed = store.remove_feed(feed_id)
    if removed is None:
        out.write(t("cli.feeds.unknown", id=feed_id) + "\n")
        return EXIT_FAIL
    out.write(t("cli.feeds.removed", id=removed.id, location=removed.location) + "\n")
    return EXIT_OK


def feeds_fetch(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    ids = record_ids(args.ids)
    if ids is None:
        return EXIT_USAGE
    return asyncio.run(fetch_now(settings, store, ids, out))


async def fetch_now(settings: Settings, store: Store, ids: list[int], out: TextIO) -> int:
    """Fetch the given sources, or the due ones, once, with a progress bar on a terminal; then
    the report (bot.cli_fetch_report). A feed that fails is a result, not an error of the
    command: exit 0 unless a source does not exist."""
    from bot.cli_fetch_report import print_fetch_report
    from bot.cli_progress import progress
    from bot.sources import SourcePoller
    from handlers.i18n import t

    feeds = []
    for feed_id in ids:
        feed = store.get_feed(feed_id)
        if feed is None:
            out.write(t("cli.feeds.unknown", id=feed_id) + "\n")
            return EXIT_USAGE
        feeds.append(feed)
    if not ids:
        feeds = store.due_feeds()
        if not feeds:
            out.write(t("cli.feeds.fetch_none") + "\n")
            return EXIT_OK
    poller = SourcePoller.from_settings(store, settings.core_config(), settings)
    with progress(len(feeds), t("cli.feeds.fetching")) as bar:
        outcomes = await poller.fetch_all(feeds, on_done=lambda _: bar.update())
    print_fetch_report(outcomes, out)
    return EXIT_OK
