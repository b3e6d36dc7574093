"""/link and /unlink in the terminal chat (`newsbot chat`, a real process and database file):
a code asked for on Telegram links the terminal's person; a wrong code is refused; the
terminal's own code is refused on the terminal."""

from __future__ import annotations

import re
from pathlib import Path

from storage.models import UserRef
from storage.moderation import Moderation
from storage.store import Store
from tests.test_cli import Newsbot

CODE = re.compile(r"\b([A-Z0-9]{5}-[A-Z0-9]{5})\b")


def test_the_terminal_links_with_a_code_from_telegram_and_unlinks(tmp_path: Path) -> None:
    newsbot = Newsbot(tmp_path)
    store = Store(tmp_path / "newsbot.db")
    try:
        store.migrate()
        telegram = UserRef("telegram", "42", "Alice", "alice_tg")
        Moderation(store).seen(telegram)  # Alice as Telegram's adapter brought her in
        code = store.links.issue_code(telegram)
        assert code is not None
    finally:
        store.close()

    wrong = newsbot("chat", "--user", "alice", stdin="/link ZZZZZ-ZZZZZ\n").stdout
    assert "Dieser Verbindungscode stimmt nicht" in wrong
    out = newsbot("chat", "--user", "alice", stdin=f"/link {code.code}\n/link\n/unlink\n").stdout
    assert "Verbunden: dieses Konto und Telegram @alice_tg sind jetzt eine Person" in out
    assert "Dieses Konto ist verbunden mit Telegram @alice_tg" in out
    assert "Verbindung mit Telegram @alice_tg aufgehoben" in out


def test_a_terminal_code_is_refused_on_the_terminal(tmp_path: Path) -> None:
    newsbot = Newsbot(tmp_path)
    asked = newsbot("chat", "--user", "alice", stdin="/link\n").stdout
    found = CODE.search(asked)
    assert found, asked
    assert "innerhalb von 10 Minuten" in asked
    out = newsbot("chat", "--user", "bob", stdin=f"/link {found.group(1)}\n").stdout
    assert "Dieser Code ist von dieser Plattform" in out
