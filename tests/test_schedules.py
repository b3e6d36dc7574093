"""Time zones, digests and quiet hours on both engines: the commands as a chat uses them, the
outbox rows a digest takes (once, whatever the downtime), quiet hours holding posts back and
releasing them in order, on a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.context import Ctx
from handlers.schedules import waiting_line
from storage.models import ChatRef, MessageRef
from storage.store import Store
from tests.conftest import Chat, add, article

# Monday 23 March 2026, 06:00 UTC = 07:00 in Berlin (winter time).
START = datetime(2026, 3, 23, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock(any_store: Store) -> list[datetime]:
    now = [START]
    any_store.clock = lambda: now[0]
    return now


def post(ctx: Ctx, title: str) -> int:
    return add(ctx, article(title=title, tags=("xAI",)))


def due(store: Store, chat: ChatRef) -> list[ChatRef]:
    return [c for c in store.schedules.due_digests([chat.platform], {}) if c == chat]


# -- the commands ----------------------------------------------------------------------------


async def test_time_zone_digest_and_quiet_hours_are_shown_set_and_refused(
    any_chat: Chat, clock: list[datetime]
) -> None:
    chat = any_chat
    assert "Europe/Berlin (die Voreinstellung des Bots)" in await chat.text("/timezone")
    assert "„Mars/Olympus“ ist keine Zeitzone" in await chat.text("/timezone Mars/Olympus")
    assert "jetzt America/New_York" in await chat.text("/timezone america/new_york")
    assert "Keine Zusammenfassung" in await chat.text("/digest")
    assert "„25:00“ ist keine Uhrzeit" in await chat.text("/digest daily 25:00")
    assert "„7“ ist keine Uhrzeit" in await chat.text("/digest daily 7")
    assert "„someday“ ist kein Wochentag" in await chat.text("/digest weekly someday 08:00")
    assert "/digest daily 08:00, /digest weekly" in await chat.text("/digest hourly")
    said = await chat.text("/digest weekly montag 08:00")
    assert "jeden Montag um 08:00 (America/New_York)" in said
    # Monday 07:00 in Berlin is 02:00 in New York: the digest comes this morning.
    assert "Nächste Zusammenfassung: 23.03.26, 08:00." in said
    assert "verschiedene Anfangs- und Endzeiten" in await chat.text("/quiet 22:00-22:00")
    assert "„24:00“ ist keine Uhrzeit" in await chat.text("/quiet 22:00-24:00")
    assert "Ruhezeiten: 22:00 bis 07:00" in await chat.text("/quiet 22:00-07:00")
    assert "Ruhezeiten: 22:00 bis 07:00" in await chat.text("/quiet")
    assert "ausgeschaltet" in await chat.text("/quiet off")
    assert "Keine Ruhezeiten" in await chat.text("/quiet")
    assert "ausgeschaltet" in await chat.text("/digest off")
    await chat.say("/lang en")
    assert "is no time of day: write it as HH:MM" in await chat.text("/quiet 25:00-07:00")
    entries = chat.ctx.store.audit_log.entries(20, chat=chat.chat)
    assert {(e.action, e.target) for e in entries} >= {
        ("timezone", "America/New_York"),
        ("digest", "weekly montag 08:00"),
        ("quiet", "22:00-07:00"),
        ("quiet", "off"),
        ("digest", "off"),
    }


async def test_in_a_group_only_admins_change_the_schedule(
    any_ctx: Ctx, clock: list[datetime]
) -> None:
    group = Chat(any_ctx, chat=ChatRef("telegram", "-100777"), is_private=False)
    for command in ("/digest daily 08:00", "/quiet 22:00-07:00", "/timezone UTC"):
        refused = await group.text(command, "dan")
        assert "Administratoren" in refused or "Admin" in refused, refused
    schedule = any_ctx.store.schedules.get(group.chat)
    assert (schedule.digest, schedule.quiet_start, schedule.timezone) == (None, None, None)
    # Anyone may look.
    assert "Keine Zusammenfassung" in await group.text("/digest", "dan")
    assert "Zusammenfassung: jeden Tag um 08:00" in await group.text(
        "/digest daily 08:00", "carol", admin=True
    )


# -- digests in the outbox ---------------------------------------------------------------------


async def test_a_digest_chat_gets_no_single_posts_and_its_digest_once_after_downtime(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    await any_chat.say("/digest daily 08:00")
    first, second = post(any_chat.ctx, "Erster Artikel"), post(any_chat.ctx, "Zweiter Artikel")
    assert store.claim_deliveries([chat.platform]) == []
    assert waiting_line(any_chat.ctx, chat, first) == (
        "wartet auf die nächste Zusammenfassung (23.03.26, 08:00)"
    )
    # Down from before 08:00 on Monday until Thursday noon: three digest times passed.
    clock[0] = datetime(2026, 3, 26, 11, 0, tzinfo=UTC)
    assert due(store, chat) == [chat]
    taken = store.schedules.take_digest(chat)
    assert taken is not None
    assert taken.article_ids == (first, second)
    # Once: nothing is due until Friday 08:00, and the rows are sent.
    assert due(store, chat) == []
    assert store.schedules.take_digest(chat) is None
    assert store.schedules.get(chat).digest_due == datetime(2026, 3, 27, 7, 0, tzinfo=UTC)
    assert [d.status for d in store.deliveries_for_chat(chat)] == ["sent", "sent"]
    assert waiting_line(any_chat.ctx, chat, first) is None


async def test_a_digest_that_cannot_be_sent_is_given_back_whole(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    await any_chat.say("/digest daily 08:00")
    only = post(any_chat.ctx, "Ein Artikel")
    clock[0] += timedelta(hours=2)
    taken = store.schedules.take_digest(chat)
    assert taken is not None
    store.schedules.give_back(taken, taken.delivery_ids, 300)
    assert due(store, chat) == []
    clock[0] += timedelta(seconds=301)
    again = store.schedules.take_digest(chat)
    assert again is not None
    assert again.article_ids == (only,)


async def test_switching_the_digest_off_posts_what_waited(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    await any_chat.say("/digest weekly fr 18:00")
    waiting = [post(any_chat.ctx, f"Artikel {n}") for n in range(3)]
    assert "Die 3 Artikel, die auf die Zusammenfassung warteten" in await any_chat.text(
        "/digest off"
    )
    assert [d.article_id for d in store.claim_deliveries([chat.platform])] == waiting


async def test_the_digest_keeps_eight_oclock_across_the_change_to_summer_time(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    clock[0] = datetime(2026, 3, 28, 6, 0, tzinfo=UTC)  # Saturday 07:00 CET
    await any_chat.say("/digest daily 08:00")
    post(any_chat.ctx, "Samstag")
    clock[0] = datetime(2026, 3, 28, 6, 59, tzinfo=UTC)
    assert due(store, chat) == []
    clock[0] = datetime(2026, 3, 28, 7, 0, 30, tzinfo=UTC)  # 08:00:30 CET
    assert store.schedules.take_digest(chat) is not None
    post(any_chat.ctx, "Sonntag")
    clock[0] = datetime(2026, 3, 29, 5, 59, tzinfo=UTC)  # 07:59 CEST
    assert due(store, chat) == []
    clock[0] = datetime(2026, 3, 29, 6, 0, 30, tzinfo=UTC)  # 08:00:30 CEST
    assert due(store, chat) == [chat]


async def test_the_digest_keeps_eight_oclock_across_the_end_of_summer_time(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    clock[0] = datetime(2026, 10, 24, 5, 0, tzinfo=UTC)  # Saturday 07:00 CEST
    await any_chat.say("/digest daily 08:00")
    post(any_chat.ctx, "Samstag")
    clock[0] = datetime(2026, 10, 24, 6, 0, 30, tzinfo=UTC)  # 08:00:30 CEST
    assert store.schedules.take_digest(chat) is not None
    post(any_chat.ctx, "Sonntag")
    clock[0] = datetime(2026, 10, 25, 6, 30, tzinfo=UTC)  # 07:30 CET: 08:00 CEST would be past
    assert due(store, chat) == []
    clock[0] = datetime(2026, 10, 25, 7, 0, 30, tzinfo=UTC)  # 08:00:30 CET
    assert due(store, chat) == [chat]


# -- quiet hours -----------------------------------------------------------------------------


async def test_quiet_hours_hold_posts_and_release_them_in_order(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    early = post(any_chat.ctx, "Vor der Ruhezeit")
    claimed = store.claim_deliveries([chat.platform], worker="w")
    assert [d.article_id for d in claimed] == [early]
    await any_chat.say("/quiet 22:00-07:00")
    clock[0] = datetime(2026, 3, 23, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    # The post claimed before failed: its retry falls in the quiet hours and waits too.
    store.delivery_retry(claimed[0].id, "timed out", 5)
    night = [post(any_chat.ctx, f"Nachts {n}") for n in range(3)]
    assert waiting_line(any_chat.ctx, chat, night[0]) == (
        "wartet auf das Ende der Ruhezeiten (24.03.26, 07:00)"
    )
    clock[0] = datetime(2026, 3, 24, 5, 59, tzinfo=UTC)  # 06:59: still quiet
    assert store.claim_deliveries([chat.platform], worker="w") == []
    clock[0] = datetime(2026, 3, 24, 6, 0, 5, tzinfo=UTC)  # 07:00:05
    released = store.claim_deliveries([chat.platform], worker="w")
    assert [d.article_id for d in released] == [early, *night]
    assert waiting_line(any_chat.ctx, chat, night[0]) is None
    for row in released:
        store.delivery_sent(row.id, MessageRef(chat, f"m{row.id}"), 0, None)
    # By day posts go out at once; the next night holds them again.
    clock[0] = datetime(2026, 3, 24, 12, 0, tzinfo=UTC)
    day = post(any_chat.ctx, "Mittags")
    by_day = store.claim_deliveries([chat.platform])
    assert [d.article_id for d in by_day] == [day]
    store.delivery_sent(by_day[0].id, MessageRef(chat, "day"), 0, None)
    clock[0] = datetime(2026, 3, 24, 23, 0, tzinfo=UTC)  # 00:00 in Berlin
    late = post(any_chat.ctx, "Mitternacht")
    assert store.claim_deliveries([chat.platform]) == []
    clock[0] = datetime(2026, 3, 25, 6, 0, 1, tzinfo=UTC)
    assert [d.article_id for d in store.claim_deliveries([chat.platform])] == [late]


async def test_forgetme_forgets_the_private_chats_schedule(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store, chat = any_chat.ctx.store, any_chat.chat
    store.subscribe(chat, ["xAI"], backlog=0)
    await any_chat.say("/timezone UTC")
    await any_chat.say("/digest daily 08:00")
    post(any_chat.ctx, "Wartet")
    await any_chat.say("/forgetme")
    schedule = store.schedules.get(chat)
    assert (schedule.timezone, schedule.digest) == (None, None)
    assert [d.status for d in store.deliveries_for_chat(chat)] == ["cancelled"]


async def test_a_chat_that_moves_keeps_its_schedule(
    any_store: Store, clock: list[datetime]
) -> None:
    old, new = ChatRef("telegram", "-1"), ChatRef("telegram", "-1001")
    any_store.schedules.set_quiet(old, 22 * 60, 7 * 60)
    any_store.migrate_chat(old, new)
    assert any_store.schedules.get(new).quiet_start == 22 * 60
    assert any_store.schedules.get(old).quiet_start is None


async def test_why_and_subscribe_say_when_a_digest_or_quiet_hours_hold_an_article(
    any_chat: Chat, clock: list[datetime]
) -> None:
    store = any_chat.ctx.store
    await any_chat.say("/digest daily 08:00")
    post(any_chat.ctx, "Älterer Artikel")
    answer = await any_chat.text("/subscribe xAI")
    assert "kommt mit der nächsten Zusammenfassung" in answer  # not "follows" right away
    held = post(any_chat.ctx, "Im Digest")
    assert await any_chat.text(f"/why {held}") == (
        f"#{held} wartet auf die nächste Zusammenfassung (23.03.26, 08:00)."
    )
    await any_chat.say("/digest off")
    await any_chat.say("/quiet 00:00-23:59")
    quiet = post(any_chat.ctx, "In der Ruhezeit")
    assert store.claim_deliveries([any_chat.chat.platform]) == []
    assert (await any_chat.text(f"/why {quiet}")).startswith(
        f"#{quiet} wartet auf das Ende der Ruhezeiten ("
    )
