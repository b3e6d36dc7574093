"""`newsbot ingest`: files and folders of articles, with progress on a terminal and one
summary grouped by reason."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli import EXIT_FAIL, EXIT_OK

# Imported when a command runs, as in bot/cli.py: `newsbot --help` loads none of this.
if TYPE_CHECKING:
    from bot.ingest import IngestReport
    from bot.settings import Settings
    from storage.store import Store

# Refused files named one by one; beyond these, the summary's counts say the rest.
LISTED_REJECTIONS = 10


def cmd_ingest(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """Store every file given or found in a folder given; exit 0 when any article was read
    (new or known), also if some files were refused, 1 when nothing could be read."""
    from bot.cli_progress import progress
    from bot.ingest import IngestReport, Loaded, input_files, load_file, store_loaded
    from handlers.i18n import t

    report = IngestReport()
    files: list[Path] = []
    for path in args.paths:
        if path.exists():
            files += input_files(path)
        else:
            report.rejected.append((str(path), "missing"))
    config = settings.core_config()
    with progress(len(files), t("cli.ingest.progress")) as bar:
        for file in files:
            loaded: Loaded = load_file(file, source="file")
            report.merge(store_loaded(store, config, [loaded]))
            bar.update()
    print_report(report, len(files), out)
    return EXIT_OK if not report.rejected or report.new or report.duplicates else EXIT_FAIL


# Reasons a person can act on get what to do about it on the file's own line.
HINTED_REASONS = frozenset({"binary", "json_shape", "too_large"})


def reason_with_hint(reason: str) -> str:
    from handlers.i18n import t

    text = t(f"input.{reason}")
    return f"{text} ({t(f'input.{reason}_hint')})" if reason in HINTED_REASONS else text


def print_report(report: IngestReport, files: int, out: TextIO) -> None:
    from handlers.i18n import format_amount, t, tn
    from storage.tags import MAX_TAGS_PER_ARTICLE

    for name, reason in report.rejected[:LISTED_REJECTIONS]:
        if reason == "missing":
            out.write(t("cli.ingest.missing", name=name) + "\n")
        else:
            out.write(t("cli.ingest.rejected", name=name, reason=reason_with_hint(reason)) + "\n")
    if len(report.rejected) > LISTED_REJECTIONS:
        out.write(tn("cli.ingest.more_rejected", len(report.rejected) - LISTED_REJECTIONS) + "\n")
    if report.tags_dropped:
        out.write(
            t("cli.ingest.tags_dropped", count=report.tags_dropped, limit=MAX_TAGS_PER_ARTICLE)
            + "\n"
        )
    summary = ", ".join(
        (
            tn("cli.ingest.new", len(report.new)),
            tn("cli.ingest.duplicates", report.duplicates),
            tn("cli.ingest.rejected_count", len(report.rejected)),
        )
    )
    reasons = Counter(reason for _, reason in report.rejected)
    if reasons:
        grouped = "; ".join(
            t("cli.ingest.reason", reason=t(f"input.{reason}"), number=format_amount(count))
            for reason, count in reasons.most_common()
        )
        summary += f" ({grouped})"
    out.write(tn("cli.ingest.files", files) + ": " + summary + "\n")
