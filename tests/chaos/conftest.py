"""Fixtures of the chaos suite: the fakes in the test's loop, a database set up through the store
before `newsbot run` starts, and the figures table at the end of the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from bot.app import open_store
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import ChatRef, NewArticle
from tests.chaos.ledger import Pair, title
from tests.chaos.process import TELEGRAM_TOKEN, Runs
from tests.chaos.report import COLLECTED, table, write_json
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram

TAG = "Chaos"
BODY = "Ein Rechenzentrum fiel aus. Die Betreiber suchen die Ursache noch."


class Newsroom:
    """What editors and readers did before the start: chats subscribed and articles stored,
    through the store as an ingest does it (each article queues its posts in the outbox)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.chats: list[ChatRef] = []
        self.articles: dict[int, int] = {}  # title number -> article id

    def subscribe(self, chats: Iterable[ChatRef]) -> None:
        settings = load_settings(db=self.db, demo=False)
        store = open_store(settings)
        try:
            for chat in chats:
                store.subscribe(chat, [TAG], backlog=0)
                self.chats.append(chat)
        finally:
            store.close()

    def add_article(self, number: int) -> int:
        settings = load_settings(db=self.db, demo=False)
        store = open_store(settings)
        try:
            new = NewArticle(title=title(number), body=BODY, tags=(TAG,), language="de")
            report = store_article(store, settings.core_config(), new)
        finally:
            store.close()
        assert report.new, f"article {number} was not new"
        self.articles[number] = report.new[0].id
        return report.new[0].id

    def expected(self) -> set[Pair]:
        """Every post the subscriptions promise: each article in each chat."""
        return {
            (chat.platform, chat.chat_id, article)
            for chat in self.chats
            for article in self.articles.values()
        }


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The test process reads settings too (to set up the store): never a developer's file.
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    (tmp_path / "data").mkdir()
    return tmp_path


@pytest.fixture
def db(workdir: Path) -> Path:
    return workdir / "data" / "newsbot.db"


@pytest.fixture
def newsroom(db: Path) -> Newsroom:
    return Newsroom(db)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TELEGRAM_TOKEN) as fake:
        yield fake


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    # The bot runs in another process (tests/chaos/launch.py patches discord.py there).
    async with FakeDiscord(patch=False, guard_network=False) as fake:
        yield fake


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COLLECTED:
        return
    terminalreporter.section("chaos figures")
    terminalreporter.write_line(table(COLLECTED))
    path = write_json(COLLECTED)
    if path is not None:
        terminalreporter.write_line(f"written to {path}")


@pytest.fixture
async def runs(workdir: Path) -> AsyncIterator[Runs]:
    started = Runs(workdir)
    yield started
    await started.kill_all()
