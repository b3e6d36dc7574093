"""Plain messages to the bot on Discord: a question by direct message, or a message in a
server that mentions the bot, answered from the archive. Discord sends the content of both
without the privileged message content intent."""

from __future__ import annotations

import logging

import discord

from bot.adapter_contract import DeliveryError
from bot.platforms.discord.identities import chat_ref, user_ref
from bot.platforms.discord.outbound import Outbound
from bot.platforms.discord.render import fits_one_message
from bot.platforms.message_parts import reply_parts
from bot.runtime import Runtime
from handlers.events import Outgoing

log = logging.getLogger(__name__)


class Conversation:
    """Answers the plain messages meant for the bot; all others it leaves alone."""

    def __init__(self, runtime: Runtime, out: Outbound) -> None:
        self.runtime = runtime
        self.out = out

    async def on_message(self, message: discord.Message, me: discord.ClientUser | None) -> None:
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if message.type not in {discord.MessageType.default, discord.MessageType.reply}:
            return
        private = message.guild is None
        mentioned = any(user.id == me.id for user in message.mentions)
        if not message.content or not (private or mentioned):
            return
        chat = chat_ref(message.channel.id)
        replies = await self.runtime.on_text(
            chat,
            user_ref(message.author),
            message.content,
            is_private=private,
            mentions_bot=mentioned,
        )
        for reply in replies:
            for part in reply_parts(reply, fits_one_message):
                try:
                    sent = await self.out.send(Outgoing(chat, part))
                except DeliveryError as err:
                    log.info("discord: cannot answer a message in %s: %s", chat.chat_id, err)
                    return
                await self.runtime.posted(part, sent)
