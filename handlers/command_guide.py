"""The /help text: the commands a person may use where they ask, in the order a newcomer
needs them (first steps, then settings, then moderation)."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.events import Command, Rich, bold, code
from handlers.i18n import t
from handlers.permissions import may
from handlers.registry import COMMANDS, CommandSpec

# Each section: its heading's key, then its commands in order. /start and /help are the help
# itself and are not listed in it.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "help.header",
        (
            "subscribe",
            "latest",
            "vote",
            "results",
            "ask",
            "search",
            "article",
            "top",
            "tags",
            "subscriptions",
            "unsubscribe",
            "filter",
        ),
    ),
    (
        "help.settings_header",
        ("lang", "timezone", "digest", "quiet", "settings", "why", "link", "unlink", "forgetme"),
    ),
    (
        "help.admin_header",
        (
            "ban",
            "unban",
            "mute",
            "unmute",
            "warn",
            "warnings",
            "resetwarnings",
            "remove",
            "restore",
            "closepoll",
            "reopenpoll",
            "resetvotes",
            "audit",
            "stats",
            "feeds",
            "admin",
        ),
    ),
)
NOT_IN_HELP = frozenset({"start", "help"})


def usable(ctx: Ctx, cmd: Command, spec: CommandSpec) -> bool:
    """Whether the person who asked may use the command in this chat."""
    return spec.listed and may(ctx, cmd, spec.who_for(is_private=cmd.is_private))


def help_text(ctx: Ctx, cmd: Command) -> Rich:
    """One line per usable command, by section; a section with none is left out."""
    lines: list[Rich] = []
    for heading, names in SECTIONS:
        specs = [COMMANDS[name] for name in names if name in COMMANDS]
        shown = [
            Rich.of(code(s.usage()), " – " + t(s.help_key)) for s in specs if usable(ctx, cmd, s)
        ]
        if shown:
            lines += [Rich.of(bold(t(heading))), *shown]
    lines.append(Rich.of(t("help.footer")))
    return Rich.join(lines)
