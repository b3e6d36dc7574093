"""Commands on Telegram: the command menu, '/cmd@bot args' read from a message, and commands an
admin gives for a channel from a private chat."""

from __future__ import annotations

import logging
import re

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    Chat,
    ChatFullInfo,
    Message,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.platforms.log_redaction import Redactor
from bot.platforms.telegram.identities import ADMINS, can_post, chat_ref
from bot.platforms.telegram.render import shorten
from bot.runtime import Runtime
from handlers.events import Command, Reply, Rich
from handlers.i18n import t
from handlers.permissions import CHAT_ADMIN, CHAT_RIGHTS, MEMBER
from handlers.registry import COMMANDS, CommandSpec
from storage.models import UserRef

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 256  # a command's description in the menu
# Commands an admin may give for a channel from a private chat: '/subscribe @channel xAI'.
CHANNEL_COMMANDS = frozenset({"subscribe", "unsubscribe", "subscriptions", "lang", "why", "filter"})


# -- the menu ------------------------------------------------------------------------------


def _menu_name(spec: CommandSpec) -> bool:
    return re.fullmatch(r"[a-z0-9_]{1,32}", spec.name) is not None


def _menu_entry(spec: CommandSpec, language: str) -> BotCommand:
    description = shorten(t(spec.help_key, language).strip() or spec.name, MAX_DESCRIPTION)
    return BotCommand(spec.name, description)


def menus(language: str) -> tuple[list[BotCommand], list[BotCommand]]:
    """The menu for everyone, and the one admins of a group see (with the commands for chat
    admins; those for bot admins only are in no menu, as Telegram knows nothing of them)."""
    listed = [spec for spec in COMMANDS.values() if spec.listed and _menu_name(spec)]
    everyone = [_menu_entry(s, language) for s in listed if not s.admin_only]
    admins = [
        _menu_entry(s, language) for s in listed if s.who in {MEMBER, CHAT_RIGHTS, CHAT_ADMIN}
    ]
    return everyone, admins


async def register_menus(bot: Bot, default_language: str) -> None:
    """The command menu per language (de, en, and the default for everyone else)."""
    for code in (None, "de", "en"):
        everyone, admins = menus(code or default_language)
        try:
            await bot.set_my_commands(everyone, language_code=code)
            if len(admins) > len(everyone):
                scope = BotCommandScopeAllChatAdministrators()
                await bot.set_my_commands(admins, scope=scope, language_code=code)
        except TelegramError as err:
            log.warning("cannot set the command list (%s): %s", code or "default", err)


# -- reading a command -----------------------------------------------------------------------


def _for_this_bot(name: str, addressee: str, username: str, *, private: bool) -> bool:
    """'/foo@OtherBot' is not ours, and '/foo' in a group may be meant for another bot."""
    if addressee and addressee.lower() != username.lower():
        return False
    if not name:
        return False
    return name.lower() in COMMANDS or private or bool(addressee)


def parse_command(message: Message, username: str) -> tuple[str, tuple[str, ...]] | None:
    """'/cmd@ThisBot a b' -> ('cmd', ('a', 'b')); None when it is not for this bot. A file's
    caption is read as a message's text is (a document sent with '/feeds import')."""
    text, entities = message.text, message.entities
    if text is None:
        text, entities = message.caption, message.caption_entities
    entity = next((e for e in entities if e.type == "bot_command" and e.offset == 0), None)
    if entity is None or text is None:
        return None
    word = message.parse_entity(entity) if message.text else message.parse_caption_entity(entity)
    name, _, addressee = word[1:].partition("@")
    private = message.chat.type == ChatType.PRIVATE
    if not _for_this_bot(name, addressee, username, private=private):
        return None
    return name, tuple(text[len(word) :].split())


def for_a_channel(chat: Chat, name: str, args: tuple[str, ...]) -> bool:
    """'/subscribe @channel xAI' in a private chat."""
    private = chat.type == ChatType.PRIVATE
    return private and name.lower() in CHANNEL_COMMANDS and bool(args) and args[0][:1] == "@"


class ChannelCommands:
    """A command for a channel, done once Telegram confirms that the person is an admin there
    and that the bot can post there."""

    def __init__(self, runtime: Runtime, redactor: Redactor) -> None:
        self.runtime = runtime
        self.redactor = redactor

    async def run(
        self,
        bot: Bot,
        chat: Chat,
        user: UserRef,
        command: tuple[str, tuple[str, ...]],
        locale: str | None,
    ) -> list[Reply]:
        name, args = command
        handle = args[0][:64]
        language = await self.runtime.language(chat_ref(chat.id), locale)

        def refuse(key: str) -> list[Reply]:
            text = t(key, language, channel=handle)
            return [Reply(text=Rich.of(text), notice=text, private=True)]

        try:
            refused = await self._refusal(bot, handle, user)
        except TelegramError as err:
            log.warning("cannot check %s: %s", handle, self.redactor.redact(str(err)))
            return refuse("error.internal")
        if isinstance(refused, str):
            return refuse(refused)
        cmd = Command(
            chat=chat_ref(refused.id),
            user=user,
            name=name,
            args=args[1:],
            locale=locale,
            is_chat_admin=True,
            is_private=False,
        )
        replies = await self.runtime.on_command(cmd)
        # The answer goes to the private chat: the channel need not wait for it.
        await self.runtime.answered(cmd.chat)
        return replies

    async def _refusal(self, bot: Bot, handle: str, user: UserRef) -> str | ChatFullInfo:
        """The channel when the person may act for it; else the catalogue key saying why."""
        try:
            target = await bot.get_chat(handle)
        except (BadRequest, Forbidden):
            return "telegram.channel_unknown"
        if target.type == ChatType.PRIVATE:
            return "telegram.channel_unknown"
        try:
            member = await bot.get_chat_member(target.id, int(user.user_id))
            me = await bot.get_chat_member(target.id, bot.id)
        except (BadRequest, Forbidden):
            return "telegram.channel_not_admin"
        if member.status not in ADMINS:
            return "telegram.channel_not_admin"
        if not can_post(me, target.type):
            return "telegram.channel_bot_cannot_post"
        return target
