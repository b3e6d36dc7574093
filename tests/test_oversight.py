"""The figures /healthz, /metrics and the dashboard read, on both engines: the outbox's backlog
per platform with the longest wait, the oldest due feed, the maintained counts, paused chats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.models import ChatRef, NewArticle, UserRef
from storage.store import Store

TG = ChatRef("telegram", "42")
DC = ChatRef("discord", "7")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPTIONS = [("Sehr gut", 5), ("Gut", 4), ("Mittel", 3), ("Schwach", 2), ("Schlecht", 1)]


def add(store: Store, title: str) -> int:
    result = store.add_article(
        NewArticle(title=title, body=f"Text über {title}.", tags=("xAI",), language="de"),
        dedupe_key=f"key:{title}",
        url_key=None,
        question="Wie?",
        options=OPTIONS,
        language="de",
    )
    assert result.article is not None
    return result.article.id


def test_figures_and_paused_chats(any_store: Store) -> None:
    now = [START]
    any_store.clock = lambda: now[0]
    empty = any_store.oversight.figures()
    assert (empty.backlog, empty.oldest_due_feed, empty.votes, empty.articles) == ((), None, 0, 0)

    any_store.subscribe(TG, ["xAI"], backlog=0)
    any_store.subscribe(DC, ["xAI"], backlog=0)
    first = add(any_store, "Eins")
    add(any_store, "Zwei")
    any_store.cast_vote(first, UserRef("telegram", "1", "a"), 1)
    any_store.cast_vote(first, UserRef("discord", "2", "b"), 2)
    feed = any_store.add_feed("https://example.org/rss", "url", interval_seconds=300).feed
    any_store.feed_failed(feed.id, "timeout: slow", next_in=60, park_after=10)

    now[0] = START + timedelta(minutes=10)
    figures = any_store.oversight.figures()
    assert figures.now == now[0]
    assert [(b.platform, b.pending) for b in figures.backlog] == [("discord", 2), ("telegram", 2)]
    for row in figures.backlog:
        assert row.oldest_due is not None and row.oldest_due <= START
    assert figures.oldest_due_feed == START + timedelta(seconds=60)
    assert (figures.articles, figures.votes, figures.feeds) == (2, 2, 1)
    assert figures.deliveries_given_up == 0

    any_store.pause_chat(DC, "discord: the bot was removed from the server")
    paused = any_store.oversight.paused_chats()
    assert [(p.chat, p.reason) for p in paused] == [
        (DC, "discord: the bot was removed from the server")
    ]
    after = any_store.oversight.figures()
    assert [(b.platform, b.pending) for b in after.backlog] == [("telegram", 2)]
    assert after.deliveries_given_up == 2
