"""One person across platforms, end to end: one newsbot serves FakeTelegram and FakeDiscord
at once through the real adapters; Alice asks for a link code in her Telegram chat, sends
it from a Discord DM, and from then on her two accounts vote once, are banned once, and part
again with /unlink."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, open_store, platform_adapters
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import NewArticle
from tests import discord_helpers
from tests.discord_helpers import ALICE, MOD, NEWS, setup_server
from tests.discord_helpers import labels as discord_labels
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import TOKEN, configure
from tests.telegram_helpers import labels as telegram_labels

VOTE = "nb:vote:{}:{}"
CODE = re.compile(r"\b([A-Z0-9]{5}-[A-Z0-9]{5})\b")
BOSS = 99  # a bot admin on Telegram


@pytest.fixture
async def fakes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[FakeTelegram, FakeDiscord]]:
    async with FakeTelegram(token=TOKEN) as tg, FakeDiscord() as dc:
        configure(monkeypatch, tmp_path, tg)
        setup_server(dc)
        discord_helpers.configure(monkeypatch, tmp_path, dc)
        monkeypatch.setenv("NEWSBOT_ADMINS", f"telegram:{BOSS}")
        yield tg, dc


def counted(labels: list[str]) -> list[int]:
    """The counts a post's buttons show ("Gut · 1" is 1; a label without one is 0)."""
    return [int(label.rsplit("· ", 1)[1]) if "· " in label else 0 for label in labels[:5]]


async def test_a_person_links_telegram_and_discord_and_unlinks(
    fakes: tuple[FakeTelegram, FakeDiscord],
) -> None:
    tg, dc = fakes
    settings = load_settings()
    store = open_store(settings)
    app = App(settings, store)
    adapters = platform_adapters(settings, app.runtime)
    assert len(adapters) == 2
    for adapter in adapters:
        app.add_adapter(adapter)
    alice = tg.user(42, "Alice", username="alice")
    boss = tg.user(BOSS, "Boss", username="boss")
    dm = dc.dm_channel(ALICE)

    async def slash(channel: int, user: int, name: str, **options: str) -> str:
        guild = None if channel == dm else discord_helpers.GUILD
        iid = await dc.slash(guild, channel, user, name, options, locale="de")
        answer = await dc.wait_for_interaction_response(iid)
        return answer.content or ""

    try:
        for adapter in adapters:
            await adapter.start()
        await app.start()

        # Alice gets the news in her Telegram chat and in the Discord server.
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert")
        assert "xAI" in await slash(NEWS, MOD, "subscribe", tags="xAI")
        report = await app.db.run(
            store_article,
            store,
            app.runtime.ctx.config,
            NewArticle(
                title="xAI eröffnet ein Büro in Berlin",
                body="xAI eröffnet ein Büro in Berlin. Dort arbeiten bald zwanzig Leute.",
                tags=("xAI",),
                language="de",
            ),
        )
        article = report.new[0].id
        app.runtime.wake()
        tg_post = await tg.wait_for_message(alice, "Büro in Berlin")
        dc_post = await dc.wait_for_message(NEWS, predicate=lambda m: bool(m.embeds))

        # The code, asked for on Telegram, sent from a Discord DM.
        tg.send_text(alice, alice, "/link")
        code_message = await tg.wait_for_message(alice, "Verbindungscode")
        found = CODE.search(str(code_message["text"]))
        assert found, code_message
        assert "jetzt eine Person" in await slash(dm, ALICE, "link", code=found.group(1))
        assert "Telegram @alice" in await slash(dm, ALICE, "link")

        # Alice votes "Sehr gut" on Telegram, then presses option 4 on Discord: one vote.
        tg.press(alice, alice, tg_post["message_id"], VOTE.format(article, 1))
        await tg.wait_for(
            lambda: (
                counted(telegram_labels(tg.message(alice, tg_post["message_id"])))
                == [1, 0, 0, 0, 0]
            ),
            what="the Telegram post with her vote",
        )
        iid = await dc.press(NEWS, dc_post.id, ALICE, VOTE.format(article, 4), locale="de")
        await dc.wait_for_interaction_response(iid)
        await dc.wait_for(
            lambda: counted(discord_labels(dc.message(dc_post.id))) == [0, 0, 0, 1, 0],
            what="the Discord post: her one vote, moved",
        )
        await app.refresh_job.run_now()
        await tg.wait_for(
            lambda: (
                counted(telegram_labels(tg.message(alice, tg_post["message_id"])))
                == [0, 0, 0, 1, 0]
            ),
            what="the Telegram post refreshed: her vote moved, not added",
        )

        # A ban on Telegram holds on Discord.
        tg.send_text(boss, boss, "/ban @alice")
        await tg.wait_for_message(boss, "gesperrt")
        assert await slash(NEWS, ALICE, "latest") == "Du bist gesperrt."
        tg.send_text(boss, boss, "/unban @alice")
        await tg.wait_for_message(boss, "aufgehoben")

        # /unlink from Discord: her Discord vote stays; Telegram votes on its own again.
        assert "aufgehoben" in await slash(dm, ALICE, "unlink")
        tg.press(alice, alice, tg_post["message_id"], VOTE.format(article, 1))
        await tg.wait_for(
            lambda: (
                counted(telegram_labels(tg.message(alice, tg_post["message_id"])))
                == [1, 0, 0, 1, 0]
            ),
            what="two accounts, two votes again",
        )
        actions = [e.action for e in await app.db.run(lambda: store.audit_log.entries(20))]
        assert {"link_code", "link", "unlink"} <= set(actions)
    finally:
        await app.shutdown()
