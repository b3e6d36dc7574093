"""Shared fixtures: a fresh database per test, the core config, and a chat driver."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.ingest import store_article
from bot.settings import load_settings
from handlers import dispatch
from handlers.codec import encode, read
from handlers.context import CoreConfig, Ctx
from handlers.events import Command, Press, Reply
from storage.models import ChatRef, MessageRef, NewArticle, UserRef
from storage.store import Store
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.loopback import ConnectionCounter, Serve, serving
from tests.fakes.telegram_api import FakeTelegram
from tests.postgres_server import postgres_server as postgres_server  # fixtures
from tests.postgres_server import postgres_url as postgres_url

# Tests never read a developer's own settings or tokens.
for _name in list(os.environ):
    if _name.startswith("NEWSBOT_"):
        del os.environ[_name]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "test.db")
    s.migrate()
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each engine: the store's contract holds on both."""
    if request.param == "sqlite":
        s = Store(tmp_path / "test.db")
    else:
        s = Store(request.getfixturevalue("postgres_url"))
    s.migrate()
    yield s
    s.close()


# -- under CI, a skipped test is a failure: a part the suite needs was missing -------------

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nCI: {len(_skipped)} tests skipped, which CI does not allow:")
        for line in _skipped[:20]:
            print(f"  {line}")


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CoreConfig:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.setenv("NEWSBOT_ADMINS", "telegram:1,discord:2")
    return load_settings().core_config()


def article(
    title: str = "Neues Modell von xAI",
    body: str = "xAI hat ein neues Modell vorgestellt. Es soll schneller antworten.",
    tags: tuple[str, ...] = ("Microsoft", "xAI", "OpenAI"),
    **kw: object,
) -> NewArticle:
    return NewArticle(title=title, body=body, tags=tags, language="de", **kw)  # type: ignore[arg-type]


@dataclass
class Chat:
    """Drives the real handlers as one chat, the way an adapter does."""

    ctx: Ctx
    chat: ChatRef = field(default_factory=lambda: ChatRef("console", "local"))
    is_private: bool = True
    posted: list[Reply] = field(default_factory=list)

    def person(self, user: str) -> UserRef:
        return UserRef(self.chat.platform, user, user.capitalize(), user)

    async def say(
        self, text: str, user: str = "alice", *, admin: bool = False, reply_to: str | None = None
    ) -> list[Reply]:
        name, *args = text.lstrip("/").split()
        cmd = Command(
            chat=self.chat,
            user=self.person(user),
            name=name,
            args=tuple(args),
            is_private=self.is_private,
            is_chat_admin=admin,
            reply_to_user=self.person(reply_to) if reply_to else None,
        )
        return await dispatch.handle_command(self.ctx, cmd)

    async def text(
        self, text: str, user: str = "alice", *, admin: bool = False, reply_to: str | None = None
    ) -> str:
        replies = await self.say(text, user, admin=admin, reply_to=reply_to)
        return "\n".join(r.text.plain() for r in replies)

    def post(self, article_id: int, message_id: str = "m1") -> MessageRef:
        """The article shown as a post in this chat, recorded as an adapter records it."""
        message = MessageRef(self.chat, message_id)
        poll = self.ctx.store.get_poll(article_id)
        self.ctx.store.record_post(article_id, message, poll.version if poll else 0)
        return message

    async def press(
        self,
        data: str,
        user: str = "alice",
        *,
        on: MessageRef | None = None,
        admin: bool = False,
        locale: str | None = None,
    ) -> list[Reply]:
        """Press a button with `data` on the message `on` (a prompt by default)."""
        action, params = read(data)
        press = Press(
            chat=self.chat,
            user=self.person(user),
            message=on or MessageRef(self.chat, "prompt"),
            action=action,
            params=params,
            locale=locale,
            is_chat_admin=admin,
        )
        return await dispatch.handle_press(self.ctx, press)


@pytest.fixture
def ctx(store: Store, config: CoreConfig) -> Iterator[Ctx]:
    """The handlers' context: the test may use the store directly between the handlers' calls,
    which reach it through their database thread as in the running bot."""
    context = Ctx(store=store, config=config)
    yield context
    context.db.close()


@pytest.fixture
def chat(ctx: Ctx) -> Chat:
    return Chat(ctx)


@pytest.fixture
def any_ctx(any_store: Store, config: CoreConfig) -> Iterator[Ctx]:
    """`ctx` on each engine (any_store): the handlers' view of the store's contract."""
    context = Ctx(store=any_store, config=config)
    yield context
    context.db.close()


@pytest.fixture
def any_chat(any_ctx: Ctx) -> Chat:
    return Chat(any_ctx)


def add(ctx: Ctx, new: NewArticle) -> int:
    report = store_article(ctx.store, ctx.config, new)
    assert report.new, "expected a new article"
    return report.new[0].id


def vote_data(article_id: int, option: int) -> str:
    from handlers.events import Button

    return encode(Button("x", "vote", (str(article_id), str(option))))


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    """The fake Telegram Bot API on 127.0.0.1, with the environment of a production start
    pointed at it and a fresh database (a module that needs more defines its own)."""
    from tests.telegram_helpers import TOKEN, configure

    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        yield fake


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    """The fake Discord (gateway and REST) on 127.0.0.1 with its test server, the
    environment pointed at it; channels paced at 50 messages a second, not the real 5."""
    from tests.discord_helpers import configure, setup_server

    async with FakeDiscord() as fake:
        setup_server(fake)
        configure(monkeypatch, tmp_path, fake, NEWSBOT_DISCORD_RATE_PER_CHANNEL="50")
        yield fake


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start aiohttp apps on 127.0.0.1 on free ports; returns each one's base URL."""
    async with serving() as start:
        yield start


@pytest.fixture
async def counter() -> AsyncIterator[ConnectionCounter]:
    """A listener on 127.0.0.1 that only counts connections: proof that none was made."""
    listener = ConnectionCounter()
    await listener.start()
    yield listener
    await listener.stop()
