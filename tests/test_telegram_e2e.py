"""Telegram end to end: the real App, TelegramAdapter and PTB against FakeTelegram on 127.0.0.1."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import open_store
from bot.ingest import store_article
from bot.pacing import Limit
from bot.platforms.telegram import TelegramAdapter
from bot.platforms.telegram.outbound import per_second
from bot.platforms.telegram.render import fit, render_html, utf16_len
from bot.runtime import Runtime
from bot.settings import SettingsError, load_settings
from handlers.events import Outgoing, Reply, Rich, Span, bold, link
from storage.models import NewArticle, UserRef
from storage.store import Store
from tests.fakes.telegram_api import ANONYMOUS_ADMIN_ID, FakeTelegram
from tests.telegram_helpers import (
    TOKEN,
    WEBHOOK_SECRET,
    button_data,
    chat_ref,
    labels,
    parse_html,
    running,
    texts,
    webhook_env,
)

SECRET = TOKEN.split(":", 1)[1]
ZERO = ["Sehr gut · 0", "Gut · 0", "Befriedigend · 0", "Ausreichend · 0", "Mangelhaft · 0"]
# The same poll in an English chat: an option is its position, its label the chat's language's.
ZERO_EN = ["Excellent · 0", "Good · 0", "Fair · 0", "Poor · 0", "Bad · 0"]


async def answer_of(tg: FakeTelegram, query_id: str) -> str:
    answer = await tg.wait_for(lambda: tg.callback_answers.get(query_id), what="the answer")
    assert not answer.get("show_alert")
    return str(answer.get("text", ""))


# -- private chats: menu, subscribe, post, vote ------------------------------------------------


async def test_private_chat_menu_post_and_votes(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice", username="alice", language_code="de")
    async with running(tg) as bot:
        # The command menu, in German, English and the default (German).
        assert set(tg.commands) == {"", "de", "en"}
        de = {c["command"]: c["description"] for c in tg.commands["de"]}
        en = {c["command"]: c["description"] for c in tg.commands["en"]}
        assert {"start", "help", "subscribe", "vote", "top"} <= set(de) == set(en)
        assert de["subscribe"] != en["subscribe"]
        assert tg.commands[""] == tg.commands["de"]
        assert all(1 <= len(d) <= 256 for d in [*de.values(), *en.values()])
        admin_menu = tg.commands_for({"type": "all_chat_administrators"}, "en")
        assert {c["command"] for c in admin_menu} >= set(en)

        article = await bot.add_article("Neues Modell von xAI", tags=("Microsoft", "xAI"))
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        post = await tg.wait_for_message(alice, "Neues Modell von xAI")
        assert post["parse_mode"] == "HTML"
        assert post["link_preview_options"] == {"is_disabled": True}
        assert "<b>Neues Modell von xAI</b>" in post["text"]
        assert f"<b>#{article}</b>" in post["text"]
        assert "#Microsoft #xAI" in post["text"]
        assert labels(post) == ZERO
        assert button_data(post) == [f"nb:vote:{article}:{k}" for k in range(1, 6)]
        mid = post["message_id"]

        def shown() -> list[str]:
            return labels(tg.message(alice, mid))

        query = tg.press(alice, alice, mid, f"nb:vote:{article}:2")
        assert await answer_of(tg, query) == "Deine Stimme: Gut"
        await tg.wait_for(lambda: shown()[1] == "Gut · 1", what="Gut · 1")

        query = tg.press(alice, alice, mid, f"nb:vote:{article}:3")
        assert await answer_of(tg, query) == "Stimme geändert: Befriedigend"
        await tg.wait_for(lambda: shown()[1:3] == ["Gut · 0", "Befriedigend · 1"])

        query = tg.press(alice, alice, mid, f"nb:vote:{article}:3")
        assert await answer_of(tg, query) == "Stimme zurückgenommen"
        await tg.wait_for(lambda: shown() == ZERO, what="all counts back to 0")

        # Only the counts changed: three keyboard edits, the text as it was.
        assert tg.edits(alice, mid) == 3
        assert tg.message(alice, mid)["text"] == post["text"]
        assert len(tg.calls("editMessageReplyMarkup")) == 3
        assert bot.store.get_poll(article).total == 0  # type: ignore[union-attr]

        # A deep link subscribes too; /vote works as the text twin of the buttons.
        tg.send_text(alice, alice, "/start sub_OpenAI")
        await tg.wait_for_message(alice, "Abonniert: OpenAI.")
        tg.send_text(alice, alice, f"/vote {article} 1")
        await tg.wait_for_message(alice, f"Artikel #{article}: Deine Stimme: Sehr gut")
        await tg.wait_for(lambda: shown()[0] == "Sehr gut · 1", what="the refresh job")


async def test_two_people_in_two_chats_see_each_others_votes(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice", language_code="de")
    bob = tg.user(7, "Bob", language_code="en")
    async with running(tg) as bot:
        tg.send_text(alice, alice, "/subscribe xAI")
        tg.send_text(bob, bob, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        await tg.wait_for_message(bob, "Subscribed: xAI.")  # Bob's own language
        article = await bot.add_article("xAI eröffnet ein Büro in Berlin")
        alice_post = await tg.wait_for_message(alice, "Büro in Berlin")
        bob_post = await tg.wait_for_message(bob, "Büro in Berlin")

        query = tg.press(bob, bob, bob_post["message_id"], f"nb:vote:{article}:2")
        assert await answer_of(tg, query) == "Your vote: Good"
        # Alice's copy is refreshed by the coalescing job.
        await tg.wait_for(
            lambda: labels(tg.message(alice, alice_post["message_id"]))[1] == "Gut · 1",
            what="Alice's copy refreshed",
        )
        query = tg.press(alice, alice, alice_post["message_id"], f"nb:vote:{article}:1")
        assert await answer_of(tg, query) == "Deine Stimme: Sehr gut"
        await tg.wait_for(
            lambda: (
                labels(tg.message(bob, bob_post["message_id"]))[:2] == ["Excellent · 1", "Good · 1"]
            ),
            what="Bob's copy refreshed",
        )
        # Each copy shows the language its chat got it in, whoever pressed.
        assert tg.message(bob, bob_post["message_id"])["text"] == bob_post["text"]


# -- groups and channels ---------------------------------------------------------------------


async def test_group_admin_rules(tg: FakeTelegram) -> None:
    group = tg.chat(-100200, "supergroup", title="News")
    linked = tg.chat(-100300, "channel", title="Linked", username="linkedchan")
    carol, dan = tg.user(50, "Carol"), tg.user(51, "Dan")
    tg.set_member(group, carol, "administrator")
    need_admin = "Dafür brauchst du Admin-Rechte in diesem Chat."
    async with running(tg) as bot:
        tg.send_text(group, dan, "/subscribe xAI")  # a plain member
        tg.send_text(group, None, "/subscribe xAI", sender_chat=linked, automatic_forward=True)
        tg.send_text(group, None, "/subscribe@newsbot_test_bot xAI", sender_chat=linked)
        tg.send_text(group, dan, "/subscribe@other_bot xAI")  # not for us
        tg.send_text(group, dan, "/weather")  # unknown and not addressed: maybe another bot's
        tg.send_text(group, None, "/subscribe xAI", sender_chat=group)  # an anonymous admin
        await tg.wait_for_message(group, "Abonniert: xAI.")
        # Replies come in order, each quoting its command; forwards and others' commands get none.
        said = texts(tg, group)
        assert said[:2] == [need_admin, need_admin]
        assert said[2].startswith("Abonniert: xAI.")
        assert len(said) == 3
        assert all(m["reply_parameters"]["allow_sending_without_reply"] for m in tg.messages(group))
        assert [s.tag for s in bot.store.subscriptions(chat_ref(group))] == ["xAI"]
        asked = {int(c["user_id"]) for c in tg.calls("getChatMember")}
        assert asked == {dan.id}  # senders on behalf of chats are judged without asking

        # A real admin, confirmed by getChatMember; a post, and anyone in the group may vote.
        tg.send_text(group, carol, "/subscribe OpenAI")
        await tg.wait_for_message(group, "Abonniert: OpenAI.")
        article = await bot.add_article("Gruppenartikel über xAI")
        post = await tg.wait_for_message(group, "Gruppenartikel")
        query = tg.press(group, dan, post["message_id"], f"nb:vote:{article}:5")
        assert await answer_of(tg, query) == "Deine Stimme: Mangelhaft"
        await tg.wait_for(lambda: labels(tg.message(group, post["message_id"]))[4].endswith("1"))
        assert ANONYMOUS_ADMIN_ID not in {int(c["user_id"]) for c in tg.calls("getChatMember")}


async def test_questions_in_plain_messages(tg: FakeTelegram) -> None:
    alice, dan = tg.user(42, "Alice"), tg.user(51, "Dan")
    group = tg.chat(-100210, "supergroup", title="Fragen")
    question = "Wie viele Wohnungen heizt das Rechenzentrum?"
    async with running(tg) as bot:
        await bot.add_article(
            "Rechenzentrum heizt Wohnungen",
            body="Die Abwärme des neuen Rechenzentrums heizt 4.000 Wohnungen. Das spart Gas.",
            wake=False,
        )
        tg.send_text(alice, alice, question)
        answer = await tg.wait_for_message(alice, "4.000 Wohnungen")
        assert "reply_parameters" not in answer
        tg.send_text(alice, alice, "Danke, schönen Abend!")  # no question: no answer
        tg.send_text(group, dan, question)  # not addressed to the bot
        tg.send_text(group, dan, f"@NewsBot_Test_Bot {question}")
        await tg.wait_for_message(group, "4.000 Wohnungen")
        tg.send_text(alice, alice, "/help")
        await tg.wait_for_message(alice, "Befehle")
        assert len(tg.messages(group)) == 1
        assert len(tg.messages(alice)) == 2


async def test_channel_subscriptions(tg: FakeTelegram) -> None:
    feed = tg.chat(-100400, "channel", title="Feed", username="feedchan")
    other = tg.chat(-100500, "channel", title="Other", username="otherchan")
    mute = tg.chat(-100600, "channel", title="Mute", username="mutechan")
    erin, frank = tg.user(60, "Erin"), tg.user(61, "Frank", language_code="en")
    tg.set_member(other, erin, "creator")
    tg.set_member(mute, erin, "administrator")
    tg.set_member(mute, tg.bot_id, "member")  # the bot may not post there
    async with running(tg) as bot:
        # In the channel itself: a channel post is the channel's own, so an admin's.
        tg.send_text(feed, None, "/subscribe xAI")
        await tg.wait_for_message(feed, "Abonniert: xAI.")

        # From a private chat, for a channel the person administers.
        tg.send_text(erin, erin, "/subscribe @otherchan OpenAI")
        await tg.wait_for_message(erin, "Abonniert: OpenAI.")
        tg.send_text(frank, frank, "/subscribe @otherchan xAI")
        await tg.wait_for_message(frank, "Only admins of @otherchan")
        tg.send_text(frank, frank, "/unsubscribe @nosuchchan xAI")
        await tg.wait_for_message(frank, "I cannot find @nosuchchan")
        tg.send_text(erin, erin, "/subscribe @mutechan xAI")
        await tg.wait_for_message(erin, "In @mutechan kann ich noch nicht posten")
        tg.send_text(erin, erin, "/subscriptions @otherchan")
        listing = await tg.wait_for_message(erin, "Abos dieses Chats")
        assert "OpenAI" in listing["text"]
        assert [s.tag for s in bot.store.subscriptions(chat_ref(other))] == ["OpenAI"]
        tg.send_text(erin, erin, "/lang @otherchan en")
        await tg.wait_for_message(erin, "This chat now speaks English.")
        assert bot.store.chat_settings(chat_ref(other)).language == "en"
        tg.send_text(erin, erin, "/why @otherchan")
        await tg.wait_for_message(erin, "Nothing is paused here")
        assert bot.store.subscriptions(chat_ref(mute)) == []
        assert bot.store.subscriptions(chat_ref(erin)) == []

        await bot.add_article("OpenAI und xAI einigen sich", tags=("OpenAI", "xAI"))
        await tg.wait_for_message(feed, "einigen sich")
        await tg.wait_for_message(other, "einigen sich")
        assert len(texts(tg, other)) == 1  # nothing else was said there


# -- what arrives is what was meant --------------------------------------------------------


async def test_forged_and_stale_button_data(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        article = await bot.add_article("Ein Artikel über xAI")
        tg.send_text(alice, alice, "/subscribe xAI")
        post = await tg.wait_for_message(alice, "Ein Artikel über xAI")
        mid = post["message_id"]
        stale = "Dieser Knopf ist nicht mehr gültig."
        cases = {
            "nb:vote:999:1": "Dieser Knopf gehört nicht zu diesem Beitrag.",
            f"nb:vote:{article}:9": "„9“ ist keine Antwort. Wähle eine Zahl von 1 bis 5.",
            f"nb:vote:{article}:0": "„0“ ist keine Antwort. Wähle eine Zahl von 1 bis 5.",
            "otherbot:like:7": stale,
            f"nb:vote:{article}:2:3": stale,
            f"nb:vote:-{article}:2": stale,
            "nb:vöte:1:2": stale,
            "x" * 64: stale,
        }
        for data, expected in cases.items():
            assert await answer_of(tg, tg.press(alice, alice, mid, data)) == expected, data
        assert tg.edits(alice, mid) == 0  # refused presses leave the post as it is
        before = texts(tg, alice)
        await bot.app.db.run(bot.store.set_poll_closed, article, True)
        bot.app.runtime.posts_stale()
        # The post shows that its poll is closed: one edit, by the refresh job.
        await tg.wait_for(lambda: tg.edits(alice, mid) == 1, 10, what="the post shows closed")
        closed = await answer_of(tg, tg.press(alice, alice, mid, f"nb:vote:{article}:1"))
        assert "geschlossen" in closed
        assert tg.edits(alice, mid) == 1  # the press on the closed poll changed nothing
        assert bot.store.get_poll(article).total == 0  # type: ignore[union-attr]
        assert len(texts(tg, alice)) == len(before)  # no message about any of it


async def test_another_articles_button_never_replaces_a_post(tg: FakeTelegram) -> None:
    """A modified client can send any callback_data on any message: a vote for article B
    pressed on the post of article A is refused, and A's post stays A's."""
    alice, mallory = tg.user(42, "Alice"), tg.user(66, "Mallory")
    group = tg.chat(-100230, "supergroup", title="Nachrichten")
    tg.set_member(group, alice, "administrator")
    async with running(tg) as bot:
        tg.send_text(group, alice, "/subscribe xAI")
        await tg.wait_for_message(group, "Abonniert: xAI.")
        first = await bot.add_article("Erster Artikel über xAI")
        post = await tg.wait_for_message(group, "Erster Artikel")
        second = await bot.add_article("Zweiter Artikel über xAI", url="https://example.com/zwei")
        other = await tg.wait_for_message(group, "Zweiter Artikel")
        mid = post["message_id"]

        forged = tg.press(group, mallory, mid, f"nb:vote:{second}:1")
        assert await answer_of(tg, forged) == "Dieser Knopf gehört nicht zu diesem Beitrag."
        # A genuine press after it: its edit shows what the message looks like now.
        query = tg.press(group, mallory, mid, f"nb:vote:{first}:2")
        assert await answer_of(tg, query) == "Deine Stimme: Gut"
        await tg.wait_for(lambda: labels(tg.message(group, mid))[1] == "Gut · 1", what="Gut · 1")
        await bot.app.refresh_job.run_now()

        shown = tg.message(group, mid)
        assert shown["text"] == post["text"]
        assert "Zweiter Artikel" not in shown["text"] and "example.com/zwei" not in shown["text"]
        assert button_data(shown) == [f"nb:vote:{first}:{k}" for k in range(1, 6)]
        assert tg.edits(group, mid) == 1  # the genuine vote's counts, nothing else
        assert tg.edits(group, other["message_id"]) == 0
        assert bot.store.get_poll(second).total == 0  # type: ignore[union-attr]
        assert bot.store.get_poll(first).total == 1  # type: ignore[union-attr]
        [recorded] = bot.store.posts_of(first)
        assert recorded.message.message_id == str(mid)
        assert [p.message.message_id for p in bot.store.posts_of(second)] == [
            str(other["message_id"])
        ]
        # Nothing was said in the group about it: the refusal went to Mallory alone.
        assert len(texts(tg, group)) == 3


async def test_a_post_whose_answer_was_lost_takes_votes(tg: FakeTelegram) -> None:
    """Telegram posted the article but its answer never arrived (the connection dropped): the
    post stands in the group and people press it. Their votes count, and the post shows them;
    another article's button on it is still refused."""
    alice, bob = tg.user(42, "Alice"), tg.user(7, "Bob")
    group = tg.chat(-100240, "supergroup", title="Nachrichten")
    tg.set_member(group, alice, "administrator")
    async with running(tg) as bot:
        tg.send_text(group, alice, "/subscribe xAI")
        await tg.wait_for_message(group, "Abonniert: xAI.")
        tg.fail_next("sendMessage", chat_id=group.id, kind="drop")
        article = await bot.add_article("Ein Artikel über xAI")
        post = await tg.wait_for_message(group, "Ein Artikel über xAI")
        mid = post["message_id"]
        await tg.wait_for(lambda: ("sendMessage", "drop") in tg.injected, what="the drop")
        # The bot never learnt the message's id (its retry, later, posts a copy).
        assert str(mid) not in [p.message.message_id for p in bot.store.posts_of(article)]

        forged = tg.press(group, bob, mid, "nb:vote:999:1")
        assert await answer_of(tg, forged) == "Dieser Knopf gehört nicht zu diesem Beitrag."
        query = tg.press(group, bob, mid, f"nb:vote:{article}:2")
        assert await answer_of(tg, query) == "Deine Stimme: Gut"
        await tg.wait_for(lambda: labels(tg.message(group, mid))[1] == "Gut · 1", what="Gut · 1")
        query = tg.press(group, alice, mid, f"nb:vote:{article}:1")
        assert await answer_of(tg, query) == "Deine Stimme: Sehr gut"
        await tg.wait_for(lambda: labels(tg.message(group, mid))[0] == "Sehr gut · 1")
        assert bot.store.get_poll(article).total == 2  # type: ignore[union-attr]
        assert str(mid) in [p.message.message_id for p in bot.store.posts_of(article)]


async def test_presses_keep_a_posts_language_and_cost_one_edit_each(tg: FakeTelegram) -> None:
    """In a German group, people whose Telegram speaks English vote: the post stays German
    (only their answers are English), and each press edits the post once, not twice."""
    group = tg.chat(-100250, "supergroup", title="Nachrichten")
    carol = tg.user(50, "Carol", language_code="de")
    people = [tg.user(60 + n, f"Person {n}", language_code="en") for n in range(4)]
    tg.set_member(group, carol, "administrator")
    async with running(tg) as bot:
        tg.send_text(group, carol, "/subscribe xAI")
        await tg.wait_for_message(group, "Abonniert: xAI.")
        article = await bot.add_article("Ein Artikel über xAI", url="https://example.com/xai")
        post = await tg.wait_for_message(group, "Ein Artikel über xAI")
        mid = post["message_id"]
        assert "Zum Artikel" in post["text"]
        presses = [(people[0], 1), (people[1], 2), (people[0], 3), (people[2], 2), (people[3], 1)]
        for done, (person, option) in enumerate(presses, start=1):
            query = tg.press(group, person, mid, f"nb:vote:{article}:{option}")
            assert (await answer_of(tg, query)).startswith(("Your vote", "Vote changed"))
            await tg.wait_for(lambda n=done: tg.edits(group, mid) >= n, what=f"edit {done}")
        await bot.app.refresh_job.idle()
        await bot.app.refresh_job.run_now()
        shown = tg.message(group, mid)
        assert shown["text"] == post["text"]
        assert labels(shown)[:3] == ["Sehr gut · 1", "Gut · 2", "Befriedigend · 1"]
        assert tg.edits(group, mid) == len(presses)
        [recorded] = bot.store.posts_of(article)
        assert recorded.language == "de"

        # An edit that fails is made up for by the refresh job.
        tg.fail_next("editMessageReplyMarkup", chat_id=group.id, kind="server_error")
        query = tg.press(group, carol, mid, f"nb:vote:{article}:5")
        assert await answer_of(tg, query) == "Deine Stimme: Mangelhaft"
        await tg.wait_for(lambda: labels(tg.message(group, mid))[4] == "Mangelhaft · 1")
        assert tg.edits(group, mid) == len(presses) + 1


async def test_display_names_are_shown_without_invisible_characters(tg: FakeTelegram) -> None:
    """Direction overrides, zero-width and control characters in a name are dropped before
    the bot repeats the name in a group."""
    group = tg.chat(-100240, "supergroup", title="Namen")
    carol = tg.user(50, "Carol")
    evil = tg.user(67, "\u2066ev\u202eil\u200b\ufeff\u0007\u2069")  # no @username
    tg.set_member(group, carol, "administrator")
    async with running(tg) as bot:
        update = tg.send_text(group, evil, "/tags")
        [said] = [u["message"] for u in tg.pending_updates if u["update_id"] == update]
        await tg.wait_for_message(group, "Noch keine")
        tg.send_text(group, carol, "/warn", reply_to=said["message_id"])
        warned = await tg.wait_for_message(group, "verwarnt")
        assert warned["text"].startswith("evil wurde verwarnt (1 von 3)")
        for text in texts(tg, group):
            assert not any(ch in text for ch in "\u2066\u202e\u200b\ufeff\u0007\u2069"), text
        [person] = bot.app.runtime.ctx.mod.find_people("telegram", str(evil.id))
        assert person.display_name == "evil"


async def test_feed_text_is_escaped_and_long_text_cut_on_sentences(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert")
        await bot.add_article('Tom & Jerry <b>laut</b> "xAI"', url="https://example.com/a?x=1&y=2")
        post = await tg.wait_for_message(alice, "Tom &amp; Jerry")
        assert 'Tom &amp; Jerry &lt;b&gt;laut&lt;/b&gt; "xAI"' in post["text"]
        assert '<a href="https://example.com/a?x=1&amp;y=2">' in post["text"]
        balanced, visible = parse_html(post["text"])
        assert balanced
        assert 'Tom & Jerry <b>laut</b> "xAI"' in visible

        await bot.add_article("Böser Link zu xAI", url="javascript:alert(1)")
        post = await tg.wait_for_message(alice, "Böser Link")
        assert "href" not in post["text"]

        sentences = " ".join(f"Satz {i} über xAI & <Folgen>." for i in range(300))
        await bot.add_article(sentences)
        post = await tg.wait_for_message(alice, "Satz 0 über")
        balanced, visible = parse_html(post["text"])
        assert balanced
        assert len(visible) <= 4096
        assert visible.endswith("<Folgen>. …")


# -- delivery that survives Telegram -----------------------------------------------------------


async def test_flood_control_then_exactly_one_message(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert")
        tg.fail_next("sendMessage", chat_id=alice.id, kind="flood", retry_after=1)
        first = await bot.add_article("Erster Artikel zu xAI")
        await tg.wait_for_message(alice, "Erster Artikel", timeout=10)
        assert tg.injected == [("sendMessage", "flood")]
        await bot.add_article("Zweiter Artikel zu xAI")
        await tg.wait_for_message(alice, "Zweiter Artikel")
        await bot.app.deliver_job.run_now()
        assert sum("Erster Artikel" in text for text in texts(tg, alice)) == 1
        delivery = next(
            d for d in bot.store.deliveries_for_chat(chat_ref(alice)) if d.article_id == first
        )
        assert (delivery.status, delivery.attempts) == ("sent", 2)


async def test_lost_answers_are_retried_at_least_once(tg: FakeTelegram) -> None:
    """A request Telegram never processed is retried and arrives once. When Telegram posted
    the message but its answer was lost, nobody can know: the outbox sends it again rather
    than lose it (the documented policy), so that message shows up twice."""
    alice, bob = tg.user(42, "Alice"), tg.user(7, "Bob")
    async with running(tg) as bot:
        for person in (alice, bob):
            tg.send_text(person, person, "/subscribe xAI")
            await tg.wait_for_message(person, "Abonniert")
        tg.fail_next("sendMessage", chat_id=alice.id, kind="drop_unprocessed")
        tg.fail_next("sendMessage", chat_id=bob.id, kind="drop")
        await bot.add_article("Wackelige Leitung zu xAI")
        # The first tries fail with a network error; the retries follow after 5 s.
        await tg.wait_for_message(alice, "Wackelige Leitung", timeout=15)
        await tg.wait_for(
            lambda: sum("Wackelige" in text for text in texts(tg, bob)) == 2, timeout=15
        )
        await bot.app.deliver_job.run_now()
        assert sum("Wackelige" in text for text in texts(tg, alice)) == 1
        for person in (alice, bob):
            [delivery] = bot.store.deliveries_for_chat(chat_ref(person))
            assert (delivery.status, delivery.attempts) == ("sent", 2)


async def test_blocked_and_kicked_chats_are_paused(tg: FakeTelegram) -> None:
    alice, bob = tg.user(42, "Alice"), tg.user(7, "Bob")
    group = tg.chat(-100700, "supergroup", title="Gruppe")
    async with running(tg) as bot:
        for person in (alice, bob):
            tg.send_text(person, person, "/subscribe xAI")
            await tg.wait_for_message(person, "Abonniert")
        tg.send_text(group, None, "/subscribe xAI", sender_chat=group)
        await tg.wait_for_message(group, "Abonniert")

        # Alice blocked the bot: the next send answers 403.
        tg.fail_next("sendMessage", chat_id=alice.id, kind="blocked")
        await bot.add_article("Erster Artikel zu xAI", wake=False)
        await bot.app.deliver_job.run_now()
        [sub] = bot.store.subscriptions(chat_ref(alice))
        assert (sub.active, sub.reason) == (False, "bot was blocked by the user")

        # The bot is removed from the group: my_chat_member pauses it at once.
        tg.my_chat_member(group, bob, "member", "kicked")
        tg.send_text(bob, bob, "/subscriptions")  # handled after the update before it
        await tg.wait_for_message(bob, "Abos dieses Chats")
        [sub] = bot.store.subscriptions(chat_ref(group))
        assert (sub.active, sub.reason) == (False, "bot was kicked from the supergroup chat")

        sent_before = len(tg.calls("sendMessage"))
        await bot.add_article("Zweiter Artikel zu xAI", wake=False)
        await bot.app.deliver_job.run_now()
        assert [c["chat_id"] for c in tg.calls("sendMessage")[sent_before:]] == [bob.id]
        assert bot.store.deliveries_for_chat(chat_ref(alice), "pending") == []
        tg.send_text(alice, alice, "/subscriptions")
        reply = await tg.wait_for_message(alice, "Abos dieses Chats")
        assert "pausiert: bot was blocked by the user" in reply["text"]


async def test_group_migrated_to_supergroup(tg: FakeTelegram) -> None:
    old = tg.chat(-555, "group", title="Alte Gruppe")
    new = tg.chat(-100555, "supergroup", title="Alte Gruppe")
    async with running(tg) as bot:
        tg.send_text(old, None, "/subscribe xAI", sender_chat=old)
        await tg.wait_for_message(old, "Abonniert")
        tg.fail_next("sendMessage", chat_id=old.id, kind="migrated", migrate_to_chat_id=new.id)
        await bot.add_article("Umgezogener Artikel zu xAI")
        await tg.wait_for_message(new, "Umgezogener Artikel")
        await bot.app.deliver_job.run_now()  # the send in flight is recorded
        assert [text.split("\n")[0] for text in texts(tg, old)] == ["Abonniert: xAI."]
        assert bot.store.subscriptions(chat_ref(old)) == []
        assert [s.tag for s in bot.store.subscriptions(chat_ref(new))] == ["xAI"]
        [delivery] = bot.store.deliveries_for_chat(chat_ref(new))
        assert delivery.status == "sent"
        assert bot.store.deliveries_for_chat(chat_ref(old)) == []


async def test_restart_sends_pending_once_and_ignores_repeated_updates(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert")
        article = await bot.add_article("Vor dem Neustart")
        post = await tg.wait_for_message(alice, "Vor dem Neustart")
        query = tg.press(alice, alice, post["message_id"], f"nb:vote:{article}:2")
        repeated = copy.deepcopy(tg.pending_updates[-1])  # as Telegram would send it again
        assert repeated["callback_query"]["id"] == query
        assert await answer_of(tg, query) == "Deine Stimme: Gut"
        await tg.wait_for(lambda: labels(tg.message(alice, post["message_id"]))[1] == "Gut · 1")

    # While no adapter runs, an article comes in: its delivery waits in the outbox.
    settings = load_settings()
    store = open_store(settings)
    report = store_article(
        store,
        settings.core_config(),
        NewArticle(title="Während der Pause", body="Kurz. Knapp.", tags=("xAI",)),
    )
    assert report.deliveries == 1
    store.close()

    url = webhook_env(monkeypatch)  # the second run takes updates by webhook
    async with running(tg) as bot:
        await tg.wait_for_message(alice, "Während der Pause")
        await bot.app.deliver_job.run_now()
        assert sum("Während der Pause" in text for text in texts(tg, alice)) == 1
        answers = len(tg.calls("answerCallbackQuery"))
        assert await tg.post_update_to(url, repeated, secret_token=WEBHOOK_SECRET) == 200
        barrier = tg.send_text(alice, alice, "/help")
        assert await tg.post_update_to(url, barrier, secret_token=WEBHOOK_SECRET) == 200
        await tg.wait_for_message(alice, "Befehle")
        assert len(tg.calls("answerCallbackQuery")) == answers
        assert [o.votes for o in bot.store.get_poll(article).options] == [0, 1, 0, 0, 0]  # type: ignore[union-attr]


async def test_webhook_refuses_a_wrong_secret(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = webhook_env(monkeypatch)
    alice = tg.user(42, "Alice")
    old = tg.chat(-777, "group", title="Alt")
    async with running(tg) as bot:
        assert tg.webhook["url"] == url
        assert tg.webhook["secret_token"] == WEBHOOK_SECRET
        forged = tg.send_text(alice, alice, "/subscribe forged")
        assert await tg.post_update_to(url, forged, secret_token="wrong") == 403
        unsigned = tg.send_text(alice, alice, "/subscribe unsigned")
        assert await tg.post_update_to(url, unsigned) == 403
        good = tg.send_text(alice, alice, "/subscribe xAI")
        assert await tg.post_update_to(url, good, secret_token=WEBHOOK_SECRET) == 200
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        assert [text.split("\n")[0] for text in texts(tg, alice)] == ["Abonniert: xAI."]

        # The service message of a group becoming a supergroup moves its subscriptions.
        subscribe = tg.send_text(old, None, "/subscribe OpenAI", sender_chat=old)
        assert await tg.post_update_to(url, subscribe, secret_token=WEBHOOK_SECRET) == 200
        await tg.wait_for_message(old, "Abonniert")
        new = tg.chat(-100777, "supergroup", title="Alt")
        service = {
            "update_id": 1,
            "message": {
                "message_id": 99,
                "date": 0,
                "chat": {"id": old.id, "type": "group", "title": "Alt"},
                "from": {"id": 1, "is_bot": False, "first_name": "Admin"},
                "migrate_to_chat_id": new.id,
            },
        }
        assert await tg.post_update_to(url, service, secret_token=WEBHOOK_SECRET) == 200
        listing = tg.send_text(new, None, "/subscriptions", sender_chat=new)
        assert await tg.post_update_to(url, listing, secret_token=WEBHOOK_SECRET) == 200
        reply = await tg.wait_for_message(new, "Abos dieses Chats")
        assert "OpenAI" in reply["text"]
        assert bot.store.subscriptions(chat_ref(old)) == []


# -- inline mode -------------------------------------------------------------------------------


async def test_inline_mode_lists_sends_and_counts(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    bob = tg.user(7, "Bob", language_code="en")
    async with running(tg) as bot:
        wanted = await bot.add_article("xAI baut <ein> Rechenzentrum", wake=False)
        await bot.add_article("OpenAI senkt Preise", tags=("OpenAI",), wake=False)
        query = tg.inline_query(bob, "xai")
        answer = await tg.wait_for(lambda: tg.inline_answers.get(query), what="inline answer")
        assert answer["is_personal"] is True
        [result] = answer["results"]
        assert result["id"] == f"{wanted}v0"
        assert result["title"] == "xAI baut <ein> Rechenzentrum"
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML"
        assert "xAI baut &lt;ein&gt; Rechenzentrum" in content["message_text"]
        assert labels(result) == ZERO_EN

        empty = tg.inline_query(bob, "")
        everything = await tg.wait_for(lambda: tg.inline_answers.get(empty), what="all")
        assert len(everything["results"]) == 2

        tg.chosen_inline_result(bob, result["id"], "inline-1")
        query = tg.press(None, bob, None, f"nb:vote:{wanted}:2", inline_message_id="inline-1")
        assert await answer_of(tg, query) == "Your vote: Good"
        await tg.wait_for(lambda: labels(tg.inline_messages["inline-1"])[1] == "Good · 1")

        # A vote elsewhere refreshes the inline message too.
        tg.send_text(alice, alice, "/subscribe xAI")
        post = await tg.wait_for_message(alice, "Rechenzentrum")
        assert labels(post)[1] == "Gut · 1"
        query = tg.press(alice, alice, post["message_id"], f"nb:vote:{wanted}:1")
        assert await answer_of(tg, query) == "Deine Stimme: Sehr gut"
        await tg.wait_for(
            lambda: labels(tg.inline_messages["inline-1"])[:2] == ["Excellent · 1", "Good · 1"],
            what="inline message refreshed",
        )
        # It keeps the language Bob sent it in, whoever votes.
        [inline] = [p for p in bot.store.posts_of(wanted) if p.message.message_id == "inline-1"]
        assert inline.language == "en"


# -- moderation and deletion -------------------------------------------------------------------


async def test_moderation_and_delete(tg: FakeTelegram) -> None:
    group = tg.chat(-100900, "supergroup", title="Mods")
    alice = tg.user(42, "Alice")
    chat, dan = chat_ref(group), UserRef("telegram", "51", "Dan")
    async with running(tg) as bot:
        adapter = bot.adapter
        assert await adapter.ban_member(chat, dan)
        banned = tg.calls("banChatMember")[-1]
        assert (banned["chat_id"], banned["user_id"]) == (group.id, 51)
        assert await adapter.unban_member(chat, dan)
        assert tg.calls("unbanChatMember")[-1]["only_if_banned"] is True
        until = datetime.now(UTC) + timedelta(hours=2)
        assert await adapter.restrict_member(chat, dan, until)
        muted = tg.calls("restrictChatMember")[-1]
        assert muted["permissions"]["can_send_messages"] is False
        assert abs(int(muted["until_date"]) - until.timestamp()) < 2
        assert await adapter.restrict_member(chat, dan, None)
        freed = tg.calls("restrictChatMember")[-1]["permissions"]
        assert all(v is True for k, v in freed.items() if k.startswith("can_"))

        # Without the right, or in a private chat: False, and nothing raised.
        tg.fail_next(
            "banChatMember",
            kind="chat_not_found",
            description="Bad Request: not enough rights to restrict/unrestrict chat member",
        )
        assert not await adapter.ban_member(chat, dan)
        tg.fail_next("restrictChatMember", kind="kicked")
        assert not await adapter.restrict_member(chat, dan, None)
        calls = len(tg.requests)
        assert not await adapter.ban_member(chat_ref(alice), dan)
        assert len(tg.requests) == calls

        sent = await adapter.send(Outgoing(chat, Reply(text=Rich.of("weg damit"))))
        await adapter.delete(sent, Reply(text=Rich.of("entfernt")))
        assert tg.messages(group)[0]["deleted"] is True


# -- secrets -----------------------------------------------------------------------------------


async def test_token_never_logged(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = tg.user(42, "Alice")
    async with running(tg) as bot:
        tg.fail_next("getChatMember", kind="server_error")
        group = tg.chat(-100123, "supergroup", title="G")
        tg.send_text(group, alice, "/subscribe xAI")
        await tg.wait_for_message(group, "Admin-Rechte")
        tg.fail_next("sendMessage", chat_id=alice.id, kind="flood", retry_after=1)
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert", timeout=10)
        await bot.add_article("Artikel für das Protokoll")
        await tg.wait_for_message(alice, "Protokoll")

    wrong = "123456:WRONG-token-never-to-be-seen"
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", wrong)
    with pytest.raises(RuntimeError) as failed:
        async with running(tg):
            pass
    assert "WRONG-token" not in str(failed.value)
    assert "InvalidToken" in str(failed.value)

    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "<secret>" in logged  # PTB did log its URL, and it was redacted
    for secret in (SECRET, "WRONG-token-never-to-be-seen"):
        assert secret not in logged


def test_webhook_settings_need_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("NEWSBOT_TELEGRAM_WEBHOOK_URL", "https://bot.example.org/hook")
    with pytest.raises(
        SettingsError, match=r"NEWSBOT_TELEGRAM_WEBHOOK_SECRET .*NEWSBOT_TELEGRAM_WEBHOOK_URL"
    ):
        load_settings()
    monkeypatch.setenv("NEWSBOT_TELEGRAM_WEBHOOK_SECRET", "not allowed!")
    with pytest.raises(SettingsError, match="NEWSBOT_TELEGRAM_WEBHOOK_SECRET"):
        load_settings()
    monkeypatch.setenv("NEWSBOT_TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    settings = load_settings()
    assert WEBHOOK_SECRET not in repr(settings)
    assert SECRET not in repr(settings)


# -- rendering, without the network ------------------------------------------------------------


def test_rendering_escapes_every_piece() -> None:
    text = Rich.of(
        bold("a<b>&"),
        Span(" "),
        link("x", 'https://e.org/?q="1"&r=<2>'),
        Span(" "),
        link("bad", "javascript:alert(1)"),
        Span(" "),
        Span("<i>", "code"),
    )
    assert render_html(text) == (
        "<b>a&lt;b&gt;&amp;</b> "
        '<a href="https://e.org/?q=&quot;1&quot;&amp;r=&lt;2&gt;">x</a> '
        "bad <code>&lt;i&gt;</code>"
    )


def test_fit_cuts_on_sentences_and_counts_utf16() -> None:
    short = Rich.of("Kurz.")
    assert fit(short) is short
    long = Rich.of(bold("Titel."), Span("\n\n"), Span("Eins. Zwei. " * 300), link("L", "https://e"))
    cut = fit(long, limit=100)
    assert utf16_len(cut.plain()) <= 100
    assert cut.plain().endswith("Zwei. …") or cut.plain().endswith("Eins. …")
    assert cut.spans[0] == bold("Titel.")
    emoji = Rich.of("😀" * 60 + ". " + "😀" * 60 + ".")
    cut = fit(emoji, limit=100)
    assert utf16_len(cut.plain()) <= 100
    assert cut.plain() == "😀" * 49 + " …"  # no sentence end fits, and no space: cut anywhere


def test_pacing_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert per_second(30) == Limit(30, 1.0)
    assert per_second(0.5) == Limit(1, 2.0)
    assert per_second(1.5) == Limit(1, 1 / 1.5)
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(telegram_token=TOKEN)
    store = Store(":memory:")
    try:
        adapter = TelegramAdapter(Runtime(store, settings.core_config()), settings)
    finally:
        store.close()
    assert adapter.pacer.overall.limit == Limit(30, 1.0)
    assert adapter.pacer.limit_for("42") == [Limit(1, 1.0)]  # a private chat
    assert adapter.pacer.limit_for("-100123") == [Limit(20, 60.0), Limit(1, 1.0)]  # a group
    assert adapter.pacer.limit_for("edit:-100123") == [Limit(1, 1.0)]
