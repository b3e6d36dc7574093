"""The running bot waits out a database it cannot write (a full disk here) instead of failing
over and over: one log line when it starts, retries with growing pauses, one when it ends,
and no source is blamed for it. SQLite's max_page_count makes the disk full."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.platforms.console import CHAT, ConsoleAdapter
from bot.settings import load_settings
from storage.models import UserRef
from tests.test_app import Screen

SQLITE_MAX_PAGES = 1_073_741_823  # SQLite's default limit


class Watch(logging.Handler):
    """Records of one logger, with an event that fires on each new one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changed.set()

    def lines(self, level: int, text: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno == level and text in r.getMessage()]

    async def until(self, level: int, text: str, within: float = 10.0, count: int = 1) -> None:
        """Wait (bounded) until `count` records of this level hold `text`."""
        async with asyncio.timeout(within):
            while len(self.lines(level, text)) < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def watch() -> Iterator[Watch]:
    logger = logging.getLogger("bot")
    handler, level = Watch(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_a_full_disk_pauses_the_jobs_until_there_is_space_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watch: Watch
) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(db=tmp_path / "bot.db", demo=False, sources_every=0.2)
    folder = tmp_path / "inbox"
    folder.mkdir()
    # Long enough that storing it needs pages the database does not have yet.
    body = " ".join(f"Satz {n} über Rechenzentren im Norden." for n in range(1000))
    (folder / "a.txt").write_text(
        f"Titel: Neues Rechenzentrum im Norden\n\n{body}\n\nSchlagwörter: xAI\n",
        encoding="utf-8",
    )
    store = open_store(settings)
    store.subscribe(CHAT, ["xAI"])
    store.add_feed(str(folder), "path", interval_seconds=60)
    pages = int(store.db.conn.execute("PRAGMA page_count").fetchone()[0])
    store.db.conn.execute(f"PRAGMA max_page_count = {pages}")  # no room to grow: disk full

    screen = Screen()
    app = App(settings, store)
    app.add_adapter(
        ConsoleAdapter(
            app.runtime, UserRef("console", "owner"), stdin=io.StringIO(""), stdout=screen
        )
    )
    try:
        await app.start()  # the first fetch fails: the program runs on
        await watch.until(logging.WARNING, "job sources: the database failed")
        await watch.until(logging.DEBUG, "job sources: the database still fails")
        store.db.conn.execute(f"PRAGMA max_page_count = {SQLITE_MAX_PAGES}")
        await screen.shows("Neues Rechenzentrum im Norden", within=20)
        await watch.until(logging.WARNING, "job sources: the database works again")
    finally:
        await app.shutdown()

    # One line when the outage began and one when it ended; no traceback per try.
    assert len(watch.lines(logging.WARNING, "job sources: the database failed")) == 1
    assert len(watch.lines(logging.WARNING, "the database works again")) == 1
    assert not [r for r in watch.records if r.exc_info]
    # The feed was not at fault, and is not held responsible.
    check = open_store(settings)
    try:
        feed = check.feeds()[0]
        assert (feed.state, feed.failures, feed.last_error) == ("active", 0, None)
    finally:
        check.close()


def test_an_outage_is_one_line_however_many_parts_meet_it(watch: Watch) -> None:
    """The jobs and the update inbox share one account of the database: the outage begins
    with the first part that fails and ends when the last one gets through, and a part that
    never failed (a reader, while only writes fail) ends nothing."""
    from bot.storage_health import StorageHealth
    from storage.faults import Fault, StorageError

    health = StorageHealth()
    gone = StorageError(Fault.UNREACHABLE, "server closed the connection")
    health.failed("job deliver", gone, 1.0)
    health.failed("inbox telegram:1", gone)
    health.works("job refresh")  # it never failed
    health.failed("job deliver", gone, 2.0)
    health.works("job deliver")
    assert health.outage
    health.works("inbox telegram:1")
    assert not health.outage
    assert len(watch.lines(logging.WARNING, "the database failed")) == 1
    assert len(watch.lines(logging.WARNING, "works again")) == 1
    assert "inbox telegram:1: the database works again" in watch.records[-1].getMessage()
