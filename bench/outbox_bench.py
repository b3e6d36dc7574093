"""Benchmarks of the core paths: fan-out of a new article into the outbox, vote casting, and
the coalescing of count refreshes. Each figure is printed beside a baseline measured in the
same run, as a ratio. Run: python -m bench.outbox_bench [--subscribers N] [--votes N]."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from bot.delivery import Deliverer
from bot.ingest import store_article
from bot.runtime import Runtime
from bot.settings import load_settings
from handlers.events import Outgoing, Reply
from storage.models import ChatRef, MessageRef, NewArticle, UserRef
from storage.store import Store


def fresh_store(folder: Path, name: str) -> Store:
    store = Store(folder / f"{name}.db")
    store.migrate()
    return store


def bench_fanout(folder: Path, subscribers: int) -> tuple[float, float]:
    """One new article for `subscribers` subscribed chats: our single-transaction INSERT ...
    SELECT against the obvious loop of one committed INSERT per chat."""
    config = load_settings(demo=False).core_config()
    store = fresh_store(folder, "fanout")
    with store.db.conn:
        store.db.conn.executemany(
            "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, created)"
            " VALUES ('telegram', ?, 'xai', 'xAI', '2026-01-01 00:00:00.000000')",
            [(str(i),) for i in range(subscribers)],
        )
    start = time.perf_counter()
    report = store_article(store, config, NewArticle(title="Fan-out", body="Text.", tags=("xAI",)))
    ours = time.perf_counter() - start
    assert report.deliveries == subscribers
    store.close()

    conn = sqlite3.connect(folder / "naive.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE deliveries (article_id INTEGER, chat_id TEXT, status TEXT)")
    start = time.perf_counter()
    for i in range(subscribers):
        conn.execute("INSERT INTO deliveries VALUES (1, ?, 'pending')", (str(i),))
    naive = time.perf_counter() - start
    conn.close()
    return ours, naive


def bench_votes(folder: Path, votes: int) -> tuple[float, float]:
    """Casting votes (checked upsert with a version bump, each its own IMMEDIATE transaction)
    against bare autocommitted INSERT OR REPLACE statements on the same schema."""
    config = load_settings(demo=False).core_config()
    store = fresh_store(folder, "votes")
    article_id = store_article(store, config, NewArticle(title="V", body="V.", tags=())).new[0].id
    start = time.perf_counter()
    for i in range(votes):
        store.cast_vote(article_id, UserRef("telegram", str(i)), 1 + i % 5)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(votes):
        store.db.conn.execute(
            "INSERT OR REPLACE INTO votes (article_id, platform, user_id, position, voted_at)"
            " VALUES (?, 'discord', ?, ?, '2026-01-01 00:00:00.000000')",
            (article_id, str(i), 1 + i % 5),
        )
    bare = time.perf_counter() - start
    store.close()
    return ours, bare


class CountingAdapter:
    """Counts edits instead of sending them anywhere."""

    platform = "telegram"

    def __init__(self) -> None:
        self.edits = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, out: Outgoing) -> MessageRef:
        return MessageRef(out.chat, "1")

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        self.edits += 1

    async def delete(self, message: MessageRef) -> None:
        return None

    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return False

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return False

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: object) -> bool:
        return False


def bench_coalescing(folder: Path, posts: int, votes: int) -> tuple[int, int]:
    """Edits made for `votes` votes on an article posted in `posts` chats, with the refresh job
    running once per second's worth of votes (10 runs), against one edit per vote and post."""
    config = load_settings(demo=False).core_config()
    store = fresh_store(folder, "coalesce")
    article_id = store_article(store, config, NewArticle(title="C", body="C.", tags=())).new[0].id
    for i in range(posts):
        store.record_post(article_id, MessageRef(ChatRef("telegram", str(i)), "1"), 0)
    runtime = Runtime(store, config)
    adapter = CountingAdapter()
    runtime.add_adapter(adapter)  # type: ignore[arg-type]
    deliverer = Deliverer(runtime)
    runs = 10
    for run in range(runs):
        for i in range(votes // runs):
            store.cast_vote(article_id, UserRef("telegram", f"{run}-{i}"), 1 + i % 5)
        asyncio.run(deliverer.refresh_stale())
    store.close()
    return adapter.edits, posts * votes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--votes", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, naive = bench_fanout(folder, args.subscribers)
        print(
            f"fan-out of one article to {args.subscribers} chats: {ours * 1000:.1f} ms,"
            f" naive per-row commits {naive * 1000:.1f} ms, ratio {naive / ours:.1f}x faster"
        )
        ours, bare = bench_votes(folder, args.votes)
        print(
            f"{args.votes} votes: {args.votes / ours:,.0f} votes/s checked and versioned,"
            f" bare INSERT OR REPLACE {args.votes / bare:,.0f}/s, ratio {ours / bare:.2f}x the time"
        )
        edits, naive_edits = bench_coalescing(folder, posts=50, votes=1_000)
        print(
            f"1000 votes on an article posted in 50 chats: {edits} edits with coalescing,"
            f" {naive_edits} one-per-vote, ratio {naive_edits / edits:.0f}x fewer"
        )


if __name__ == "__main__":
    main()
