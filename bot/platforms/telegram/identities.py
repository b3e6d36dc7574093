"""Telegram's people, chats and messages as the core's refs, and who counts as whom."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import (
    Bot,
    Chat,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberRestricted,
    Message,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from bot.adapter_contract import DeliveryError
from bot.platforms.lru import Lru
from storage.models import INLINE_CHAT_ID, ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)

PLATFORM = "telegram"
INLINE = INLINE_CHAT_ID  # messages sent through inline mode have no chat of their own
ADMINS = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
ADMIN_CACHE_SECONDS = 30.0


def chat_ref(chat_id: int | str) -> ChatRef:
    return ChatRef(PLATFORM, str(chat_id))


def api_chat_id(chat_id: str) -> int:
    """A chat's id for the Bot API; a permanent DeliveryError for anything else."""
    try:
        return int(chat_id)
    except ValueError:
        raise DeliveryError(f"not a Telegram chat id: {chat_id[:40]!r}", permanent=True) from None


def message_key(message: MessageRef) -> str:
    return f"{message.chat.chat_id}/{message.message_id}"


def user_ref(user: User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.full_name, user.username or "")


def chat_as_user(chat: Chat) -> UserRef:
    """A chat speaking for itself (an anonymous admin, a channel) as the person it stands for:
    never the shared service account Telegram puts into `from`."""
    name = chat.title or chat.full_name or chat.username or str(chat.id)
    return UserRef(PLATFORM, str(chat.id), name, chat.username or "")


def author(message: Message) -> UserRef | None:
    """The person a message counts as from: the chat it was sent on behalf of, if any."""
    if message.sender_chat is not None:
        return chat_as_user(message.sender_chat)
    return user_ref(message.from_user) if message.from_user else None


def replied_to(message: Message) -> UserRef | None:
    target = message.reply_to_message
    if target is None:
        return None
    if target.sender_chat is not None:
        return chat_as_user(target.sender_chat)
    return user_ref(target.from_user) if target.from_user else None


def can_post(me: ChatMember, chat_type: str) -> bool:
    """Whether the bot, as the member `me`, may post in a chat of `chat_type`."""
    if me.status == ChatMemberStatus.OWNER:
        return True
    if chat_type == ChatType.CHANNEL:
        return isinstance(me, ChatMemberAdministrator) and me.can_post_messages is not False
    if isinstance(me, ChatMemberRestricted):
        return me.can_send_messages
    return me.status in {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}


def moderation_target(chat: ChatRef, user: UserRef) -> tuple[int, int] | None:
    """(chat id, user id) for a group or channel; None for private chats and inline."""
    try:
        chat_id, user_id = int(chat.chat_id), int(user.user_id)
    except ValueError:
        return None
    return (chat_id, user_id) if chat_id < 0 else None


class AdminRights:
    """Whether a person administers a group, as Telegram says, remembered for a short while:
    a burst of admin commands or presses asks once."""

    def __init__(self, bot: Callable[[], Bot], *, seconds: float = ADMIN_CACHE_SECONDS) -> None:
        self._bot = bot
        self._seconds = seconds
        self._known: Lru[tuple[int, int], tuple[bool, float]] = Lru(10_000)

    async def check(self, chat_id: int, user_id: int) -> bool:
        key = (chat_id, user_id)
        cached = self._known.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            member = await self._bot().get_chat_member(chat_id, user_id)
        except (TelegramError, DeliveryError) as err:
            log.info("cannot check admin rights in %s: %s", chat_id, err)
            return False
        admin = member.status in ADMINS
        self._known.set(key, (admin, now + self._seconds))
        return admin
