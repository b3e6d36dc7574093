"""The `newsbot` command line's arguments and help, in the CLI's one language."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from handlers.i18n import normalise_language, t

if TYPE_CHECKING:  # argparse's class takes no type argument when the program runs
    Commands = argparse._SubParsersAction["NewsbotParser"]

# The CLI speaks English unless NEWSBOT_LANGUAGE (or `language` in newsbot.toml) says otherwise:
# its --help, its output and its errors alike (the terminal chat speaks the chat's language).
CLI_DEFAULT_LANGUAGE = "en"


def cli_language() -> str:
    """The CLI's language before the settings are read (for --help, and for a setting that
    cannot be read): NEWSBOT_LANGUAGE, else `language` in the settings file, else English."""
    language = normalise_language(os.environ.get("NEWSBOT_LANGUAGE"))
    if language is not None:
        return language
    import tomllib

    path = Path(os.environ.get("NEWSBOT_CONFIG", "newsbot.toml"))
    try:
        with path.open("rb") as handle:
            value = tomllib.load(handle).get("language")
    except (OSError, ValueError):
        return CLI_DEFAULT_LANGUAGE
    return normalise_language(value if isinstance(value, str) else None) or CLI_DEFAULT_LANGUAGE


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("newsbot")
    except metadata.PackageNotFoundError:
        return "unknown"


# argparse's own complaints, in English, and the message that says each in our language.
_ARGPARSE_ERRORS = (
    (re.compile(r"the following arguments are required: (?P<names>.+)"), "cli.usage.required"),
    (re.compile(r"unrecognized arguments: (?P<names>.+)"), "cli.usage.unknown"),
    (
        re.compile(
            r"argument (?P<name>\S+): invalid choice: (?P<value>.+?) "
            r"\(choose from (?P<choices>.+)\)"
        ),
        "cli.usage.choice",
    ),
    (re.compile(r"argument (?P<name>\S+): expected (at least )?one argument"), "cli.usage.value"),
    (re.compile(r"argument (?P<name>\S+): (?P<detail>.+)"), "cli.usage.argument"),
)


def usage_problem(message: str) -> str:
    """argparse's message about wrong usage, said in the current language."""
    for pattern, key in _ARGPARSE_ERRORS:
        found = pattern.fullmatch(message)
        if found:
            return t(key, **{k: v.replace("'", "") for k, v in found.groupdict().items() if v})
    return message


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; the usage line's prefix in the CLI's language."""

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None = None,
    ) -> None:
        super().add_usage(
            usage, actions, groups, t("cli.help.usage") + " " if prefix is None else prefix
        )


class NewsbotParser(argparse.ArgumentParser):
    """An argument parser whose help and complaints are in the CLI's language, and whose
    complaint is one line and exit code 2 (never a usage block in another language)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._positionals.title = t("cli.help.positionals")
        self._optionals.title = t("cli.help.options")
        self.add_argument("-h", "--help", action="help", help=t("cli.help.help"))

    def error(self, message: str) -> NoReturn:
        line = t("cli.usage.line", prog=self.prog, problem=usage_problem(message))
        self.exit(2, line + "\n")


def command_parser(sub: Commands, name: str, key: str) -> NewsbotParser:
    """A subcommand with its one-line help, its description and an example (the epilog)."""
    return sub.add_parser(
        name,
        help=t(f"cli.help.{key}"),
        description=t(f"cli.help.{key}.about"),
        epilog=t("cli.help.example", example=t(f"cli.help.{key}.example")),
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, its texts in the current language (set it first)."""
    from bot.cli_db import add_db_parser
    from bot.cli_report import add_report_parser

    parser = NewsbotParser(
        prog="newsbot",
        description=t("cli.help.about"),
        epilog=t("cli.help.more"),
    )
    parser.add_argument(
        "--version", action="version", version=f"newsbot {version()}", help=t("cli.help.version")
    )
    sub = parser.add_subparsers(dest="command", metavar=t("cli.help.command_metavar"))
    sub.required = False  # bare `newsbot` prints the help
    command_parser(sub, "run", "run")
    chat = command_parser(sub, "chat", "chat")
    chat.add_argument("--user", metavar=t("cli.help.name_metavar"), help=t("cli.help.chat.user"))
    ingest = command_parser(sub, "ingest", "ingest")
    ingest.add_argument(
        "paths", nargs="+", type=Path, metavar=t("cli.help.path_metavar"), help=t("cli.help.paths")
    )
    add_feeds_parser(sub)
    add_export_parser(sub)
    add_db_parser(sub)
    add_report_parser(sub)
    return parser


def parse_interval(text: str) -> int:
    """'90', '90s', '15m', '2h', '1d' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    factor = units.get(value[-1:], 0)
    number = value[:-1] if factor else value
    if not number.isdigit() or not 5 <= int(number) * (factor or 1) <= 7 * 86400:
        raise argparse.ArgumentTypeError(t("cli.usage.duration", value=text[:40]))
    return int(number) * (factor or 1)


def add_feeds_parser(sub: Commands) -> None:
    feeds = command_parser(sub, "feeds", "feeds")
    fsub = feeds.add_subparsers(dest="feeds_command", metavar=t("cli.help.action_metavar"))
    add = command_parser(fsub, "add", "feeds.add")
    add.add_argument("location", metavar="URL|PATH", help=t("cli.help.location"))
    add.add_argument("--tags", default="", help=t("cli.help.feeds.tags"))
    add.add_argument("--interval", type=parse_interval, default=None, help=t("cli.help.interval"))
    add.add_argument("--fulltext", action="store_true", help=t("cli.help.feeds.fulltext"))
    listing = command_parser(fsub, "list", "feeds.list")
    listing.add_argument(
        "--format", choices=["text", "json"], default="text", help=t("cli.help.list_format")
    )
    remove = command_parser(fsub, "remove", "feeds.remove")
    # Numbers are checked by the commands, so that a wrong one says what a number is.
    remove.add_argument("id", metavar="N", help=t("cli.help.source_number"))
    fetch = command_parser(fsub, "fetch", "feeds.fetch")
    fetch.add_argument("ids", nargs="*", metavar="N", help=t("cli.help.source_numbers"))
    opml = command_parser(fsub, "import", "feeds.import")
    opml.add_argument("file", type=Path, metavar="FILE.opml", help=t("cli.help.opml_file"))
    opml.add_argument("--interval", type=parse_interval, default=None, help=t("cli.help.interval"))
    command_parser(fsub, "export", "feeds.export")


def add_export_parser(sub: Commands) -> None:
    export = command_parser(sub, "export", "export")
    esub = export.add_subparsers(dest="export_command", metavar=t("cli.help.what_metavar"))
    results = command_parser(esub, "results", "export.results")
    results.add_argument("--article", default=None, metavar="N", help=t("cli.help.article"))
    results.add_argument(
        "--format", choices=["csv", "json"], default="csv", help=t("cli.help.format")
    )
    audit = command_parser(esub, "audit", "export.audit")
    audit.add_argument(
        "--format", choices=["csv", "json"], default="csv", help=t("cli.help.format")
    )


def help_for_missing_action(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Bare `newsbot` or `newsbot feeds`: print that level's help (exit 0) instead of a
    complaint. True when it did."""
    levels = {"feeds": "feeds_command", "export": "export_command", "db": "db_command"}
    if args.command is None:
        parser.print_help(sys.stdout)
        return True
    action = levels.get(args.command)
    if action is not None and getattr(args, action) is None:
        parser.parse_args([args.command, "--help"])
    return False
