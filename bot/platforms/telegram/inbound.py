"""Telegram updates in: commands, plain messages, button presses, and the bot's own membership
changes, each turned into what the core takes and answered through Outbound."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import CallbackContext

from bot.adapter_contract import DeliveryError
from bot.platforms.keyed_locks import KeyedLocks
from bot.platforms.log_redaction import Redactor
from bot.platforms.telegram.commands import ChannelCommands, for_a_channel, parse_command
from bot.platforms.telegram.identities import (
    INLINE,
    AdminRights,
    author,
    chat_ref,
    replied_to,
    user_ref,
)
from bot.platforms.telegram.outbound import Outbound
from bot.platforms.telegram.render import shorten
from bot.runtime import Runtime
from handlers.buttons import asks_chat_admin
from handlers.codec import read
from handlers.events import MAX_ATTACHMENT_BYTES, Attachment, Command, Press, Reply
from handlers.i18n import t
from handlers.registry import COMMANDS
from storage.models import ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)

Context = CallbackContext[Any, Any, Any, Any]
MAX_NOTICE = 200  # callback answer text
GONE = frozenset({ChatMemberStatus.LEFT, ChatMemberStatus.BANNED})


class Inbound:
    """The handlers of one adapter's PTB Application. `username` is set once the bot knows
    its own name."""

    def __init__(self, runtime: Runtime, out: Outbound, bot_id: int, redactor: Redactor) -> None:
        self.runtime = runtime
        self.out = out
        self.bot_id = bot_id
        self.username = ""
        self.admins = AdminRights(out.bot)
        self._channels = ChannelCommands(runtime, redactor)
        self.redactor = redactor
        self._chat_locks = KeyedLocks()

    # -- the chat itself ----------------------------------------------------------------------

    async def on_migration(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        log.info("Telegram group %s is now supergroup %s", old, new)
        await self.runtime.migrated(chat_ref(old), chat_ref(new))

    async def on_my_membership(self, update: Update, context: Context) -> None:
        change = update.my_chat_member
        if change is None or change.new_chat_member.status not in GONE:
            return
        chat = change.chat
        if chat.type == ChatType.PRIVATE:
            reason = "bot was blocked by the user"
        elif change.new_chat_member.status == ChatMemberStatus.BANNED:
            reason = f"bot was kicked from the {chat.type} chat"
        else:
            reason = f"bot left the {chat.type} chat"
        log.info("Telegram chat %s unreachable: %s", chat.id, reason)
        await self.runtime.chat_unreachable(chat_ref(chat.id), reason)

    # -- commands and messages ----------------------------------------------------------------

    async def on_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or message.is_automatic_forward:
            # A linked channel's post copied into its discussion group is not said to us.
            return
        parsed = parse_command(message, self.username)
        if parsed is None:
            return
        # One command at a time per chat keeps replies in the order they were asked.
        async with self._chat_locks.hold(str(message.chat.id)):
            await self._run_command(message, parsed)

    async def _run_command(self, message: Message, parsed: tuple[str, tuple[str, ...]]) -> None:
        chat = message.chat
        sender = await self._sender(message)
        if sender is None:
            return
        user, is_admin = sender
        name, args = parsed
        private = chat.type == ChatType.PRIVATE
        locale = message.from_user.language_code if message.from_user else None
        if for_a_channel(chat, name, args):
            replies = await self._channels.run(self.out.bot(), chat, user, parsed, locale)
        else:
            cmd = Command(
                chat=chat_ref(chat.id),
                user=user,
                name=name,
                args=args,
                locale=locale,
                is_chat_admin=is_admin,
                is_private=private,
                reply_to_user=replied_to(message),
                thread=topic_of(message),
                attachment=await self._attachment(message, name),
            )
            replies = await self.runtime.on_command(cmd)
        reply_to = None if private else message.message_id
        try:
            for reply in replies:
                await self.out.answer(
                    str(chat.id), reply, reply_to=reply_to, topic=topic_of(message)
                )
        finally:
            await self.runtime.answered(chat_ref(chat.id))

    async def _attachment(self, message: Message, name: str) -> Attachment | None:
        """The document sent with a command that takes a file, downloaded when it is small
        enough (its announced size is checked first, and the bytes again)."""
        spec = COMMANDS.get(name.lower())
        document = message.document
        if document is None or spec is None or not spec.takes_file:
            return None
        file_name, size = document.file_name or "file", document.file_size or 0
        if size > MAX_ATTACHMENT_BYTES:
            return Attachment(file_name, size, None)
        try:
            file = await self.out.bot().get_file(document.file_id)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as err:
            log.info("cannot download a document: %s", self.redactor.redact(str(err)))
            return Attachment(file_name, size, None)
        if len(data) > MAX_ATTACHMENT_BYTES:
            return Attachment(file_name, len(data), None)
        return Attachment(file_name, len(data), data)

    async def _sender(self, message: Message) -> tuple[UserRef, bool] | None:
        """Who sent it, and whether they are an admin of the chat (platform-facts.md): a
        message on behalf of the chat itself (an anonymous admin, or a channel's own post)
        is an admin's; one on behalf of any other chat (a linked channel, someone writing as a
        channel) is not; otherwise Telegram says. The service account 1087968824 behind
        anonymous admins is never trusted by itself."""
        chat = message.chat
        user = author(message)
        if user is None:
            return None
        if message.sender_chat is not None:
            return user, message.sender_chat.id == chat.id
        if chat.type == ChatType.PRIVATE or message.from_user is None:
            # The person decides about their own chat (is_private); they administer nothing.
            return user, False
        return user, await self.admins.check(chat.id, message.from_user.id)

    async def on_text(self, update: Update, context: Context) -> None:
        """A plain message: a question in a private chat, or one that mentions the bot (or
        answers one of its messages) in a group, is answered from the archive."""
        message = update.message
        if message is None or not message.text or message.is_automatic_forward:
            return
        chat = message.chat
        private = chat.type == ChatType.PRIVATE
        mentioned = self._mentions_me(message)
        user = author(message)
        if user is None or not (private or mentioned):
            return
        locale = message.from_user.language_code if message.from_user else None
        reply_to = None if private else message.message_id
        async with self._chat_locks.hold(str(chat.id)):
            replies = await self.runtime.on_text(
                chat_ref(chat.id),
                user,
                message.text,
                is_private=private,
                mentions_bot=mentioned,
                locale=locale,
            )
            for reply in replies:
                await self.out.answer(
                    str(chat.id), reply, reply_to=reply_to, topic=topic_of(message)
                )

    def _mentions_me(self, message: Message) -> bool:
        replied = message.reply_to_message
        if replied is not None and replied.from_user and replied.from_user.id == self.bot_id:
            return True
        if not self.username:
            return False
        pattern = rf"(?<![\w@])@{re.escape(self.username)}(?!\w)"
        return re.search(pattern, message.text or "", re.IGNORECASE) is not None

    # -- button presses -----------------------------------------------------------------------

    async def on_press(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        press = await self._press_of(query)
        replies = await self._run_press(query, press)
        notice = next((r.notice for r in replies if r.notice), None)
        # Answer at once: the person's spinner stops, whatever the edits below take.
        try:
            await query.answer(shorten(notice, MAX_NOTICE) if notice else None)
        except TelegramError as err:
            log.info("cannot answer callback query: %s", err)
        pressed = query.message
        topic = topic_of(pressed) if isinstance(pressed, Message) else ""
        for reply in replies:
            await self._show(press, reply, topic)

    async def _press_of(self, query: CallbackQuery) -> Press:
        """The press as the core takes it, its data decoded once."""
        action, params = read(query.data or "")
        chat, ref = _pressed_where(query)
        return Press(
            chat=chat,
            user=user_ref(query.from_user),
            message=ref,
            action=action,
            params=params,
            locale=query.from_user.language_code,
            is_chat_admin=await self._pressed_by_admin(query, action),
            button_on_message=_button_on_message(query),
        )

    async def _pressed_by_admin(self, query: CallbackQuery, action: str) -> bool:
        """Asked of Telegram only for a button that wants an admin, in a group."""
        message = query.message
        if message is None or message.chat.type == ChatType.PRIVATE:
            return False
        return asks_chat_admin(action) and await self.admins.check(
            message.chat.id, query.from_user.id
        )

    async def _run_press(self, query: CallbackQuery, press: Press) -> list[Reply]:
        try:
            return await self.runtime.on_press(press)
        except Exception:
            # Still stop the spinner; the error handler logs what went wrong.
            with contextlib.suppress(TelegramError):
                language = await self.runtime.language(press.chat, press.locale)
                await query.answer(shorten(t("error.internal", language), MAX_NOTICE))
            raise

    async def _show(self, press: Press, reply: Reply, topic: str) -> None:
        """An edit goes to the pressed message; a private reply to the presser's own chat
        (unless the notice said it); anything else to the chat (the pressed message's topic)."""
        if reply.edit:
            if press.message is not None:
                await self._show_press(press.message, reply)
        elif reply.private:
            if not reply.notice:
                await self.out.answer(press.user.user_id, reply)
        else:
            await self.out.answer(press.chat.chat_id, reply, topic=topic)

    async def _show_press(self, ref: MessageRef, reply: Reply) -> None:
        """Edit the pressed message as the core rendered it (in the post's own language); the
        core has recorded it as shown already."""
        try:
            shown = await self.out.edit(ref, reply)
        except DeliveryError as err:
            log.info("cannot edit pressed message: %s", err.reason)
            await self.runtime.edit_failed(ref)
            return
        if shown:
            await self.runtime.edit_landed(ref, reply)


def topic_of(message: Message) -> str:
    """The forum topic a message was sent in ("" outside topics: a reply thread in a group
    that is no forum has a message_thread_id too, but is no topic)."""
    if message.is_topic_message and message.message_thread_id:
        return str(message.message_thread_id)
    return ""


def _button_on_message(query: CallbackQuery) -> bool:
    """Telegram sends the pressed message with the press, keyboard included (unless it is too
    old to be sent): whether the pressed data is one of its buttons."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    rows = message.reply_markup.inline_keyboard
    return any(button.callback_data == query.data for row in rows for button in row)


def _pressed_where(query: CallbackQuery) -> tuple[ChatRef, MessageRef | None]:
    """The chat a press counts in, and the pressed message. Inline messages live in chats the
    bot may not be in: the presser's own chat decides the language, and the message is
    addressed by its inline id."""
    if query.message is not None:
        chat = chat_ref(query.message.chat.id)
        # A photo post's caption is edited, not its text.
        photo = isinstance(query.message, Message) and bool(query.message.photo)
        return chat, MessageRef(chat, str(query.message.message_id), photo=photo)
    own_chat = chat_ref(query.from_user.id)
    if query.inline_message_id:
        return own_chat, MessageRef(chat_ref(INLINE), query.inline_message_id)
    return own_chat, None
