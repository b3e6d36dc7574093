"""newsbot on Discord end to end: the real discord.py client runs the real adapter and core
against FakeDiscord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import discord
import pytest

from bot.adapter_contract import PlatformStartError
from bot.pacing import Limit
from bot.platforms.discord.bounded_http import BoundedHTTPClient
from bot.platforms.discord.render import shorten
from handlers.events import Command, Press, Reply
from handlers.i18n import format_date, t
from handlers.registry import COMMANDS
from storage.models import ChatRef, UserRef
from tests.discord_helpers import (
    ALICE,
    BOB,
    FORUM,
    FORUM_POST,
    GUILD,
    MOD,
    NEWS,
    NO_SEND,
    OTHER,
    OWNER,
    Bot,
    article,
    chat,
    configure,
    labels,
    running_bot,
    setup_server,
)
from tests.fakes.discord_api import FakeDiscord

VOTE = "nb:vote:{}:{}"
ZWSP = "\u200b"


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        setup_server(fake)
        # Pacing is tested on its own; here many posts go to one channel quickly.
        configure(monkeypatch, tmp_path, fake, NEWSBOT_DISCORD_RATE_PER_CHANNEL="50")
        yield fake


async def vote_total(bot: Bot, article_id: int) -> str:
    """What the core shows as the vote total of a post right now."""
    reply = await bot.app.runtime.post_for(article_id, chat(NEWS))
    assert reply is not None
    assert reply.card is not None
    assert reply.card.footer
    return reply.card.footer


# --------------------------------------------------------------------------- commands


async def test_commands_sync_to_the_server_with_german_and_english_descriptions(
    dc: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DISCORD_GUILD_IDS", str(GUILD))
    async with running_bot(dc) as bot:
        assert dc.command_syncs[-1][0] == GUILD
        assert dc.commands(None) == []
        listed = {name for name, spec in COMMANDS.items() if spec.listed}
        assert {c["name"] for c in dc.commands(GUILD)} == listed

        subscribe = dc.command("subscribe", GUILD)
        assert subscribe["description_localizations"]["de"] == shorten(
            t("help.subscribe", "de"), 100
        )
        assert subscribe["description_localizations"]["en-US"] == shorten(
            t("help.subscribe", "en"), 100
        )
        assert subscribe["description"] == subscribe["description_localizations"]["de"]
        # Names stay what people type, in every language.
        assert not subscribe["name_localizations"]
        (tags,) = subscribe["options"]
        assert (tags["name"], tags["type"], tags["required"], tags["autocomplete"]) == (
            "tags",
            3,
            True,
            True,
        )
        assert tags["description_localizations"]["de"] == t("discord.option.tags", "de")

        vote = {o["name"]: o for o in dc.command("vote", GUILD)["options"]}
        assert (vote["id"]["type"], vote["id"]["min_value"]) == (4, 1)
        assert (vote["option"]["min_value"], vote["option"]["max_value"]) == (1, 5)
        language = dc.command("lang", GUILD)["options"][0]
        assert [c["value"] for c in language["choices"]] == ["de", "en"]
        assert not language["required"]
        if "ban" in COMMANDS:
            assert dc.command("ban", GUILD)["options"][0]["type"] == 6  # a user

        # No privileged intent: no message content, no member list.
        intents = dc.sessions[-1].intents
        assert intents == discord.Intents.default().value
        assert not intents & discord.Intents(message_content=True).value

        # The person's language answers where the channel chose none.
        german = await bot.slash(NEWS, ALICE, "help", locale="de")
        english = await bot.slash(NEWS, ALICE, "help", locale="en-US")
        assert t("help.header", "de") in (german.content or "")
        assert t("help.header", "en") in (english.content or "")
        assert bot.adapter.pacer.overall.limit == Limit(25, 1.0)
        assert bot.adapter.pacer.limit_for("1") == [Limit(50, 5.0)]


async def test_tag_autocomplete_offers_known_tags(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.ingest(article())
        await bot.ingest(
            article("OpenAI senkt Preise", "Die API wird billiger.", ("OpenAI", "Preise"))
        )

        async def choices(name: str, option: str, typed: str) -> list[tuple[str, str]]:
            iid = await dc.autocomplete(GUILD, NEWS, ALICE, name, {option: typed}, focused=option)
            answer = await dc.wait_for_interaction_response(iid)
            assert answer.type == 8
            return [(c["name"], c["value"]) for c in answer.data["choices"]]

        assert await choices("subscribe", "tags", "op") == [("OpenAI", "OpenAI")]
        assert ("xAI OpenAI", "xAI OpenAI") in await choices("subscribe", "tags", "xAI, Op")
        assert await choices("latest", "tag", "mic") == [("Microsoft", "Microsoft")]
        everything = [name for name, _ in await choices("top", "tag", "")]
        assert everything[0] == "OpenAI"  # the most used first
        assert set(everything) == {"OpenAI", "Microsoft", "xAI", "Preise"}


# --------------------------------------------------------------------------- posts and votes


async def test_subscribe_post_vote_change_and_take_back(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        published = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
        article_id = await bot.ingest(article(published=published))
        answer = await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        assert t("sub.added", "de", tags="xAI") in (answer.content or "")
        assert not answer.ephemeral

        post = await bot.post_in(NEWS, article_id)
        embed = post.embeds[0]
        assert embed["title"] == "Microsoft bietet Modelle von xAI an"
        assert embed["url"] == "https://www.example.com/microsoft-bietet-modelle-von-xai-an"
        assert embed["description"].startswith("Der Softwarekonzern Microsoft")
        assert "#Microsoft #xAI #OpenAI" in embed["description"]
        assert await vote_total(bot, article_id) in embed["footer"]["text"]
        assert "example.com" in embed["footer"]["text"]
        assert format_date(published, "de") in embed["footer"]["text"]
        assert post.custom_ids == [VOTE.format(article_id, k) for k in range(1, 6)]
        assert labels(post)[:2] == ["Sehr gut · 0", "Gut · 0"]
        assert post.allowed_mentions == {"parse": []}

        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 2))
        assert update.kind == "callback"
        assert update.type == 7  # the pressed message itself, edited in the answer
        assert labels(dc.message(post.id))[:2] == ["Sehr gut · 0", "Gut · 1"]
        assert note.ephemeral
        assert note.content == "Deine Stimme: Gut"

        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 3))
        assert labels(dc.message(post.id))[1:3] == ["Gut · 0", "Befriedigend · 1"]
        assert note.content == "Stimme geändert: Befriedigend"
        assert await vote_total(bot, article_id) in dc.message(post.id).embeds[0]["footer"]["text"]

        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 3))
        assert labels(dc.message(post.id))[2] == "Befriedigend · 0"
        assert note.content == "Stimme zurückgenommen"
        assert note.ephemeral

        # The edited copy is recorded as current: the coalescing job has nothing to do there.
        poll = bot.store.get_poll(article_id)
        assert poll is not None
        (recorded,) = bot.store.posts_of(article_id)
        assert recorded.message.chat == chat(NEWS)
        assert recorded.message.message_id == str(post.id)
        assert recorded.rendered_version == poll.version
        edits_before = len(dc.requests_for("edit_message"))
        await bot.refresh()
        assert len(dc.requests_for("edit_message")) == edits_before


async def test_two_people_two_channels_and_live_counts_everywhere(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        await bot.slash(OTHER, MOD, "subscribe", {"tags": "OpenAI"})
        article_id = await bot.ingest(article())
        here = await bot.post_in(NEWS, article_id)
        there = await bot.post_in(OTHER, article_id)

        await bot.press(here, ALICE, VOTE.format(article_id, 1))
        await bot.press(there, BOB, VOTE.format(article_id, 1))
        # The press is answered at once; when the refresh job (woken by Alice's vote) is
        # editing this copy right then, Bob's edit follows it instead of racing it.
        await dc.wait_for(
            lambda: labels(dc.message(there.id))[0] == "Sehr gut · 2", what="Bob's vote shown"
        )
        # The other copy is brought up to date by the coalescing job.
        await bot.refresh()
        assert labels(dc.message(here.id))[0] == "Sehr gut · 2"
        edited = dc.requests_for("edit_message")[-1]
        assert edited.path == f"/channels/{NEWS}/messages/{here.id}"
        assert edited.body["allowed_mentions"] == {"parse": []}

        # A vote by command reaches the buttons too.
        answer = await bot.slash(NEWS, BOB, "vote", {"id": article_id, "option": 2})
        assert answer.ephemeral
        await bot.refresh()
        for message in (here, there):
            assert labels(dc.message(message.id))[:2] == ["Sehr gut · 1", "Gut · 1"]


async def test_a_member_without_manage_channels_is_refused(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.ingest(article())
        answer = await bot.slash(NEWS, ALICE, "subscribe", {"tags": "xAI"})
        assert answer.ephemeral
        assert answer.content == t("error.need_admin", "de")
        assert bot.store.subscriptions(chat(NEWS)) == []
        await bot.deliver()
        assert [m for m in dc.messages(NEWS) if m.interaction_id is None] == []
        # The server's owner has every permission, Manage Channels included.
        owner = await bot.slash(NEWS, OWNER, "subscribe", {"tags": "xAI"})
        assert not owner.ephemeral
        assert [s.tag for s in bot.store.subscriptions(chat(NEWS))] == ["xAI"]


async def test_forged_and_stale_buttons_change_nothing(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(article())
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        post = await bot.post_in(NEWS, article_id)
        row = post.components[0]["components"]
        # What a modified client could send: the template with unknown keys, and anything.
        row[0]["custom_id"] = VOTE.format(999_999, 1)
        row[1]["custom_id"] = VOTE.format(article_id, 9)
        row[2]["custom_id"] = "evil:payload"
        row[3]["custom_id"] = "nb:vote:1"

        expected = [
            t("error.not_this_post", "de"),
            t("error.bad_option", "de", value="9", max=5),
            t("error.stale_button", "de"),
            t("error.stale_button", "de"),
        ]
        for button, text in zip(row[:4], expected, strict=True):
            (answer,) = await bot.press(post, BOB, button["custom_id"])
            assert answer.type == 4
            assert answer.ephemeral
            assert answer.content == text
        poll = bot.store.get_poll(article_id)
        assert poll is not None
        assert poll.total == 0
        assert dc.message(post.id).edits == []


async def test_a_post_whose_answer_was_lost_takes_votes(dc: FakeDiscord) -> None:
    """Discord posted the article but the connection closed before its answer: the post
    stands and people press it. Their votes count and the post shows them; another article's
    button on it is still refused."""
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        dc.fail_next("send_message", NEWS, kind="drop_after")
        article_id = await bot.ingest(article())
        await bot.deliver()
        post = await bot.post_in(NEWS, article_id)
        assert [f.hits for f in dc.failures] == [1]
        # The bot never learnt the message's id (its retry, later, posts a copy).
        assert str(post.id) not in [p.message.message_id for p in bot.store.posts_of(article_id)]

        # Data that is not on the message, as Discord sends it with the press (a modified app).
        (answer,) = await bot.press(post, BOB, VOTE.format(999_999, 1), stale=True)
        assert answer.content == t("error.not_this_post", "de")
        update, note = await bot.press(post, BOB, VOTE.format(article_id, 2))
        assert update.type == 7 and note.content == "Deine Stimme: Gut"
        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 1))
        assert update.type == 7 and note.content == "Deine Stimme: Sehr gut"
        poll = bot.store.get_poll(article_id)
        assert poll is not None and poll.total == 2
        assert labels(dc.message(post.id))[:2] == ["Sehr gut · 1", "Gut · 1"]


async def test_an_answer_discord_holds_back_fails_the_send_instead_of_the_run(
    dc: FakeDiscord,
) -> None:
    """Discord does a post and holds its answer back: the send gives up after its read
    timeout (not aiohttp's five minutes), the delivery run ends, and the outbox retries."""
    async with running_bot(dc) as bot:
        assert bot.adapter.client is not None
        http = bot.adapter.client.http
        assert isinstance(http, BoundedHTTPClient)
        http.timeout = aiohttp.ClientTimeout(sock_connect=5.0, sock_read=0.5)
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        held = dc.fail_next("send_message", NEWS, kind="held")
        await bot.ingest(article())
        async with asyncio.timeout(60):  # bounded here; the hold lasts 30 s
            await bot.deliver()
        assert held.hits == 1
        [row] = bot.store.deliveries_for_chat(chat(NEWS))
        assert row.status == "pending" and row.message_id is None
        assert row.last_error is not None and row.last_error.endswith("TimeoutError")


async def test_another_articles_button_never_replaces_a_post(dc: FakeDiscord) -> None:
    """A modified client can send any custom_id on any message: a vote for article B pressed
    on the post of article A is refused, and A's post stays A's."""
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        first = await bot.ingest(article("Erster Artikel über xAI"))
        post = await bot.post_in(NEWS, first)
        second = await bot.ingest(article("Zweiter Artikel über xAI"))
        other = await bot.post_in(NEWS, second)
        embeds = copy.deepcopy(post.embeds)
        # What a modified client sends: B's vote, on A's message.
        post.components[0]["components"][0]["custom_id"] = VOTE.format(second, 1)

        (answer,) = await bot.press(post, BOB, VOTE.format(second, 1))
        assert answer.type == 4 and answer.ephemeral
        assert answer.content == t("error.not_this_post", "de")
        assert dc.message(post.id).edits == []
        assert dc.message(post.id).embeds == embeds
        poll = bot.store.get_poll(second)
        assert poll is not None and poll.total == 0

        # A's own buttons still work on it, and it still shows A.
        update, note = await bot.press(post, BOB, VOTE.format(first, 2))
        assert update.type == 7 and note.content == "Deine Stimme: Gut"
        assert dc.message(post.id).embeds[0]["title"] == "Erster Artikel über xAI"
        await bot.refresh()
        assert dc.message(post.id).embeds[0]["title"] == "Erster Artikel über xAI"
        assert dc.message(other.id).edits == []
        assert [p.message.message_id for p in bot.store.posts_of(second)] == [str(other.id)]


async def test_a_vote_in_another_language_leaves_the_post_in_its_own(dc: FakeDiscord) -> None:
    """Someone whose Discord speaks English votes on a post in a German channel: the post stays
    German for everyone, only the note meant for them alone is in English."""
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        published = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
        article_id = await bot.ingest(article(published=published))
        post = await bot.post_in(NEWS, article_id)
        assert "0 Stimmen" in post.embeds[0]["footer"]["text"]

        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 1), locale="en-US")
        assert update.type == 7
        assert note.ephemeral
        assert note.content == t("vote.cast", "en", label="Excellent")
        footer = dc.message(post.id).embeds[0]["footer"]["text"]
        assert t("post.total", "de", count=1) in footer
        assert format_date(published, "de") in footer
        assert "vote" not in footer

        # It stays German when the counts move on through the coalescing job.
        await bot.slash(OTHER, BOB, "vote", {"id": article_id, "option": 2}, locale="en-US")
        await bot.refresh()
        footer = dc.message(post.id).embeds[0]["footer"]["text"]
        assert t("post.total", "de", count=2) in footer
        assert format_date(published, "de") in footer
        (recorded,) = bot.store.posts_of(article_id)
        assert recorded.language == "de"


async def test_one_press_costs_one_edit_of_its_post(dc: FakeDiscord) -> None:
    """The press's own answer edits the post; nothing edits it a second time for that press
    (Discord allows 5 edits per 5 s in a channel)."""
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        article_id = await bot.ingest(article())
        post = await bot.post_in(NEWS, article_id)
        presses = [(ALICE, 1), (BOB, 2), (ALICE, 3), (BOB, 2), (MOD, 5), (ALICE, 3), (BOB, 1)]
        presses.append((MOD, 4))
        for person, option in presses:
            update, note = await bot.press(post, person, VOTE.format(article_id, option))
            assert update.type == 7 and note.ephemeral
        await bot.app.refresh_job.idle()
        await bot.refresh()
        assert len(dc.message(post.id).edits) == len(presses) == 8
        assert dc.requests_for("edit_message") == []
        assert labels(dc.message(post.id)) == [
            "Sehr gut · 1",
            "Gut · 0",
            "Befriedigend · 0",
            "Ausreichend · 1",
            "Mangelhaft · 0",
        ]

        # When the answer cannot edit the post (its interaction expired), the refresh job does.
        dc.fail_next("create_interaction_response", kind="unknown_interaction")
        iid = await dc.press(NEWS, post.id, BOB, VOTE.format(article_id, 2), locale="de")
        await dc.wait_for(
            lambda: labels(dc.message(post.id))[1] == "Gut · 1", what="the refresh job's edit"
        )
        assert dc.interaction_responses(iid) == []
        assert len(dc.requests_for("edit_message")) == 1


async def test_an_edit_that_would_change_nothing_is_not_sent(dc: FakeDiscord) -> None:
    """A vote cast and taken back between two runs of the refresh job (through another worker
    on the same database, say) moves the poll on but leaves the counts as the post shows them:
    the refresh job sends Discord nothing."""
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        article_id = await bot.ingest(article())
        post = await bot.post_in(NEWS, article_id)
        await bot.press(post, ALICE, VOTE.format(article_id, 1))
        await bot.app.refresh_job.idle()
        bob = UserRef("discord", str(BOB), "bob")
        await bot.app.db.run(bot.store.cast_vote, article_id, bob, 2)
        await bot.app.db.run(bot.store.cast_vote, article_id, bob, 2)
        assert len(bot.store.stale_posts(["discord"])) == 1
        await bot.refresh()
        assert dc.requests_for("edit_message") == []
        assert len(dc.message(post.id).edits) == 1
        assert bot.store.stale_posts(["discord"]) == []


async def test_a_button_no_longer_on_the_message_still_gets_an_answer(
    dc: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app that still shows buttons a closed poll or a removed article no longer has (or a
    click racing the edit that removed them): discord.py drops such a press, the bot answers."""
    monkeypatch.setenv("NEWSBOT_ADMINS", f"discord:{OWNER}")
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        article_id = await bot.ingest(article())
        post = await bot.post_in(NEWS, article_id)
        old_buttons = post.custom_ids
        await bot.slash(NEWS, OWNER, "closepoll", {"id": article_id})
        await bot.refresh()
        assert dc.message(post.id).custom_ids == []

        (answer,) = await bot.press(post, ALICE, old_buttons[0], stale=True)
        assert (answer.type, answer.ephemeral) == (4, True)
        assert answer.content == t("error.poll_closed", "de", id=article_id)
        # Someone else's button that was never ours, not on the message either.
        (answer,) = await bot.press(post, ALICE, "nb:vote:1", stale=True)
        assert answer.ephemeral and answer.content == t("error.stale_button", "de")

        await bot.slash(NEWS, OWNER, "remove", {"id": article_id})
        await bot.refresh()
        (answer,) = await bot.press(post, BOB, old_buttons[1], stale=True, locale="en-US")
        assert answer.ephemeral and answer.content == t("error.no_article", "en", id=article_id)
        poll = bot.store.get_poll(article_id)
        assert poll is not None and poll.total == 0


async def test_buttons_keep_working_after_a_restart(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(article())
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        post = await bot.post_in(NEWS, article_id)
        await bot.press(post, ALICE, VOTE.format(article_id, 1))
    sent = len(dc.requests_for("send_message"))

    async with running_bot(dc) as bot:
        await dc.wait_ready(identifies=2)
        update, note = await bot.press(post, BOB, VOTE.format(article_id, 1))
        assert update.type == 7
        assert labels(dc.message(post.id))[0] == "Sehr gut · 2"
        assert note.content == "Deine Stimme: Sehr gut"
        # The outbox knows what was sent: nothing is posted again.
        await bot.deliver()
        assert len(dc.requests_for("send_message")) == sent


async def test_feed_text_never_pings_anyone(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        article_id = await bot.ingest(
            article(
                title="Alarm für @everyone",
                body=f"Sagt es @here und <@{ALICE}> weiter. Dann **fett** und _kursiv_.",
                url="javascript:alert(1)",
            )
        )
        post = await bot.post_in(NEWS, article_id)
        assert post.allowed_mentions is not None
        assert post.allowed_mentions["parse"] == []
        assert post.content == ""
        embed = post.embeds[0]
        assert embed["title"] == f"Alarm für @{ZWSP}everyone"
        assert "url" not in embed  # javascript: is no link
        assert f"@{ZWSP}here" in embed["description"]
        assert "\\*\\*fett\\*\\*" in embed["description"]
        assert "@everyone" not in embed["description"] + embed["title"]

        # Plain replies carry feed text too: the titles in /latest.
        listing = await bot.slash(NEWS, ALICE, "latest")
        assert f"@{ZWSP}everyone" in (listing.content or "")
        assert "@everyone" not in (listing.content or "")
        assert listing.data["allowed_mentions"]["parse"] == []


# --------------------------------------------------------------------------- failures


async def test_missing_access_pauses_the_channel_with_its_reason(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(OTHER, MOD, "subscribe", {"tags": "xAI"})
        injected = dc.fail_next("send_message", channel_id=OTHER, kind="missing_access")
        await bot.ingest(article())
        await bot.deliver()
        assert injected.hits == 1
        (sub,) = bot.store.subscriptions(chat(OTHER))
        assert not sub.active
        assert sub.reason is not None
        assert "50001" in sub.reason
        assert "Missing Access" in sub.reason

        await bot.ingest(article("Zweiter Artikel", "Noch ein Text über xAI.", ("xAI",)))
        await bot.deliver()
        to_other = [r for r in dc.requests_for("send_message") if str(OTHER) in r.path]
        assert len(to_other) == 1
        # Where people look for the reason.
        listing = await bot.slash(OTHER, MOD, "subscriptions")
        assert "Missing Access" in (listing.content or "")


async def test_a_channel_the_bot_cannot_write_in_is_paused_without_a_request(
    dc: FakeDiscord,
) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NO_SEND, MOD, "subscribe", {"tags": "xAI"})
        await bot.ingest(article())
        await bot.deliver()
        (sub,) = bot.store.subscriptions(chat(NO_SEND))
        assert not sub.active
        assert "Send Messages" in (sub.reason or "")
        assert [r for r in dc.requests_for("send_message") if str(NO_SEND) in r.path] == []


async def test_rate_limit_and_network_errors_are_retried_not_dropped(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        await bot.slash(OTHER, MOD, "subscribe", {"tags": "xAI"})
        # A 429 discord.py does not retry itself (no Via header), and a dropped connection.
        dc.fail_next("send_message", channel_id=NEWS, kind="rate_limited", via=False)
        dc.fail_next("send_message", channel_id=OTHER, kind="drop")
        article_id = await bot.ingest(article())
        await bot.deliver()
        (limited,) = bot.store.deliveries_for_chat(chat(NEWS))
        assert (limited.status, limited.last_error) == ("pending", "discord: rate limited")
        (dropped,) = bot.store.deliveries_for_chat(chat(OTHER))
        assert dropped.status == "pending"
        assert dropped.last_error is not None
        assert dropped.last_error.startswith("discord: ")
        assert all(s.active for s in bot.store.subscriptions(chat(OTHER)))
        # The 429 asked for a second: then the post arrives, once.
        await bot.post_in(NEWS, article_id)
        await bot.deliver()
        assert len([m for m in dc.messages(NEWS) if m.embeds]) == 1


async def test_deleted_channel_and_removal_from_the_server_pause(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        await bot.slash(OTHER, MOD, "subscribe", {"tags": "xAI"})
        dm = dc.dm_channel(ALICE)
        await bot.slash(dm, ALICE, "subscribe", {"tags": "xAI"}, guild=None)
        await dc.dispatch("CHANNEL_DELETE", {"id": str(OTHER), "guild_id": str(GUILD), "type": 0})
        await bot.slash(dm, ALICE, "help", guild=None)
        (gone,) = bot.store.subscriptions(chat(OTHER))
        assert (gone.active, gone.reason) == (False, "discord: the channel was deleted")
        assert bot.store.subscriptions(chat(NEWS))[0].active

        await dc.dispatch("GUILD_DELETE", {"id": str(GUILD)})
        # Events are handled in order: once a later interaction is answered, so is this one.
        await bot.slash(dm, ALICE, "help", guild=None)
        (sub,) = bot.store.subscriptions(chat(NEWS))
        assert not sub.active
        assert "removed" in (sub.reason or "")
        assert all(s.active for s in bot.store.subscriptions(chat(dm)))


# --------------------------------------------------------------------------- places


async def test_forum_channel_gets_one_post_per_article(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        # A forum has no message box: its commands are run inside one of its posts.
        answer = await bot.slash(FORUM_POST, MOD, "subscribe", {"tags": "xAI"})
        assert not answer.ephemeral
        assert [s.tag for s in bot.store.subscriptions(chat(FORUM))] == ["xAI"]
        assert bot.store.subscriptions(chat(FORUM_POST)) == []

        article_id = await bot.ingest(article())
        thread = await dc.wait_for(
            lambda: next(
                (c for c in dc.channels.values() if c.parent_id == FORUM and c.id != FORUM_POST),
                None,
            ),
            what="a forum post",
        )
        assert thread.name == "Microsoft bietet Modelle von xAI an"
        post = await bot.post_in(thread.id, article_id)
        assert post.id == thread.id  # the post's first message
        assert post.custom_ids[0] == VOTE.format(article_id, 1)

        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 4))
        assert update.type == 7
        assert note.content == "Deine Stimme: Ausreichend"
        (recorded,) = bot.store.posts_of(article_id)
        assert recorded.message.chat == chat(FORUM)

        # A vote elsewhere: the coalescing job edits the forum post in its thread.
        await bot.slash(NEWS, BOB, "vote", {"id": article_id, "option": 4})
        await bot.refresh()
        assert labels(dc.message(post.id))[3] == "Ausreichend · 2"
        edited = dc.requests_for("edit_message")[-1]
        assert edited.path == f"/channels/{thread.id}/messages/{post.id}"


async def test_threads_on_opens_a_discussion_thread_per_post(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        await bot.app.db.run(lambda: bot.store.update_chat_settings(chat(NEWS), threads=True))
        long_title = "Ein sehr langer Titel über xAI " + "und noch mehr " * 10
        article_id = await bot.ingest(article(title=long_title.strip()))
        post = await bot.post_in(NEWS, article_id)
        thread_id = await dc.wait_for(lambda: dc.message(post.id).thread_id, what="a thread")
        name = dc.channels[thread_id].name
        assert len(name) <= 100
        assert name.startswith("Ein sehr langer Titel über xAI")
        assert dc.channels[thread_id].parent_id == NEWS

        # Without the setting, no thread.
        await bot.slash(OTHER, MOD, "subscribe", {"tags": "xAI"})
        other = await bot.post_in(OTHER, article_id)
        assert dc.message(other.id).thread_id is None


async def test_direct_message_subscription(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        dm = dc.dm_channel(ALICE)
        article_id = await bot.ingest(article())
        answer = await bot.slash(dm, ALICE, "subscribe", {"tags": "xAI"}, guild=None)
        assert t("sub.added", "de", tags="xAI") in (answer.content or "")
        post = await bot.post_in(dm, article_id)
        assert post.allowed_mentions == {"parse": []}
        update, note = await bot.press(post, ALICE, VOTE.format(article_id, 1))
        assert update.type == 7
        assert labels(dc.message(post.id))[0] == "Sehr gut · 1"
        assert note.content == "Deine Stimme: Sehr gut"
        assert bot.store.subscriptions(ChatRef("discord", str(dm)))[0].active


# --------------------------------------------------------------------------- moderation


async def test_ban_unban_and_timeout_on_the_server(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        adapter, news = bot.adapter, chat(NEWS)
        bob, alice = UserRef("discord", str(BOB)), UserRef("discord", str(ALICE))
        assert await adapter.ban_member(news, bob)
        assert BOB in dc.bans(GUILD)
        assert await adapter.unban_member(news, bob)
        assert dc.bans(GUILD) == {}

        assert await adapter.restrict_member(news, alice, datetime.now(UTC) + timedelta(hours=1))
        assert dc.member(GUILD, ALICE).timed_out
        # Longer than Discord allows: capped at 28 days.
        assert await adapter.restrict_member(news, alice, datetime.now(UTC) + timedelta(days=90))
        until = dc.member(GUILD, ALICE).timed_out_until
        assert until is not None
        assert until <= datetime.now(UTC) + timedelta(days=28)
        assert await adapter.restrict_member(news, alice, None)
        assert not dc.member(GUILD, ALICE).timed_out

        # No right over the owner; no server in a DM.
        assert not await adapter.ban_member(news, UserRef("discord", str(OWNER)))
        dm = chat(dc.dm_channel(ALICE))
        assert not await adapter.ban_member(dm, bob)

        # As a moderator does it: /ban with a user option and a reason.
        iid = await dc.slash(GUILD, NEWS, MOD, "ban", {"user": BOB, "reason": "Spam"}, locale="de")
        await dc.wait_for_interaction_response(iid, count=2)
        assert BOB in dc.bans(GUILD)
        assert t("mod.platform_done", "de") in [r.content for r in dc.interaction_responses(iid)]


async def test_slow_answers_are_deferred_within_discords_three_seconds(
    dc: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(dc) as bot:
        # A core that answers only when the test lets it: the adapter must defer first.
        runtime, gate = bot.app.runtime, asyncio.Event()
        on_command, on_press = runtime.on_command, runtime.on_press

        async def slow_command(cmd: Command) -> list[Reply]:
            await gate.wait()
            return await on_command(cmd)

        async def slow_press(press: Press) -> list[Reply]:
            await gate.wait()
            return await on_press(press)

        monkeypatch.setattr(runtime, "on_command", slow_command)
        monkeypatch.setattr(runtime, "on_press", slow_press)
        bot.adapter.answer_within = 0.01
        article_id = await bot.ingest(article())

        iid = await dc.slash(GUILD, NEWS, MOD, "subscribe", {"tags": "xAI"}, locale="de")
        deferred = await dc.wait_for_interaction_response(iid)
        assert (deferred.kind, deferred.type, deferred.ephemeral) == ("callback", 5, True)
        gate.set()
        filled = await dc.wait_for_interaction_response(iid, count=2)
        assert filled.kind == "edit_original"
        assert t("sub.added", "de", tags="xAI") in (filled.content or "")
        assert filled.data["allowed_mentions"] == {"parse": []}

        post = await bot.post_in(NEWS, article_id)
        gate.clear()
        iid = await dc.press(NEWS, post.id, ALICE, VOTE.format(article_id, 5), locale="de")
        first = await dc.wait_for_interaction_response(iid)
        assert (first.kind, first.type) == ("callback", 6)  # the message stays as it is
        gate.set()
        edited = await dc.wait_for_interaction_response(iid, count=2)
        note = await dc.wait_for_interaction_response(iid, count=3)
        assert (edited.kind, note.kind) == ("edit_original", "followup")
        assert labels(dc.message(post.id))[4] == "Mangelhaft · 1"
        assert note.ephemeral
        assert note.content == "Deine Stimme: Mangelhaft"


async def test_the_token_is_never_logged(
    dc: FakeDiscord, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NEWSBOT_DISCORD_TOKEN", "wrong-secret-token")
    with pytest.raises(PlatformStartError, match="token was refused") as refused:
        async with running_bot(dc):
            pass
    assert "wrong-secret-token" not in str(refused.value)
    monkeypatch.setenv("NEWSBOT_DISCORD_TOKEN", dc.token)
    async with running_bot(dc) as bot:
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        await bot.post_in(NEWS, await bot.ingest(article()))
    assert "wrong-secret-token" not in caplog.text
    assert dc.token not in caplog.text
