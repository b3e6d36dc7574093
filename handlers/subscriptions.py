"""Getting started and choosing what arrives: /start, /help, /lang, subscriptions."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from handlers.command_guide import help_text
from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError, bold
from handlers.i18n import current_language, normalise_language, t
from handlers.permissions import CHAT_RIGHTS, audit, require_chat_rights
from handlers.registry import Param, command, split_tags
from storage.tags import ALL_TAGS, tag_key

MAX_TAGS_AT_ONCE = 20  # tags one /subscribe may name
# The newest matching article waits for the answer that announces it: the adapter releases it
# once the answer is out (Runtime.answered); a crash in between delays it by this much only.
ANSWER_FIRST = timedelta(seconds=30)


@command("start", Param("payload", "text", required=False), listed=True)
def cmd_start(ctx: Ctx, cmd: Command) -> list[Reply]:
    # Deep links (t.me/bot?start=sub_xAI) arrive as /start sub_xAI.
    if cmd.args and cmd.args[0].startswith("sub_"):
        tags = cmd.args[0][4:].replace("__", " ").split("-")
        return cmd_subscribe(ctx, dataclasses.replace(cmd, args=(",".join(tags),)))
    return [Reply(text=Rich.of(t("start.welcome")) + Rich.of("\n\n") + help_text(ctx, cmd))]


@command("help")
def cmd_help(ctx: Ctx, cmd: Command) -> list[Reply]:
    return [Reply(text=help_text(ctx, cmd))]


@command("lang", Param("language", "language", required=False))
def cmd_lang(ctx: Ctx, cmd: Command) -> list[Reply]:
    if not cmd.args:
        return [Reply(text=Rich.of(t("lang.current", language=current_language.get())))]
    language = normalise_language(cmd.args[0])
    if language is None:
        raise UserError("lang.bad", value=cmd.args[0][:20])
    require_chat_rights(ctx, cmd)
    ctx.store.update_chat_settings(cmd.chat, language=language)
    if not cmd.is_private:
        audit(ctx, cmd, "settings", target=f"language={language}")
    current_language.set(language)
    return [Reply(text=Rich.of(t("lang.set", language)))]


def _tag_list(tags: list[str]) -> str:
    return ", ".join(t("sub.everything") if tg == ALL_TAGS else tg for tg in tags)


@command("subscribe", Param("tags", "tags"), who=CHAT_RIGHTS)
def cmd_subscribe(ctx: Ctx, cmd: Command) -> list[Reply]:
    tags = split_tags(ctx, cmd.args)
    require_chat_rights(ctx, cmd, target=", ".join(tags)[:200])
    if len(tags) > MAX_TAGS_AT_ONCE:
        # All or nothing: a cut list would subscribe to an arbitrary part of what was meant.
        raise UserError("sub.too_many", count=len(tags), limit=MAX_TAGS_AT_ONCE)
    _within_chat_limit(ctx, cmd, tags)
    result = ctx.store.subscribe(
        cmd.chat, tags, backlog=ctx.config.backlog, hold=ANSWER_FIRST, thread=cmd.thread
    )
    added, already = result.added, result.already
    if added and not cmd.is_private:
        # What a group or channel receives is its admins' decision: it goes in the log.
        audit(ctx, cmd, "subscribe", target=", ".join(added))
    lines: list[str] = []
    if added:
        lines.append(t("sub.added", tags=_tag_list(added)))
        unknown = [tg for tg in added if tg != ALL_TAGS and ctx.store.known_tag(tg) is None]
        if unknown:
            lines.append(t("sub.unknown", tags=", ".join(unknown)))
    if already:
        lines.append(t("sub.already", tags=_tag_list(already)))
    if result.backlog_queued:
        in_digest = ctx.store.schedules.get(cmd.chat).digest is not None
        lines.append(t("sub.backlog_digest" if in_digest else "sub.backlog"))
    return [Reply(text=Rich.of("\n".join(lines)))]


def _within_chat_limit(ctx: Ctx, cmd: Command, tags: list[str]) -> None:
    """Refuse tags beyond NEWSBOT_MAX_TAGS_PER_CHAT, all of them: as for MAX_TAGS_AT_ONCE."""
    have = {tag_key(sub.tag) for sub in ctx.store.subscriptions(cmd.chat)}
    new = {tag_key(tag) for tag in tags} - have
    limit = ctx.config.max_tags_per_chat
    if new and len(have) + len(new) > limit:
        raise UserError("sub.chat_limit", limit=limit, have=len(have))


@command("unsubscribe", Param("tags", "tags"), who=CHAT_RIGHTS)
def cmd_unsubscribe(ctx: Ctx, cmd: Command) -> list[Reply]:
    require_chat_rights(ctx, cmd, target=" ".join(cmd.args)[:200])
    if len(cmd.args) == 1 and cmd.args[0].lower() in {"all", "alle"}:
        removed = _unsubscribe(ctx, cmd, None)
        if not removed:
            return [Reply(text=Rich.of(t("unsub.nothing")))]
        return [Reply(text=Rich.of(t("unsub.removed", tags=_tag_list(removed))))]
    tags = split_tags(ctx, cmd.args)
    removed = _unsubscribe(ctx, cmd, tags)
    lines = []
    if removed:
        lines.append(t("unsub.removed", tags=_tag_list(removed)))
    gone = {tag_key(r) for r in removed}
    missing = [tg for tg in tags if tag_key(tg) not in gone]
    if missing:
        lines.append(t("unsub.not_subscribed", tags=", ".join(missing)))
    return [Reply(text=Rich.of("\n".join(lines)))]


def _unsubscribe(ctx: Ctx, cmd: Command, tags: list[str] | None) -> list[str]:
    """End the chat's subscriptions to these tags (None: to all); the tags removed."""
    removed = ctx.store.unsubscribe(cmd.chat, tags)
    if removed and not cmd.is_private:
        # As for /subscribe: what a group or channel receives is its admins' decision.
        audit(ctx, cmd, "unsubscribe", target=", ".join(removed))
    return removed


@command("subscriptions")
def cmd_subscriptions(ctx: Ctx, cmd: Command) -> list[Reply]:
    subs = ctx.store.subscriptions(cmd.chat)
    if not subs:
        return [Reply(text=Rich.of(t("sub.none")))]
    lines = [Rich.of(bold(t("sub.header")))]
    for sub in subs:
        name = t("sub.everything") if sub.tag == ALL_TAGS else sub.tag
        state = "" if sub.active else f" ({t('sub.paused', reason=sub.reason or '?')})"
        topic = f" ({t('sub.in_topic', topic=sub.thread)})" if sub.thread else ""
        lines.append(Rich.of(f"• {name}{topic}{state}"))
    return [Reply(text=Rich.join(lines))]
