"""Running the real newsbot (App, core, DiscordAdapter on discord.py) against FakeDiscord."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.discord import DiscordAdapter
from bot.settings import Settings, load_settings
from storage.models import ChatRef, NewArticle
from storage.store import Store
from tests.fakes.discord_api import (
    DEFAULT_MEMBER_PERMISSIONS,
    FakeDiscord,
    FakeMessage,
    ResponseRecord,
)

GUILD = 800_000_000_000_000_001
OWNER = 800_000_000_000_000_002  # owns the server: every permission
MOD = 800_000_000_000_000_003  # a moderator: Manage Channels, Ban Members, Moderate Members
ALICE = 800_000_000_000_000_004
BOB = 800_000_000_000_000_005
NEWS = 800_000_000_000_000_010
OTHER = 800_000_000_000_000_011
FORUM = 800_000_000_000_000_012
FORUM_POST = 800_000_000_000_000_013  # a thread in FORUM where people run commands
NO_SEND = 800_000_000_000_000_014  # the bot may see, not write

MANAGER_PERMISSIONS = DEFAULT_MEMBER_PERMISSIONS | discord.Permissions(manage_channels=True).value
# Banning and timing out people on Discord take their own rights besides Manage Channels.
MODERATOR_PERMISSIONS = (
    MANAGER_PERMISSIONS | discord.Permissions(ban_members=True, moderate_members=True).value
)


def chat(channel_id: int) -> ChatRef:
    return ChatRef("discord", str(channel_id))


def setup_server(dc: FakeDiscord) -> None:
    """One server with text channels, a forum with a post, a moderator and two members."""
    dc.add_user(OWNER, "owner")
    dc.add_guild(GUILD, "News Guild", owner_id=OWNER, locale="de")
    dc.add_channel(GUILD, NEWS, "news")
    dc.add_channel(GUILD, OTHER, "other")
    dc.add_channel(GUILD, FORUM, "articles", type=discord.ChannelType.forum.value)
    post = dc.add_channel(
        GUILD, FORUM_POST, "rules", type=discord.ChannelType.public_thread.value, parent_id=FORUM
    )
    # The post was opened by the server's owner (add_channel makes the bot a thread's owner).
    post.owner_id = OWNER
    dc.add_channel(GUILD, NO_SEND, "readonly")
    dc.set_overwrite(
        NO_SEND, dc.guilds[GUILD].bot_role_id, deny=discord.Permissions(send_messages=True)
    )
    dc.add_member(GUILD, MOD, "mod", MODERATOR_PERMISSIONS)
    dc.add_member(GUILD, ALICE, "alice")
    dc.add_member(GUILD, BOB, "bob")


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dc: FakeDiscord, **env: str) -> None:
    values = {
        "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
        "NEWSBOT_DEMO": "false",
        "NEWSBOT_DISCORD_TOKEN": dc.token,
        "NEWSBOT_CONFIG": "",
        # discord.py waits 2 s after the last server by default.
        "NEWSBOT_DISCORD_GUILD_READY_TIMEOUT": "0.05",
        "NEWSBOT_DISCORD_READY_TIMEOUT": "10",
        **env,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@dataclass
class Bot:
    """One running newsbot process with its Discord adapter."""

    dc: FakeDiscord
    settings: Settings
    app: App
    adapter: DiscordAdapter

    @property
    def store(self) -> Store:
        return self.app.store

    async def ingest(self, article: NewArticle) -> int:
        """Store an article as a feed fetch does: in the database thread, which the running
        bot owns (a write from the loop could land inside one of its transactions)."""
        config = self.app.runtime.ctx.config
        report = await self.app.db.run(store_article, self.store, config, article)
        assert report.new, "expected a new article"
        self.app.runtime.wake()
        return report.new[0].id

    async def deliver(self) -> None:
        """One full delivery run that started after this call."""
        await self.app.deliver_job.run_now()

    async def refresh(self) -> None:
        await self.app.refresh_job.run_now()

    async def slash(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild: int | None = GUILD,
        locale: str = "de",
    ) -> ResponseRecord:
        iid = await self.dc.slash(guild, channel_id, user_id, name, options, locale=locale)
        return await self.dc.wait_for_interaction_response(iid)

    async def press(
        self,
        message: FakeMessage,
        user_id: int,
        custom_id: str,
        *,
        locale: str = "de",
        stale: bool = False,
    ) -> list[ResponseRecord]:
        """Press a button (`stale`: one the person's app still shows, no longer on the
        message); the answer and, for a vote, its private note."""
        iid = await self.dc.press(
            message.channel_id, message.id, user_id, custom_id, locale=locale, stale=stale
        )
        first = await self.dc.wait_for_interaction_response(iid)
        if first.type != 7:
            return [first]
        return [first, await self.dc.wait_for_interaction_response(iid, count=2)]

    async def post_in(self, channel_id: int, article_id: int) -> FakeMessage:
        """The bot's post of an article in a channel, once it is there."""
        return await self.dc.wait_for_message(
            channel_id,
            predicate=lambda m: (
                bool(m.embeds)
                and m.interaction_id is None
                and f"#{article_id} ·" in m.embeds[0]["footer"]["text"]
            ),
        )


@contextlib.asynccontextmanager
async def running_bot(dc: FakeDiscord) -> AsyncIterator[Bot]:
    """The program as `newsbot run` wires it: adapter started, then the scheduler."""
    settings = load_settings()
    store = open_store(settings)
    app = App(settings, store)
    adapter = DiscordAdapter(app.runtime, settings)
    app.add_adapter(adapter)
    try:
        await adapter.start()
        await app.start()
        yield Bot(dc, settings, app, adapter)
    finally:
        await app.shutdown()


def labels(message: FakeMessage) -> list[str]:
    return [c["label"] for c in message.walk_components() if c["type"] == 2]


def article(
    title: str = "Microsoft bietet Modelle von xAI an",
    body: str = (
        "Der Softwarekonzern Microsoft will künftig auch Sprachmodelle des Start-ups xAI "
        "anbieten. Die Modelle sollen über die Cloud verfügbar sein."
    ),
    tags: tuple[str, ...] = ("Microsoft", "xAI", "OpenAI"),
    url: str | None = "",
    **kw: Any,
) -> NewArticle:
    """An article; its link (unique by title unless given) is on example.com."""
    if url == "":
        url = "https://www.example.com/" + "-".join(re.findall(r"\w+", title.lower()))
    return NewArticle(title=title, body=body, tags=tags, url=url, language="de", **kw)
