"""Debug logs say what happened, not what people wrote: `newsbot run` at NEWSBOT_LOG_LEVEL=debug
against FakeTelegram, with a person writing something only they should know."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.newsbot_process import NewsbotProcess, telegram_env
from tests.telegram_helpers import TOKEN


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


async def test_debug_logs_show_the_size_of_what_people_write_not_the_words(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    alice = tg.user(42, "Alice")
    bot = await NewsbotProcess.start(
        telegram_env(tmp_path, tg, log_level="debug"), "run", cwd=tmp_path
    )
    try:
        tg.send_text(alice, alice, "/subscribe Herzensangelegenheit")
        await tg.wait_for_message(alice, "Abonniert: Herzensangelegenheit.", timeout=60)
        tg.send_text(alice, alice, "Ist meine Kontonummer 4711-0815 sicher?")
        await tg.wait_for(lambda: len(tg.messages(alice)) >= 2, timeout=30, what="an answer")
        bot.signal(signal.SIGTERM)
        done = await bot.finished(within=60)
    finally:
        await bot.ensure_stopped()
    assert done.code == 0, done.err
    for secret in ("Herzensangelegenheit", "Kontonummer", "4711-0815", TOKEN):
        assert secret not in done.err
    assert "Processing update" in done.err  # the debug log is there
    assert "characters>" in done.err  # with sizes in place of contents
