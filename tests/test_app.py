"""The whole program in one loop: scheduler, outbox worker and the terminal adapter."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.console import CHAT, ConsoleAdapter
from bot.settings import Settings, load_settings
from storage.models import ChatRef, UserRef
from tests.conftest import article

TG = ChatRef("telegram", "99")


class Screen(io.StringIO):
    """The terminal's output, with a way to wait until something shows up."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.changed.set()
        return super().write(text)

    async def shows(self, needle: str, within: float = 10.0) -> str:
        async with asyncio.timeout(within):
            while needle not in self.getvalue():
                self.changed.clear()
                await self.changed.wait()
        return self.getvalue()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    return load_settings(db=tmp_path / "bot.db", demo=False)


async def running(settings: Settings, screen: Screen) -> App:
    app = App(settings, open_store(settings))
    console = ConsoleAdapter(
        app.runtime,
        UserRef("console", "owner", "owner", "owner"),
        stdin=io.StringIO(""),
        stdout=screen,
    )
    app.add_adapter(console)
    await app.start()
    return app


@pytest.fixture
async def screen() -> Screen:
    return Screen()


async def test_an_article_stored_by_another_process_arrives_within_seconds(
    settings: Settings, screen: Screen
) -> None:
    app = await running(settings, screen)
    try:
        await app.db.run(app.store.subscribe, CHAT, ["xAI"])
        other = open_store(settings)  # like `newsbot ingest` in a second process
        try:
            store_article(other, settings.core_config(), article(title="Aus dem Nachbarprozess"))
        finally:
            other.close()
        # No kick: the periodic delivery job finds it in the shared database.
        await screen.shows("Aus dem Nachbarprozess")
    finally:
        await app.shutdown()


async def test_votes_coalesce_into_one_refresh_and_removal_replaces_posts(
    settings: Settings, screen: Screen
) -> None:
    app = await running(settings, screen)
    try:
        await app.db.run(app.store.subscribe, CHAT, ["xAI"])
        report = await app.db.run(store_article, app.store, settings.core_config(), article())
        aid = report.new[0].id
        app.runtime.wake()
        await screen.shows("Sehr gut · 0")
        for user in ("a", "b", "c"):
            await app.db.run(app.store.cast_vote, aid, UserRef("telegram", user), 1)
        app.runtime.wake()
        text = await screen.shows("Sehr gut · 3")
        assert "Sehr gut · 1" not in text and "Sehr gut · 2" not in text
        app.runtime.ctx.mod.set_removed(aid, True, "test")
        app.runtime.wake()
        await screen.shows("von den Moderatoren entfernt")
    finally:
        await app.shutdown()


async def test_deliveries_wait_for_their_platform_and_survive_a_restart(
    settings: Settings, screen: Screen
) -> None:
    store = open_store(settings)
    store.subscribe(CHAT, ["xAI"])
    store.subscribe(TG, ["xAI"])
    store_article(store, settings.core_config(), article(title="Wartet auf den Start"))
    store.close()
    app = await running(settings, screen)
    try:
        await screen.shows("Wartet auf den Start")
        await app.deliver_job.idle()  # the send is recorded after it is shown
        [tg_row] = app.store.deliveries_for_chat(TG)
        # Telegram is not running in this process: its row stays pending and untried.
        assert (tg_row.status, tg_row.attempts) == ("pending", 0)
        [console_row] = app.store.deliveries_for_chat(CHAT)
        assert console_row.status == "sent"
    finally:
        await app.shutdown()
    # A second start does not post it again.
    screen2 = Screen()
    app = await running(settings, screen2)
    try:
        await app.drain(lambda: app.store.due_count(CHAT))
        assert "Wartet auf den Start" not in screen2.getvalue()
    finally:
        await app.shutdown()
