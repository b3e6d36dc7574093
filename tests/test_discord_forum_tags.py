"""Discord forums: a post of an article carries the forum's own tags whose names are the
article's tags (the real discord.py against FakeDiscord on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from tests.discord_helpers import GUILD, MOD, article, chat, configure, running_bot, setup_server
from tests.fakes.discord_api import FakeChannel, FakeDiscord

TAGGED_FORUM = 800_000_000_000_000_050
IN_FORUM = 800_000_000_000_000_051  # a post in it where the moderator runs commands


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        setup_server(fake)
        fake.add_channel(
            GUILD,
            TAGGED_FORUM,
            "ki-news",
            type=discord.ChannelType.forum.value,
            available_tags=["xai", "Microsoft", "Hardware"],
        )
        fake.add_channel(
            GUILD,
            IN_FORUM,
            "regeln",
            type=discord.ChannelType.public_thread.value,
            parent_id=TAGGED_FORUM,
        )
        configure(monkeypatch, tmp_path, fake, NEWSBOT_DISCORD_RATE_PER_CHANNEL="50")
        yield fake


def tag_names(dc: FakeDiscord, post: FakeChannel) -> set[str]:
    offered = {int(tag["id"]): tag["name"] for tag in dc.channels[TAGGED_FORUM].available_tags}
    return {offered[tag] for tag in post.applied_tags}


async def test_a_forum_post_carries_the_forums_matching_tags(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(IN_FORUM, MOD, "subscribe", {"tags": "xAI, OpenAI"})
        assert {s.tag for s in bot.store.subscriptions(chat(TAGGED_FORUM))} == {"xAI", "OpenAI"}

        def new_post(title: str) -> FakeChannel | None:
            return next(
                (
                    c
                    for c in dc.channels.values()
                    if c.parent_id == TAGGED_FORUM and c.name == title
                ),
                None,
            )

        # "xai" in the forum is the article's "xAI": tags compare as tags do.
        await bot.ingest(article(tags=("Microsoft", "xAI", "OpenAI")))
        first = await dc.wait_for(
            lambda: new_post("Microsoft bietet Modelle von xAI an"), what="a forum post"
        )
        assert tag_names(dc, first) == {"xai", "Microsoft"}

        # An article none of whose tags the forum offers: a post without tags.
        await bot.ingest(article(title="OpenAI senkt die Preise", tags=("OpenAI",)))
        second = await dc.wait_for(lambda: new_post("OpenAI senkt die Preise"), what="a post")
        assert second.applied_tags == []
