"""/filter and /why N on both platforms end to end: the real PTB and discord.py bots against
FakeTelegram and FakeDiscord on 127.0.0.1."""

from __future__ import annotations

from handlers.i18n import t
from tests.discord_helpers import ALICE, MOD, NEWS, article, chat, running_bot
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import chat_ref, running, texts

ELECTION = "Die Wahlen in Hessen"
CRYPTO = "Kryptobörse und Börse melden Rekord"
LATER = "Wahl in Bayern"


async def test_telegram_filters_hold_back_what_a_chat_excludes(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        tg.send_text(alice, alice, "/subscribe Politik")
        await tg.wait_for_message(alice, "Abonniert: Politik.")
        tg.send_text(alice, alice, "/filter include Wahl")
        await tg.wait_for_message(alice, "1. nur mit: Wahl")
        tg.send_text(alice, alice, "/filter exclude Börse")
        await tg.wait_for_message(alice, "2. ohne: Börse")
        election = await bot.add_article(ELECTION, tags=("Politik",))
        await tg.wait_for_message(alice, ELECTION)
        crypto = await bot.add_article(f"Wahl: {CRYPTO}", tags=("Politik",))
        later = await bot.add_article(LATER, tags=("Politik",))
        # One chat's posts go out in order: once the later one is there, the excluded one
        # would have been too.
        await tg.wait_for_message(alice, LATER)
        assert not [text for text in texts(tg, alice) if CRYPTO in text]
        assert [d.article_id for d in bot.store.deliveries_for_chat(chat_ref(alice))] == [
            election,
            later,
        ]
        tg.send_text(alice, alice, f"/why {crypto}")
        await tg.wait_for_message(
            alice, f"#{crypto} wurde von Filter 2. ohne: Börse zurückgehalten"
        )
        tg.send_text(alice, alice, f"/why {election}")
        await tg.wait_for_message(alice, f"#{election} wurde hier am ")
        tg.send_text(alice, alice, "/filter list")
        listing = await tg.wait_for_message(alice, "<b>Filter dieses Chats</b>")
        assert "1. nur mit: Wahl" in listing["text"] and "2. ohne: Börse" in listing["text"]


async def test_telegram_refuses_filters_without_rights_and_bad_input(tg: FakeTelegram) -> None:
    group = tg.chat(-100200, "supergroup", title="News")
    carol, dan = tg.user(50, "Carol"), tg.user(51, "Dan")
    tg.set_member(group, carol, "administrator")
    need_admin = "Dafür brauchst du Admin-Rechte in diesem Chat."
    async with running(tg) as bot:
        tg.send_text(group, dan, "/filter exclude Börse")
        await tg.wait_for_message(group, need_admin)
        tg.send_text(group, carol, "/filter exclude re:(?<=a)b")
        await tg.wait_for_message(group, "Dieses Muster geht nicht: invalid perl operator")
        tg.send_text(group, carol, "/filter exclude re:" + "x" * 201)
        await tg.wait_for_message(group, "höchstens 200 Zeichen")
        tg.send_text(group, carol, '/filter include ""')
        await tg.wait_for_message(group, "mindestens ein Wort")
        tg.send_text(group, carol, "/filter remove zwei")
        await tg.wait_for_message(group, "Keine Filternummer: zwei")
        tg.send_text(group, carol, '/filter exclude "Künstliche Intelligenz"')
        await tg.wait_for_message(group, "1. ohne: Künstliche Intelligenz")
        tg.send_text(group, dan, "/filter clear")
        tg.send_text(group, dan, "/why 1")
        await tg.wait_for(
            lambda: texts(tg, group).count(need_admin) == 3, what="three refusals for Dan"
        )
        assert [f.text for f in bot.store.filters.of(chat_ref(group))] == ["Künstliche Intelligenz"]


async def test_discord_filters_and_why(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        answer = await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        answer = await bot.slash(
            NEWS, MOD, "filter", {"action": "exclude", "rule": '"Sprachmodelle des"'}
        )
        assert "1. ohne: Sprachmodelle des" in (answer.content or "")
        refused = await bot.slash(NEWS, ALICE, "filter", {"action": "include", "rule": "xAI"})
        assert refused.ephemeral and refused.content == t("error.need_admin", "de")
        bad = await bot.slash(NEWS, MOD, "filter", {"action": "include", "rule": "re:a{2000}"})
        assert "Dieses Muster geht nicht" in (bad.content or "")
        empty = await bot.slash(NEWS, MOD, "filter", {"action": "include", "rule": "„ “"})
        assert "mindestens ein Wort" in (empty.content or "")
        number = await bot.slash(NEWS, MOD, "filter", {"action": "remove", "rule": "zwei"})
        assert "Keine Filternummer: zwei" in (number.content or "")

        held = await bot.ingest(article())  # its body names "Sprachmodelle des Start-ups xAI"
        passed = await bot.ingest(
            article(title="xAI stellt Grok vor", body="Ein neues Modell für alle.")
        )
        post = await bot.post_in(NEWS, passed)
        assert post.embeds[0]["title"] == "xAI stellt Grok vor"
        await bot.deliver()
        posted = [m for m in dc.messages(NEWS) if m.interaction_id is None]
        assert [m.embeds[0]["title"] for m in posted] == ["xAI stellt Grok vor"]
        assert [d.article_id for d in bot.store.deliveries_for_chat(chat(NEWS))] == [passed]

        why = await bot.slash(NEWS, MOD, "why", {"id": held})
        assert why.ephemeral
        assert f"#{held} wurde von Filter 1. ohne: Sprachmodelle des zurückgehalten" in (
            why.content or ""
        )
        member = await bot.slash(NEWS, ALICE, "why", {"id": held})
        assert member.content == t("error.need_admin", "de")
        cleared = await bot.slash(NEWS, MOD, "filter", {"action": "clear"})
        assert "Der einzige Filter dieses Chats ist entfernt" in (cleared.content or "")


async def test_telegram_channel_filters_from_a_private_chat(tg: FakeTelegram) -> None:
    feed = tg.chat(-100400, "channel", title="Feed", username="feedchan")
    erin, frank = tg.user(60, "Erin"), tg.user(61, "Frank", language_code="en")
    tg.set_member(feed, erin, "administrator")
    async with running(tg) as bot:
        tg.send_text(feed, None, "/subscribe Politik")  # in the channel itself
        await tg.wait_for_message(feed, "Abonniert: Politik.")
        tg.send_text(erin, erin, "/filter @feedchan exclude Börse")
        await tg.wait_for_message(erin, "1. ohne: Börse")
        tg.send_text(frank, frank, "/filter @feedchan clear")
        await tg.wait_for_message(frank, "Only admins of @feedchan")
        assert [f.text for f in bot.store.filters.of(chat_ref(feed))] == ["Börse"]
        held = await bot.add_article(CRYPTO, tags=("Politik",))
        await bot.add_article(ELECTION, tags=("Politik",))
        await tg.wait_for_message(feed, ELECTION)
        tg.send_text(erin, erin, f"/why @feedchan {held}")
        await tg.wait_for_message(erin, f"#{held} wurde von Filter 1. ohne: Börse zurückgehalten")
