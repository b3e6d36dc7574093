"""Forum topics end to end: /subscribe inside a topic of a Telegram forum posts into that
topic; a closed or deleted topic pauses only the subscriptions that post there."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from storage.models import ChatRef, NewArticle
from storage.schema import migrations
from storage.store import Store
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import chat_ref, running


async def test_subscribe_in_a_topic_posts_into_that_topic(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    forum = tg.chat(-100900, "supergroup", title="Forum", is_forum=True)
    tg.set_member(forum, alice, "administrator")
    ai, chips = tg.open_topic(forum), tg.open_topic(forum)
    async with running(tg) as bot:
        tg.send_text(forum, alice, "/subscribe xAI", topic=ai)
        answer = await tg.wait_for_message(forum, "Abonniert: xAI.")
        assert answer["message_thread_id"] == ai  # the answer stays in the topic
        tg.send_text(forum, alice, "/subscribe Nvidia", topic=chips)
        await tg.wait_for_message(forum, "Abonniert: Nvidia.")

        await bot.add_article("xAI baut ein Rechenzentrum", tags=("xAI",))
        post = await tg.wait_for_message(forum, "xAI baut ein Rechenzentrum")
        assert post["message_thread_id"] == ai
        # One article matching subscriptions in two topics of the chat reaches both.
        await bot.add_article("xAI kauft Chips bei Nvidia", tags=("xAI", "Nvidia"))
        await tg.wait_for(
            lambda: (
                sorted(
                    m["message_thread_id"]
                    for m in tg.messages(forum)
                    if "kauft Chips" in str(m.get("text"))
                )
                == sorted([ai, chips])
            ),
            what="the article in both topics",
        )

        tg.send_text(forum, alice, "/subscriptions", topic=chips)
        listing = await tg.wait_for_message(forum, "Abos dieses Chats")
        assert f"xAI (im Thema {ai})" in listing["text"]
        assert f"Nvidia (im Thema {chips})" in listing["text"]


@pytest.mark.parametrize(
    ("end_topic", "reason"),
    [("close_topic", "forum topic closed"), ("delete_topic", "forum topic deleted")],
)
async def test_a_closed_or_deleted_topic_pauses_only_its_subscription(
    tg: FakeTelegram, end_topic: str, reason: str
) -> None:
    alice = tg.user(42, "Alice")
    forum = tg.chat(-100901, "supergroup", title="Forum", is_forum=True)
    tg.set_member(forum, alice, "administrator")
    ai, chips = tg.open_topic(forum), tg.open_topic(forum)
    async with running(tg) as bot:
        tg.send_text(forum, alice, "/subscribe xAI", topic=ai)
        await tg.wait_for_message(forum, "Abonniert: xAI.")
        tg.send_text(forum, alice, "/subscribe Nvidia", topic=chips)
        await tg.wait_for_message(forum, "Abonniert: Nvidia.")

        getattr(tg, end_topic)(forum, ai)
        await bot.add_article("xAI und Nvidia rechnen zusammen", tags=("xAI", "Nvidia"), wake=False)
        await bot.app.deliver_job.run_now()
        posts = [m for m in tg.messages(forum) if "rechnen zusammen" in str(m.get("text"))]
        assert [m["message_thread_id"] for m in posts] == [chips]

        subs = {s.tag: s for s in bot.store.subscriptions(chat_ref(forum))}
        assert (subs["xAI"].active, subs["xAI"].reason) == (False, reason)
        assert (subs["Nvidia"].active, subs["Nvidia"].reason) == (True, None)

        # The chat goes on: the other topic still gets its articles, the closed one nothing.
        await bot.add_article("Nvidia zeigt neue Chips", tags=("Nvidia", "xAI"), wake=False)
        await bot.app.deliver_job.run_now()
        await tg.wait_for_message(forum, "Nvidia zeigt neue Chips")
        tries = [c for c in tg.calls("sendMessage") if c.get("message_thread_id") == ai]
        assert all("neue Chips" not in str(c.get("text")) for c in tries)

        tg.send_text(forum, alice, "/subscriptions", topic=chips)
        listing = await tg.wait_for_message(forum, "Abos dieses Chats")
        assert f"xAI (im Thema {ai}) (pausiert: {reason})" in listing["text"]


# -- the store, on both engines ------------------------------------------------------------

FORUM = ChatRef("telegram", "-100902")
OPTIONS = [("Gut", 2), ("Schlecht", 1)]


def _article(store: Store, title: str, tags: tuple[str, ...]) -> int:
    result = store.add_article(
        NewArticle(title=title, body=f"Text über {title}.", tags=tags, language="de"),
        dedupe_key=f"key:{title}",
        url_key=None,
        question="Wie?",
        options=OPTIONS,
        language="de",
    )
    assert result.article is not None
    return result.article.id


def test_topics_keep_their_subscriptions_and_deliveries_apart(any_store: Store) -> None:
    any_store.subscribe(FORUM, ["xAI"], backlog=0, thread="5")
    any_store.subscribe(FORUM, ["Nvidia"], backlog=0, thread="9")
    # The same tag subscribed again in another topic moves there.
    assert any_store.subscribe(FORUM, ["OpenAI"], backlog=0, thread="5").added == ["OpenAI"]
    moved = any_store.subscribe(FORUM, ["OpenAI"], backlog=0, thread="9")
    assert moved.added == ["OpenAI"]
    assert any_store.subscribe(FORUM, ["OpenAI"], backlog=0, thread="9").already == ["OpenAI"]
    article = _article(any_store, "Beide", ("xAI", "Nvidia", "OpenAI"))
    rows = any_store.deliveries_for_chat(FORUM)
    assert sorted((d.article_id, d.thread) for d in rows) == [(article, "5"), (article, "9")]

    assert any_store.topics.pause(FORUM, "5", "forum topic closed") == 1
    subs = {s.tag: (s.thread, s.active, s.reason) for s in any_store.subscriptions(FORUM)}
    assert subs == {
        "xAI": ("5", False, "forum topic closed"),
        "Nvidia": ("9", True, None),
        "OpenAI": ("9", True, None),
    }
    state = {d.thread: d.status for d in any_store.deliveries_for_chat(FORUM)}
    assert state == {"5": "paused", "9": "pending"}
    # Subscribing in the topic again (it was reopened) switches the subscription back on.
    assert any_store.subscribe(FORUM, ["xAI"], backlog=0, thread="5").added == ["xAI"]


# SQLite only: m017 rebuilt the deliveries table of stores that had rows in it; PostgreSQL
# changes its constraint in place.
def test_m017_keeps_the_deliveries_and_subscriptions_of_a_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m017_forum_topics_and_opml")
    db.execute(
        "INSERT INTO articles (id, dedupe_key, url_key, content_hash, title, body, added,"
        " language, source) VALUES (1, 'k1', NULL, 'h1', 'T', 'B', '2024-01-01 00:00:00.000000',"
        " 'de', 'test')"
    )
    db.execute(
        "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, active, created) VALUES"
        " ('telegram', '-1009', 'xai', 'xAI', 1, '1')"
    )
    db.execute(
        "INSERT INTO deliveries (id, article_id, platform, chat_id, status, attempts, next_try,"
        " message_id, created, claimed_by) VALUES (7, 1, 'telegram', '-1009', 'sent', 1,"
        " '2024-01-01 00:00:00.000000', '55', '2024-01-01 00:00:00.000000', 'w1')"
    )
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    try:
        assert "m017_forum_topics_and_opml" in store.migrate()
        chat = ChatRef("telegram", "-1009")
        [delivery] = store.deliveries_for_chat(chat)
        assert (delivery.id, delivery.status, delivery.message_id, delivery.thread) == (
            7,
            "sent",
            "55",
            "",
        )
        [sub] = store.subscriptions(chat)
        assert (sub.tag, sub.thread, sub.active) == ("xAI", "", True)
        # The chat's topics have deliveries of their own now.
        article = _article(store, "Neu", ("xAI",))
        store.subscribe(chat, ["xAI"], backlog=1, thread="3")
        threads = sorted((d.article_id, d.thread) for d in store.deliveries_for_chat(chat))
        assert threads == [(1, ""), (article, ""), (article, "3")]
    finally:
        store.close()
