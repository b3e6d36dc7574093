"""The PostgreSQL server going away while `newsbot run` runs, end to end with the fake
Telegram: the bot keeps running, says so once when the outage starts and once when it ends,
retries with growing pauses, and loses nothing: what was accepted before is there after, and
what people did meanwhile (Telegram keeps the updates the bot could not store) is done after.
The test stops and starts a server of its own, so that no other test loses its database."""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.settings import load_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import TOKEN, configure, labels, running
from tests.test_storage_outage import Watch


class OwnServer:
    """A PostgreSQL server (pgserver) in a folder of the test's own, that it may stop."""

    def __init__(self, folder: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs, without XDG_RUNTIME_DIR
            try:
                import pgserver
            except ImportError as err:
                pytest.skip(f"the outage test needs pgserver: {err}")
            folder.mkdir()
            self.server = pgserver.get_server(folder, cleanup_mode="stop")
        self.folder = folder
        self.server.psql("CREATE DATABASE newsbot;")
        self.url = self.server.get_uri("newsbot")

    def stop(self) -> None:
        """Stop it as an operator would for maintenance: connections are cut at once."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.folder, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


@pytest.fixture
def watch() -> Iterator[Watch]:
    handler = Watch()
    loggers = [logging.getLogger(name) for name in ("bot", "telegram", "storage")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def server() -> Iterator[OwnServer]:
    # Not under pytest's numbered temp folders, which another session may prune meanwhile
    # (see tests/postgres_server.py), and a short path for the unix socket.
    folder = Path(tempfile.mkdtemp(prefix="nbpgout"))
    try:
        own = OwnServer(folder / "pg")
        try:
            yield own
        finally:
            own.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def tg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: OwnServer
) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_DB", server.url)
        yield fake


async def answer_of(tg: FakeTelegram, query_id: str, within: float = 5.0) -> str:
    answer = await tg.wait_for(lambda: tg.callback_answers.get(query_id), within, what="the answer")
    return str(answer.get("text", ""))


async def test_the_bot_waits_out_a_postgresql_outage_and_loses_nothing(
    tg: FakeTelegram, server: OwnServer, watch: Watch
) -> None:
    alice = tg.user(42, "Alice", language_code="de")
    bob = tg.user(7, "Bob", language_code="de")
    group = tg.chat(-100300, "supergroup", title="Nachrichten")
    settings = load_settings(deliver_every=0.5, refresh_every=0.5, sources_every=1.0)
    async with running(tg, settings) as bot:
        tg.send_text(group, None, "/subscribe xAI", sender_chat=group)  # an anonymous admin
        await tg.wait_for_message(group, "Abonniert: xAI.")
        article = await bot.add_article("Vor dem Ausfall: xAI baut ein Rechenzentrum")
        post = await tg.wait_for_message(group, "Vor dem Ausfall")
        mid = post["message_id"]
        query = tg.press(group, alice, mid, f"nb:vote:{article}:2")
        assert await answer_of(tg, query) == "Deine Stimme: Gut"

        server.stop()
        # What people do while the database is away: Telegram keeps it until it is stored.
        tg.send_text(bob, bob, "/subscribe xAI")
        during = tg.press(group, bob, mid, f"nb:vote:{article}:1")
        await watch.until(logging.WARNING, "the database failed", within=30)
        # Tries go on, with growing pauses, and are not each worth a line.
        await watch.until(logging.DEBUG, "the database still fails", within=60, count=3)
        assert tg.messages(bob) == []

        server.start()
        # Bob's subscription and his press are handled now: he receives the article that
        # was there before, and the group's post shows Alice's vote and his.
        await tg.wait_for_message(bob, "Abonniert: xAI.", timeout=90)
        await tg.wait_for_message(bob, "Vor dem Ausfall", timeout=30)
        assert await answer_of(tg, during, within=30) == "Deine Stimme: Sehr gut"
        await tg.wait_for(
            lambda: labels(tg.message(group, mid))[:2] == ["Sehr gut · 1", "Gut · 1"],
            30,
            what="both votes on the group's post",
        )
        await watch.until(logging.WARNING, "the database works again", within=90)
        # Work from after the outage flows as before.
        await bot.add_article("Nach dem Ausfall: xAI eröffnet ein Büro")
        await tg.wait_for_message(group, "Nach dem Ausfall", timeout=30)
        await tg.wait_for_message(bob, "Nach dem Ausfall", timeout=30)

    # One line when the outage began and one when it ended, whichever parts met it; no
    # traceback for any of the tries.
    began = watch.lines(logging.WARNING, "the database failed")
    assert len(began) == 1, began
    assert len(watch.lines(logging.WARNING, "the database works again")) == 1
    assert not [r for r in watch.records if r.exc_info and r.levelno >= logging.WARNING]
    assert watch.lines(logging.ERROR, "") == []
