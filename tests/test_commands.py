"""The chat commands as a person uses them, through the real handlers and store."""

from __future__ import annotations

import dataclasses

import pytest

from handlers.context import Ctx
from handlers.registry import COMMANDS
from storage.models import INLINE_CHAT_ID, ChatRef, MessageRef
from tests.conftest import Chat, add, article, vote_data


async def test_help_lists_every_command_in_german_then_english(any_chat: Chat) -> None:
    german = await any_chat.text("/help")
    assert "Befehle" in german
    for name in ("subscribe", "unsubscribe", "subscriptions", "tags", "latest", "vote", "top"):
        assert f"/{name}" in german
    assert await any_chat.text("/lang en") == "This chat now speaks English."
    assert "This chat's language: en" in await any_chat.text("/lang")
    english = await any_chat.text("/help")
    assert "Commands" in english and "subscribe to tags" in english


async def test_start_greets_and_deep_link_subscribes(any_chat: Chat, any_ctx: Ctx) -> None:
    assert "Willkommen" in await any_chat.text("/start")
    add(any_ctx, article())
    assert "Abonniert: xAI" in await any_chat.text("/start sub_xAI")
    assert [s.tag for s in any_ctx.store.subscriptions(any_chat.chat)] == ["xAI"]


async def test_subscribe_matches_tags_case_insensitively_with_or_without_hash(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    first = add(any_ctx, article(title="Alt", body="Ein älterer Text über xAI."))
    newest = add(any_ctx, article(title="Neu", body="Ein neuer Text über xAI und Azure."))
    reply = await any_chat.text("/subscribe #XAI openai")
    assert "Abonniert: xAI, OpenAI" in reply
    assert "neueste passende Artikel" in reply
    # Backlog of one: only the newest matching article is queued for this chat.
    queued = any_ctx.store.deliveries_for_chat(any_chat.chat)
    assert [d.article_id for d in queued] == [newest]
    assert first != newest
    assert "Schon abonniert: xAI" in await any_chat.text("/subscribe xai")
    subs = await any_chat.text("/subscriptions")
    assert "xAI" in subs and "OpenAI" in subs


async def test_new_article_with_a_subscribed_tag_is_queued_for_the_chat(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    await any_chat.text("/subscribe xAI")
    other = add(any_ctx, article(title="Nur Apple", body="Apple baut Chips.", tags=("Apple",)))
    hit = add(any_ctx, article())
    assert [d.article_id for d in any_ctx.store.deliveries_for_chat(any_chat.chat)] == [hit]
    assert other not in [d.article_id for d in any_ctx.store.deliveries_for_chat(any_chat.chat)]


async def test_unsubscribe_one_and_all(any_chat: Chat, any_ctx: Ctx) -> None:
    await any_chat.text("/subscribe xAI OpenAI Microsoft")
    assert "Abo beendet: xAI" in await any_chat.text("/unsubscribe xai")
    assert "Nicht abonniert: Nvidia" in await any_chat.text("/unsubscribe Nvidia")
    assert "Abo beendet" in await any_chat.text("/unsubscribe all")
    assert any_ctx.store.subscriptions(any_chat.chat) == []
    assert "keine Abos" in await any_chat.text("/subscriptions")


async def test_tags_most_used_first(any_chat: Chat, any_ctx: Ctx) -> None:
    assert "keine Schlagwörter" in await any_chat.text("/tags")
    add(any_ctx, article(title="A", body="Eins.", tags=("xAI", "OpenAI")))
    add(any_ctx, article(title="B", body="Zwei.", tags=("OpenAI",)))
    lines = (await any_chat.text("/tags")).splitlines()
    assert lines[1] == "OpenAI: 2 Artikel"
    assert lines[2] == "xAI: 1 Artikel"


async def test_latest_and_article_show_the_post(any_chat: Chat, any_ctx: Ctx) -> None:
    body = " ".join(f"Dies ist der Satz Nummer {i} über das neue Modell." for i in range(40))
    aid = add(any_ctx, article(title="Langer Text", body=body, url="https://example.org/a"))
    latest = await any_chat.text("/latest xai")
    assert f"#{aid} Langer Text" in latest
    [post] = await any_chat.say(f"/article {aid}")
    text = post.text.plain()
    assert text.startswith("Langer Text")
    summary = text.split("\n\n")[1]
    assert len(summary) <= 600 and summary.endswith("Modell.")  # whole sentences only
    assert "#Microsoft #xAI #OpenAI" in text
    assert f"#{aid}" in text and "https://example.org/a" in [s.url for s in post.text.spans]
    assert "Wie bewerten Sie den Schreibstil des Artikels?" in text
    labels = [b.label for row in post.buttons for b in row]
    assert labels == [
        "Sehr gut · 0",
        "Gut · 0",
        "Befriedigend · 0",
        "Ausreichend · 0",
        "Mangelhaft · 0",
    ]
    assert post.buttons[0][0].text_twin == f"/vote {aid} 1"


async def test_voting_casts_moves_and_takes_back(any_chat: Chat, any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    assert "Deine Stimme: Gut" in await any_chat.text(f"/vote {aid} 2")
    assert "Stimme geändert: Sehr gut" in await any_chat.text(f"/vote {aid} 1")
    await any_chat.text(f"/vote {aid} 3", user="bob")
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and [o.votes for o in poll.options] == [1, 0, 1, 0, 0]
    assert "Stimme zurückgenommen" in await any_chat.text(f"/vote {aid} 1")
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 1


async def test_button_press_edits_the_post_with_new_counts(any_chat: Chat, any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    post = any_chat.post(aid)
    [reply] = await any_chat.press(vote_data(aid, 1), on=post)
    assert reply.edit and reply.notice == "Deine Stimme: Sehr gut"
    assert reply.buttons[0][0].label == "Sehr gut · 1"
    [reply] = await any_chat.press(vote_data(aid, 1), on=post)
    assert reply.notice == "Stimme zurückgenommen"
    assert reply.buttons[0][0].label == "Sehr gut · 0"


@pytest.mark.parametrize(
    "data",
    [
        "nb:vote:999:1",
        "nb:vote:1:9",
        "nb:vote:1",
        "other:vote:1:1",
        "nb:drop:1:1",
        "nb:vote:x:1",
        "",
    ],
)
async def test_forged_or_stale_button_data_changes_nothing(
    any_chat: Chat, any_ctx: Ctx, data: str
) -> None:
    add(any_ctx, article())
    [reply] = await any_chat.press(data)
    assert reply.notice and not reply.edit
    assert reply.private
    assert any_ctx.store.stats().votes == 0


async def test_a_press_acts_only_on_the_article_its_message_shows(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    first = add(any_ctx, article("Erster Artikel über xAI"))
    second = add(any_ctx, article("Zweiter Artikel über xAI"))
    post = any_chat.post(first, "post-1")
    refused = "Dieser Knopf gehört nicht zu diesem Beitrag."
    # Another article's vote, its results, a confirmation, or any vote on a message in the
    # chat that is no recorded post: refused, nothing stored, nothing to edit.
    for data, on in [
        (vote_data(second, 1), post),
        (f"nb:results:{second}", post),
        (f"nb:confirm:1:{first}", post),
        (vote_data(first, 1), MessageRef(any_chat.chat, "not-a-post")),
    ]:
        [reply] = await any_chat.press(data, on=on)
        assert (reply.notice, reply.edit, reply.private) == (refused, False, True), data
    assert any_ctx.store.stats().votes == 0
    assert [p.message.message_id for p in any_ctx.store.posts_of(second)] == []
    # The post's own article works, with leading zeros too.
    [reply] = await any_chat.press(f"nb:vote:00{first}:2", on=post)
    assert (reply.edit, reply.article_id, reply.notice) == (True, first, "Deine Stimme: Gut")

    # An inline message is unknown until its first press names its article; from then on it
    # is held to that article like any post.
    inline = MessageRef(ChatRef(any_chat.chat.platform, INLINE_CHAT_ID), "AgAAAinline")
    [reply] = await any_chat.press(vote_data(second, 3), on=inline)
    assert reply.edit and reply.article_id == second
    any_ctx.store.record_post(second, inline, reply.poll_version or 0)  # as the adapter does
    [reply] = await any_chat.press(vote_data(first, 3), on=inline)
    assert reply.notice == refused


def test_a_post_never_takes_another_articles_poll_version(any_ctx: Ctx) -> None:
    first = add(any_ctx, article("Erster Artikel über xAI"))
    second = add(any_ctx, article("Zweiter Artikel über xAI"))
    message = MessageRef(ChatRef("telegram", "42"), "7")
    any_ctx.store.record_post(first, message, 1)
    any_ctx.store.record_post(second, message, 99)
    post = any_ctx.store.post_at(message)
    assert post is not None and (post.article_id, post.rendered_version) == (first, 1)
    assert any_ctx.store.post_at(MessageRef(ChatRef("telegram", "42"), "8")) is None


async def test_results_show_counts_bars_total_and_mean(any_chat: Chat, any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    assert "Noch keine Stimmen" in await any_chat.text(f"/results {aid}")
    await any_chat.text(f"/vote {aid} 1", user="alice")
    await any_chat.text(f"/vote {aid} 2", user="bob")
    text = await any_chat.text(f"/results {aid}")
    # In columns (a fixed-width block on the platforms): the label padded to the longest one.
    assert "1. Sehr gut     (5) █████░░░░░ 1 ·  50 %" in text
    assert "Stimmen insgesamt: 2" in text
    assert "Durchschnitt: 4,50 von 5" in text
    await any_chat.text("/lang en")
    assert "Mean: 4.50 of 5" in await any_chat.text(f"/results {aid}")


async def test_top_uses_a_bayesian_average(any_chat: Chat, any_ctx: Ctx) -> None:
    lone = add(any_ctx, article(title="Einzelstimme", body="Ein Text."))
    many = add(any_ctx, article(title="Viele Stimmen", body="Noch ein Text."))
    weak = add(any_ctx, article(title="Schwach", body="Ein schwacher Text."))
    await any_chat.text(f"/vote {lone} 1", user="u0")
    for i in range(8):
        await any_chat.text(f"/vote {many} {1 if i % 4 else 2}", user=f"u{i}")
    for i in range(4):
        await any_chat.text(f"/vote {weak} 5", user=f"w{i}")
    lines = (await any_chat.text("/top")).splitlines()
    assert "Viele Stimmen" in lines[1]  # 8 mostly top votes beat one lone top vote
    assert "Einzelstimme" in lines[2]
    assert "Schwach" in lines[3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/frobnicate", "Unbekannter Befehl /frobnicate"),
        ("/vote", "So geht es: /vote N K"),
        ("/vote 1 2 3", "So geht es: /vote N K"),
        ("/article abc", "„abc“ ist keine Artikelnummer"),
        ("/article -4", "keine Artikelnummer"),
        ("/article 99999999999999999999", "keine Artikelnummer"),
        ("/article 42", "Einen Artikel #42 gibt es nicht"),
        ("/vote 1 6", "„6“ ist keine Antwort"),
        ("/vote 1 0", "keine Antwort"),
        ("/lang fr", "„fr“ kenne ich nicht"),
        ("/subscribe " + "x" * 10_000, "zu lang"),
        ("/subscribe \u200b\u200b", "So geht es: /subscribe SCHLAGWORT..."),
        ("/subscribe ###", "kein gültiges Schlagwort"),
    ],
)
async def test_bad_input_gets_a_clear_translated_answer_and_changes_nothing(
    any_chat: Chat, any_ctx: Ctx, text: str, expected: str
) -> None:
    add(any_ctx, article())
    # Every row count; not the size, which PostgreSQL's housekeeping moves by itself.
    before = dataclasses.replace(any_ctx.store.stats(), size_bytes=0)
    assert expected in await any_chat.text(text)
    assert dataclasses.replace(any_ctx.store.stats(), size_bytes=0) == before


async def test_bad_input_in_english(any_chat: Chat, any_ctx: Ctx) -> None:
    await any_chat.text("/lang en")
    assert "Unknown command /nope" in await any_chat.text("/nope")
    assert "“abc” is not an article number" in await any_chat.text("/results abc")


async def test_odd_unicode_tags_are_cleaned_not_rejected(any_chat: Chat, any_ctx: Ctx) -> None:
    add(any_ctx, article())
    assert "Abonniert: xAI" in await any_chat.text("/subscribe x\u200bAI")
    assert "Abonniert: Café" in await any_chat.text("/subscribe Cafe\u0301")


async def test_groups_need_chat_admin_rights_to_change_subscriptions(any_ctx: Ctx) -> None:
    group = Chat(any_ctx, chat=ChatRef("telegram", "-100"), is_private=False)
    assert "Admin-Rechte" in await group.text("/subscribe xAI", user="7")
    assert any_ctx.store.subscriptions(group.chat) == []
    assert "Abonniert" in await group.text("/subscribe xAI", user="7", admin=True)
    # Bot owners may do it anywhere.
    assert "Abonniert" in await group.text("/subscribe OpenAI", user="1")


def test_every_command_has_help_in_both_languages() -> None:
    from handlers.i18n import catalogue

    for spec in COMMANDS.values():
        assert spec.help_key in catalogue("de"), spec.name
        assert spec.help_key in catalogue("en"), spec.name


async def test_a_private_chat_gets_posts_in_the_persons_language(any_ctx: Ctx) -> None:
    from handlers import dispatch
    from handlers.events import Command
    from storage.models import UserRef

    chat = ChatRef("telegram", "31")
    add(any_ctx, article())
    cmd = Command(chat, UserRef("telegram", "31"), "subscribe", ("xAI",), locale="en-GB")
    [reply] = await dispatch.handle_command(any_ctx, cmd)
    assert reply.text.plain().startswith("Subscribed: xAI")
    # Deliveries have no person to ask: the chat remembers the language its person uses.
    assert dispatch.chat_language(any_ctx, chat) == "en"
    await Chat(any_ctx, chat=chat).text("/lang de")
    assert dispatch.chat_language(any_ctx, chat) == "de"
