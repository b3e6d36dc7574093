"""One person across platforms: /link gives a one-time code on one platform and takes it on
another; /unlink undoes it."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError
from handlers.i18n import format_date, t
from handlers.moderation import name_of
from handlers.permissions import audit
from handlers.registry import Param, command
from storage.links import CODE_TTL, MAX_TRIES_PER_HOUR
from storage.models import UserRef

_PLATFORMS = {"telegram": "Telegram", "discord": "Discord", "console": "Terminal"}


def account_name(user: UserRef) -> str:
    """An account as a person recognises it: its platform and its name there."""
    platform = _PLATFORMS.get(user.platform, user.platform)
    return t("link.account", platform=platform, name=name_of(user))


def _accounts(users: list[UserRef] | tuple[UserRef, ...]) -> str:
    return ", ".join(account_name(u) for u in users)


@command("link", Param("code", "text", required=False))
def cmd_link(ctx: Ctx, cmd: Command) -> list[Reply]:
    if not cmd.is_private:
        # A code seen by a group is anyone's: neither asked for nor sent here.
        raise UserError("link.private_only")
    if cmd.args:
        return [_redeem(ctx, cmd, cmd.args[0])]
    linked = ctx.store.links.linked(cmd.user)
    if linked:
        text = t("link.state", accounts=_accounts(linked))
        return [Reply(text=Rich.of(text), private=True)]
    code = ctx.store.links.issue_code(cmd.user)
    if code is None:
        audit(ctx, cmd, "link_code", outcome="too_many_tries")
        raise UserError("link.too_many_tries", limit=MAX_TRIES_PER_HOUR)
    audit(ctx, cmd, "link_code")
    minutes = int(CODE_TTL.total_seconds() // 60)
    text = t("link.code", code=code.code, minutes=minutes, until=format_date(code.expires))
    return [Reply(text=Rich.of(text), private=True)]


def _redeem(ctx: Ctx, cmd: Command, code: str) -> Reply:
    result = ctx.store.links.redeem(cmd.user, code)
    if result.refusal is not None:
        audit(ctx, cmd, "link", outcome=result.refusal)
        raise UserError(
            f"link.{result.refusal}",
            limit=MAX_TRIES_PER_HOUR,
            accounts=_accounts(result.linked),
        )
    audit(
        ctx,
        cmd,
        "link",
        target=",".join(u.key() for u in result.linked),
        outcome=f"votes_merged={result.votes_merged}",
    )
    return Reply(text=Rich.of(t("link.done", accounts=_accounts(result.linked))), private=True)


@command("unlink")
def cmd_unlink(ctx: Ctx, cmd: Command) -> list[Reply]:
    if not cmd.is_private:
        raise UserError("link.private_only")
    others = ctx.store.links.unlink(cmd.user)
    if not others:
        return [Reply(text=Rich.of(t("link.not_linked")), private=True)]
    audit(ctx, cmd, "unlink", target=",".join(u.key() for u in others))
    return [Reply(text=Rich.of(t("link.undone", accounts=_accounts(others))), private=True)]
