"""Digests and quiet hours on Telegram end to end (FakeTelegram): a group's admin switches the
digest on, articles wait for it, one message brings them with a button each that posts the
article with its poll, a long digest is split on whole entries, and quiet hours hold posts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import (
    JSON,
    Running,
    TagBalance,
    button_data,
    labels,
    running,
)

# Monday 23 March 2026, 06:00 UTC = 07:00 in Berlin.
START = datetime(2026, 3, 23, 6, 0, tzinfo=UTC)


def visible(message: JSON) -> str:
    """A message's text as people read it (without its HTML)."""
    parser = TagBalance()
    parser.feed(str(message["text"]))
    return "".join(parser.visible)


def set_clock(bot: Running, moment: datetime) -> None:
    bot.store.clock = lambda: moment


async def test_a_group_gets_one_digest_with_buttons_that_open_each_article(
    tg: FakeTelegram,
) -> None:
    group = tg.chat(-100300, "supergroup", title="Morgenrunde")
    carol, dan = tg.user(7, "Carol"), tg.user(8, "Dan")
    tg.set_member(group, carol, "administrator")
    async with running(tg) as bot:
        set_clock(bot, START)
        tg.send_text(group, carol, "/subscribe xAI")
        await tg.wait_for_message(group, "Abonniert: xAI.")
        # A member may not change it; bad input gets a clear line.
        tg.send_text(group, dan, "/digest daily 08:00")
        refused = await tg.wait_for_message(group, "Dafür brauchst du Admin-Rechte")
        tg.send_text(group, carol, "/digest daily 25:00")
        await tg.wait_for_message(
            group, "„25:00“ ist keine Uhrzeit", after_message_id=refused["message_id"]
        )
        tg.send_text(group, carol, "/digest daily 08:00")
        answer = await tg.wait_for_message(group, "jeden Tag um 08:00")
        first = await bot.add_article("xAI stellt Grok 5 vor", url="https://example.com/grok5")
        second = await bot.add_article("xAI eröffnet ein Büro in Berlin")
        await bot.app.deliver_job.run_now()
        assert not [m for m in tg.messages(group) if m["message_id"] > answer["message_id"]]

        set_clock(bot, START + timedelta(hours=1, seconds=5))  # 08:00:05 in Berlin
        await bot.app.digest_job.run_now()
        digest = await tg.wait_for_message(group, "Ihre Zusammenfassung: 2 neue Artikel")
        assert f"xAI stellt Grok 5 vor #{first}" in visible(digest)
        assert '<a href="https://example.com/grok5">xAI stellt Grok 5 vor</a>' in digest["text"]
        assert f"xAI eröffnet ein Büro in Berlin #{second}" in visible(digest)
        assert labels(digest) == [f"#{first} öffnen", f"#{second} öffnen"]
        await bot.app.digest_job.run_now()
        digests = [m for m in tg.messages(group) if "Ihre Zusammenfassung" in str(m.get("text"))]
        assert len(digests) == 1

        # The button posts the article with its poll; anyone may vote on it.
        tg.press(group, dan, digest["message_id"], button_data(digest)[0])
        shown = await tg.wait_for_message(
            group, "xAI stellt Grok 5 vor", after_message_id=digest["message_id"]
        )
        assert labels(shown)[0] == "Sehr gut · 0"
        tg.press(group, dan, shown["message_id"], f"nb:vote:{first}:1")
        await tg.wait_for(
            lambda: labels(tg.message(group, shown["message_id"]))[0] == "Sehr gut · 1"
        )

        # Tomorrow's digest lists it among the best rated of the period.
        third = await bot.add_article("xAI baut ein Rechenzentrum")
        set_clock(bot, START + timedelta(days=1, hours=1, seconds=5))
        await bot.app.digest_job.run_now()
        later = await tg.wait_for_message(
            group, "1 neuer Artikel", after_message_id=shown["message_id"]
        )
        assert f"xAI baut ein Rechenzentrum #{third}" in visible(later)
        assert "Am besten bewertet in diesem Zeitraum" in visible(later)
        assert f"xAI stellt Grok 5 vor #{first} – Mittel 5,00 aus 1 Stimme" in visible(later)


async def test_a_long_digest_is_split_between_whole_entries(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        set_clock(bot, START)
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        tg.send_text(alice, alice, "/digest weekly mo 08:00")
        answer = await tg.wait_for_message(alice, "jeden Montag um 08:00")
        long = "Ein sehr langer Titel über Sprachmodelle, Rechenzentren und Regulierung " * 2
        ids = [await bot.add_article(f"{n}: {long}", wake=False) for n in range(60)]
        set_clock(bot, START + timedelta(hours=1, seconds=5))
        await bot.app.digest_job.run_now()
        parts = [m for m in tg.messages(alice) if m["message_id"] > answer["message_id"]]
        assert len(parts) >= 3
        assert all(len(visible(m)) <= 4096 for m in parts)
        listed = [int(n) for m in parts for n in re.findall(r" #(\d+)$", visible(m), re.M)]
        assert listed == ids  # each once, in order, none cut
        for part in parts:
            # Each part's buttons open the entries it lists.
            shown = re.findall(r" #(\d+)$", visible(part), re.M)
            assert labels(part) == [f"#{n} öffnen" for n in shown]


async def test_quiet_hours_hold_posts_until_morning(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        night = datetime(2026, 3, 23, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
        set_clock(bot, night)
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        tg.send_text(alice, alice, "/quiet 22:00-07:00")
        answer = await tg.wait_for_message(alice, "Ruhezeiten: 22:00 bis 07:00")
        titles = [f"Nachtmeldung {n}" for n in range(3)]
        for title in titles:
            await bot.add_article(title)
        await bot.app.deliver_job.run_now()
        assert not [m for m in tg.messages(alice) if m["message_id"] > answer["message_id"]]
        set_clock(bot, datetime(2026, 3, 24, 6, 0, 5, tzinfo=UTC))  # 07:00:05
        await bot.app.deliver_job.run_now()
        await tg.wait_for_message(alice, titles[-1])
        posts = [m["text"] for m in tg.messages(alice) if m["message_id"] > answer["message_id"]]
        assert [next(t for t in titles if t in p) for p in posts] == titles
