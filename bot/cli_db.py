"""`newsbot db`: migrate, backup, stats, and copy a whole store between SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, TextIO

from bot.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE

# Imported when a command runs, as in bot/cli.py: `newsbot --help` loads none of this.
if TYPE_CHECKING:
    from bot.cli_parser import Commands
    from bot.cli_progress import Progress
    from bot.settings import Settings

log = logging.getLogger(__name__)


def add_db_parser(sub: Commands) -> None:
    from bot.cli_parser import command_parser
    from handlers.i18n import t

    db = command_parser(sub, "db", "db")
    dsub = db.add_subparsers(dest="db_command", metavar=t("cli.help.action_metavar"))
    command_parser(dsub, "migrate", "db.migrate")
    backup = command_parser(dsub, "backup", "db.backup")
    backup.add_argument("path", metavar=t("cli.help.file_metavar"), help=t("cli.help.backup_file"))
    backup.add_argument("--force", action="store_true", help=t("cli.help.db.force"))
    command_parser(dsub, "stats", "db.stats")
    copy = command_parser(dsub, "copy", "db.copy")
    copy.add_argument("source", metavar="SOURCE", help=t("cli.help.copy_source"))
    copy.add_argument("target", metavar="TARGET", help=t("cli.help.copy_target"))


def cmd_db(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Run `newsbot db ACTION`; argparse has already refused any other action."""
    if args.db_command == "migrate":
        return db_migrate(settings, out)
    if args.db_command == "copy":
        return db_copy(args.source, args.target, out)
    if args.db_command == "backup" and settings.store.is_postgres:
        from handlers.i18n import t

        # SQLite's backup API has no PostgreSQL counterpart inside newsbot: pg_dump is the
        # server's own tool, and `db copy` makes a SQLite file of the whole store.
        sys.stderr.write(t("cli.db.backup_postgres", url=settings.store.display) + "\n")
        return EXIT_USAGE
    return db_read(settings, args, out)


def db_migrate(settings: Settings, out: TextIO) -> int:
    from handlers.i18n import t
    from storage.connection import writable
    from storage.faults import Fault, StorageError
    from storage.store import Store

    location = settings.store
    if not location.is_postgres and not writable(location.path):
        raise StorageError(Fault.READ_ONLY, path=location.display)
    store = Store(location, synchronous=settings.db_synchronous)
    try:
        applied = store.migrate()
    finally:
        store.close()
    out.write(t("cli.db.migrated", path=location.display, count=len(applied)) + "\n")
    return EXIT_OK


def db_read(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Backups and counts only read: they work on a database that cannot be written."""
    from bot.app import open_store
    from handlers.i18n import t
    from storage.faults import StorageError

    if args.db_command == "backup":
        refusal = backup_refusal(args.path, force=args.force)
        if refusal is not None:
            sys.stderr.write(refusal + "\n")
            return EXIT_USAGE
    store = open_store(settings, read_only_ok=True)
    try:
        if args.db_command == "backup":
            try:
                store.backup(args.path)
            except StorageError as err:
                sys.stderr.write(t("cli.db.backup_failed", path=args.path) + "\n")
                log.info("backup to %s failed: %s", args.path, err)
                return EXIT_FAIL
            out.write(t("cli.db.backup", path=args.path) + "\n")
        else:
            stats = store.stats()
            for name in stats.__dataclass_fields__:
                if name != "extra":
                    out.write(f"{name}\t{getattr(stats, name)}\n")
    finally:
        store.close()
    return EXIT_OK


def backup_refusal(target: str, *, force: bool) -> str | None:
    """Why the backup may not be written to `target` as given, in one line; None when it
    may. A missing folder is made, and an existing file replaced, only with --force."""
    from pathlib import Path

    from handlers.i18n import t

    if not target.strip():
        return t("cli.db.backup_no_path")
    path = Path(target)
    if path.is_dir():
        return t("cli.db.backup_is_folder", path=target)
    if path.exists() and not force:
        return t("cli.db.backup_exists", path=target)
    if not path.parent.is_dir() and not force:
        return t("cli.db.backup_no_folder", path=target, folder=str(path.parent))
    return None


class BarProgress:
    """A copy's progress on the command line's bar (bot.cli_progress: a terminal only)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar

    def begin(self, rows: int) -> None:
        self.bar.total = rows
        self.bar.refresh()

    def advance(self, rows: int) -> None:
        self.bar.update(rows)


def db_copy(source_text: str, target_text: str, out: TextIO) -> int:
    """Copy SOURCE into TARGET, one line per table as it is done, then the summary. A target
    that holds rows, or names the source itself, is refused (exit 2); a target that does not
    read back as its source is not committed (exit 1)."""
    from bot.cli_progress import progress
    from handlers.i18n import format_amount, t
    from storage.copy import CopyFailed, CopyMismatch, CopyRefused, copy_store
    from storage.location import BadLocation, parse_location

    try:
        source, target = parse_location(source_text), parse_location(target_text)
    except BadLocation as err:
        sys.stderr.write(t("cli.db.copy.bad_location", detail=str(err)) + "\n")
        return EXIT_USAGE

    def table_done(table: str, rows: int) -> None:
        out.write(f"{table}\t{rows}\n")
        out.flush()

    try:
        with progress(None, t("cli.db.copy.copying")) as bar:
            report = copy_store(source, target, on_table=table_done, progress=BarProgress(bar))
    except CopyRefused as err:
        params = {"source": source.display, "target": target.display, **err.params}
        sys.stderr.write(t(f"cli.db.copy.{err.reason}", **params) + "\n")
        return EXIT_USAGE
    except CopyMismatch as err:
        params = {"source": source.display, "target": target.display, **err.params}
        sys.stderr.write(t(f"cli.db.copy.mismatch_{err.what}", **params) + "\n")
        return EXIT_FAIL
    except CopyFailed as err:
        params = {"source": source.display, "target": target.display, **err.params}
        sys.stderr.write(t("cli.db.copy.failed", **params) + "\n")
        return EXIT_FAIL
    out.write(
        t(
            "cli.db.copy.done",
            source=source.display,
            target=target.display,
            rows=format_amount(report.rows),
            seconds=f"{report.seconds:.1f}",
            polls=report.checked.polls,
            audit=report.checked.audit_entries,
        )
        + "\n"
    )
    return EXIT_OK
