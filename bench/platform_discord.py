"""Discord presses through the real adapter against the fake gateway, beside a bare discord.py
client making the same calls (the press answered with the edited message, the vote's note as
a private follow-up) to the same fake. Part of bench.platform_bench."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import discord

from bench.platform_harness import Timed, bench_settings, running_app, timed
from bot.app import App
from bot.ingest import store_article
from storage.models import ChatRef, NewArticle
from tests.fakes.discord_api import FakeDiscord, FakeMessage

GUILD = 900_000_000_000_000_001
OWNER = 900_000_000_000_000_002
FIRST_CHANNEL = 900_000_000_000_100_000
FIRST_MEMBER = 900_000_000_000_200_000
OPTIONS = ("Sehr gut", "Gut", "Befriedigend", "Ausreichend", "Mangelhaft")
ANSWERS = ("create_interaction_response", "execute_webhook", "edit_webhook_message")
BOUND = 120.0


@dataclass
class DiscordFigures:
    presses: list[Timed] = field(default_factory=list)
    bare_presses: list[Timed] = field(default_factory=list)
    calls_per_press: dict[str, float] = field(default_factory=dict)
    bare_calls_per_press: dict[str, float] = field(default_factory=dict)


class AnswerCounter:
    """Counts the fake's finished requests by route from a starting point on, reading each
    finished request once."""

    def __init__(self, dc: FakeDiscord) -> None:
        self.dc = dc
        self.done = len(dc.requests)  # every request before this one is counted
        self.counts: dict[str, int] = {}

    def total(self, *names: str) -> int:
        requests = self.dc.requests
        while self.done < len(requests) and requests[self.done].status is not None:
            name = requests[self.done].name
            self.counts[name] = self.counts.get(name, 0) + 1
            self.done += 1
        # Finished ones after the first still running (a handful: those in flight).
        later = [r.name for r in requests[self.done :] if r.status is not None]
        return sum(self.counts.get(n, 0) + later.count(n) for n in names)

    def per(self, n: int) -> dict[str, float]:
        self.total()
        return {name: count / n for name, count in self.counts.items()}


def setup_server(dc: FakeDiscord, channels: int) -> list[tuple[int, int]]:
    """A server with `channels` text channels and one member for each; (channel, member)."""
    dc.add_user(OWNER, "owner")
    dc.add_guild(GUILD, "Bench Guild", owner_id=OWNER, locale="de")
    pairs = []
    for i in range(channels):
        channel, member = FIRST_CHANNEL + i, FIRST_MEMBER + i
        dc.add_channel(GUILD, channel, f"news-{i}")
        dc.add_member(GUILD, member, f"person{i}")
        pairs.append((channel, member))
    return pairs


async def press_round(
    dc: FakeDiscord, posts: list[tuple[FakeMessage, int]], article: int, option: int
) -> tuple[Timed, dict[str, float]]:
    """Every member presses another option under the post in their channel (a changed vote:
    the message edited in the answer, and a private note after it)."""
    counter = AnswerCounter(dc)

    async def work() -> None:
        for message, member in posts:
            await dc.press(
                message.channel_id, message.id, member, f"nb:vote:{article}:{option}", locale="de"
            )
        await dc.wait_for(
            lambda: counter.total(*ANSWERS) >= 2 * len(posts),
            timeout=BOUND,
            what="answers and notes",
        )

    figure = await timed(len(posts), work)
    return figure, counter.per(len(posts))


def _subscribe_all(app: App, channels: list[int]) -> int:
    for channel in channels:
        app.store.subscribe(ChatRef("discord", str(channel)), ["xAI"], backlog=0)
    article = NewArticle(
        title="Neues Modell von xAI",
        body="Ein kurzer Text über das Thema. Er hat zwei Sätze.",
        tags=("xAI",),
        language="de",
    )
    return store_article(app.store, app.runtime.ctx.config, article).new[0].id


class BareClient(discord.Client):
    """The least a discord.py bot does for a poll press: edit the message with the new counts
    (kept in memory) as the answer, then the private note."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.votes: dict[int, dict[int, int]] = {}
        self.ready = asyncio.Event()

    async def on_ready(self) -> None:
        self.ready.set()

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type is not discord.InteractionType.component:
            return
        assert interaction.message is not None
        data: Any = interaction.data or {}
        _, _, article, option = str(data["custom_id"]).split(":")
        votes = self.votes.setdefault(interaction.message.id, {})
        votes[interaction.user.id] = int(option)
        view = discord.ui.View(timeout=None)
        for k, label in enumerate(OPTIONS, start=1):
            count = sum(1 for v in votes.values() if v == k)
            view.add_item(
                discord.ui.Button(
                    label=f"{label} · {count}",
                    custom_id=f"nb:vote:{article}:{k}",
                    style=discord.ButtonStyle.secondary,
                )
            )
        await interaction.response.edit_message(
            content=None,
            embeds=interaction.message.embeds,
            view=view,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await interaction.followup.send(
            f"Deine Stimme: {OPTIONS[int(option) - 1]}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def bench_discord(channels: int, rounds: int) -> DiscordFigures:
    """One fake serves one client at a time: each round starts newsbot, presses, stops it,
    then the same with the bare client, so that a change in load falls on both alike."""
    figures = DiscordFigures()
    async with FakeDiscord() as dc:
        pairs = setup_server(dc, channels)
        os.environ["NEWSBOT_DISCORD_TOKEN"] = dc.token
        os.environ["NEWSBOT_DISCORD_GUILD_READY_TIMEOUT"] = "0.05"
        try:
            settings = bench_settings()
            async with running_app(settings) as app:
                article = await app.db.run(_subscribe_all, app, [c for c, _ in pairs])
                app.runtime.wake()
                await dc.wait_for(
                    lambda: all(dc.messages(c) for c, _ in pairs), timeout=BOUND, what="posts"
                )
            posts = [(dc.messages(c)[0], member) for c, member in pairs]
            for run in range(rounds + 1):  # the first is a warm-up of each
                option = 1 + (run + len(OPTIONS) - 1) % len(OPTIONS)
                async with running_app(settings):
                    figure, calls = await press_round(dc, posts, article, option)
                if run:
                    figures.presses.append(figure)
                    figures.calls_per_press = calls
                client = BareClient()
                starting = asyncio.create_task(client.start(dc.token))
                try:
                    await asyncio.wait_for(client.ready.wait(), BOUND)
                    figure, calls = await press_round(dc, posts, article, option)
                finally:
                    await client.close()
                    await starting
                if run:
                    figures.bare_presses.append(figure)
                    figures.bare_calls_per_press = calls
        finally:
            os.environ.pop("NEWSBOT_DISCORD_TOKEN", None)
    return figures
