"""Live counts stay live when one post cannot be edited: the others are refreshed, the bad one
waits with backoff, and /why says what went wrong (Telegram end to end, FakeTelegram)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import chat_ref, labels, running


def edits_of(tg: FakeTelegram, chat_id: int, message_id: int) -> int:
    """Edit requests the bot made for one message, answered or not."""
    return sum(
        1
        for method, params in tg.requests
        if method.lower() in {"editmessagereplymarkup", "editmessagetext"}
        and str(params.get("chat_id")) == str(chat_id)
        and int(params.get("message_id", 0)) == message_id
    )


async def test_one_bad_post_neither_stops_the_others_nor_is_retried_every_run(
    tg: FakeTelegram,
) -> None:
    alice = tg.user(42, "Alice", language_code="en")
    bob = tg.user(7, "Bob", language_code="en")
    carol = tg.user(9, "Carol", language_code="en")
    async with running(tg) as bot:
        for person in (alice, bob):
            tg.send_text(person, person, "/subscribe xAI")
            await tg.wait_for_message(person, "Subscribed: xAI.")
        article = await bot.add_article("xAI eröffnet ein Büro in Berlin")
        # Alice's post is older, so the refresh job comes to it first.
        alice_post = await tg.wait_for_message(alice, "Büro in Berlin")
        bob_post = await tg.wait_for_message(bob, "Büro in Berlin")
        alice_msg, bob_msg = alice_post["message_id"], bob_post["message_id"]

        # Telegram answers every edit in Alice's chat with something no client can read.
        for method in ("editMessageReplyMarkup", "editMessageText"):
            tg.fail_next(method, chat_id=alice.id, times=None, kind="unmappable")
        tg.send_text(carol, carol, f"/vote {article} 2")

        # Bob's copy is refreshed although Alice's edit failed before it.
        await tg.wait_for(
            lambda: labels(tg.message(bob, bob_msg))[1] == "Good · 1", what="Bob's copy"
        )
        assert edits_of(tg, alice.id, alice_msg) == 1
        assert labels(tg.message(alice, alice_msg))[1] == "Good · 0"

        # It waits out its backoff: more runs of the refresh job do not try it again.
        tg.send_text(carol, carol, f"/vote {article} 1")
        await tg.wait_for(
            lambda: labels(tg.message(bob, bob_msg))[0] == "Excellent · 1", what="Bob again"
        )
        await bot.app.refresh_job.run_now()
        assert edits_of(tg, alice.id, alice_msg) == 1

        # /why in Alice's chat says which post is behind, and why.
        tg.send_text(alice, alice, "/why")
        why = await tg.wait_for_message(alice, f"Post of #{article}", after_message_id=alice_msg)
        assert "counts not updated (AttributeError)" in why["text"]
        assert "failed once" in why["text"]

        # Once its backoff is over (and Telegram behaves again), it is brought up to date.
        tg.clear_failures()
        later = bot.store.now() + timedelta(minutes=5)
        bot.store.clock = lambda: later
        await bot.app.refresh_job.run_now()
        await tg.wait_for(
            lambda: labels(tg.message(alice, alice_msg))[:2] == ["Excellent · 1", "Good · 0"],
            what="Alice's copy after the backoff",
        )
        tg.send_text(alice, alice, "/why")
        fine = await tg.wait_for_message(alice, "", after_message_id=why["message_id"])
        assert "Post of" not in fine["text"]


async def test_one_vote_brings_more_copies_than_a_batch_up_to_date_at_once(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refresh job's own schedule would come too late to matter here: only the vote's
    # wake-up runs it. Telegram's limits are lifted: pacing is no subject here.
    monkeypatch.setenv("NEWSBOT_REFRESH_EVERY", "60")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_RATE_OVERALL", "1000")
    readers = [tg.user(1_000 + n, f"Leser{n}", language_code="en") for n in range(250)]
    async with running(tg) as bot:
        for reader in readers:
            await bot.app.db.run(bot.store.subscribe, chat_ref(reader), ["xAI"], backlog=0)
        article = await bot.add_article("xAI eröffnet ein Büro in Berlin")
        copies = lambda: [  # noqa: E731
            record for record in tg.all_messages() if "Büro in Berlin" in str(record.get("text"))
        ]
        await tg.wait_for(lambda: len(copies()) == len(readers), 30, what="every copy")

        tg.send_text(readers[0], readers[0], f"/vote {article} 2")
        # More copies than one batch of the refresh job (200): every one of them is edited
        # after this one vote, not a batch now and the rest at the job's next turn.
        await tg.wait_for(
            lambda: all(labels(record)[1] == "Gut · 1" for record in copies()),
            15,
            what="every copy showing the vote",
        )
