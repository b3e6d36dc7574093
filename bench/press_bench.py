"""Vote presses per second on PostgreSQL against SQLite: the same store built on each engine
through the store's own methods, the same presses through the real handlers, and the SQL
statements one press sends.

Run: python -m bench.press_bench [--articles 2000] [--presses 2000] [--postgres-url URL]
Without a URL, pgserver starts a PostgreSQL 16 in a temporary folder (unix socket only).
Wall-clock rates: PostgreSQL's work happens in its server processes, which the client's CPU
time would not show."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bot.settings import load_settings
from handlers import dispatch
from handlers.codec import encode, read
from handlers.context import CoreConfig, Ctx
from handlers.events import Button, Press
from storage.db import Connection, Params
from storage.models import ChatRef, MessageRef, NewArticle, UserRef
from storage.store import Store

OPTIONS = [("Sehr gut", 5), ("Gut", 4), ("Mittel", 3), ("Schwach", 2), ("Schlecht", 1)]
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class CountingConnection:
    """The store's connection, with the statements sent through it written down."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sent: list[str] = []

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def execute(self, sql: str, params: Params = ()) -> Any:
        self.sent.append(sql)
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        self.sent.append(sql)
        return self.conn.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


def core_config() -> CoreConfig:
    os.environ["NEWSBOT_CONFIG"] = ""
    return load_settings(demo=False).core_config()


def fill(store: Store, articles: int) -> list[MessageRef]:
    """Articles with their polls, each posted in two chats; returns the posts."""
    store.migrate()
    posts = []
    for number in range(articles):
        result = store.add_article(
            NewArticle(
                title=f"Artikel {number}",
                body=f"Text Nummer {number}.",
                tags=(f"Tag{number % 50}", "KI"),
                language="de",
            ),
            dedupe_key=f"bench:{number}",
            url_key=None,
            question="Wie bewerten Sie den Schreibstil des Artikels?",
            options=OPTIONS,
            language="de",
            deliver=False,
        )
        assert result.article is not None
        for chat_id in ("-1001", "-1002"):
            message = MessageRef(ChatRef("telegram", chat_id), f"m{number}")
            store.record_post(result.article.id, message, 0)
            posts.append(message)
    return posts


def presses_for(store: Store, posts: list[MessageRef], count: int) -> list[Press]:
    rng = random.Random(3)
    out = []
    for _ in range(count):
        message = rng.choice(posts)
        post = store.post_at(message)
        assert post is not None
        user = UserRef("telegram", f"presser{rng.randrange(5000)}", "Presser")
        data = encode(Button("x", "vote", (str(post.article_id), str(rng.randint(1, 5)))))
        action, params = read(data)
        out.append(
            Press(chat=message.chat, user=user, message=message, action=action, params=params)
        )
    return out


def measure(store: Store, config: CoreConfig, articles: int, presses: int) -> tuple[float, int]:
    """Presses per second (wall clock) and the statements of one press (transaction control
    not counted; PostgreSQL's write lock is)."""
    posts = fill(store, articles)
    work = presses_for(store, posts, presses)
    ctx = Ctx(store=store, config=config)
    loop = asyncio.new_event_loop()
    try:
        counting = CountingConnection(store.engine.conn)
        store.engine.conn = counting
        loop.run_until_complete(dispatch.handle_press(ctx, work[0]))
        counting.sent.clear()  # a person's first press also writes their row: count the next
        loop.run_until_complete(dispatch.handle_press(ctx, work[0]))
        statements = [s for s in counting.sent if not s.lstrip().upper().startswith(CONTROL)]
        store.engine.conn = counting.conn

        async def press_all() -> None:
            for press in work:
                await dispatch.handle_press(ctx, press)

        started = time.perf_counter()
        loop.run_until_complete(press_all())
        rate = presses / (time.perf_counter() - started)
    finally:
        loop.close()
        ctx.db.close()
    return rate, len(statements)


def postgres_url(folder: Path) -> tuple[str, Any]:
    import pgserver

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
    server.psql("CREATE DATABASE newsbot_press_bench")
    uri: str = server.get_uri("newsbot_press_bench")
    return uri, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--presses", type=int, default=2000)
    parser.add_argument("--postgres-url", default="", help="an empty database to fill")
    args = parser.parse_args(argv)
    config = core_config()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = None
        url = args.postgres_url
        if not url:
            url, server = postgres_url(folder)
        results = {}
        try:
            for engine, location in (("sqlite", str(folder / "press.db")), ("postgresql", url)):
                store = Store(location)
                try:
                    results[engine] = measure(store, config, args.articles, args.presses)
                finally:
                    store.close()
        finally:
            if server is not None:
                server.cleanup()
    print(f"{args.presses:,} presses on {args.articles:,} articles (2 posts each)")
    for engine, (rate, statements) in results.items():
        print(f"{engine:<11} {rate:8,.0f} presses/s  {statements} statements per press")
    ratio = results["postgresql"][0] / results["sqlite"][0]
    print(f"PostgreSQL / SQLite: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
