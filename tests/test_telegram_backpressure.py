"""Telegram polling under overload: the bot fetches only the updates its handlers can take next,
and Telegram keeps the rest, so a flood of presses never piles up inside the process."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.platforms.telegram.adapter import MAX_FETCHED
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import configure, labels, running

PRESSES = 3 * MAX_FETCHED  # waiting at Telegram at once, each by another person
OPTIONS = 5


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token="123456:SECRET-telegram-token_4711") as fake:
        configure(monkeypatch, tmp_path, fake)
        # The edits of one busy post are paced per chat; pacing is no subject here.
        monkeypatch.setenv("NEWSBOT_TELEGRAM_RATE_PER_CHAT", "100")
        yield fake


def counts(record: dict[str, object]) -> list[int]:
    return [int(label.rsplit("·", 1)[1]) for label in labels(record)]


async def test_a_flood_of_presses_is_fetched_no_faster_than_it_is_handled(
    tg: FakeTelegram,
) -> None:
    group = tg.chat(-100300, "supergroup", title="Viele Stimmen")
    admin = tg.user(50, "Carol", language_code="de")
    tg.set_member(group, admin, "administrator")
    people = [tg.user(1000 + n, f"Person {n}", language_code="de") for n in range(PRESSES)]
    async with running(tg) as bot:
        tg.send_text(group, admin, "/subscribe xAI")
        await tg.wait_for_message(group, "Abonniert: xAI.")
        article = await bot.add_article("Ein Artikel über xAI")
        post = await tg.wait_for_message(group, "Ein Artikel über xAI")
        mid = post["message_id"]
        await tg.wait_for(lambda: not tg.pending_updates, what="the command fetched")
        start = len(tg.requests)

        # All of them wait at Telegram before the bot's next getUpdates returns.
        for n, person in enumerate(people):
            tg.press(group, person, mid, f"nb:vote:{article}:{1 + n % OPTIONS}")
        ids = sorted(u["update_id"] for u in tg.pending_updates)
        assert len(ids) == PRESSES

        await tg.wait_for(
            lambda: len(tg.callback_answers) == PRESSES, 60, what="every press answered"
        )
        # No press is lost to the waiting: the post ends up counting every one.
        await tg.wait_for(
            lambda: sum(counts(tg.message(group, mid))) == PRESSES, 30, what="the counts"
        )

    # What the fake saw: a getUpdates with offset o confirms every update below it, so the
    # next one's offset says how many had been fetched by then; answers in the log before a
    # getUpdates are presses the bot had at least started to handle.
    log = tg.requests[start:]
    polls = [(i, int(p.get("offset") or 0)) for i, (m, p) in enumerate(log) if m == "getUpdates"]
    most = 0
    for (index, _), (_, next_offset) in itertools.pairwise(polls):
        fetched = sum(1 for u in ids if u < next_offset)
        answered = sum(1 for m, _ in log[:index] if m == "answerCallbackQuery")
        most = max(most, fetched - answered)
    assert most <= MAX_FETCHED, f"{most} fetched presses were waiting for a handler"
    assert sum(1 for u in ids if u < polls[-1][1]) == PRESSES  # all fetched in the end
