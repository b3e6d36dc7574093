"""Who may do what: owners, bot admins, chat admins, everyone; refusals are audited."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.events import Command, UserError
from storage.models import ChatRef, UserRef

OWNER, BOT_ADMIN, CHAT_ADMIN, MEMBER = "owner", "bot_admin", "chat_admin", "member"
# Changing what a chat receives: the person's own private chat, a chat admin, or anyone where
# the chat lets everyone subscribe (require_chat_rights).
CHAT_RIGHTS = "chat_rights"
_RANK = {OWNER: 3, BOT_ADMIN: 2, CHAT_ADMIN: 1, MEMBER: 0}
_REFUSAL = {
    OWNER: "error.need_owner",
    BOT_ADMIN: "error.need_bot_admin",
    CHAT_ADMIN: "error.need_admin",
}


def role_of(ctx: Ctx, user: UserRef, *, is_chat_admin: bool = False) -> str:
    if user.key() in ctx.config.owners:
        return OWNER
    if ctx.mod.is_bot_admin(user):
        return BOT_ADMIN
    return CHAT_ADMIN if is_chat_admin else MEMBER


def has(ctx: Ctx, cmd: Command, level: str) -> bool:
    return _RANK[role_of(ctx, cmd.user, is_chat_admin=cmd.is_chat_admin)] >= _RANK[level]


def audit(
    ctx: Ctx,
    cmd: Command,
    action: str,
    *,
    target: str | None = None,
    reason: str | None = None,
    outcome: str = "ok",
    chat: ChatRef | None = None,
) -> None:
    where = chat or cmd.chat
    ctx.store.audit(
        platform=where.platform,
        chat_id=where.chat_id,
        actor=cmd.user.key(),
        action=action,
        target=target,
        reason=reason,
        outcome=outcome,
    )


def require(ctx: Ctx, cmd: Command, level: str, *, target: str | None = None) -> None:
    """Refuse, audibly and in the audit log, anyone below `level`."""
    if has(ctx, cmd, level):
        return
    audit(ctx, cmd, cmd.name, target=target, outcome="refused")
    raise UserError(_REFUSAL[level])


def may(ctx: Ctx, cmd: Command, level: str) -> bool:
    """Whether the person may act at `level` here, asking nothing of the audit log."""
    if level == CHAT_RIGHTS:
        return (
            cmd.is_private
            or has(ctx, cmd, CHAT_ADMIN)
            or ctx.store.chat_settings(cmd.chat).subscribe_policy == "everyone"
        )
    return has(ctx, cmd, level)


def require_chat_rights(ctx: Ctx, cmd: Command, *, target: str | None = None) -> None:
    """Changing a chat (its subscriptions, settings): the person's own private chat, a chat
    admin, or anyone where the chat lets everyone."""
    if cmd.is_private or has(ctx, cmd, CHAT_ADMIN):
        return
    if ctx.store.chat_settings(cmd.chat).subscribe_policy == "everyone":
        return
    require(ctx, cmd, CHAT_ADMIN, target=target)
