"""Translation (issue #15): a German article posted to an English chat with /settings translate
on comes translated and marked, asking a fake OpenAI-compatible server on 127.0.0.1 once per
article and language; without a model, or when it fails or hangs, the original goes out."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import App, open_store
from bot.ingest import store_article
from bot.llm import LlmAnswerWriter
from bot.platforms.console import ConsoleAdapter
from bot.settings import load_settings
from bot.translation import PostTranslator
from handlers.context import Ctx
from storage.models import ChatRef, Delivery, NewArticle, Translation, UserRef
from tests.conftest import Chat, add, article
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import chat_ref, labels, running

TITLE = "Neues Modell von xAI"
BODY = "xAI hat ein neues Modell vorgestellt. Es soll schneller antworten."


class FakeModel:
    """A chat-completions endpoint on 127.0.0.1 that "translates" by prefixing EN:, or hangs
    until released, or fails, as the test says."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.hang = False
        self.status = 200
        self.release = asyncio.Event()
        self.asked = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.asked.set()
        if self.hang:
            await asyncio.wait_for(self.release.wait(), 30)
        if self.status != 200:
            return web.Response(status=self.status, text="overloaded")
        original = json.loads(body["messages"][1]["content"])
        content = json.dumps(
            {"title": "EN: " + original["title"], "summary": "EN: " + original["summary"]}
        )
        return web.json_response({"choices": [{"message": {"content": content}}]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        return app


@pytest.fixture
async def model(serve: object) -> AsyncIterator[FakeModel]:
    fake = FakeModel()
    fake.url = await serve(fake.app()) + "/v1"  # type: ignore[operator]
    yield fake
    fake.release.set()


def german(**kw: object) -> NewArticle:
    return NewArticle(title=TITLE, body=BODY, tags=("xAI",), language="de", **kw)  # type: ignore[arg-type]


# -- the translator on its own: one request per article and language --------------------------


def deliveries_for(ctx: Ctx, chats: list[ChatRef], article_id: int) -> list[Delivery]:
    now = datetime.now(UTC)
    return [
        Delivery(n, article_id, chat, "pending", 0, now, None, None) for n, chat in enumerate(chats)
    ]


async def test_concurrent_batches_ask_the_model_once(ctx: Ctx, model: FakeModel) -> None:
    chats = [ChatRef("telegram", str(n)) for n in (1, 2, 3)]
    for chat in chats:
        ctx.store.update_chat_settings(chat, language="en", translate=True)
    article_id = add(ctx, article(TITLE, BODY))
    translator = PostTranslator(LlmAnswerWriter(model.url, "m", timeout=30), ctx, timeout=30)
    # Two batches (two delivery rounds, or two workers' threads of one process) at once, while
    # the model holds its answer: the second one joins the first one's request.
    model.hang = True
    first = asyncio.create_task(translator.prepare(deliveries_for(ctx, chats[:2], article_id)))
    await asyncio.wait_for(model.asked.wait(), 10)
    second = asyncio.create_task(translator.prepare(deliveries_for(ctx, chats[2:], article_id)))
    await asyncio.sleep(0)
    model.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 30)
    assert len(model.requests) == 1
    stored = ctx.store.texts.translation(article_id, "en")
    assert stored is not None and stored.title == "EN: " + TITLE
    # Stored: the next batch asks nobody.
    await translator.prepare(deliveries_for(ctx, chats, article_id))
    assert len(model.requests) == 1


async def test_two_workers_ask_the_model_once(ctx: Ctx, model: FakeModel) -> None:
    # Two workers sharing one store deliver the same article to their own chats at once.
    chats = [ChatRef("telegram", "1"), ChatRef("discord", "2")]
    for chat in chats:
        ctx.store.update_chat_settings(chat, language="en", translate=True)
    article_id = add(ctx, article(TITLE, BODY))
    first = PostTranslator(
        LlmAnswerWriter(model.url, "m", timeout=30), ctx, timeout=30, worker="w1"
    )
    # The second worker waits at most 1 s for a translation, as NEWSBOT_LLM_TIMEOUT=1 would.
    second = PostTranslator(LlmAnswerWriter(model.url, "m", timeout=1), ctx, timeout=1, worker="w2")
    model.hang = True  # the first worker's request is held until the second one is done
    asking = asyncio.create_task(first.prepare(deliveries_for(ctx, chats[:1], article_id)))
    await asyncio.wait_for(model.asked.wait(), 10)
    await asyncio.wait_for(second.prepare(deliveries_for(ctx, chats[1:], article_id)), 10)
    assert len(model.requests) == 1  # the second worker saw the first one's lease
    await second.close()  # its look into the store for the first one's translation, if on
    model.release.set()
    await asyncio.wait_for(asking, 30)
    assert len(model.requests) == 1
    assert ctx.store.texts.translation(article_id, "en") is not None
    assert ctx.store.leases.running("translate:") == []  # given back


async def test_a_chat_in_the_articles_language_or_without_translate_asks_nothing(
    ctx: Ctx, model: FakeModel
) -> None:
    german_chat, off = ChatRef("telegram", "1"), ChatRef("telegram", "2")
    ctx.store.update_chat_settings(german_chat, language="de", translate=True)
    ctx.store.update_chat_settings(off, language="en", translate=False)
    article_id = add(ctx, article(TITLE, BODY))
    translator = PostTranslator(LlmAnswerWriter(model.url, "m", timeout=30), ctx, timeout=30)
    await translator.prepare(deliveries_for(ctx, [german_chat, off], article_id))
    assert model.requests == []


async def test_settings_translate_on_and_off(any_chat: Chat) -> None:
    assert "Posts in other languages translated: off" in await any_chat.text(
        "/settings language en"
    )
    answer = await any_chat.text("/settings translate on")
    assert "translated: on" in answer
    # The test's config names no model: the chat is told its posts stay untranslated.
    assert "No translation model is set up (NEWSBOT_LLM_URL)" in answer
    assert any_chat.ctx.store.chat_settings(any_chat.chat).translate
    assert "translated: off" in await any_chat.text("/settings translate off")
    assert "For translate use: on|off" in await any_chat.text("/settings translate maybe")


# -- end to end on Telegram (the real adapter against the fake Bot API) -----------------------


def use_model(monkeypatch: pytest.MonkeyPatch, model: FakeModel, timeout: float) -> None:
    monkeypatch.setenv("NEWSBOT_LLM_URL", model.url)
    monkeypatch.setenv("NEWSBOT_LLM_MODEL", "tiny-model")
    monkeypatch.setenv("NEWSBOT_LLM_TIMEOUT", str(timeout))


async def subscribe_english(tg: FakeTelegram, ids: tuple[int, ...]) -> list[object]:
    people = []
    for n in ids:
        person = tg.user(n, f"P{n}", language_code="en")
        tg.send_text(person, person, "/settings translate on")
        await tg.wait_for_message(person, "translated: on")
        tg.send_text(person, person, "/subscribe xAI")
        await tg.wait_for_message(person, "Subscribed")
        people.append(person)
    return people


async def test_two_english_chats_get_one_translation_marked(
    tg: FakeTelegram, model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_model(monkeypatch, model, timeout=30)
    async with running(tg) as bot:
        people = await subscribe_english(tg, (51, 52))
        article_id = await bot.add_article(TITLE, url="https://example.org/xai")
        for person in people:
            post = await tg.wait_for_message(person, "EN: " + TITLE)  # type: ignore[arg-type]
            text = post["text"]
            assert "Machine-translated from German" in text
            assert '<a href="https://example.org/xai">original</a>' in text
            assert "EN: Ein kurzer Text über das Thema. Er hat zwei Sätze." in text
            assert f"<b>#{article_id}</b>" in text
        assert len(model.requests) == 1
        # A vote: live counts edit the post, which stays translated, without asking again.
        first = people[0]
        mid = (await tg.wait_for_message(first, "EN: " + TITLE))["message_id"]  # type: ignore[arg-type]
        tg.press(first, first, mid, f"nb:vote:{article_id}:2")  # type: ignore[arg-type]
        await tg.wait_for(
            lambda: "Good · 1" in labels(tg.message(first, mid)),  # type: ignore[arg-type]
            what="the count",
        )
        assert "EN: " + TITLE in tg.message(first, mid)["text"]  # type: ignore[arg-type]
        again = await bot.app.runtime.post_for(article_id, chat_ref(people[0]))  # type: ignore[arg-type]
        assert again is not None and "EN: " + TITLE in again.text.plain()
        assert len(model.requests) == 1


async def test_a_hanging_model_lets_the_original_go_out(
    tg: FakeTelegram, model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_model(monkeypatch, model, timeout=1)
    model.hang = True  # held until the test ends: only NEWSBOT_LLM_TIMEOUT lets the post go
    async with running(tg) as bot:
        [person] = await subscribe_english(tg, (61,))
        await bot.add_article(TITLE)
        post = await tg.wait_for_message(person, TITLE)  # type: ignore[arg-type]
        assert "EN:" not in post["text"] and "Machine-translated" not in post["text"]
        assert len(model.requests) == 1


async def test_a_failing_model_lets_the_original_go_out(
    tg: FakeTelegram, model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_model(monkeypatch, model, timeout=30)
    model.status = 500
    async with running(tg) as bot:
        [person] = await subscribe_english(tg, (71,))
        await bot.add_article(TITLE)
        post = await tg.wait_for_message(person, TITLE)  # type: ignore[arg-type]
        assert "Machine-translated" not in post["text"]


async def test_without_a_model_the_original_goes_out(tg: FakeTelegram) -> None:
    async with running(tg) as bot:
        [person] = await subscribe_english(tg, (81,))
        await bot.add_article(TITLE)
        post = await tg.wait_for_message(person, TITLE)  # type: ignore[arg-type]
        assert "Machine-translated" not in post["text"]


# -- end to end in the terminal ------------------------------------------------------------


async def test_the_terminal_shows_the_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: FakeModel
) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(
        db=tmp_path / "bot.db", demo=False, llm_url=model.url, llm_model="m", llm_timeout=30
    )
    app = App(settings, open_store(settings))
    screen = io.StringIO()
    console = ConsoleAdapter(
        app.runtime,
        UserRef("console", "me", "Me", "me"),
        stdin=io.StringIO(""),
        stdout=screen,
        interactive=False,
    )
    app.add_adapter(console)
    try:
        for line in ("/settings language en", "/settings translate on", "/subscribe xAI"):
            await console.handle_line(line)
        store_article(app.store, settings.core_config(), german(url="https://example.org/a"))
        assert await app.deliverer.deliver_due() == 1
        shown = screen.getvalue()
        assert "EN: " + TITLE in shown and "Machine-translated from German" in shown
        assert len(model.requests) == 1
    finally:
        await app.shutdown()


def test_a_translated_post_keeps_its_link_tags_and_poll_and_says_so(ctx: Ctx) -> None:
    from handlers.i18n import speaking
    from handlers.render import article_post, shown_text

    article_id = add(ctx, article(TITLE, BODY, url="https://example.org/xai"))
    stored = ctx.store.get_article(article_id)
    assert stored is not None
    translation = Translation(article_id, "en", "New model from xAI", "xAI showed a model.")
    with speaking("en"):
        shown = shown_text(stored, "en", True, translation)
        post = article_post(stored, ctx.store.get_poll(article_id), shown=shown)
        untranslated = article_post(
            stored, None, shown=shown_text(stored, "en", False, translation)
        )
    text = post.text.plain()
    assert text.startswith("New model from xAI\n\nxAI showed a model.")
    assert "Machine-translated from German · original" in text
    assert "#Microsoft #xAI #OpenAI" in text and len(post.buttons) == 5
    # Discord's embed: the translated title, and the note under the summary.
    assert post.card is not None and post.card.title == "New model from xAI"
    assert post.card.summary.endswith("Machine-translated from German")
    assert TITLE in untranslated.text.plain()
    # A German chat sees the German original whatever its setting.
    with speaking("de"):
        assert shown_text(stored, "de", True, translation).title == TITLE


# -- end to end on Discord (discord.py against the fake gateway and REST API) ----------------


async def test_a_discord_channel_gets_the_translated_embed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: FakeModel
) -> None:
    from tests.discord_helpers import MOD, NEWS, running_bot, setup_server
    from tests.discord_helpers import article as discord_article
    from tests.discord_helpers import configure as configure_discord
    from tests.fakes.discord_api import FakeDiscord

    async with FakeDiscord() as dc:
        setup_server(dc)
        configure_discord(monkeypatch, tmp_path, dc)
        use_model(monkeypatch, model, timeout=30)
        async with running_bot(dc) as bot:
            for name, value in (("language", "en"), ("translate", "on")):
                await bot.slash(NEWS, MOD, "settings", {"name": name, "value": value})
            await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
            article_id = await bot.ingest(discord_article())
            embed = (await bot.post_in(NEWS, article_id)).embeds[0]
            assert embed["title"] == "EN: Microsoft bietet Modelle von xAI an"
            assert embed["description"].startswith("EN: Der Softwarekonzern Microsoft")
            assert "Machine-translated from German" in embed["description"]
            assert embed["url"] == "https://www.example.com/microsoft-bietet-modelle-von-xai-an"
            assert len(model.requests) == 1
