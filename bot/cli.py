"""The `newsbot` command line: run, chat, ingest, feeds, export, db."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

# Only what parsing the arguments needs is imported here: `newsbot --help` must not load the
# whole program (platform libraries, feeds, the scheduler, pydantic). Each command imports
# what it uses when it runs.
if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.faults import StorageError
    from storage.store import Store

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a command stopped by SIGINT
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
        if settings.log_format.lower() == "json":
            from bot.log_format import JsonFormatter

            handler.setFormatter(JsonFormatter())


def cmd_ingest(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from bot import cli_ingest

    return cli_ingest.cmd_ingest(settings, store, args, out)


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
    from bot.cli_parser import build_parser, cli_language, help_for_missing_action
    from handlers.i18n import current_language

    current_language.set(cli_language())
    parser = build_parser()
    args = parser.parse_args(argv)
    if help_for_missing_action(parser, args):
        return EXIT_OK
    try:
        return configured_run(args, parser)
    except BrokenPipeError:
        # The reader went away (`newsbot export results | head -3`): what it read is what it
        # wanted. Python would report the pipe again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def configured_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The command, with the settings read; every failure one line in the CLI's language."""
    from bot.settings import SettingsError, load_settings
    from handlers.i18n import current_language, t
    from storage.faults import WRONG_SETTING, storage_fault

    try:
        settings = load_settings()
    except SettingsError as err:
        sys.stderr.write(t("cli.settings_error", detail=str(err)) + "\n")
        return EXIT_USAGE
    configure_logging(settings)
    if "language" in settings.model_fields_set:
        current_language.set(settings.language)
    try:
        return run_command(settings, args, parser)
    except Exception as err:
        fault = storage_fault(err)
        if fault is None:
            if isinstance(err, BrokenPipeError):
                raise
            # A bug: its traceback is in the log at DEBUG, the person gets one line.
            log.debug("newsbot %s failed", args.command, exc_info=True)
            sys.stderr.write(t("cli.unexpected", error=type(err).__name__) + "\n")
            return EXIT_FAIL
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
        "report": cmd_report,
    }
    if args.command in without_store:
        return without_store[args.command](settings, args, out)
    from bot.app import open_store

    reads_only = args.command in {"export", "report"} or (
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


def cmd_report(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    from bot import cli_report

    return cli_report.cmd_report(settings, store, args, out)


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
