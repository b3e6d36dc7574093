"""Charts of /results and /top: a picture that decodes, shows the counts, reaches Telegram as a
photo and Discord as an attachment with the text beside it, and is drawn once per poll
version; the terminal keeps the text."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.console import ConsoleAdapter
from bot.settings import load_settings
from handlers.charts import CHARTS, FONTS, chart_size
from handlers.context import Ctx
from handlers.events import Reply
from handlers.poll_charts import results_png
from storage.models import Article, Poll, PollOption, UserRef
from tests.conftest import Chat, add, article
from tests.discord_helpers import ALICE, BOB, MOD, NEWS, running_bot
from tests.discord_helpers import article as discord_article
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import running
from tests.test_app import Screen


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()  # decodes the whole picture: a broken PNG fails here
    return image


def chart_of(replies: list[Reply]) -> Image.Image:
    [reply] = replies
    assert reply.chart is not None
    return picture(reply.chart.png)


async def test_results_chart_decodes_at_its_size_and_changes_with_the_votes(
    chat: Chat, ctx: Ctx
) -> None:
    article_id = add(ctx, article())
    await chat.say(f"/vote {article_id} 1", "alice")
    one_vote = chart_of(await chat.say(f"/results {article_id}"))
    assert one_vote.size == chart_size(5)
    await chat.say(f"/vote {article_id} 4", "bob")
    await chat.say(f"/vote {article_id} 4", "carol")
    three_votes = chart_of(await chat.say(f"/results {article_id}"))
    assert three_votes.size == one_vote.size
    changed = ImageChops.difference(one_vote.convert("RGB"), three_votes.convert("RGB"))
    assert changed.getbbox() is not None


async def test_results_chart_keeps_the_text_as_alt_text(chat: Chat, ctx: Ctx) -> None:
    article_id = add(ctx, article())
    [reply] = await chat.say(f"/results {article_id}")
    assert reply.chart is not None
    assert reply.chart.alt == reply.text.plain()
    assert "Ergebnis zu #" in reply.chart.alt


async def test_top_chart_has_a_row_per_rated_article(chat: Chat, ctx: Ctx) -> None:
    first = add(ctx, article(title="Erster Text", body="Über xAI, gut geschrieben."))
    second = add(ctx, article(title="Zweiter Text", body="Über xAI, weniger gut."))
    await chat.say(f"/vote {first} 1", "alice")
    await chat.say(f"/vote {second} 5", "bob")
    replies = await chat.say("/top xAI")
    assert chart_of(replies).size == chart_size(2)
    assert "Erster Text" in replies[0].text.plain()


async def test_a_burst_of_results_draws_once_and_a_vote_draws_again(chat: Chat, ctx: Ctx) -> None:
    article_id = add(ctx, article())
    await chat.say(f"/vote {article_id} 2", "alice")
    before = CHARTS.draws
    first = await chat.say(f"/results {article_id}")
    for _ in range(4):
        again = await chat.say(f"/results {article_id}")
        assert again[0].chart == first[0].chart
    assert CHARTS.draws == before + 1
    await chat.say(f"/vote {article_id} 5", "bob")
    await chat.say(f"/results {article_id}")
    assert CHARTS.draws == before + 2


async def test_results_asked_at_the_same_moment_draw_once(chat: Chat, ctx: Ctx) -> None:
    article_id = add(ctx, article())
    await chat.say(f"/vote {article_id} 3", "alice")
    before = CHARTS.draws
    burst = await asyncio.gather(*(chat.say(f"/results {article_id}") for _ in range(8)))
    assert len({replies[0].chart for replies in burst}) == 1
    assert CHARTS.draws == before + 1


def drawn(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> bytes:
    image = Image.new("L", (80, 80))
    ImageDraw.Draw(image).text((10, 10), text, font=font, fill=255)
    return image.tobytes()


def test_the_chart_font_draws_umlauts() -> None:
    """Pillow's built-in font draws its box for a missing letter; the bundled one draws each."""
    font = ImageFont.truetype(FONTS / "DejaVuSans.ttf", 40)
    missing = drawn(font, "\U0001f600")  # a glyph the font lacks: its box
    for letter in "äöüßÄÖÜ€★":
        assert drawn(font, letter) not in {missing, drawn(font, "a")}, letter


# ----------------------------------------------------------------- Telegram


async def test_telegram_gets_results_and_top_as_photos_with_the_text_as_caption(
    tg: FakeTelegram,
) -> None:
    alice = tg.user(7, "Alice", language_code="de")
    async with running(tg) as bot:
        article_id = await bot.add_article("Neues Modell von xAI")
        tg.send_text(alice, alice, f"/vote {article_id} 2")
        await tg.wait_for_message(alice, "Stimme")
        tg.send_text(alice, alice, f"/results {article_id}")
        results = await tg.wait_for_message(alice, "Ergebnis zu #")
        assert "Neues Modell von xAI" in results["caption"]
        assert picture(results["photo"]["data"]).size == chart_size(5)
        tg.send_text(alice, alice, "/top")
        top = await tg.wait_for_message(alice, "Am besten geschrieben")
        assert picture(top["photo"]["data"]).size == chart_size(1)
        sent = [m.get("photo", {}).get("filename") for m in tg.messages(alice)]
        assert sent.count("chart.png") == 2


async def test_telegram_sends_a_caption_too_long_as_text_then_the_photo(
    tg: FakeTelegram,
) -> None:
    alice = tg.user(7, "Alice", language_code="de")
    async with running(tg) as bot:
        article_id = await bot.add_article("Ein sehr langer Titel " * 60)
        tg.send_text(alice, alice, f"/results {article_id}")
        text = await tg.wait_for_message(alice, "Ergebnis zu #")
        assert "photo" not in text
        photo = await tg.wait_for(
            lambda: next((m for m in tg.messages(alice) if "photo" in m), None),
            what="the chart after the text",
        )
        assert photo["message_id"] > text["message_id"]
        assert picture(photo["photo"]["data"]).size == chart_size(5)


# ----------------------------------------------------------------- Discord


async def test_discord_gets_results_and_top_as_attachments_with_alt_text(
    dc: FakeDiscord,
) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(discord_article())
        await bot.slash(NEWS, BOB, "vote", {"id": article_id, "option": 2})
        await bot.slash(NEWS, ALICE, "vote", {"id": article_id, "option": 1})
        for name, options, rows in (
            ("results", {"id": article_id}, 5),
            ("top", {}, 1),
        ):
            answer = await bot.slash(NEWS, MOD, name, options)
            assert answer.message_id is not None
            message = dc.message(answer.message_id)
            [attachment] = message.attachments
            assert message.content  # the text stays beside the picture
            assert attachment["filename"] == "chart.png"
            assert attachment["description"].split()[0] in message.content
            assert picture(message.files["chart.png"]).size == chart_size(rows)


# ----------------------------------------------------------------- terminal


async def test_the_terminal_shows_results_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(db=tmp_path / "bot.db", demo=False)
    screen = Screen()
    app = App(settings, open_store(settings))
    owner = UserRef("console", "owner", "owner", "owner")
    console = ConsoleAdapter(app.runtime, owner, stdin=io.StringIO(""), stdout=screen)
    app.add_adapter(console)
    await app.start()
    try:
        report = await app.db.run(store_article, app.store, settings.core_config(), article())
        await console.handle_line(f"/results {report.new[0].id}")
        shown = await screen.shows("Ergebnis zu #")
        assert "Sehr gut" in shown and "PNG" not in shown
    finally:
        await app.shutdown()


def test_results_png_is_the_chart_in_the_language_asked_for() -> None:
    labels = ("Sehr gut", "Gut", "Befriedigend", "Ausreichend", "Mangelhaft")
    options = tuple(
        PollOption(position=n + 1, score=5 - n, label=label, votes=n)
        for n, label in enumerate(labels)
    )
    poll = Poll(1, "Wie bewerten Sie den Schreibstil des Artikels?", options, False, 4)
    stored = Article(1, "Titel", "", (), None, None, datetime(2026, 11, 30, tzinfo=UTC), "de", "x")
    german, english = results_png(stored, poll, "de"), results_png(stored, poll, "en")
    assert picture(german).size == picture(english).size == chart_size(5)
    assert german != english  # "Stimmen" against "votes" in the footer
    assert results_png(stored, poll, "de") is german  # cached
