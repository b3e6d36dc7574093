"""Discord posts and edits from the outbox: checked against the bot's permissions first, paced
within Discord's limits, batched per message, and failures mapped for the outbox."""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.adapter_contract import DeliveryError, Sharing
from bot.pacing import Limit, Pacer
from bot.platforms.discord.identities import Channel, message_key
from bot.platforms.discord.render import Rendered, render, thread_name
from bot.platforms.edit_batching import EditBatching, Shown
from bot.settings import Settings
from handlers.events import Outgoing, Reply
from storage.models import ChatRef, MessageRef
from storage.tags import tag_key

log = logging.getLogger(__name__)

MAX_APPLIED_TAGS = 5  # tags on one forum post (Discord's limit)
# What a send can fail with beyond discord.py's own retries.
SEND_ERRORS = (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, TimeoutError)


def _retry_after(err: discord.HTTPException) -> float:
    headers = getattr(err.response, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("X-RateLimit-Reset-After") or "5"
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return 5.0


def failure(err: BaseException) -> DeliveryError:
    """What a failed request means for the outbox. A chat that answers 403 or 404 is paused:
    Discord bans the IP of a bot that keeps making failing requests."""
    if isinstance(err, discord.RateLimited):
        return DeliveryError("discord: rate limited", retry_after=err.retry_after)
    if isinstance(err, discord.Forbidden | discord.NotFound):
        return DeliveryError(f"discord {err.code}: {err.text or err.status}", permanent=True)
    if isinstance(err, discord.HTTPException):
        if err.status == 429:
            return DeliveryError("discord: rate limited", retry_after=_retry_after(err))
        return DeliveryError(f"discord {err.status}: {err.text[:200]}")
    return DeliveryError(f"discord: {type(err).__name__}")


def _missing_rights(
    channel: discord.abc.GuildChannel | discord.Thread,
    rendered: Rendered,
    perms: discord.Permissions,
) -> list[str]:
    missing: list[str] = []
    if isinstance(channel, discord.Thread):
        if not perms.send_messages_in_threads:
            missing.append("Send Messages in Threads")
    elif not perms.send_messages:
        missing.append("Send Messages")
    if rendered.embed is not None and not perms.embed_links:
        missing.append("Embed Links")
    if rendered.chart is not None and not perms.attach_files:
        missing.append("Attach Files")
    return missing


def refusal(channel: Channel, rendered: Rendered) -> DeliveryError | None:
    """The bot's cached permissions already say a send would fail: no failing request."""
    if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return None
    me = channel.guild.me
    if me is None:
        return None
    perms = channel.permissions_for(me)
    if not perms.view_channel:
        return DeliveryError("discord 50001: Missing Access", permanent=True)
    missing = _missing_rights(channel, rendered, perms)
    if missing:
        reason = f"discord 50013: Missing Permissions ({', '.join(missing)})"
        return DeliveryError(reason, permanent=True)
    return None


def forum_tags(forum: discord.ForumChannel, reply: Reply) -> list[discord.ForumTag]:
    """The forum's own tags whose names are tags of the article (compared as tags are, so
    "#KI" and "ki" agree), at most as many as Discord lets a post carry."""
    wanted = {tag_key(tag) for tag in reply.card.tags} if reply.card is not None else set()
    matching = [tag for tag in forum.available_tags if tag_key(tag.name) in wanted]
    return matching[:MAX_APPLIED_TAGS]


class Outbound:
    """Everything the outbox sends to Discord. `client` is set while the adapter runs."""

    def __init__(
        self, settings: Settings, default_language: str, sharing: Sharing | None = None
    ) -> None:
        per_channel = Limit(settings.discord_rate_per_channel, 5.0)
        self.pacer = Pacer(Limit(settings.discord_rate_overall, 1.0), lambda _key: [per_channel])
        self.language = default_language
        self.client: discord.Client | None = None
        # Channels fetched once because the cache lacked them (DMs, mostly).
        self.fetched: dict[int, Channel] = {}
        self.edits: EditBatching[str] = EditBatching(sharing=sharing)

    def connected(self) -> discord.Client:
        if self.client is None or self.client.is_closed():
            raise DeliveryError("discord: not connected")
        return self.client

    async def channel(self, channel_id: int) -> Channel:
        client = self.connected()
        channel = client.get_channel(channel_id) or self.fetched.get(channel_id)
        if channel is None:
            await self.pacer.acquire(str(channel_id))
            try:
                channel = await client.fetch_channel(channel_id)
            except SEND_ERRORS as err:
                raise failure(err) from err
            self.fetched[channel_id] = channel
        return channel

    async def send(self, out: Outgoing) -> MessageRef:
        channel = await self.channel(int(out.chat.chat_id))
        rendered = render(out.reply, self.language)
        refused = refusal(channel, rendered)
        if refused is not None:
            raise refused
        await self.pacer.acquire(out.chat.chat_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                # In a forum each article is a post of its own: a thread opened by the post.
                created = await channel.create_thread(
                    name=thread_name(out.reply),
                    applied_tags=forum_tags(channel, out.reply),
                    **rendered.send_kwargs(),
                )
                return MessageRef(out.chat, str(created.message.id))
            message = await self._post(channel, out, rendered)
        except SEND_ERRORS as err:
            raise self.failed(err, out.chat) from err
        if isinstance(channel, discord.TextChannel) and out.reply.card is not None and out.threads:
            await self._open_thread(channel, message, out.reply)
        return MessageRef(out.chat, str(message.id))

    async def _post(self, channel: Channel, out: Outgoing, rendered: Rendered) -> discord.Message:
        if not isinstance(channel, discord.abc.Messageable):
            raise DeliveryError("discord: not a channel to post in", permanent=True)
        # The nonce makes Discord answer a retried send with the first message, not a copy.
        kwargs = rendered.send_kwargs()
        if out.reply.article_id is not None:
            kwargs["nonce"] = f"nb{out.reply.article_id}"
        return await channel.send(**kwargs)

    async def _open_thread(
        self, channel: discord.TextChannel, message: discord.Message, reply: Reply
    ) -> None:
        """A discussion thread under the post. Without it the post still stands: a failure
        here must not make the outbox send the article again."""
        me = channel.guild.me
        if me is not None and not channel.permissions_for(me).create_public_threads:
            log.info("discord: no right to open threads in %s", channel.id)
            return
        await self.pacer.acquire(str(channel.id))
        try:
            await message.create_thread(name=thread_name(reply), auto_archive_duration=1440)
        except SEND_ERRORS as err:
            log.warning("discord: no thread for message %s: %s", message.id, err)

    def failed(self, err: BaseException, chat: ChatRef) -> DeliveryError:
        mapped = failure(err)
        if mapped.retry_after is not None:
            self.pacer.back_off(chat.chat_id, mapped.retry_after)
        return mapped

    async def message(self, message: MessageRef) -> discord.PartialMessage:
        client = self.connected()
        channel = await self.channel(int(message.chat.chat_id))
        # A forum post's first message lives in the post's thread, whose id it shares.
        where = int(message.message_id) if isinstance(channel, discord.ForumChannel) else channel.id
        return client.get_partial_messageable(where).get_partial_message(int(message.message_id))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Edit a post, batched with the other edits of the message (edit_batching)."""
        target = await self.message(message)
        rendered = render(reply, self.language)

        async def send(shown: Shown[str] | None) -> None:
            await self.pacer.acquire(message.chat.chat_id)
            try:
                await target.edit(**rendered.edit_kwargs())
            except SEND_ERRORS as err:
                raise self.failed(err, message.chat) from err

        wanted = Shown(reply.poll_version, rendered.look())
        await self.edits.edit(message_key(message), wanted, send)

    async def delete(self, message: MessageRef) -> None:
        target = await self.message(message)
        await self.pacer.acquire(message.chat.chat_id)
        try:
            await target.delete()
        except discord.NotFound:
            return
        except SEND_ERRORS as err:
            raise self.failed(err, message.chat) from err
