"""A Bot API answer python-telegram-bot cannot map (it raises AttributeError) stalls no job:
the other chat's post goes out, the next post to the same chat too, and polling goes on."""

from __future__ import annotations

from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import running


async def test_an_unmappable_send_stalls_no_delivery(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice", language_code="en")
    bob = tg.user(7, "Bob", language_code="en")
    async with running(tg) as bot:
        for person in (alice, bob):
            tg.send_text(person, person, "/subscribe xAI")
            await tg.wait_for_message(person, "Subscribed: xAI.")
        tg.fail_next("sendMessage", chat_id=alice.id, times=1, kind="unmappable")
        await bot.add_article("xAI eröffnet ein Büro in Berlin")
        await tg.wait_for_message(bob, "Büro in Berlin")
        await bot.add_article("xAI eröffnet ein Büro in Paris")
        await tg.wait_for_message(bob, "Büro in Paris")
        await tg.wait_for_message(alice, "Büro in Paris")


async def test_an_unmappable_update_batch_stalls_no_polling(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice", language_code="en")
    # The first two batches of updates come back unreadable.
    tg.fail_next("getUpdates", times=2, kind="unmappable")
    async with running(tg):
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Subscribed: xAI.", timeout=30)
    # Both unreadable batches were asked for, and polling asked again after them.
    polls = [method for method, _ in tg.requests if method.lower() == "getupdates"]
    assert len(polls) >= 3
