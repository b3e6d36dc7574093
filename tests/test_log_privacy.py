"""Debug logs say what happened, not what people wrote: `newsbot run` at NEWSBOT_LOG_LEVEL=debug
against FakeTelegram, with a person writing something only they should know."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from datetime import datetime
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


async def test_json_logs_are_one_object_per_line_without_secrets(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    """NEWSBOT_LOG_FORMAT=json: every line a JSON object a log collector reads as it is,
    the same privacy as the text lines (no token, no words people wrote)."""
    alice = tg.user(42, "Alice")
    env = telegram_env(tmp_path, tg, log_level="debug", log_format="json")
    bot = await NewsbotProcess.start(env, "run", cwd=tmp_path)
    try:
        tg.send_text(alice, alice, "/subscribe Herzensangelegenheit")
        await tg.wait_for_message(alice, "Abonniert: Herzensangelegenheit.", timeout=60)
        bot.signal(signal.SIGTERM)
        done = await bot.finished(within=60)
    finally:
        await bot.ensure_stopped()
    assert done.code == 0, done.err
    secret = TOKEN.split(":", 1)[1]
    for hidden in ("Herzensangelegenheit", secret):
        assert hidden not in done.err
    entries = [json.loads(line) for line in done.err.splitlines()]
    assert len(entries) > 5
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        datetime.fromisoformat(entry["time"])
    assert {"DEBUG", "INFO"} <= {entry["level"] for entry in entries}
    assert any(entry["logger"].startswith("telegram") for entry in entries)


def test_a_json_line_keeps_extra_fields_and_loses_secrets() -> None:
    import io
    import logging

    from bot.log_format import JsonFormatter
    from bot.platforms.log_redaction import Redactor

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot.test_json_lines")
    logger.addHandler(handler)
    logger.addFilter(Redactor([TOKEN]))
    logger.propagate = False
    try:
        logger.warning("calling %s failed", f"https://api/bot{TOKEN}/x", extra={"chat": "t:1"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "calling https://api/bot<secret>/x failed"
    assert entry["chat"] == "t:1" and entry["level"] == "WARNING"
    assert TOKEN not in stream.getvalue()
