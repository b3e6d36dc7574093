"""Pictures and post styles on Discord (the real discord.py against FakeDiscord) and in the
terminal, the articles' images served from 127.0.0.1 under NEWSBOT_ALLOW_PRIVATE_FEEDS."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.console import CHAT, ConsoleAdapter
from bot.settings import load_settings
from storage.models import UserRef
from tests.discord_helpers import (
    ALICE,
    MOD,
    NEWS,
    OTHER,
    OWNER,
    article,
    configure,
    labels,
    running_bot,
    setup_server,
)
from tests.fakes.discord_api import FakeDiscord
from tests.image_server import Images, image_server
from tests.test_app import Screen

VOTE = "nb:vote:{}:{}"


@pytest.fixture
async def images() -> AsyncIterator[Images]:
    async with image_server() as served:
        yield served


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        setup_server(fake)
        configure(
            monkeypatch,
            tmp_path,
            fake,
            NEWSBOT_DISCORD_RATE_PER_CHANNEL="50",
            NEWSBOT_ALLOW_PRIVATE_FEEDS="true",
        )
        yield fake


async def test_a_discord_post_shows_its_picture_in_the_embed_and_keeps_it_on_votes(
    dc: FakeDiscord, images: Images
) -> None:
    picture = images.url("photo.png")
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        await bot.slash(OTHER, MOD, "subscribe", {"tags": "xAI"})
        article_id = await bot.ingest(article(image=picture))
        post = await bot.post_in(NEWS, article_id)
        other = await bot.post_in(OTHER, article_id)
        assert post.embeds[0]["image"]["url"] == picture
        assert other.embeds[0]["image"]["url"] == picture
        assert images.hits["/photo.png"] == 1  # two channels, one check

        await bot.press(post, ALICE, VOTE.format(article_id, 2))
        assert labels(dc.message(post.id))[1] == "Gut · 1"
        assert dc.message(post.id).embeds[0]["image"]["url"] == picture

        # Compact: title, tags, link and poll, no picture.
        await bot.slash(OTHER, MOD, "settings", {"name": "style", "value": "compact"})
        second = await bot.ingest(article("Noch ein Modell von xAI", image=picture))
        compact = await bot.post_in(OTHER, second)
        assert "image" not in compact.embeds[0]
        assert "Softwarekonzern" not in compact.embeds[0].get("description", "")
        assert "#xAI" in compact.embeds[0]["description"]


async def test_a_discord_post_whose_picture_is_refused_goes_out_without_it(
    dc: FakeDiscord, images: Images
) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        article_id = await bot.ingest(article(image=images.url("posing.png")))
        post = await bot.post_in(NEWS, article_id)
        assert "image" not in post.embeds[0]
        assert post.embeds[0]["title"] == "Microsoft bietet Modelle von xAI an"


async def test_a_discord_template_post_carries_its_picture_and_escapes_its_values(
    dc: FakeDiscord, images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_ADMINS", f"discord:{OWNER}")
    picture = images.url("photo.png")
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        refused = await bot.slash(NEWS, MOD, "settings", {"name": "template", "value": "{title}"})
        assert "Bot-Admin" in (refused.content or "")
        await bot.slash(
            NEWS, OWNER, "settings", {"name": "template", "value": "{title} @ {source}"}
        )
        article_id = await bot.ingest(article("Ein *Stern* für @everyone", image=picture))
        post = await dc.wait_for_message(
            NEWS, predicate=lambda m: m.interaction_id is None and "Stern" in (m.content or "")
        )
        # A template is plain text: the title's stars stay stars, its @everyone pings nobody.
        assert post.content.startswith("Ein \\*Stern\\* für @\u200beveryone @ example.com")
        assert post.allowed_mentions == {"parse": []}
        assert post.embeds[0]["image"]["url"] == picture
        assert labels(post)[0] == "Sehr gut · 0"
        assert article_id


async def test_the_terminal_names_the_picture_on_a_line_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: Images
) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_FEEDS", "true")
    settings = load_settings(db=tmp_path / "bot.db", demo=False)
    app = App(settings, open_store(settings))
    screen = Screen()
    console = ConsoleAdapter(
        app.runtime,
        UserRef("console", "owner", "owner", "owner"),
        stdin=io.StringIO(""),
        stdout=screen,
    )
    app.add_adapter(console)
    await app.start()
    try:
        await app.db.run(app.store.subscribe, CHAT, ["xAI"])
        picture = images.url("photo.png")
        new = dataclasses.replace(article("Ein Bild im Terminal"), image=picture)
        await app.db.run(store_article, app.store, app.runtime.ctx.config, new)
        app.runtime.wake()
        shown = await screen.shows(f"Bild: {picture}")
        assert "Ein Bild im Terminal" in shown
    finally:
        await app.shutdown()
