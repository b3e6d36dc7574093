"""Keyword filters per chat: /filter include, exclude, list, remove and clear."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError, bold
from handlers.i18n import t
from handlers.permissions import CHAT_RIGHTS, audit, require_chat_rights
from handlers.registry import Param, command, parse_id
from storage.filter_rules import (
    MAX_PATTERNS,
    MAX_PHRASE_WORDS,
    MAX_RULE_CHARS,
    ChatFilter,
    Kind,
    Mode,
    RuleRefused,
)

PATTERN_PREFIX = "re:"
# Quotes people put around a phrase: "…", „…“, “…”, «…», »…«, '…'.
_QUOTES = {'"': '"', "„": "“", "“": "”", "«": "»", "»": "«", "'": "'"}
_MODES: dict[str, Mode] = {"include": "include", "exclude": "exclude"}


def _rule(args: tuple[str, ...]) -> tuple[Kind, str]:
    """What follows include or exclude: `re:PATTERN`, a quoted phrase, or words."""
    text = " ".join(args).strip()
    if text.lower().startswith(PATTERN_PREFIX):
        return "regex", text[len(PATTERN_PREFIX) :]
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1]
    return "words", text


def _refusal(refused: RuleRefused, ctx: Ctx) -> UserError:
    limits = {
        "too_long": MAX_RULE_CHARS,
        "too_many_words": MAX_PHRASE_WORDS,
        "too_many_patterns": MAX_PATTERNS,
        "too_many_filters": ctx.config.max_filters_per_chat,
    }
    return UserError(
        f"filter.refused_{refused.reason}",
        limit=limits.get(refused.reason, 0),
        detail=refused.detail or "?",
    )


def filter_line(rule: ChatFilter) -> str:
    return t(f"filter.line_{rule.mode}", number=rule.number, rule=rule.shown)


@command("filter", Param("action", "text"), Param("rule", "words", required=False), who=CHAT_RIGHTS)
def cmd_filter(ctx: Ctx, cmd: Command) -> list[Reply]:
    action = cmd.args[0].lower()
    if action == "list":
        return _list(ctx, cmd)
    # Rights before anything else: without them, nobody learns what the chat filters.
    require_chat_rights(ctx, cmd, target=" ".join(cmd.args)[:200])
    if action in _MODES:
        return _add(ctx, cmd, _MODES[action])
    if action == "remove" and len(cmd.args) == 2:
        number = parse_id(cmd.args[1], not_an_id="filter.bad_number")
        gone = ctx.store.filters.remove(cmd.chat, number)
        if gone is None:
            raise UserError("filter.no_such", number=number)
        audit(ctx, cmd, "filter_remove", target=f"{gone.mode} {gone.shown}"[:200])
        return [Reply(text=Rich.of(t("filter.removed", line=filter_line(gone))))]
    if action == "clear" and len(cmd.args) == 1:
        count = ctx.store.filters.clear(cmd.chat)
        if count:
            audit(ctx, cmd, "filter_clear", target=str(count))
        return [Reply(text=Rich.of(t("filter.cleared", count=count)))]
    raise UserError("filter.usage")


def _add(ctx: Ctx, cmd: Command, mode: Mode) -> list[Reply]:
    kind, text = _rule(cmd.args[1:])
    try:
        added = ctx.store.filters.add(
            cmd.chat, mode, kind, text, limit=ctx.config.max_filters_per_chat
        )
    except RuleRefused as refused:
        audit(ctx, cmd, f"filter_{mode}", target=text[:200], outcome=f"refused:{refused.reason}")
        raise _refusal(refused, ctx) from None
    if added is None:
        return [Reply(text=Rich.of(t("filter.already", rule=text)))]
    audit(ctx, cmd, f"filter_{mode}", target=added.shown[:200])
    return [Reply(text=Rich.of(t(f"filter.added_{mode}", line=filter_line(added))))]


def _list(ctx: Ctx, cmd: Command) -> list[Reply]:
    rules = ctx.store.filters.of(cmd.chat)
    if not rules:
        return [Reply(text=Rich.of(t("filter.none")))]
    lines = [Rich.of(bold(t("filter.header")))]
    lines += [Rich.of(filter_line(rule)) for rule in rules]
    lines.append(Rich.of(t("filter.rule")))
    return [Reply(text=Rich.join(lines))]
