"""Pictures and post styles on Telegram end to end: the real App, adapter and PTB against
FakeTelegram, the articles' images served from 127.0.0.1 under NEWSBOT_ALLOW_PRIVATE_FEEDS."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ingest import store_article
from handlers.i18n import t
from storage.models import ChatRef, NewArticle
from tests.fakes.telegram_api import PHOTO_REFUSED, FakeTelegram
from tests.image_server import Images, image_server
from tests.telegram_helpers import TOKEN, Running, configure, labels, running

ZERO = ["Sehr gut · 0", "Gut · 0", "Befriedigend · 0", "Ausreichend · 0", "Mangelhaft · 0"]
BODY = "Ein kurzer Text über das Thema. Er hat zwei Sätze."


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_FEEDS", "true")
        monkeypatch.setenv("NEWSBOT_ADMINS", "telegram:42")
        yield fake


@pytest.fixture
async def images() -> AsyncIterator[Images]:
    async with image_server() as served:
        yield served


async def add(
    bot: Running,
    title: str,
    image: str | None,
    *,
    body: str = BODY,
    url: str | None = None,
    tags: tuple[str, ...] = ("xAI",),
) -> int:
    article = NewArticle(title=title, body=body, tags=tags, url=url, language="de", image=image)
    config = bot.app.runtime.ctx.config
    report = await bot.app.db.run(store_article, bot.store, config, article)
    bot.app.runtime.wake()
    return report.new[0].id


async def subscribed(tg: FakeTelegram, *people: int) -> None:
    for person in people:
        user = tg.user(person, f"P{person}", language_code="de")
        tg.send_text(user, user, "/subscribe xAI")
        await tg.wait_for_message(user, "Abonniert: xAI.")


async def test_a_picture_goes_out_as_a_photo_with_its_caption_and_live_counts(
    tg: FakeTelegram, images: Images
) -> None:
    alice, bob = tg.user(42, "Alice"), tg.user(7, "Bob")
    picture = images.url("photo.png")
    async with running(tg) as bot:
        await subscribed(tg, 42, 7)
        article = await add(bot, "xAI zeigt sein neues Modell", picture)
        a_post = await tg.wait_for_message(alice, "xAI zeigt sein neues Modell")
        b_post = await tg.wait_for_message(bob, "xAI zeigt sein neues Modell")
        for post in (a_post, b_post):
            assert post["photo"] == picture
            assert "text" not in post
            assert post["parse_mode"] == "HTML"
            assert "<b>xAI zeigt sein neues Modell</b>" in post["caption"]
            assert "Er hat zwei Sätze." in post["caption"]
            assert labels(post) == ZERO
        # Two chats, one check of the picture.
        assert images.hits["/photo.png"] == 1
        caption = a_post["caption"]

        tg.press(alice, alice, a_post["message_id"], f"nb:vote:{article}:2")
        await tg.wait_for(lambda: labels(tg.message(bob, b_post["message_id"]))[1] == "Gut · 1")
        assert labels(tg.message(alice, a_post["message_id"]))[1] == "Gut · 1"
        assert tg.message(alice, a_post["message_id"])["caption"] == caption
        assert not tg.calls("editMessageText")

    # After a restart nothing in memory says what a message shows: the stored post knows it
    # is a photo, and its caption is edited (a text edit would fail on a photo).
    async with running(tg) as bot:
        before = len(tg.calls("editMessageCaption"))
        tg.press(bob, bob, b_post["message_id"], f"nb:vote:{article}:1")
        await tg.wait_for(
            lambda: (
                labels(tg.message(alice, a_post["message_id"]))[:2] == ["Sehr gut · 1", "Gut · 1"]
            )
        )
        assert labels(tg.message(bob, b_post["message_id"]))[0] == "Sehr gut · 1"
        assert len(tg.calls("editMessageCaption")) > before
        assert not tg.calls("editMessageText")
        assert images.hits["/photo.png"] == 1


async def test_a_post_too_long_for_a_caption_shows_its_picture_as_a_large_preview(
    tg: FakeTelegram, images: Images
) -> None:
    alice = tg.user(42, "Alice")
    picture = images.url("photo.png")
    title = "xAI erklärt " + "sehr ausführlich " * 30
    body = " ".join(
        f"Dies ist der {n}. Satz eines langen Textes über das Modell." for n in range(40)
    )
    async with running(tg) as bot:
        await subscribed(tg, 42)
        await add(bot, title.strip(), picture, body=body)
        post = await tg.wait_for_message(alice, "xAI erklärt")
        assert not tg.calls("sendPhoto")
        assert post["link_preview_options"] == {
            "url": picture,
            "prefer_large_media": True,
            "show_above_text": True,
        }
        assert labels(post) == ZERO


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("huge.jpg", "too_large"),
        ("huge-unsized.jpg", "too_large"),
        ("page.jpg", "not_an_image"),
        ("posing.png", "not_an_image"),
    ],
)
async def test_a_picture_that_is_too_big_or_not_a_picture_leaves_the_text_post(
    tg: FakeTelegram, images: Images, caplog: pytest.LogCaptureFixture, name: str, reason: str
) -> None:
    alice = tg.user(42, "Alice")
    caplog.set_level(logging.INFO, logger="bot.image_check")
    async with running(tg) as bot:
        await subscribed(tg, 42)
        article = await add(bot, "Ein Artikel mit falschem Bild", images.url(name))
        post = await tg.wait_for_message(alice, "Ein Artikel mit falschem Bild")
        assert "photo" not in post
        assert post["link_preview_options"] == {"is_disabled": True}
        assert labels(post) == ZERO
        assert not tg.calls("sendPhoto")
        stored = bot.store.get_article(article)
        assert stored is not None and (stored.image_verdict or "").startswith(reason)
        assert f"article {article}: its image is not shown ({reason}" in caplog.text


async def test_a_picture_telegram_refuses_leaves_the_text_post(
    tg: FakeTelegram, images: Images, caplog: pytest.LogCaptureFixture
) -> None:
    alice = tg.user(42, "Alice")
    picture = images.url("other.png")
    tg.refused_photos.add(picture)
    async with running(tg) as bot:
        await subscribed(tg, 42)
        await add(bot, "Telegram mag dieses Bild nicht", picture)
        post = await tg.wait_for_message(alice, "Telegram mag dieses Bild nicht")
        assert "photo" not in post
        assert post["link_preview_options"] == {"is_disabled": True}
        assert labels(post) == ZERO
        assert len(tg.calls("sendPhoto")) == 1
        assert PHOTO_REFUSED.removeprefix("Bad Request: ").lower() in caplog.text.lower()
        # The refusal is remembered: the next post with that picture is a text at once.
        await add(bot, "Wieder dieses Bild", picture)
        again = await tg.wait_for_message(alice, "Wieder dieses Bild")
        assert "photo" not in again
        assert len(tg.calls("sendPhoto")) == 1


async def test_images_off_and_the_compact_and_full_styles(tg: FakeTelegram, images: Images) -> None:
    alice = tg.user(42, "Alice")
    picture = images.url("photo.png")
    url = "https://www.example.com/modell"
    async with running(tg) as bot:
        await subscribed(tg, 42)
        tg.send_text(alice, alice, "/settings images off")
        await tg.wait_for_message(alice, "Bilder in Beiträgen: aus")
        await add(bot, "Ohne Bild bitte", picture, url=url)
        post = await tg.wait_for_message(alice, "Ohne Bild bitte")
        assert "photo" not in post and "Er hat zwei Sätze." in post["text"]

        tg.send_text(alice, alice, "/settings images on")
        tg.send_text(alice, alice, "/settings style compact")
        await tg.wait_for_message(alice, "Beitragsstil: kompakt")
        await add(bot, "Kurz gefasst", picture, url=url + "/2")
        post = await tg.wait_for_message(alice, "Kurz gefasst")
        # Title, tags, link and poll: no summary, no picture, no date.
        assert "photo" not in post
        assert "Er hat zwei Sätze." not in post["text"]
        assert "#xAI" in post["text"] and f'href="{url}/2"' in post["text"]
        assert labels(post) == ZERO

        tg.send_text(alice, alice, "/settings style full")
        await tg.wait_for_message(alice, "Beitragsstil: vollständig")
        await add(bot, "Alles drin", picture, url=url + "/3")
        post = await tg.wait_for_message(alice, "Alles drin")
        assert post["photo"] == picture
        assert "Er hat zwei Sätze." in post["caption"] and "example.com" in post["caption"]


async def test_a_bot_admin_sets_a_template_and_its_values_are_escaped(
    tg: FakeTelegram, images: Images
) -> None:
    alice, bob = tg.user(42, "Alice"), tg.user(7, "Bob")
    async with running(tg) as bot:
        await subscribed(tg, 42)
        tg.send_text(alice, alice, "/settings template {titel} ({source})")
        refused = await tg.wait_for_message(alice, "{titel}")
        assert "{title}" in refused["text"]
        tg.send_text(alice, alice, "/settings template " + "x" * 1001 + "{title}")
        await tg.wait_for_message(alice, t("style.template_too_long", "de", max=1000))
        tg.send_text(bob, bob, "/settings template {title}")
        await tg.wait_for_message(bob, t("error.need_bot_admin", "de"))
        assert bot.store.chat_settings(ChatRef("telegram", "7")).post_style == "default"

        tg.send_text(alice, alice, "/settings template Neu: {title} von {source} → {link}")
        await tg.wait_for_message(alice, "Beitragsstil: Vorlage: Neu: {title}")
        await add(bot, "<b>Fett</b> & mehr", None, url="https://www.example.com/fett")
        post = await tg.wait_for_message(alice, "Neu: &lt;b&gt;Fett")
        assert post["text"].startswith("Neu: &lt;b&gt;Fett&lt;/b&gt; &amp; mehr von example.com → ")
        assert '<a href="https://www.example.com/fett">' in post["text"]
        assert labels(post) == ZERO
