"""Moderating people and articles: ban, mute, warn, remove, close polls, reset votes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from handlers.buttons import Key, Pressed, button
from handlers.context import Ctx
from handlers.events import Button, Command, MemberAction, Reply, Rich, UserError
from handlers.i18n import format_date, t, tn
from handlers.permissions import BOT_ADMIN, CHAT_ADMIN, OWNER, audit, has, require, role_of
from handlers.registry import Param, clean_name, command, parse_id
from storage.models import ChatRef, UserRef, VoteTally
from storage.moderation import BOT_WIDE

_MENTION = re.compile(r"^<@!?(\d{1,20})>$")  # how Discord writes a mention
_DURATION = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_MUTE = timedelta(days=366)
TERMINAL = "console"  # the terminal chat's platform: no replies, people are --user names
USER = Param("user", "user", required=False)
REASON = Param("reason", "reason", required=False)
DURATION = Param("duration", "text", required=False)


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UserError("mod.bad_duration", value=text[:20])
    span = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if not timedelta(seconds=1) <= span <= MAX_MUTE:
        raise UserError("mod.bad_duration", value=text[:20])
    return span


def looks_like_user(text: str) -> bool:
    return text.startswith("@") or text.isdigit() or bool(_MENTION.match(text))


def resolve_user(ctx: Ctx, platform: str, text: str) -> UserRef:
    """A person from '@name', a numeric id or a Discord mention. Unknown or ambiguous is an
    error, never a guess."""
    mention = _MENTION.match(text)
    key = mention.group(1) if mention else text
    found = ctx.mod.find_people(platform, key)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UserError("mod.ambiguous_user", value=text[:40])
    if key.isdigit() and platform != TERMINAL:
        # A numeric id names exactly one account even before the bot has seen it.
        return UserRef(platform, key)
    # The terminal has no messages to reply to: a person there is a name used with --user.
    raise UserError(_on_platform("mod.unknown_user", platform), value=text[:40])


def target_and_rest(
    ctx: Ctx, cmd: Command, usage: str | None = None
) -> tuple[UserRef, tuple[str, ...]]:
    """The person a command is about: its first argument, else the message it answers.
    `usage` is how to name one, for the error (default: /NAME @name, in the turn's language)."""
    if cmd.args and looks_like_user(cmd.args[0]):
        return resolve_user(ctx, cmd.chat.platform, cmd.args[0]), cmd.args[1:]
    if cmd.reply_to_user is not None:
        return cmd.reply_to_user, cmd.args
    if cmd.args:
        # "/admin add bob": a word where a person belongs; say how to name bob.
        word = cmd.args[0][:40]
        raise UserError(
            _on_platform("mod.not_a_user", cmd.chat.platform), value=word, name=word.lstrip("@")
        )
    raise UserError(
        _on_platform("mod.which_user", cmd.chat.platform),
        usage=usage or f"/{cmd.name} {t('usage.at_name')}",
    )


def _on_platform(key: str, platform: str) -> str:
    """The terminal's version of a message that would suggest replying to a message."""
    return f"{key}_terminal" if platform == TERMINAL else key


def name_of(user: UserRef) -> str:
    # Cleaned here too: a person last seen before names were cleaned on arrival is stored raw.
    username = clean_name(user.username)
    if username:
        return f"@{username}"
    return clean_name(user.display_name) or user.user_id


def scope_for(ctx: Ctx, cmd: Command) -> tuple[str, ChatRef | None]:
    """Bot admins act bot-wide; chat admins in their own group only. In a private chat only
    the bot-wide scope exists."""
    if has(ctx, cmd, BOT_ADMIN):
        return BOT_WIDE, None
    named = named_target(cmd)
    if cmd.is_private:
        require(ctx, cmd, BOT_ADMIN, target=named)
    require(ctx, cmd, CHAT_ADMIN, target=named)
    return cmd.chat.key(), cmd.chat


def visible_scopes(ctx: Ctx, cmd: Command) -> list[str]:
    """Where the warnings a command may see or reset were given: a bot admin in a group sees
    the bot-wide ones and this chat's; a chat admin this chat's."""
    scope, _chat = scope_for(ctx, cmd)
    if scope == BOT_WIDE and not cmd.is_private:
        return [BOT_WIDE, cmd.chat.key()]
    return [scope]


def named_target(cmd: Command) -> str | None:
    """Who a command names, as given, for the audit row of a refusal (before any lookup, so
    that a refusal reveals nothing about who the bot knows)."""
    if cmd.args and looks_like_user(cmd.args[0]):
        mention = _MENTION.match(cmd.args[0])
        given = mention.group(1) if mention else cmd.args[0]
        return f"{cmd.chat.platform}:{given}" if given.isdigit() else given[:64]
    return cmd.reply_to_user.key() if cmd.reply_to_user else None


def check_target(ctx: Ctx, cmd: Command, target: UserRef) -> None:
    """Nobody moderates an owner or themselves; only owners moderate bot admins. A person's
    linked accounts (/link) are one person here too: a step against one holds on all."""
    accounts = ctx.mod.accounts(target)
    if cmd.user.key() in {a.key() for a in accounts}:
        raise UserError("mod.not_yourself")
    if target.platform == cmd.chat.platform and target.user_id == cmd.chat.chat_id:
        # A Telegram anonymous admin writes as the group itself: banning "them" would ban the
        # group's own voice, every anonymous admin at once.
        raise UserError("mod.not_a_person")
    roles = {role_of(ctx, a) for a in accounts}
    if OWNER in roles or (BOT_ADMIN in roles and not has(ctx, cmd, OWNER)):
        audit(ctx, cmd, cmd.name, target=target.key(), outcome="refused")
        raise UserError("mod.protected", user=name_of(target))


def reason_of(rest: tuple[str, ...]) -> str | None:
    return " ".join(rest)[:500] or None


def _platform_action(
    cmd: Command, kind: str, user: UserRef, until: datetime | None = None
) -> tuple[MemberAction, ...]:
    """Ask the adapter to act on the platform too, where the chat is a group."""
    if cmd.is_private:
        return ()
    return (MemberAction(kind, cmd.chat, user, until),)


@command("ban", USER, REASON, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_ban(ctx: Ctx, cmd: Command) -> list[Reply]:
    # Rights before the person: without them, nobody learns whether the bot knows a name.
    scope, chat = scope_for(ctx, cmd)
    target, rest = target_and_rest(ctx, cmd)
    check_target(ctx, cmd, target)
    reason = reason_of(rest)
    ctx.mod.ban(target, scope, reason, cmd.user.key())
    audit(ctx, cmd, "ban", target=target.key(), reason=reason, outcome=f"scope={scope}")
    key = "mod.banned_everywhere" if chat is None else "mod.banned_here"
    return [
        Reply(
            text=Rich.of(t(key, user=name_of(target))),
            actions=_platform_action(cmd, "ban", target),
        )
    ]


def lift(ctx: Ctx, cmd: Command, kind: str) -> list[Reply]:
    """/unban and /unmute (kind "ban" or "mute"). A bot admin in a group lifts this chat's as
    well as the bot-wide one; a chat admin is told when only bot admins can lift it."""
    undo = ctx.mod.unban if kind == "ban" else ctx.mod.unmute
    holds = ctx.mod.ban_of if kind == "ban" else ctx.mod.mute_of
    done = "banned" if kind == "ban" else "muted"
    scope, _chat = scope_for(ctx, cmd)
    target, _ = target_and_rest(ctx, cmd)
    lifted = undo(target, scope)
    if scope == BOT_WIDE and not cmd.is_private:
        lifted = undo(target, cmd.chat.key()) or lifted
    audit(ctx, cmd, f"un{kind}", target=target.key(), outcome="ok" if lifted else f"not_{done}")
    if not lifted and scope != BOT_WIDE and holds(target, None) is not None:
        raise UserError(f"mod.{done}_by_bot_admins", user=name_of(target))
    if not lifted:
        return [Reply(text=Rich.of(t(f"mod.not_{done}", user=name_of(target))), private=True)]
    return [
        Reply(
            text=Rich.of(t(f"mod.un{done}", user=name_of(target))),
            actions=_platform_action(cmd, f"un{kind}", target),
        )
    ]


@command("unban", USER, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_unban(ctx: Ctx, cmd: Command) -> list[Reply]:
    return lift(ctx, cmd, "ban")


def mute_person(
    ctx: Ctx, cmd: Command, target: UserRef, span: timedelta, reason: str | None
) -> Reply:
    scope, _chat = scope_for(ctx, cmd)
    until = ctx.store.now() + span
    ctx.mod.mute(target, scope, until, reason, cmd.user.key())
    audit(
        ctx, cmd, "mute", target=target.key(), reason=reason, outcome=f"until={until.isoformat()}"
    )
    return Reply(
        text=Rich.of(t("mod.muted", user=name_of(target), until=format_date(until))),
        actions=_platform_action(cmd, "mute", target, until),
    )


@command("mute", USER, DURATION, REASON, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_mute(ctx: Ctx, cmd: Command) -> list[Reply]:
    scope_for(ctx, cmd)  # rights first, as in /ban
    target, rest = target_and_rest(ctx, cmd)
    if not rest:
        raise UserError("error.usage", usage=t("usage.mute"))
    check_target(ctx, cmd, target)
    return [mute_person(ctx, cmd, target, parse_duration(rest[0]), reason_of(rest[1:]))]


@command("unmute", USER, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_unmute(ctx: Ctx, cmd: Command) -> list[Reply]:
    return lift(ctx, cmd, "mute")


@command("warn", USER, REASON, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_warn(ctx: Ctx, cmd: Command) -> list[Reply]:
    scope, _chat = scope_for(ctx, cmd)
    target, rest = target_and_rest(ctx, cmd)
    check_target(ctx, cmd, target)
    reason = reason_of(rest)
    count = ctx.mod.warn(target, scope, reason, cmd.user.key())
    audit(ctx, cmd, "warn", target=target.key(), reason=reason, outcome=f"count={count}")
    limit = ctx.config.warn_limit
    replies = [Reply(text=Rich.of(t("mod.warned", user=name_of(target), count=count, limit=limit)))]
    if count >= limit and ctx.config.warn_action != "none":
        ctx.mod.reset_warnings(target, scope)
        why = t("mod.too_many_warnings", count=count)
        if ctx.config.warn_action == "ban":
            ctx.mod.ban(target, scope, why, cmd.user.key())
            audit(ctx, cmd, "ban", target=target.key(), reason=why, outcome=f"scope={scope}")
            replies.append(
                Reply(
                    text=Rich.of(t("mod.banned_here", user=name_of(target))),
                    actions=_platform_action(cmd, "ban", target),
                )
            )
        else:
            span = timedelta(seconds=ctx.config.warn_mute_seconds)
            replies.append(mute_person(ctx, cmd, target, span, why))
    return replies


@command("warnings", USER, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_warnings(ctx: Ctx, cmd: Command) -> list[Reply]:
    scopes = visible_scopes(ctx, cmd)
    target, _ = target_and_rest(ctx, cmd)
    warnings = sorted(
        (w for scope in scopes for w in ctx.mod.warnings(target, scope)), key=lambda w: w.at
    )
    if not warnings:
        return [Reply(text=Rich.of(t("mod.no_warnings", user=name_of(target))), private=True)]
    lines = [tn("mod.warnings_header", len(warnings), user=name_of(target))]
    lines += [f"• {format_date(w.at)}: {w.reason or '–'}" for w in warnings]
    return [Reply(text=Rich.of("\n".join(lines)), private=True)]


@command("resetwarnings", USER, who=CHAT_ADMIN, who_in_private=BOT_ADMIN)
def cmd_resetwarnings(ctx: Ctx, cmd: Command) -> list[Reply]:
    scopes = visible_scopes(ctx, cmd)
    target, _ = target_and_rest(ctx, cmd)
    count = sum(ctx.mod.reset_warnings(target, scope) for scope in scopes)
    audit(ctx, cmd, "resetwarnings", target=target.key(), outcome=f"count={count}")
    return [Reply(text=Rich.of(t("mod.warnings_reset", user=name_of(target), count=count)))]


def _article_target(ctx: Ctx, cmd: Command) -> int:
    article_id = parse_id(cmd.args[0])
    if ctx.store.get_article(article_id) is None:
        raise UserError("error.no_article", id=article_id)
    return article_id


@command("remove", Param("id", "id"), REASON, who=BOT_ADMIN)
def cmd_remove(ctx: Ctx, cmd: Command) -> list[Reply]:
    require(ctx, cmd, BOT_ADMIN, target=f"#{cmd.args[0]}")
    article_id = _article_target(ctx, cmd)
    reason = reason_of(cmd.args[1:])
    changed = ctx.mod.set_removed(article_id, True, reason)
    audit(
        ctx,
        cmd,
        "remove",
        target=f"#{article_id}",
        reason=reason,
        outcome="ok" if changed else "unchanged",
    )
    key = "mod.removed" if changed else "mod.already_removed"
    return [Reply(text=Rich.of(t(key, id=article_id)))]


@command("restore", Param("id", "id"), who=BOT_ADMIN)
def cmd_restore(ctx: Ctx, cmd: Command) -> list[Reply]:
    require(ctx, cmd, BOT_ADMIN, target=f"#{cmd.args[0]}")
    article_id = _article_target(ctx, cmd)
    changed = ctx.mod.set_removed(article_id, False)
    audit(ctx, cmd, "restore", target=f"#{article_id}", outcome="ok" if changed else "unchanged")
    key = "mod.restored" if changed else "mod.not_removed"
    return [Reply(text=Rich.of(t(key, id=article_id)))]


def _set_poll(ctx: Ctx, cmd: Command, closed: bool) -> list[Reply]:
    require(ctx, cmd, BOT_ADMIN, target=f"#{cmd.args[0]}")
    article_id = _article_target(ctx, cmd)
    poll = ctx.store.get_poll(article_id)
    if poll is None:
        raise UserError("error.no_poll", id=article_id)
    if poll.closed != closed:
        ctx.store.set_poll_closed(article_id, closed)
    audit(
        ctx,
        cmd,
        cmd.name,
        target=f"#{article_id}",
        outcome="ok" if poll.closed != closed else "unchanged",
    )
    return [
        Reply(text=Rich.of(t("mod.poll_closed" if closed else "mod.poll_reopened", id=article_id)))
    ]


@command("closepoll", Param("id", "id"), who=BOT_ADMIN)
def cmd_closepoll(ctx: Ctx, cmd: Command) -> list[Reply]:
    return _set_poll(ctx, cmd, True)


@command("reopenpoll", Param("id", "id"), who=BOT_ADMIN)
def cmd_reopenpoll(ctx: Ctx, cmd: Command) -> list[Reply]:
    return _set_poll(ctx, cmd, False)


RESET_VOTES = 1  # the confirmation kind carried by the confirm button


def tally_lines(key: str, article_id: int, tally: VoteTally) -> Rich:
    """A message about an article's stored votes; when a ban keeps some of them out of the
    results, a second line says how many count and how many do not, so that the number
    agrees with what the confirmation said and the results show."""
    lines = [tn(key, tally.stored, id=article_id)]
    if tally.uncounted:
        lines.append(t("mod.votes_split", counted=tally.counted, uncounted=tally.uncounted))
    return Rich.of("\n".join(lines))


def reset_votes(ctx: Ctx, cmd: Command, article_id: int) -> Reply:
    removed = ctx.mod.reset_votes(article_id)
    audit(ctx, cmd, "resetvotes", target=f"#{article_id}", outcome=f"votes={removed.stored}")
    return Reply(text=tally_lines("mod.votes_reset", article_id, removed))


@command("resetvotes", Param("id", "id"), Param("confirm", "text", required=False), who=BOT_ADMIN)
def cmd_resetvotes(ctx: Ctx, cmd: Command) -> list[Reply]:
    require(ctx, cmd, BOT_ADMIN, target=f"#{cmd.args[0]}")
    article_id = _article_target(ctx, cmd)
    target = f"#{article_id}"
    if len(cmd.args) > 1:
        if cmd.args[1].lower() != "confirm":
            raise UserError("error.usage", usage="/resetvotes N confirm")
        return [reset_votes(ctx, cmd, article_id)]
    ctx.mod.ask_confirmation("resetvotes", target, cmd.user.key())
    button = Button(
        t("mod.confirm_button"),
        "confirm",
        (str(RESET_VOTES), str(article_id)),
        text_twin=f"/resetvotes {article_id} confirm",
    )
    return [
        Reply(
            text=tally_lines("mod.confirm_reset", article_id, ctx.mod.vote_tally(article_id)),
            buttons=((button,),),
            private=True,
        )
    ]


@button("confirm", Key("kind"), Key("article", "article"), who=BOT_ADMIN)
def confirm_press(ctx: Ctx, pressed: Pressed) -> list[Reply]:
    """The confirm button of /resetvotes: only the person who asked, and only in time."""
    kind, article_id = pressed.keys
    if kind != RESET_VOTES:
        raise UserError("error.stale_button")
    cmd = pressed.command()
    if not ctx.mod.take_confirmation("resetvotes", f"#{article_id}", cmd.user.key()):
        raise UserError("mod.confirm_expired")
    if ctx.store.get_article(article_id) is None:
        raise UserError("error.no_article", id=article_id)
    return [reset_votes(ctx, cmd, article_id)]
