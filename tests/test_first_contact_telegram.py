"""What a Telegram user sees first: the answer to /subscribe before the article it announces,
long answers in whole messages, and /results bars that line up."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from bot.platforms.telegram.render import utf16_len
from handlers.i18n import t
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import TOKEN, configure, running


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_ADMINS", "telegram:42")
        yield fake


def visible(text: str) -> str:
    """A message's text as people read it: without its HTML tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


async def test_subscribe_answers_before_the_newest_article_follows(tg: FakeTelegram) -> None:
    alice = tg.user(7, "Alice", language_code="de")
    async with running(tg) as bot:
        await bot.add_article("Neues Modell von xAI")
        tg.send_text(alice, alice, "/subscribe xAI")
        post = await tg.wait_for_message(alice, "Neues Modell von xAI")
        confirmation = await tg.wait_for_message(alice, t("sub.backlog", "de"))
        assert confirmation["message_id"] < post["message_id"]


async def test_a_long_answer_comes_in_whole_messages_within_4096_characters(
    tg: FakeTelegram,
) -> None:
    owner = tg.user(42, "Olga", language_code="de")
    async with running(tg) as bot:
        for n in range(50):
            await bot.app.db.run(
                partial(
                    bot.store.audit,
                    platform="telegram",
                    chat_id="-100",
                    actor="telegram:42",
                    action="warn",
                    target=f"telegram:{1000 + n}",
                    reason=f"Eintrag {n:02d}: " + "ein langer Grund für die Verwarnung " * 2,
                )
            )
        tg.send_text(owner, owner, "/audit 50")
        await tg.wait_for_message(owner, "Eintrag 00")  # the oldest entry comes last
        shown = [visible(str(m["text"])) for m in tg.messages(owner)]
        assert len(shown) >= 2
        assert all(utf16_len(text) <= 4096 for text in shown)
        assert not any(text.rstrip().endswith("…") for text in shown)
        entries = re.findall(r"Eintrag (\d\d):", "\n".join(shown))
        assert sorted(entries) == [f"{n:02d}" for n in range(50)]


async def test_results_bars_line_up_in_a_fixed_width_block(tg: FakeTelegram) -> None:
    alice = tg.user(7, "Alice", language_code="de")
    bob = tg.user(8, "Bob", language_code="de")
    async with running(tg) as bot:
        article_id = await bot.add_article("Neues Modell von xAI")
        for person, option in ((alice, 1), (bob, 5)):
            tg.send_text(person, person, f"/vote {article_id} {option}")
            await tg.wait_for_message(person, "Stimme")
        tg.send_text(alice, alice, f"/results {article_id}")
        results = await tg.wait_for_message(alice, "<pre>")
        # The text is the caption of the chart (tests/test_charts.py checks the picture).
        block = re.search(r"<pre>(.*?)</pre>", str(results["caption"]), re.DOTALL)
        assert block is not None
        rows = html.unescape(block.group(1)).split("\n")
        assert len(rows) == 5
        assert rows[0].startswith("1. Sehr gut") and rows[4].startswith("5. Mangelhaft")
        # Every bar starts and every count ends in the same column.
        assert len({row.index("█") if "█" in row else row.index("░") for row in rows}) == 1
        assert len({len(row) for row in rows}) == 1
