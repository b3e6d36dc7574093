"""Terminal deliveries go to the terminal they are for: `newsbot run` (here with Telegram) and
several scripted `newsbot chat` processes of one person on one database, each showing only that
person's terminal chat's posts, and nothing marked sent that no one saw."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.platforms.console import terminal_chat
from storage.models import ChatRef
from tests.fakes.telegram_api import FakeTelegram
from tests.newsbot_process import NewsbotProcess, base_env
from tests.telegram_helpers import running

# The person at the terminals below: each person has a terminal chat of their own.
CHAT = terminal_chat("voter")
# Another person's terminal chat: its posts are for their terminal, not for any process here.
ELSEWHERE = terminal_chat("elsewhere")
TITLES = [f"Meldung {n} über xAI" for n in range(1, 7)]


def statuses(db: Path, chat: ChatRef) -> list[tuple[str, str | None, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT status, claimed_by, attempts FROM deliveries WHERE platform=? AND chat_id=?",
            (chat.platform, chat.chat_id),
        ).fetchall()
    finally:
        conn.close()


async def test_each_terminal_shows_only_its_own_chats_posts(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    alice = tg.user(42, "Alice")
    bob = tg.user(7, "Bob")
    db = tmp_path / "newsbot.db"
    async with running(tg) as bot:
        for chat in (alice, bob):
            ref = ChatRef("telegram", str(chat.id))
            await bot.app.db.run(lambda r=ref: bot.store.subscribe(r, ["xAI"], backlog=0))
        for chat in (CHAT, ELSEWHERE):
            await bot.app.db.run(lambda c=chat: bot.store.subscribe(c, ["xAI"], backlog=0))
        ids = [await bot.add_article(title) for title in TITLES]
        for chat in (alice, bob):
            await tg.wait_for(lambda c=chat: len(tg.messages(c)) == len(TITLES))

        # One person votes from five terminals at once, as scripts.
        voters = [
            await NewsbotProcess.start(
                base_env(tmp_path),
                "chat",
                "--user",
                "voter",
                cwd=tmp_path,
                stdin=f"/vote {ids[n]} {n % 5 + 1}\n/help\n".encode(),
            )
            for n in range(5)
        ]
        try:
            outputs = await asyncio.gather(*(voter.finished(within=60) for voter in voters))
        finally:
            for voter in voters:
                await voter.ensure_stopped()

    for done in outputs:
        assert done.code == 0, done.err
        assert "Traceback" not in done.err
    printed = [t for done in outputs for t in TITLES for _ in range(done.out.count(t))]
    # The terminal chat's posts, each shown exactly once, by one of the terminals.
    assert sorted(printed) == sorted(TITLES)
    assert [s for s, _, _ in statuses(db, CHAT)] == ["sent"] * len(TITLES)
    # The other terminal's posts were neither shown nor taken: they wait for it.
    assert statuses(db, ELSEWHERE) == [("pending", None, 0)] * len(TITLES)
    # Telegram's posts went to Telegram only.
    for chat in (alice, bob):
        assert len(tg.messages(chat)) == len(TITLES)
