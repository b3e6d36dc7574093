"""Running the bot: the audit log, figures, why a chat gets nothing, chat settings, admins,
and a person deleting their own data."""

from __future__ import annotations

import dataclasses
import re

from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError, bold
from handlers.i18n import current_language, format_date, normalise_language, t, tn
from handlers.moderation import name_of, resolve_user, target_and_rest
from handlers.permissions import (
    BOT_ADMIN,
    CHAT_ADMIN,
    MEMBER,
    OWNER,
    audit,
    has,
    require,
    require_chat_rights,
)
from handlers.post_settings import USAGE as POST_USAGE
from handlers.post_settings import change_post_setting, is_post_setting, post_settings_text
from handlers.registry import Param, command, parse_id
from handlers.why import explain_article
from storage.models import ChatSettings
from storage.post_refresh import refresh_problems

AUDIT_MAX = 50
_SIGNED_NUMBER = re.compile(r"^[+\-−]\d+([.,]\d+)?$|^\d+[.,]\d+$")


@command(
    "audit",
    Param("count", "text", required=False),
    Param("about", "text", required=False),
    who=CHAT_ADMIN,
    who_in_private=BOT_ADMIN,
)
def cmd_audit(ctx: Ctx, cmd: Command) -> list[Reply]:
    """Bot admins see everything; a chat admin sees their own chat's entries."""
    chat = None
    if not has(ctx, cmd, BOT_ADMIN):
        if cmd.is_private:
            require(ctx, cmd, BOT_ADMIN)
        require(ctx, cmd, CHAT_ADMIN)
        chat = cmd.chat
    count, about = 10, None
    for arg in cmd.args:
        if arg.isascii() and arg.isdigit():  # "²" is a digit to isdigit(), not to int()
            count = max(1, min(int(arg), AUDIT_MAX))
        elif _SIGNED_NUMBER.match(arg):
            # "-5" is a count gone wrong, not a person's name.
            raise UserError("admin.bad_audit_count", value=arg[:20], max=AUDIT_MAX)
        elif arg.startswith("#"):
            about = f"#{parse_id(arg)}"
        else:
            about = resolve_user(ctx, cmd.chat.platform, arg).key()
    entries = ctx.mod.audit_entries(count, about=about, chat=chat)
    if not entries:
        return [Reply(text=Rich.of(t("admin.audit_empty")), private=True)]
    lines = [Rich.of(bold(t("admin.audit_header", count=len(entries))))]
    for e in entries:
        parts = [
            format_date(e.at),
            e.platform,
            e.actor,
            e.action,
            e.target or "–",
            e.reason or "–",
            e.outcome,
        ]
        lines.append(Rich.of(" · ".join(parts)))
    return [Reply(text=Rich.join(lines), private=True)]


@command("stats", who=BOT_ADMIN)
def cmd_stats(ctx: Ctx, cmd: Command) -> list[Reply]:
    require(ctx, cmd, BOT_ADMIN)
    stats = ctx.store.stats()
    activity = ctx.mod.activity()
    lines = [
        Rich.of(bold(t("admin.stats_header"))),
        Rich.of(t("admin.stats_articles", count=stats.articles)),
        Rich.of(t("admin.stats_votes", today=activity.votes_today, total=stats.votes)),
        Rich.of(
            t(
                "admin.stats_deliveries",
                pending=stats.deliveries_pending,
                failed=stats.deliveries_failed,
            )
        ),
        Rich.of(t("admin.stats_feeds", count=stats.feeds, failing=activity.feeds_failing)),
        Rich.of(t("admin.stats_subscriptions", count=stats.subscriptions)),
    ]
    lines += [Rich.of(f"  {row.tag}: {row.chats}") for row in ctx.mod.subscriptions_per_tag()]
    return [Reply(text=Rich.join(lines), private=True)]


@command("why", Param("id", "id", required=False), who=CHAT_ADMIN, who_in_private=MEMBER)
def cmd_why(ctx: Ctx, cmd: Command) -> list[Reply]:
    if not cmd.is_private:
        require(ctx, cmd, CHAT_ADMIN)
    if cmd.args:  # /why N: one article (handlers/why.py)
        return explain_article(ctx, cmd, cmd.args[0])
    return _chat_problems(ctx, cmd)


def _chat_problems(ctx: Ctx, cmd: Command) -> list[Reply]:
    """/why: paused subscriptions, failed deliveries and posts whose counts are behind."""
    paused = [s for s in ctx.store.subscriptions(cmd.chat) if not s.active]
    problems = ctx.mod.chat_problems(cmd.chat)
    stuck = refresh_problems(ctx.store, cmd.chat)
    if not paused and not problems and not stuck:
        return [Reply(text=Rich.of(t("admin.why_fine")), private=True)]
    lines = []
    for sub in paused:
        lines.append(t("admin.why_paused", tag=sub.tag, reason=sub.reason or "?"))
    for problem in problems:
        lines.append(
            t("admin.why_error", id=problem.article_id, status=problem.status, error=problem.error)
        )
    for post in stuck:
        when = format_date(post.next_try) if post.next_try else "–"
        lines.append(
            t(
                "admin.why_refresh",
                id=post.article_id,
                error=post.error,
                count=post.failures,
                when=when,
            )
        )
    return [Reply(text=Rich.of("\n".join(lines)), private=True)]


SETTINGS = {
    "language": ("de", "en"),
    "subscribe": ("admins", "everyone"),
    "threads": ("on", "off"),
    "translate": ("on", "off"),
}


@command("settings", Param("name", "text", required=False), Param("value", "words", required=False))
def cmd_settings(ctx: Ctx, cmd: Command) -> list[Reply]:
    if cmd.args and is_post_setting(cmd.args[0].lower()):
        change_post_setting(ctx, cmd, cmd.args[0].lower(), cmd.args[1:])
    elif cmd.args:
        if len(cmd.args) != 2 or cmd.args[0].lower() not in SETTINGS:
            raise UserError(
                "error.usage",
                usage="/settings language de|en · subscribe admins|everyone · threads on|off"
                " · translate on|off"
                f" · {POST_USAGE.removeprefix('/settings ')}",
            )
        name, value = cmd.args[0].lower(), cmd.args[1].lower()
        if value not in SETTINGS[name]:
            raise UserError("admin.bad_setting", name=name, values="|".join(SETTINGS[name]))
        require_chat_rights(ctx, cmd, target=f"{name}={value}")
        if name == "language":
            ctx.store.update_chat_settings(cmd.chat, language=normalise_language(value))
            current_language.set(value)
        elif name == "subscribe":
            ctx.store.update_chat_settings(cmd.chat, subscribe_policy=value)
        else:  # the on|off switches, each stored under its own name
            ctx.store.update_chat_settings(cmd.chat, **{name: value == "on"})
        audit(ctx, cmd, "settings", target=f"{name}={value}")
    return [Reply(text=Rich.of(settings_text(ctx, ctx.store.chat_settings(cmd.chat))))]


def settings_text(ctx: Ctx, settings: ChatSettings) -> str:
    """What /settings shows: the chat's switches, and how its posts look."""
    text = t(
        "admin.settings",
        language=settings.language or current_language.get(),
        subscribe=t(f"admin.policy_{settings.subscribe_policy}"),
        threads=t("admin.on") if settings.threads else t("admin.off"),
    )
    text += "\n" + t(
        "admin.settings_translate", state=t("admin.on") if settings.translate else t("admin.off")
    )
    if settings.translate and not ctx.config.translation_model:
        text += "\n" + t("admin.translate_no_model")
    return f"{text}\n{post_settings_text(settings)}"


@command("forgetme")
def cmd_forgetme(ctx: Ctx, cmd: Command) -> list[Reply]:
    votes = ctx.mod.forget_person(cmd.user, cmd.chat if cmd.is_private else None)
    audit(ctx, cmd, "forgetme", target=cmd.user.key(), outcome=f"votes={votes}")
    return [Reply(text=Rich.of(tn("admin.forgotten", votes)), private=True)]


@command("admin", Param("action", "text"), Param("user", "user", required=False), who=BOT_ADMIN)
def cmd_admin(ctx: Ctx, cmd: Command) -> list[Reply]:
    action = cmd.args[0].lower()
    if action == "list":
        require(ctx, cmd, BOT_ADMIN)
        admins = ctx.mod.bot_admins()
        owners = sorted(ctx.config.owners)
        lines = [t("admin.owners", names=", ".join(owners))]
        lines.append(
            t(
                "admin.bot_admins",
                names=", ".join(f"{a.key()} ({name_of(a)})" for a in admins) or "–",
            )
        )
        return [Reply(text=Rich.of("\n".join(lines)), private=True)]
    if action not in {"add", "remove"}:
        raise UserError("error.usage", usage=f"/admin add|remove|list {t('usage.at_name')}")
    require(ctx, cmd, OWNER)
    usage = f"/admin {action} {t('usage.at_name')}"
    target, _ = target_and_rest(ctx, dataclasses.replace(cmd, args=cmd.args[1:]), usage=usage)
    if action == "add":
        changed = ctx.mod.grant_admin(target, cmd.user.key())
        key = "admin.added" if changed else "admin.already"
    else:
        changed = ctx.mod.revoke_admin(target)
        key = "admin.removed" if changed else "admin.not_admin"
    audit(
        ctx, cmd, f"admin_{action}", target=target.key(), outcome="ok" if changed else "unchanged"
    )
    return [Reply(text=Rich.of(t(key, user=name_of(target))))]
