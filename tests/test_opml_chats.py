"""OPML files sent in chats: a bot admin's document captioned /feeds import on Telegram, or
a file attached to /feeds import on Discord, adds its feeds; anyone else is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.discord_helpers import GUILD, MOD, NEWS, OWNER, running_bot, setup_server
from tests.discord_helpers import configure as configure_discord
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import TOKEN, configure, running

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><body>
  <outline text="KI">
    <outline type="rss" text="xAI" xmlUrl="https://x.example.com/feed.xml"/>
  </outline>
  <outline type="rss" text="Kaputt" xmlUrl="javascript:alert(1)"/>
</body></opml>
"""
ADMIN, PERSON = 42, 7


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_ADMINS", f"telegram:{ADMIN}")
        yield fake


async def test_a_bot_admin_imports_an_opml_document_on_telegram(tg: FakeTelegram) -> None:
    admin, person = tg.user(ADMIN, "Ada"), tg.user(PERSON, "Bob")
    async with running(tg) as bot:
        tg.send_document(person, person, OPML, "feeds.opml", "/feeds import")
        await tg.wait_for_message(person, "Dafür brauchst du Bot-Admin-Rechte.")
        assert bot.store.feeds() == []

        tg.send_document(admin, admin, OPML, "feeds.opml", "/feeds import")
        report = await tg.wait_for_message(admin, "1 hinzugefügt, 0 übersprungen, 1 abgelehnt.")
        assert "hinzugefügt #1: https://x.example.com/feed.xml (Tags: KI)" in report["text"]
        assert "abgelehnt: javascript:alert(1)" in report["text"]
        assert [(f.location, f.tags) for f in bot.store.feeds()] == [
            ("https://x.example.com/feed.xml", ("KI",))
        ]
        # The same file again: everything known is skipped.
        tg.send_document(admin, admin, OPML, "feeds.opml", "/feeds import")
        await tg.wait_for_message(admin, "0 hinzugefügt, 1 übersprungen, 1 abgelehnt.")

        # Without a file, and with a file too large to download: said, nothing fetched.
        tg.send_text(admin, admin, "/feeds import")
        await tg.wait_for_message(admin, "Schick die OPML-Datei mit /feeds import")
        downloads = len(tg.file_downloads)
        tg.send_document(
            admin, admin, OPML, "huge.opml", "/feeds import", announced_size=50_000_000
        )
        await tg.wait_for_message(admin, "größer als 1000 KB")
        assert len(tg.file_downloads) == downloads
        # A hostile file is refused whole.
        bomb = b'<!DOCTYPE o [<!ENTITY a "aaaa">]><opml><body/></opml>'
        tg.send_document(admin, admin, bomb, "bomb.opml", "/feeds import")
        await tg.wait_for_message(admin, "deklariert eine DTD oder Entitäten")
        assert len(bot.store.feeds()) == 1


# -- Discord ---------------------------------------------------------------------------------


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        setup_server(fake)
        configure_discord(monkeypatch, tmp_path, fake, NEWSBOT_ADMINS=f"discord:{OWNER}")
        yield fake


async def test_a_bot_admin_imports_an_opml_attachment_on_discord(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        # A moderator of the server is no bot admin: refused, nothing added.
        refused = await bot.slash(
            NEWS, MOD, "feeds", {"action": "import", "file": ("feeds.opml", OPML)}
        )
        assert refused.content == "Dafür brauchst du Bot-Admin-Rechte."
        assert bot.store.feeds() == []

        dc.add_member(GUILD, OWNER, "owner")
        answer = await bot.slash(
            NEWS, OWNER, "feeds", {"action": "import", "file": ("feeds.opml", OPML)}
        )
        assert answer.ephemeral  # feed addresses can carry access keys
        assert "hinzugefügt #1: https://x.example.com/feed.xml (Tags: KI)" in answer.content
        assert answer.content.endswith("1 hinzugefügt, 0 übersprungen, 1 abgelehnt.")
        assert [(f.location, f.tags) for f in bot.store.feeds()] == [
            ("https://x.example.com/feed.xml", ("KI",))
        ]

        # Too large to download: said, and the file is never fetched.
        fetched = len(dc.upload_downloads)
        huge = ("huge.opml", OPML, 50_000_000)
        answer = await bot.slash(NEWS, OWNER, "feeds", {"action": "import", "file": huge})
        assert "größer als 1000 KB" in answer.content
        assert len(dc.upload_downloads) == fetched
        answer = await bot.slash(NEWS, OWNER, "feeds", {"action": "import"})
        assert "Schick die OPML-Datei mit /feeds import" in answer.content
