"""The Discord adapter: slash commands and poll buttons in, paced posts and edits out, on
discord.py 2.7 without privileged intents."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import discord
from discord import app_commands

from bot.adapter_contract import DeliveryError, PlatformStartError
from bot.pacing import Limit, Pacer
from bot.platforms.discord.commands import CatalogueTranslator, slash_commands
from bot.platforms.discord.render import (
    NO_MENTIONS,
    Rendered,
    notice_text,
    render,
    thread_name,
)
from bot.platforms.edit_batching import EditBatching, Shown
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.codec import read
from handlers.events import Command, Outgoing, Press, Reply
from handlers.registry import COMMANDS
from storage.models import ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Discord's 3 s to answer an interaction: past this the core's answer follows a defer.
ANSWER_WITHIN = 2.0
MAX_TIMEOUT = timedelta(days=28) - timedelta(minutes=1)
# Commands that act on people on the server need Discord's own right for it besides Manage
# Channels: else a channel manager could have the bot ban or time out people for them.
SERVER_RIGHT = {
    "ban": "ban_members",
    "unban": "ban_members",
    "mute": "moderate_members",
    "unmute": "moderate_members",
    "warn": "moderate_members",
    "warnings": "moderate_members",
    "resetwarnings": "moderate_members",
}
# What a send can fail with beyond discord.py's own retries.
SEND_ERRORS = (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, TimeoutError)

Interaction = discord.Interaction[Any]
Channel = discord.abc.GuildChannel | discord.Thread | discord.abc.PrivateChannel


@dataclass(slots=True)
class Turn:
    """One interaction being answered; `thinking` until a deferred command's first reply."""

    interaction: Interaction
    thinking: bool = False


def parse_guild_ids(text: str) -> list[int]:
    return [int(part) for part in text.replace(" ", "").split(",") if part]


def chat_admin_for(permissions: discord.Permissions, command: str) -> bool:
    right = SERVER_RIGHT.get(command)
    return permissions.manage_channels and (right is None or getattr(permissions, right))


def message_key(message: MessageRef) -> str:
    return f"{message.chat.chat_id}/{message.message_id}"


def user_ref(user: discord.abc.User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.display_name, user.name)


def failure(err: BaseException) -> DeliveryError:
    """What a failed request means for the outbox. A chat that answers 403 or 404 is paused:
    Discord bans the IP of a bot that keeps making failing requests."""
    if isinstance(err, discord.RateLimited):
        return DeliveryError("discord: rate limited", retry_after=err.retry_after)
    if isinstance(err, discord.Forbidden | discord.NotFound):
        return DeliveryError(f"discord {err.code}: {err.text or err.status}", permanent=True)
    if isinstance(err, discord.HTTPException):
        if err.status == 429:
            headers = getattr(err.response, "headers", None) or {}
            raw = headers.get("Retry-After") or headers.get("X-RateLimit-Reset-After") or "5"
            try:
                retry_after = max(float(raw), 0.0)
            except ValueError:
                retry_after = 5.0
            return DeliveryError("discord: rate limited", retry_after=retry_after)
        return DeliveryError(f"discord {err.status}: {err.text[:200]}")
    return DeliveryError(f"discord: {type(err).__name__}")


def refusal(channel: Channel, rendered: Rendered) -> DeliveryError | None:
    """The bot's cached permissions already say a send would fail: no failing request."""
    if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return None
    me = channel.guild.me
    if me is None:
        return None
    perms = channel.permissions_for(me)
    missing: list[str] = []
    if not perms.view_channel:
        return DeliveryError("discord 50001: Missing Access", permanent=True)
    if isinstance(channel, discord.Thread):
        if not perms.send_messages_in_threads:
            missing.append("Send Messages in Threads")
    elif not perms.send_messages:
        missing.append("Send Messages")
    if rendered.embed is not None and not perms.embed_links:
        missing.append("Embed Links")
    if missing:
        reason = f"discord 50013: Missing Permissions ({', '.join(missing)})"
        return DeliveryError(reason, permanent=True)
    return None


class NewsbotClient(discord.Client):
    """The discord.py client; everything it hears goes to the adapter."""

    def __init__(self, adapter: DiscordAdapter, *, guild_ready_timeout: float) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
        )
        self.adapter = adapter
        self.tree: app_commands.CommandTree[NewsbotClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.adapter.install_commands(self.tree)

    async def on_interaction(self, interaction: Interaction) -> None:
        # Every press arrives here, of buttons of any age and from any earlier process:
        # discord.py itself drops a press whose button is no longer on the message.
        await self.adapter.on_component(interaction)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.adapter.guild_removed(guild)

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self.adapter.channel_gone(channel.id, "discord: the channel was deleted")

    async def on_thread_delete(self, thread: discord.Thread) -> None:
        await self.adapter.channel_gone(thread.id, "discord: the thread was deleted")


class DiscordAdapter:
    """newsbot on Discord. One client per start(); the outbox worker calls send and edit."""

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.discord_token is None:
            raise ValueError("NEWSBOT_DISCORD_TOKEN is not set")
        self.runtime = runtime
        # For what a reply leaves open (it carries the language it was written in).
        self.language = runtime.ctx.config.default_language
        self._token = settings.discord_token
        self.guild_ids = parse_guild_ids(settings.discord_guild_ids)
        self.ready_timeout = settings.discord_ready_timeout
        self.answer_within = ANSWER_WITHIN
        self.guild_ready_timeout = settings.discord_guild_ready_timeout
        per_channel = Limit(settings.discord_rate_per_channel, 5.0)
        self.pacer = Pacer(Limit(settings.discord_rate_overall, 1.0), lambda _key: [per_channel])
        self.client: NewsbotClient | None = None
        self._gateway: asyncio.Task[None] | None = None
        # Channels fetched once because the cache lacked them (DMs, mostly).
        self._fetched: dict[int, Channel] = {}
        self._edits: EditBatching[str] = EditBatching()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (which syncs the commands), connect in a task, return once ready."""
        if self.client is not None:
            return
        client = NewsbotClient(self, guild_ready_timeout=self.guild_ready_timeout)
        try:
            await client.login(self._token.get_secret_value())
        except discord.LoginFailure:
            await client.close()
            raise PlatformStartError("Discord could not start: the token was refused") from None
        except BaseException:
            await client.close()
            raise
        self.client = client
        self._gateway = asyncio.create_task(client.connect(reconnect=True), name="discord")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._gateway}, timeout=self.ready_timeout, return_when="FIRST_COMPLETED"
        )
        if ready in done:
            log.info("discord: ready as %s in %s servers", client.user, len(client.guilds))
            return
        ready.cancel()
        gateway = self._gateway
        problem = gateway.exception() if gateway.done() and not gateway.cancelled() else None
        await self.stop()
        raise PlatformStartError(f"Discord did not become ready: {problem or 'timeout'}")

    async def stop(self) -> None:
        """Close the connection; what is still to be sent stays in the outbox."""
        client, gateway = self.client, self._gateway
        self.client, self._gateway = None, None
        self._fetched.clear()
        if client is not None:
            await client.close()
        if gateway is None:
            return
        await asyncio.wait({gateway}, timeout=10)
        if not gateway.done():
            gateway.cancel()
            log.warning("discord: the gateway did not close in time")
        elif not gateway.cancelled() and gateway.exception() is not None:
            log.warning("discord: the gateway ended with %r", gateway.exception())

    async def install_commands(self, tree: app_commands.CommandTree[NewsbotClient]) -> None:
        await tree.set_translator(CatalogueTranslator())
        for command in slash_commands(
            list(COMMANDS.values()), self.run_command, self.runtime.known_tags, self.language
        ):
            tree.add_command(command)
        # Global commands reach every server and DMs (Discord may take a while to show new
        # ones); per-server ones are there at once, but only in those servers.
        scopes: list[discord.Object | None] = [discord.Object(g) for g in self.guild_ids] or [None]
        for guild in scopes:
            if guild is not None:
                tree.copy_global_to(guild=guild)
            try:
                await tree.sync(guild=guild)
            except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as err:
                # The commands of the last sync stay registered; posts and buttons work anyway.
                where = f"server {guild.id}" if guild is not None else "everywhere"
                log.error("discord: cannot sync commands (%s): %s", where, err)

    def _client(self) -> NewsbotClient:
        if self.client is None or self.client.is_closed():
            raise DeliveryError("discord: not connected")
        return self.client

    # -- people: slash commands and buttons -------------------------------------------------

    def chat_of(self, interaction: Interaction) -> ChatRef:
        """Where a command counts: the channel, but for a forum's post its forum (a forum has no
        message box of its own; its settings and subscriptions are the forum's)."""
        channel = interaction.channel
        if isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel):
            return ChatRef(PLATFORM, str(channel.parent.id))
        return ChatRef(PLATFORM, str(interaction.channel_id))

    def message_ref(self, interaction: Interaction, message_id: int) -> MessageRef:
        """A message in the interaction's channel as the outbox records it: a forum post's
        first message (its id is the thread's) belongs to the forum, like the delivery."""
        channel = interaction.channel
        if (
            isinstance(channel, discord.Thread)
            and message_id == channel.id
            and isinstance(channel.parent, discord.ForumChannel)
        ):
            return MessageRef(ChatRef(PLATFORM, str(channel.parent.id)), str(message_id))
        return MessageRef(ChatRef(PLATFORM, str(interaction.channel_id)), str(message_id))

    async def run_command(self, interaction: Interaction, name: str, args: tuple[str, ...]) -> None:
        chat = self.chat_of(interaction)
        in_server = interaction.guild_id is not None
        cmd = Command(
            chat=chat,
            user=user_ref(interaction.user),
            name=name,
            args=args,
            locale=str(interaction.locale),
            # Checked here, whatever a server set as the command's default permissions.
            is_chat_admin=in_server and chat_admin_for(interaction.permissions, name),
            is_private=not in_server,
        )
        turn = Turn(interaction)
        try:
            replies = await self._in_time(turn, self.runtime.on_command(cmd), update=False)
            for reply in replies:
                await self._answer(turn, reply)
            if not interaction.response.is_done():
                await interaction.response.defer(ephemeral=True)
                await interaction.delete_original_response()
        except SEND_ERRORS as err:
            log.warning("discord: cannot answer /%s: %s", name, err)

    async def on_button(self, interaction: Interaction, data: str) -> None:
        """One press, answered within Discord's 3 s whatever the core says."""
        chat = self.chat_of(interaction)
        pressed = interaction.message
        ref = self.message_ref(interaction, pressed.id) if pressed is not None else None
        action, params = read(data)
        locale = str(interaction.locale)
        press = Press(
            chat=chat,
            user=user_ref(interaction.user),
            message=ref,
            action=action,
            params=params,
            locale=locale,
            is_chat_admin=interaction.guild_id is not None
            and interaction.permissions.manage_channels,
        )
        turn = Turn(interaction)
        try:
            replies = await self._in_time(turn, self.runtime.on_press(press), update=True)
            for reply in replies:
                if reply.edit and pressed is not None:
                    await self._edit_pressed(interaction, ref, reply)
                    if reply.notice:
                        await interaction.followup.send(
                            notice_text(reply), ephemeral=True, allowed_mentions=NO_MENTIONS
                        )
                else:
                    await self._answer(turn, reply)
            if not interaction.response.is_done():
                await interaction.response.defer()  # nothing to say: the message stays
        except SEND_ERRORS as err:
            log.warning("discord: cannot answer a button press: %s", err)

    async def on_component(self, interaction: Interaction) -> None:
        """A press of any component on any message: the core answers every one, a button that
        is no longer on its message (a closed poll, a removed article, a click racing the edit
        that took it away), a forged or a foreign one included."""
        if interaction.type is not discord.InteractionType.component:
            return
        data = cast(dict[str, Any], interaction.data or {})
        custom_id = data.get("custom_id")
        await self.on_button(interaction, custom_id if isinstance(custom_id, str) else "")

    async def _in_time(
        self, turn: Turn, work: Coroutine[Any, Any, list[Reply]], *, update: bool
    ) -> list[Reply]:
        """The core's replies; if they take too long for Discord's 3 s, defer first (a press
        keeps its message, a command shows 'thinking' privately) and answer after."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.answer_within)
        if not done:
            try:
                if update:
                    await turn.interaction.response.defer()
                else:
                    await turn.interaction.response.defer(ephemeral=True, thinking=True)
                    turn.thinking = True
            except SEND_ERRORS as err:
                log.warning("discord: cannot defer an interaction: %s", err)
        return await task

    async def _answer(self, turn: Turn, reply: Reply) -> None:
        """One reply to an interaction: private ones only for the person, posts and results
        for the channel. A public post is recorded so that its counts stay live."""
        interaction = turn.interaction
        kwargs = render(reply, self.language).send_kwargs()
        message_id: int | None
        if turn.thinking:
            # The first reply takes the place of 'thinking…' (private, as deferred).
            turn.thinking = False
            original = await interaction.edit_original_response(**kwargs)
            message_id, private = original.id, original.flags.ephemeral
        elif not interaction.response.is_done():
            sent = await interaction.response.send_message(**kwargs, ephemeral=reply.private)
            message_id, private = sent.message_id, reply.private
        else:
            followup = await interaction.followup.send(**kwargs, ephemeral=reply.private, wait=True)
            message_id, private = followup.id, followup.flags.ephemeral
        if message_id is not None and not private:
            await self.runtime.posted(reply, self.message_ref(interaction, message_id))

    async def _edit_pressed(
        self, interaction: Interaction, ref: MessageRef | None, reply: Reply
    ) -> None:
        """Edit the pressed message in the answer to the press, batched with the other edits
        of the message, and acknowledge the press either way. The core has recorded the
        message as shown already, and hears when the edit failed."""
        rendered = render(reply, self.language)
        kwargs = rendered.edit_kwargs()

        async def send(shown: Shown[str] | None) -> None:
            if not interaction.response.is_done():
                await interaction.response.edit_message(**kwargs)
            else:
                await interaction.edit_original_response(**kwargs)

        try:
            if ref is None:
                await send(None)
            else:
                key = message_key(ref)
                if self._edits.busy(key) and not interaction.response.is_done():
                    # Its turn may come later than Discord's 3 s: keep the message meanwhile.
                    await interaction.response.defer()
                await self._edits.edit(key, Shown(reply.poll_version, rendered.look()), send)
            if not interaction.response.is_done():
                await interaction.response.defer()  # a newer edit shows the press
        except SEND_ERRORS:
            if ref is not None:
                await self.runtime.edit_failed(ref)
            raise

    # -- the outbox: posts and edits ---------------------------------------------------------

    async def _channel(self, channel_id: int) -> Channel:
        client = self._client()
        channel = client.get_channel(channel_id) or self._fetched.get(channel_id)
        if channel is None:
            await self.pacer.acquire(str(channel_id))
            try:
                channel = await client.fetch_channel(channel_id)
            except SEND_ERRORS as err:
                raise failure(err) from err
            self._fetched[channel_id] = channel
        return channel

    async def send(self, out: Outgoing) -> MessageRef:
        channel = await self._channel(int(out.chat.chat_id))
        rendered = render(out.reply, self.language)
        refused = refusal(channel, rendered)
        if refused is not None:
            raise refused
        await self.pacer.acquire(out.chat.chat_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                # In a forum each article is a post of its own: a thread opened by the post.
                created = await channel.create_thread(
                    name=thread_name(out.reply), **rendered.send_kwargs()
                )
                return MessageRef(out.chat, str(created.message.id))
            if not isinstance(channel, discord.abc.Messageable):
                raise DeliveryError("discord: not a channel to post in", permanent=True)
            # The nonce makes Discord answer a retried send with the first message, not a copy.
            kwargs = rendered.send_kwargs()
            if out.reply.article_id is not None:
                kwargs["nonce"] = f"nb{out.reply.article_id}"
            message = await channel.send(**kwargs)
        except SEND_ERRORS as err:
            raise self._failed(err, out.chat) from err
        if isinstance(channel, discord.TextChannel) and out.reply.card is not None and out.threads:
            await self._open_thread(channel, message, out.reply)
        return MessageRef(out.chat, str(message.id))

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

    def _failed(self, err: BaseException, chat: ChatRef) -> DeliveryError:
        mapped = failure(err)
        if mapped.retry_after is not None:
            self.pacer.back_off(chat.chat_id, mapped.retry_after)
        return mapped

    async def _message(self, message: MessageRef) -> discord.PartialMessage:
        client = self._client()
        channel = await self._channel(int(message.chat.chat_id))
        # A forum post's first message lives in the post's thread, whose id it shares.
        where = int(message.message_id) if isinstance(channel, discord.ForumChannel) else channel.id
        return client.get_partial_messageable(where).get_partial_message(int(message.message_id))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Edit a post, batched with the other edits of the message (edit_batching)."""
        target = await self._message(message)
        rendered = render(reply, self.language)

        async def send(shown: Shown[str] | None) -> None:
            await self.pacer.acquire(message.chat.chat_id)
            try:
                await target.edit(**rendered.edit_kwargs())
            except SEND_ERRORS as err:
                raise self._failed(err, message.chat) from err

        wanted = Shown(reply.poll_version, rendered.look())
        await self._edits.edit(message_key(message), wanted, send)

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        target = await self._message(message)
        await self.pacer.acquire(message.chat.chat_id)
        try:
            await target.delete()
        except discord.NotFound:
            return
        except SEND_ERRORS as err:
            raise self._failed(err, message.chat) from err

    async def guild_removed(self, guild: discord.Guild) -> None:
        """Removed from a server: pause every channel of it, with the reason for /why."""
        for channel in [*guild.channels, *guild.threads]:
            await self.channel_gone(channel.id, "discord: the bot was removed from the server")
        log.warning("discord: removed from server %s", guild.id)

    async def channel_gone(self, channel_id: int, reason: str) -> None:
        """Nothing more is sent where nothing can arrive."""
        self._fetched.pop(channel_id, None)
        await self.runtime.chat_unreachable(ChatRef(PLATFORM, str(channel_id)), reason)

    # -- moderation on the platform ---------------------------------------------------------

    def _guild_of(self, chat: ChatRef) -> discord.Guild | None:
        client = self.client
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

    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        guild = self._guild_of(chat)
        if guild is None or not user.user_id.isdigit():
            return False
        person = discord.Object(int(user.user_id))
        return await self._moderate(chat, user, "ban", guild.ban(person, delete_message_seconds=0))

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        guild = self._guild_of(chat)
        if guild is None or not user.user_id.isdigit():
            return False
        return await self._moderate(
            chat, user, "unban", guild.unban(discord.Object(int(user.user_id)))
        )

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        """A timeout until `until`, capped at Discord's 28 days; None (or the past) lifts it."""
        guild = self._guild_of(chat)
        client = self.client
        if guild is None or client is None or not user.user_id.isdigit():
            return False
        now = datetime.now(UTC)
        if until is not None:
            until = until.astimezone(UTC)
            if until <= now:
                until = None
        value = min(until, now + MAX_TIMEOUT).isoformat() if until is not None else None
        call = client.http.edit_member(
            guild.id, int(user.user_id), communication_disabled_until=value
        )
        return await self._moderate(chat, user, "timeout", call)
