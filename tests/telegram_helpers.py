"""Running the real newsbot (App, TelegramAdapter, PTB) against FakeTelegram, for e2e tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, open_store, platform_adapters
from bot.ingest import store_article
from bot.platforms.telegram import TelegramAdapter
from bot.settings import Settings, load_settings
from storage.models import ChatRef, NewArticle
from storage.store import Store
from tests.fakes.telegram_api import FakeTelegram, TgChat, TgUser

TOKEN = "123456:SECRET-telegram-token_4711"
WEBHOOK_SECRET = "webhook-Secret_0815"
JSON = dict[str, Any]


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tg: FakeTelegram) -> None:
    """The environment of a production start, pointed at the fake and a fresh database."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.setenv("NEWSBOT_DB", str(tmp_path / "newsbot.db"))
    monkeypatch.setenv("NEWSBOT_DEMO", "false")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("NEWSBOT_TELEGRAM_API_URL", tg.api_root)
    # One message per second per chat would make every test wait; pacing is no subject here.
    monkeypatch.setenv("NEWSBOT_TELEGRAM_RATE_PER_CHAT", "50")


def webhook_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """Switch to webhook mode on a free loopback port; returns the webhook URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/telegram/hook"
    monkeypatch.setenv("NEWSBOT_TELEGRAM_WEBHOOK_URL", url)
    monkeypatch.setenv("NEWSBOT_TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("NEWSBOT_TELEGRAM_WEBHOOK_PORT", str(port))
    return url


@dataclass
class Running:
    tg: FakeTelegram
    app: App
    adapter: TelegramAdapter
    store: Store

    async def add_article(
        self,
        title: str,
        tags: tuple[str, ...] = ("xAI",),
        body: str = "Ein kurzer Text über das Thema. Er hat zwei Sätze.",
        url: str | None = None,
        *,
        wake: bool = True,
    ) -> int:
        # In the database thread, which the running bot owns, as a feed fetch stores it.
        report = await self.app.db.run(
            store_article,
            self.store,
            self.app.runtime.ctx.config,
            NewArticle(title=title, body=body, tags=tags, url=url, language="de"),
        )
        assert report.new, f"{title!r} was not new"
        if wake:
            self.app.runtime.wake()
        return report.new[0].id


@asynccontextmanager
async def running(tg: FakeTelegram, settings: Settings | None = None) -> AsyncIterator[Running]:
    """newsbot as `newsbot run` builds it: settings, store, App, the Telegram adapter from
    platform_adapters, then the scheduler; shut down whatever happens."""
    settings = settings or load_settings()
    store = open_store(settings)
    app = App(settings, store)
    adapters = platform_adapters(settings, app.runtime)
    assert len(adapters) == 1
    adapter = adapters[0]
    assert isinstance(adapter, TelegramAdapter)
    app.add_adapter(adapter)
    try:
        await adapter.start()
        await app.start()
        yield Running(tg, app, adapter, store)
    finally:
        await app.shutdown()


def chat_ref(chat: TgChat | TgUser | int) -> ChatRef:
    return ChatRef("telegram", str(chat if isinstance(chat, int) else chat.id))


def labels(record: JSON) -> list[str]:
    rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def button_data(record: JSON) -> list[str]:
    rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


def texts(tg: FakeTelegram, chat: TgChat | TgUser | int) -> list[str]:
    return [str(m.get("text")) for m in tg.messages(chat if isinstance(chat, int) else chat.id)]


class TagBalance(HTMLParser):
    """Checks that HTML tags open and close in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ok = True
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.ok = False

    def handle_data(self, data: str) -> None:
        self.visible.append(data)


def parse_html(text: str) -> tuple[bool, str]:
    """(tags balanced, visible text) of a Telegram HTML message."""
    parser = TagBalance()
    parser.feed(text)
    parser.close()
    return parser.ok and not parser.stack, "".join(parser.visible)
