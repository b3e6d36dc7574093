"""Moderation on Discord itself: bans and timeouts on the server of a channel."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import discord

from bot.platforms.discord.outbound import SEND_ERRORS
from storage.models import ChatRef, UserRef

log = logging.getLogger(__name__)

MAX_TIMEOUT = timedelta(days=28) - timedelta(minutes=1)


def timeout_until(until: datetime | None) -> str | None:
    """A timeout's end as Discord takes it, capped at its 28 days; None (or the past) lifts."""
    now = datetime.now(UTC)
    if until is None or until.astimezone(UTC) <= now:
        return None
    return min(until.astimezone(UTC), now + MAX_TIMEOUT).isoformat()


class MemberActions:
    """What the core's moderation commands ask of Discord; each says whether it was done."""

    def __init__(self, client: Callable[[], discord.Client | None]) -> None:
        self._client = client

    def _guild_of(self, chat: ChatRef) -> discord.Guild | None:
        client = self._client()
        if client is None or not chat.chat_id.isdigit():
            return None
        channel = client.get_channel(int(chat.chat_id))
        return (
            channel.guild
            if isinstance(channel, discord.abc.GuildChannel | discord.Thread)
            else None
        )

    async def _moderate(
        self, chat: ChatRef, user: UserRef, what: str, call: Coroutine[Any, Any, Any]
    ) -> bool:
        try:
            await call
        except (discord.Forbidden, discord.NotFound) as err:
            log.info("discord: cannot %s %s in %s: %s", what, user.key(), chat.key(), err)
            return False
        except SEND_ERRORS as err:
            log.warning("discord: %s of %s failed: %s", what, user.key(), err)
            return False
        return True

    async def ban(self, chat: ChatRef, user: UserRef) -> bool:
        guild = self._guild_of(chat)
        if guild is None or not user.user_id.isdigit():
            return False
        person = discord.Object(int(user.user_id))
        return await self._moderate(chat, user, "ban", guild.ban(person, delete_message_seconds=0))

    async def unban(self, chat: ChatRef, user: UserRef) -> bool:
        guild = self._guild_of(chat)
        if guild is None or not user.user_id.isdigit():
            return False
        return await self._moderate(
            chat, user, "unban", guild.unban(discord.Object(int(user.user_id)))
        )

    async def restrict(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        """A timeout until `until`, capped at Discord's 28 days; None (or the past) lifts it."""
        guild = self._guild_of(chat)
        client = self._client()
        if guild is None or client is None or not user.user_id.isdigit():
            return False
        call = client.http.edit_member(
            guild.id, int(user.user_id), communication_disabled_until=timeout_until(until)
        )
        return await self._moderate(chat, user, "timeout", call)
