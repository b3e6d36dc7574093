"""/help lists exactly the commands a person may use where they ask: for every kind of person
and chat, a command missing from their help is refused when they try it, and one listed is
not, through the real handlers and store."""

from __future__ import annotations

import re

import pytest

from handlers import dispatch
from handlers.command_guide import NOT_IN_HELP, SECTIONS
from handlers.context import Ctx
from handlers.events import Command
from handlers.i18n import t
from handlers.registry import COMMANDS
from storage.models import ChatRef, UserRef
from tests.conftest import add, article

GROUP = ChatRef("telegram", "-100")
PERSON = UserRef("telegram", "7", "Pat", "pat")
# Arguments that get each command past its usage check to its rights check.
ARGS: dict[str, tuple[str, ...]] = {
    "subscribe": ("xAI",),
    "unsubscribe": ("xAI",),
    "latest": (),
    "vote": ("1", "1"),
    "results": ("1",),
    "ask": ("Wer?",),
    "search": ("xAI",),
    "article": ("1",),
    "mute": ("@ghost", "10m"),
    "remove": ("1",),
    "restore": ("1",),
    "closepoll": ("1",),
    "reopenpoll": ("1",),
    "resetvotes": ("1",),
    "feeds": ("list",),
    "admin": ("list",),
}
REFUSALS = {
    t(key, "de") for key in ("error.need_admin", "error.need_bot_admin", "error.need_owner")
}


def test_every_listed_command_has_its_place_in_the_help() -> None:
    placed = [name for _, names in SECTIONS for name in names]
    listed = {name for name, spec in COMMANDS.items() if spec.listed} - NOT_IN_HELP
    assert sorted(placed) == sorted(listed)


async def run(ctx: Ctx, name: str, *, private: bool, chat_admin: bool) -> str:
    cmd = Command(
        chat=ChatRef("telegram", PERSON.user_id) if private else GROUP,
        user=PERSON,
        name=name,
        args=ARGS.get(name, ("@ghost",) if COMMANDS[name].params[:1] else ()),
        is_chat_admin=chat_admin,
        is_private=private,
    )
    replies = await dispatch.handle_command(ctx, cmd)
    return "\n".join(r.text.plain() for r in replies)


@pytest.mark.parametrize(
    ("private", "chat_admin", "bot_admin"),
    [
        (False, False, False),
        (False, True, False),
        (False, False, True),
        (True, False, False),
        (True, False, True),
    ],
    ids=["member-in-group", "chat-admin", "bot-admin-in-group", "private", "bot-admin-private"],
)
async def test_help_lists_exactly_what_the_person_may_use(
    ctx: Ctx, private: bool, chat_admin: bool, bot_admin: bool
) -> None:
    add(ctx, article())
    if bot_admin:
        ctx.mod.grant_admin(PERSON, "telegram:1")
    shown = set(
        re.findall(r"/(\w+)", await run(ctx, "help", private=private, chat_admin=chat_admin))
    )
    for name in sorted(set(COMMANDS) - NOT_IN_HELP - {"forgetme"}):
        refused = await run(ctx, name, private=private, chat_admin=chat_admin) in REFUSALS
        assert refused == (name not in shown), f"/{name}: shown={name in shown}, refused={refused}"
