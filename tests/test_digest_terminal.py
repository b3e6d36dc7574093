"""A digest in the terminal chat: the whole program (scheduler, digest job, terminal adapter),
each entry naming the command that opens the article with its poll."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.console import ConsoleAdapter
from bot.settings import load_settings
from storage.models import UserRef
from tests.conftest import article
from tests.test_app import Screen

# Monday 23 March 2026, 06:00 UTC = 07:00 in Berlin.
START = datetime(2026, 3, 23, 6, 0, tzinfo=UTC)


async def test_the_terminal_gets_its_digest_once_and_opens_an_entry_with_article(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(db=tmp_path / "bot.db", demo=False)
    screen = Screen()
    app = App(settings, open_store(settings))
    now = START
    app.store.clock = lambda: now
    console = ConsoleAdapter(
        app.runtime,
        UserRef("console", "owner", "owner", "owner"),
        stdin=io.StringIO(""),
        stdout=screen,
    )
    app.add_adapter(console)
    await app.start()
    try:
        await console.handle_line("/subscribe xAI")
        await console.handle_line("/digest weekly montag 08:00")
        await screen.shows("jeden Montag um 08:00 (Europe/Berlin)")
        config = settings.core_config()
        first = await app.db.run(store_article, app.store, config, article(title="Erste Meldung"))
        await app.db.run(store_article, app.store, config, article(title="Zweite Meldung"))
        app.runtime.wake()
        await app.deliver_job.run_now()
        assert "Erste Meldung" not in screen.getvalue()

        # newsbot was down from Monday morning to Wednesday: the digest comes once.
        now = START + timedelta(days=2)
        await app.digest_job.run_now()
        await app.digest_job.run_now()
        shown = await screen.shows("Zweite Meldung")
        assert shown.count("Ihre Zusammenfassung: 2 neue Artikel") == 1
        article_id = first.new[0].id
        assert f"/article {article_id}" in shown
        await console.handle_line(f"/article {article_id}")
        await screen.shows("Sehr gut")
    finally:
        await app.shutdown()
