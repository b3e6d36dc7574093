"""Moderation on Telegram itself: removing, letting back and muting people in a group."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from telegram import Bot, ChatPermissions
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.adapter_contract import DeliveryError
from bot.platforms.log_redaction import Redactor
from bot.platforms.telegram.identities import moderation_target
from storage.models import ChatRef, UserRef

log = logging.getLogger(__name__)


class MemberActions:
    """What the core's moderation commands ask of Telegram; each says whether it was done."""

    def __init__(self, bot: Callable[[], Bot], redactor: Redactor) -> None:
        self._bot = bot
        self._redactor = redactor

    async def ban(self, chat: ChatRef, user: UserRef) -> bool:
        target = moderation_target(chat, user)
        if target is None:
            return False
        chat_id, user_id = target
        if user_id < 0:  # someone writing as a channel: ban that channel from the chat
            return await self._moderate("ban", lambda b: b.ban_chat_sender_chat(chat_id, user_id))
        return await self._moderate("ban", lambda b: b.ban_chat_member(chat_id, user_id))

    async def unban(self, chat: ChatRef, user: UserRef) -> bool:
        target = moderation_target(chat, user)
        if target is None:
            return False
        chat_id, user_id = target
        if user_id < 0:
            return await self._moderate(
                "unban", lambda b: b.unban_chat_sender_chat(chat_id, user_id)
            )
        return await self._moderate(
            "unban", lambda b: b.unban_chat_member(chat_id, user_id, only_if_banned=True)
        )

    async def restrict(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        target = moderation_target(chat, user)
        if target is None or target[1] < 0:
            return False
        chat_id, user_id = target
        if until is None:
            # Telegram: True for every permission lifts the restriction.
            rights = ChatPermissions.all_permissions()
            return await self._moderate(
                "unmute", lambda b: b.restrict_chat_member(chat_id, user_id, rights)
            )
        muted = ChatPermissions.no_permissions()
        return await self._moderate(
            "mute", lambda b: b.restrict_chat_member(chat_id, user_id, muted, until_date=until)
        )

    async def _moderate(self, action: str, call: Callable[[Bot], Awaitable[bool]]) -> bool:
        """True when Telegram did it; False without the right, or when it failed."""
        try:
            return bool(await call(self._bot()))
        except (Forbidden, BadRequest) as err:
            log.info("Telegram refused %s: %s", action, err.message)
        except TelegramError as err:
            log.warning("Telegram %s failed: %s", action, self._redactor.redact(str(err)))
        except DeliveryError as err:  # not running
            log.warning("Telegram %s failed: %s", action, err.reason)
        return False
