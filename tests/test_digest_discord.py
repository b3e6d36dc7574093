"""Digests on Discord end to end (FakeDiscord): the slash commands with their refusals, a
digest split where Discord's 25 buttons or 2,000 characters end, and a button that posts the
article with its poll."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.discord_helpers import ALICE, MOD, NEWS, article, running_bot
from tests.fakes.discord_api import FakeDiscord

# Monday 23 March 2026, 06:00 UTC = 07:00 in Berlin.
START = datetime(2026, 3, 23, 6, 0, tzinfo=UTC)


async def test_the_schedule_commands_and_a_digest_split_at_discords_limits(
    dc: FakeDiscord,
) -> None:
    async with running_bot(dc) as bot:
        now = START
        bot.store.clock = lambda: now
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        refused = await bot.slash(NEWS, ALICE, "digest", {"schedule": "daily 08:00"})
        assert "Admin-Rechte" in (refused.content or "")
        bad_zone = await bot.slash(NEWS, MOD, "timezone", {"zone": "Mars/Olympus"})
        assert "„Mars/Olympus“ ist keine Zeitzone" in (bad_zone.content or "")
        empty = await bot.slash(NEWS, MOD, "quiet", {"hours": "22:00-22:00"})
        assert "verschiedene Anfangs- und Endzeiten" in (empty.content or "")
        bad_day = await bot.slash(NEWS, MOD, "digest", {"schedule": "weekly someday 08:00"})
        assert "„someday“ ist kein Wochentag" in (bad_day.content or "")
        answer = await bot.slash(NEWS, MOD, "digest", {"schedule": "daily 08:00"})
        assert "jeden Tag um 08:00 (Europe/Berlin)" in (answer.content or "")
        shown = await bot.slash(NEWS, ALICE, "digest")
        assert "jeden Tag um 08:00" in (shown.content or "")

        before = len(dc.messages(NEWS))
        ids = [await bot.ingest(article(title=f"xAI Meldung {n}")) for n in range(30)]
        await bot.deliver()
        assert len(dc.messages(NEWS)) == before

        now = START + timedelta(hours=1, seconds=5)
        await bot.app.digest_job.run_now()
        parts = [m for m in dc.messages(NEWS)[before:] if m.interaction_id is None]
        assert len(parts) == 2
        assert parts[0].content.startswith("**Ihre Zusammenfassung: 30 neue Artikel**")
        listed = [int(n) for m in parts for n in re.findall(r" #(\d+)$", m.content, re.M)]
        assert listed == ids
        for part in parts:
            assert len(part.content) <= 2000
            assert len(part.custom_ids) <= 25
            assert part.custom_ids == [
                f"nb:show_article:{n}" for n in re.findall(r" #(\d+)$", part.content, re.M)
            ]

        # The button posts the article with its poll, for the whole channel.
        answers = await bot.press(parts[1], ALICE, f"nb:show_article:{ids[-1]}")
        embed = answers[0].data["embeds"][0]
        assert embed["title"] == "xAI Meldung 29"
        assert f"#{ids[-1]} ·" in embed["footer"]["text"]
        assert not answers[0].ephemeral
