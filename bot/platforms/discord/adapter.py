"""The Discord adapter: slash commands, poll buttons and questions in, paced posts and edits
out, on discord.py 2.7 without privileged intents. This module starts and stops it;
interactions, conversation, outbound and moderation do the rest."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.adapter_contract import PlatformStartError
from bot.pacing import Pacer
from bot.platforms.discord.bounded_http import bound
from bot.platforms.discord.commands import CatalogueTranslator, slash_commands
from bot.platforms.discord.conversation import Conversation
from bot.platforms.discord.identities import PLATFORM, Interaction, chat_ref
from bot.platforms.discord.interactions import Interactions
from bot.platforms.discord.moderation import MemberActions
from bot.platforms.discord.outbound import Outbound
from bot.platforms.discord.render import MAX_BUTTONS, NO_MENTIONS, fits_one_message
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.events import Outgoing, Reply
from handlers.registry import COMMANDS
from storage.models import ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)


def parse_guild_ids(text: str) -> list[int]:
    return [int(part) for part in text.replace(" ", "").split(",") if part]


class NewsbotClient(discord.Client):
    """The discord.py client; everything it hears goes to the adapter."""

    def __init__(
        self, adapter: DiscordAdapter, *, guild_ready_timeout: float, **shards: Any
    ) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
            **shards,
        )
        bound(self)  # every REST request with a connect and a read timeout
        self.adapter = adapter
        self.tree: app_commands.CommandTree[NewsbotClient] = app_commands.CommandTree(self)
        # Whether the gateway's websocket is up (discord.py reconnects by itself).
        self.gateway_up = False

    async def on_connect(self) -> None:
        self.gateway_up = True

    async def on_resumed(self) -> None:
        self.gateway_up = True

    async def on_disconnect(self) -> None:
        self.gateway_up = False

    async def setup_hook(self) -> None:
        await self.adapter.install_commands(self.tree)

    async def on_interaction(self, interaction: Interaction) -> None:
        # Every press arrives here, of buttons of any age and from any earlier process:
        # discord.py itself drops a press whose button is no longer on the message.
        await self.adapter.interactions.on_component(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.conversation.on_message(message, self.user)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.adapter.guild_removed(guild)

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self.adapter.channel_gone(channel.id, "discord: the channel was deleted")

    async def on_thread_delete(self, thread: discord.Thread) -> None:
        await self.adapter.channel_gone(thread.id, "discord: the thread was deleted")


class ShardedNewsbotClient(NewsbotClient, discord.AutoShardedClient):
    """The same client on some of the gateway's shards (NEWSBOT_DISCORD_SHARDS of
    NEWSBOT_DISCORD_SHARD_COUNT): Discord sends each server's events and interactions to the
    shard (server id >> 22) % count, so each worker answers the interactions its shards
    receive, within Discord's 3 s; posts and edits go through REST from any worker."""


class DiscordAdapter:
    """newsbot on Discord. One client per start(); the outbox worker calls send and edit."""

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.discord_token is None:
            raise ValueError("NEWSBOT_DISCORD_TOKEN is not set")
        self.runtime = runtime
        self._token = settings.discord_token
        self.guild_ids = parse_guild_ids(settings.discord_guild_ids)
        self.ready_timeout = settings.discord_ready_timeout
        self.guild_ready_timeout = settings.discord_guild_ready_timeout
        self.shard_count = settings.discord_shard_count
        self.shard_ids = settings.discord_shard_ids()
        # For what a reply leaves open (it carries the language it was written in).
        self.language = runtime.ctx.config.default_language
        self.outbound = Outbound(settings, self.language, runtime.sharing)
        self.interactions = Interactions(runtime, self.outbound)
        self.conversation = Conversation(runtime, self.outbound)
        self.members = MemberActions(lambda: self.client)
        self.client: NewsbotClient | None = None
        self._gateway: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Ready once, not closed, and the gateway not between a disconnect and its resume."""
        client = self.client
        return (
            client is not None
            and client.is_ready()
            and not client.is_closed()
            and client.gateway_up
        )

    @property
    def pacer(self) -> Pacer:
        return self.outbound.pacer

    @property
    def answer_within(self) -> float:
        """Seconds before an interaction is deferred (Discord allows 3)."""
        return self.interactions.answer_within

    @answer_within.setter
    def answer_within(self, seconds: float) -> None:
        self.interactions.answer_within = seconds

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (which syncs the commands), connect in a task, return once ready."""
        if self.client is not None:
            return
        client = self._client()
        try:
            await client.login(self._token.get_secret_value())
        except discord.LoginFailure:
            await client.close()
            raise PlatformStartError(
                "Discord could not start: the token was refused",
                exit_code=2,
                key="platform.token_refused",
                platform="Discord",
                setting="NEWSBOT_DISCORD_TOKEN",
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError, discord.HTTPException) as err:
            # No network, no name resolution, Discord down: one line, like Telegram's.
            await client.close()
            reason = f"{type(err).__name__}: {err}"[:300]
            raise PlatformStartError(
                f"Discord could not start: {reason}",
                key="platform.unreachable",
                platform="Discord",
                reason=reason,
            ) from None
        except BaseException:
            await client.close()
            raise
        self.client = self.outbound.client = client
        self._gateway = asyncio.create_task(client.connect(reconnect=True), name="discord")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._gateway}, timeout=self.ready_timeout, return_when="FIRST_COMPLETED"
        )
        if ready in done:
            shards = f" (shards {self.shard_ids or 'all'} of {self.shard_count})"
            where = shards if self.shard_count is not None else ""
            log.info("discord: ready as %s in %s servers%s", client.user, len(client.guilds), where)
            return
        ready.cancel()
        gateway = self._gateway
        problem = gateway.exception() if gateway.done() and not gateway.cancelled() else None
        await self.stop()
        reason = f"{type(problem).__name__}: {problem}"[:300] if problem else "timeout"
        raise PlatformStartError(
            f"Discord did not become ready: {reason}",
            key="platform.unreachable",
            platform="Discord",
            reason=reason,
        )

    def _client(self) -> NewsbotClient:
        # newsbot never speaks in voice channels: discord.py's warnings about voice libraries
        # would be the first lines every person sees at start.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        if self.shard_count is None:
            return NewsbotClient(self, guild_ready_timeout=self.guild_ready_timeout)
        return ShardedNewsbotClient(
            self,
            guild_ready_timeout=self.guild_ready_timeout,
            shard_count=self.shard_count,
            shard_ids=self.shard_ids,
        )

    async def stop(self) -> None:
        """Close the connection; what is still to be sent stays in the outbox."""
        client, gateway = self.client, self._gateway
        self.client = self.outbound.client = None
        self._gateway = None
        self.outbound.fetched.clear()
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
        run = self.interactions.run_command
        for command in slash_commands(
            list(COMMANDS.values()), run, self.runtime.known_tags, self.language
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

    async def guild_removed(self, guild: discord.Guild) -> None:
        """Removed from a server: pause every channel of it, with the reason for /why."""
        for channel in [*guild.channels, *guild.threads]:
            await self.channel_gone(channel.id, "discord: the bot was removed from the server")
        log.warning("discord: removed from server %s", guild.id)

    async def channel_gone(self, channel_id: int, reason: str) -> None:
        """Nothing more is sent where nothing can arrive."""
        self.outbound.fetched.pop(channel_id, None)
        await self.runtime.chat_unreachable(chat_ref(channel_id), reason)

    # -- the Adapter protocol ---------------------------------------------------------------

    async def send(self, out: Outgoing) -> MessageRef:
        return await self.outbound.send(out)

    def fits(self, reply: Reply) -> bool:
        buttons = sum(len(row) for row in reply.buttons)
        return buttons <= MAX_BUTTONS and fits_one_message(reply.text)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        await self.outbound.edit(message, reply)

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        await self.outbound.delete(message)

    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return await self.members.ban(chat, user)

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return await self.members.unban(chat, user)

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        return await self.members.restrict(chat, user, until)
