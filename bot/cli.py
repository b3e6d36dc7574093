"""The `newsbot` command line: run, chat, ingest, feeds, export, db."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

# Only what parsing the arguments needs is imported here: `newsbot --help` must not load the
# whole program (platform libraries, feeds, the scheduler, pydantic). Each command imports
# what it uses when it runs.
if TYPE_CHECKING:
    from bot.ingest import IngestReport
    from bot.settings import Settings
    from storage.faults import StorageError
    from storage.store import Store

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# Ids are SQLite integers, signed 64-bit: a larger number cannot name anything, and handed to
# SQLite it raised OverflowError.
MAX_RECORD_ID = 2**63 - 1


def record_id(text: str) -> int | None:
    """A source or article number as typed, or None when it is not one."""
    value = text.strip().lstrip("#")
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_RECORD_ID)):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_RECORD_ID else None


def record_ids(texts: Sequence[str]) -> list[int] | None:
    """Source or article numbers as typed; None, with one line on stderr for each argument
    that is not one, when any is not."""
    from handlers.i18n import t

    ids = [record_id(text) for text in texts]
    for text, number in zip(texts, ids, strict=True):
        if number is None:
            sys.stderr.write(t("cli.bad_number", value=text[:40], max=MAX_RECORD_ID) + "\n")
    return None if None in ids else [number for number in ids if number is not None]


def parse_interval(text: str) -> int:
    """'90', '90s', '15m', '2h', '1d' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    factor = units.get(value[-1:], 0)
    number = value[:-1] if factor else value
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h)")
    seconds = int(number) * (factor or 1)
    if not 5 <= seconds <= 7 * 86400:
        raise argparse.ArgumentTypeError("a duration between 5 s and 7 days")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="A news discussion bot for Telegram, Discord and the terminal, with style "
        "polls, from one SQLite file. Settings come from NEWSBOT_* variables or newsbot.toml.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run",
        help="every platform that has a token, plus the scheduler; "
        "the terminal chat when no token is set",
    )
    chat = sub.add_parser("chat", help="the terminal chat")
    chat.add_argument("--user", help="act as this person (default: the local owner)")
    ingest = sub.add_parser("ingest", help="store articles from files or folders")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    feeds = sub.add_parser("feeds", help="sources the scheduler polls")
    fsub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    add = fsub.add_parser("add", help="add a feed URL (http/https), or a file or folder")
    add.add_argument("location", metavar="URL|PATH")
    add.add_argument(
        "--tags", default="", help="tags added to every article, separated by commas or ' + '"
    )
    add.add_argument("--interval", type=parse_interval, default=None, help="e.g. 15m")
    fsub.add_parser("list", help="list sources and their state")
    remove = fsub.add_parser("remove", help="remove a source")
    # Numbers are checked by the commands, so that a wrong one is one line in the person's
    # language (argparse would answer with a usage block in English).
    remove.add_argument("id", metavar="N")
    fetch = fsub.add_parser(
        "fetch", help="fetch the due sources (or the given ones) now, once, and say how it went"
    )
    fetch.add_argument("ids", nargs="*", metavar="N")

    export = sub.add_parser("export", help="export data for analysis")
    esub = export.add_subparsers(dest="export_command", required=True, metavar="WHAT")
    results = esub.add_parser("results", help="poll results per article and option")
    results.add_argument("--article", default=None, metavar="N")
    results.add_argument("--format", choices=["csv", "json"], default="csv")
    audit = esub.add_parser("audit", help="the audit log, oldest first")
    audit.add_argument("--format", choices=["csv", "json"], default="csv")

    from bot.cli_db import add_db_parser

    add_db_parser(sub)
    return parser


def configure_logging(settings: Settings) -> None:
    from bot.log_privacy import ContentSizeFilter

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs request URLs, and the Telegram token is part of the URL.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # At DEBUG the platform libraries would log what people write; only its size is shown.
    for handler in logging.root.handlers:
        handler.addFilter(ContentSizeFilter())


def print_report(report: IngestReport, out: TextIO) -> None:
    from handlers.i18n import t
    from storage.tags import MAX_TAGS_PER_ARTICLE

    for name, reason in report.rejected:
        if reason == "missing":
            out.write(t("cli.ingest.missing", name=name) + "\n")
        else:
            out.write(t("cli.ingest.rejected", name=name, reason=t(f"input.{reason}")) + "\n")
    if report.tags_dropped:
        out.write(
            t("cli.ingest.tags_dropped", count=report.tags_dropped, limit=MAX_TAGS_PER_ARTICLE)
            + "\n"
        )
    summary = t(
        "cli.ingest.summary",
        new=len(report.new),
        duplicates=report.duplicates,
        rejected=len(report.rejected),
    )
    out.write(summary + "\n")


def cmd_ingest(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from bot.ingest import IngestReport, ingest_path

    report = IngestReport()
    config = settings.core_config()
    for path in args.paths:
        report.merge(ingest_path(store, config, path))
    print_report(report, out)
    return EXIT_OK if not report.rejected or report.new or report.duplicates else EXIT_FAIL


def cmd_export_results(store: Store, article: int | None, fmt: str, out: TextIO) -> int:
    from handlers.i18n import t

    rows: list[dict[str, object]] = []
    for exported in store.polls_for_export(article):
        art, poll = exported.article, exported.poll
        for option in poll.options:
            rows.append(
                {
                    "article": art.id,
                    "title": art.title,
                    "question": poll.question,
                    "option": option.position,
                    "label": option.label,
                    "score": option.score,
                    "votes": option.votes,
                    "total": poll.total,
                    "mean": round(poll.mean, 4) if poll.mean is not None else None,
                }
            )
    fields = ["article", "title", "question", "option", "label", "score", "votes", "total", "mean"]
    write_rows(rows, fields, fmt, out)
    if article is not None and not rows:
        sys.stderr.write(t("error.no_article", id=article) + "\n")
        return EXIT_FAIL
    return EXIT_OK


def write_rows(rows: list[dict[str, object]], fields: list[str], fmt: str, out: TextIO) -> None:
    import csv
    import json

    if fmt == "json":
        json.dump(rows, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


def cmd_export_audit(store: Store, fmt: str, out: TextIO) -> int:
    from storage.moderation import Moderation

    entries = Moderation(store).audit_entries(limit=-1)
    fields = ["id", "at", "platform", "chat_id", "actor", "action", "target", "reason", "outcome"]
    rows = [
        {**{f: getattr(e, f) for f in fields}, "at": e.at.isoformat()} for e in reversed(entries)
    ]
    write_rows(rows, fields, fmt, out)
    return EXIT_OK


def cmd_db(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from bot import cli_db

    return cli_db.cmd_db(settings, args, out)


def storage_line(err: StorageError, settings: Settings) -> str:
    """One line, in the configured language, for a database that cannot be used."""
    from handlers.i18n import t

    params = {"path": settings.store.display, "db_version": "?", "code_version": "?", **err.params}
    return t(f"storage.{err.fault.value}", **params)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.settings import SettingsError, load_settings
    from handlers.i18n import current_language, t
    from storage.faults import WRONG_SETTING, storage_fault

    try:
        settings = load_settings()
    except SettingsError as err:
        sys.stderr.write(t("cli.settings_error", None, detail=str(err)) + "\n")
        return EXIT_USAGE
    configure_logging(settings)
    current_language.set(settings.language)
    try:
        return run_command(settings, args, parser)
    except Exception as err:
        fault = storage_fault(err)
        if fault is None:
            raise
        # What the database said, for whoever reads the log; the person gets one line.
        log.info("storage fault: %s", fault)
        sys.stderr.write(storage_line(fault, settings) + "\n")
        # A server that is not there, or refuses the URL's user, password or database name,
        # means NEWSBOT_DB is wrong: a setting, like a wrong token.
        return EXIT_USAGE if fault.fault in WRONG_SETTING else EXIT_FAIL


def run_command(
    settings: Settings, args: argparse.Namespace, parser: argparse.ArgumentParser
) -> int:
    out = sys.stdout
    without_store: dict[str, Callable[[Settings, argparse.Namespace, TextIO], int]] = {
        "run": cmd_run,
        "chat": cmd_chat,
        "db": cmd_db,
    }
    with_store: dict[str, Callable[[Settings, Store, argparse.Namespace, TextIO], int]] = {
        "ingest": cmd_ingest,
        "feeds": cmd_feeds,
        "export": cmd_export,
    }
    if args.command in without_store:
        return without_store[args.command](settings, args, out)
    if args.command not in with_store:
        parser.error("unknown command")
    from bot.app import open_store

    reads_only = args.command == "export" or (
        args.command == "feeds" and args.feeds_command == "list"
    )
    store = open_store(settings, read_only_ok=reads_only)
    try:
        return with_store[args.command](settings, store, args, out)
    finally:
        store.close()


def cmd_run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Every platform that has a token; the terminal chat when none has."""
    import asyncio

    from bot.app import run_console, run_platforms

    if settings.telegram_token or settings.discord_token:
        return asyncio.run(run_platforms(settings))
    return asyncio.run(run_console(settings))


def cmd_chat(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from bot.app import run_console
    from handlers.i18n import t
    from handlers.registry import clean_name

    # Cleaned as every name is: a `--user` with an invisible character would otherwise be
    # a second person that `/ban @name` cannot reach.
    user = None if args.user is None else clean_name(args.user)
    if user == "":
        sys.stderr.write(t("cli.bad_user") + "\n")
        return EXIT_USAGE
    return asyncio.run(run_console(settings, user))


def cmd_feeds(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from bot import cli_feeds

    return cli_feeds.cmd_feeds(settings, store, args, out)


def cmd_export(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    if args.export_command == "audit":
        return cmd_export_audit(store, args.format, out)
    found = [] if args.article is None else record_ids([args.article])
    if found is None:
        return EXIT_USAGE
    return cmd_export_results(store, found[0] if found else None, args.format, out)
