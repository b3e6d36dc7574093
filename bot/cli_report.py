"""`newsbot report`: the weekly style report of any week, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from bot.cli import EXIT_OK, EXIT_USAGE

# Imported when the command runs, as in bot/cli.py: `newsbot --help` loads none of this.
if TYPE_CHECKING:
    from bot.cli_parser import Commands
    from bot.settings import Settings
    from storage.store import Store


def add_report_parser(sub: Commands) -> None:
    from bot.cli_parser import command_parser
    from handlers.i18n import t

    report = command_parser(sub, "report", "report")
    report.add_argument("--week", default=None, metavar="YYYY-Www", help=t("cli.help.week"))
    report.add_argument(
        "--format", choices=["text", "json"], default="text", help=t("cli.help.report_format")
    )


def cmd_report(settings: Settings, store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """The week named (the last whole week by default) in NEWSBOT_TIMEZONE; a week that is
    not one is one line and exit 2."""
    from handlers.events import UserError
    from handlers.i18n import t
    from handlers.weekly_report import (
        last_whole_week,
        parse_week,
        report_json,
        report_text,
        week_figures,
    )

    zone = settings.zone()
    try:
        week = (
            last_whole_week(store.now(), zone) if args.week is None else parse_week(args.week, zone)
        )
    except UserError as err:
        sys.stderr.write(t(err.key, **err.params) + "\n")
        return EXIT_USAGE
    figures = week_figures(store, week)
    if args.format == "json":
        json.dump(report_json(week, figures), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(report_text(week, figures).plain() + "\n")
    return EXIT_OK
