"""Benchmark of the commands that list or count, button presses and the refresh job, on
generated archives of 1k, 10k and 100k articles with 1M votes and 100k subscriptions, through
the real handlers, each beside a raw SQL baseline measured in the same run.

Run: python -m bench.store_bench [--sizes 1000,10000,100000] [--votes N] [--calls N]"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.archive import build_archive
from bot.settings import load_settings
from handlers import dispatch
from handlers.codec import encode, read
from handlers.context import CoreConfig, Ctx
from handlers.events import Button, Command, Press
from storage.models import ChatRef, MessageRef, UserRef
from storage.store import Store

ADMIN = UserRef("console", "bench-admin", "Bench")
ROUNDS = 3


def core_config() -> CoreConfig:
    os.environ["NEWSBOT_CONFIG"] = ""
    os.environ["NEWSBOT_ADMINS"] = "console:bench-admin"
    return load_settings(demo=False).core_config()


@dataclass(frozen=True, slots=True)
class Figure:
    p50: float  # seconds of CPU time per call
    p99: float


def percentiles(times: Sequence[float]) -> Figure:
    ordered = sorted(times)
    return Figure(
        ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    )


def measured(call: Callable[[int], object], calls: int) -> Figure:
    """p50 and p99 of the CPU time per call, each the median of ROUNDS rounds."""
    rounds = []
    for _ in range(ROUNDS):
        times = []
        for number in range(calls):
            started = time.process_time()
            call(number)
            times.append(time.process_time() - started)
        rounds.append(percentiles(times))
    return Figure(
        statistics.median(r.p50 for r in rounds), statistics.median(r.p99 for r in rounds)
    )


class Driver:
    """Runs commands and presses through dispatch, the way an adapter does."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.loop = asyncio.new_event_loop()

    def command(self, chat: ChatRef, user: UserRef, text: str) -> str:
        name, *args = text.lstrip("/").split()
        cmd = Command(chat=chat, user=user, name=name, args=tuple(args), is_private=True)
        replies = self.loop.run_until_complete(dispatch.handle_command(self.ctx, cmd))
        out = "\n".join(r.text.plain() for r in replies)
        if "schiefgegangen" in out or "went wrong" in out:
            raise RuntimeError(f"{text} failed: {out[:200]}")
        return out

    def press(self, message: MessageRef, user: UserRef, data: str) -> str:
        action, params = read(data)
        press = Press(chat=message.chat, user=user, message=message, action=action, params=params)
        replies = self.loop.run_until_complete(dispatch.handle_press(self.ctx, press))
        return replies[0].notice or ""


def baselines(path: Path) -> sqlite3.Connection:
    """A second connection with what each command would read if its answer were kept ready:
    temporary tables of maintained counts and ratings with their indexes."""
    raw = sqlite3.connect(path, isolation_level=None)
    for sql in (
        "CREATE TEMP TABLE tag_counts AS SELECT t.id, t.name, count(*) AS n FROM tags t"
        " JOIN article_tags at ON at.tag_id = t.id GROUP BY t.id",
        "CREATE INDEX temp.tag_counts_n ON tag_counts(n DESC)",
        "CREATE TEMP TABLE ratings AS SELECT o.article_id, (5.0 * 3 + sum(o.score * o.votes))"
        " / (5.0 + sum(o.votes)) AS rating FROM poll_options o GROUP BY o.article_id",
        "CREATE INDEX temp.ratings_r ON ratings(rating DESC)",
        "CREATE TEMP TABLE tag_ratings AS SELECT at.tag_id, r.article_id, r.rating"
        " FROM ratings r JOIN article_tags at ON at.article_id = r.article_id",
        "CREATE INDEX temp.tag_ratings_r ON tag_ratings(tag_id, rating DESC)",
        "CREATE TEMP TABLE counts AS SELECT (SELECT count(*) FROM articles) AS articles,"
        " (SELECT count(*) FROM votes) AS votes, (SELECT count(*) FROM subscriptions) AS subs",
    ):
        raw.execute(sql)
    return raw


def command_rows(
    store: Store, driver: Driver, raw: sqlite3.Connection, calls: int
) -> list[tuple[str, Figure, Figure]]:
    tags = [r[0] for r in raw.execute("SELECT name FROM tag_counts ORDER BY n DESC")]
    tag_ids = {r[1]: r[0] for r in raw.execute("SELECT id, name FROM tag_counts")}
    # A popular, a middling and a rare tag, in turn.
    some = [tags[0], tags[len(tags) // 10], tags[len(tags) // 2]]
    chat_row = raw.execute(
        "SELECT platform, chat_id FROM subscriptions GROUP BY platform, chat_id"
        " ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    chat = ChatRef(chat_row[0], chat_row[1])
    private = ChatRef("console", "bench-admin")

    def run(text: str | Callable[[int], str], where: ChatRef = private) -> Callable[[int], object]:
        return lambda n: driver.command(where, ADMIN, text(n) if callable(text) else text)

    def sql(
        query: str, params: Callable[[int], tuple[object, ...]] = lambda n: ()
    ) -> Callable[[int], object]:
        return lambda n: raw.execute(query, params(n)).fetchall()

    cases: list[tuple[str, Callable[[int], object], Callable[[int], object]]] = [
        ("/tags", run("/tags"), sql("SELECT name, n FROM tag_counts ORDER BY n DESC LIMIT 50")),
        ("/top", run("/top"), sql("SELECT article_id FROM ratings ORDER BY rating DESC LIMIT 5")),
        (
            "/top TAG",
            run(lambda n: f"/top {some[n % 3]}"),
            sql(
                "SELECT article_id FROM tag_ratings WHERE tag_id = ? ORDER BY rating DESC LIMIT 5",
                lambda n: (tag_ids[some[n % 3]],),
            ),
        ),
        (
            "/latest",
            run("/latest"),
            sql("SELECT id, title FROM articles WHERE removed = 0 ORDER BY id DESC LIMIT 5"),
        ),
        (
            "/latest TAG",
            run(lambda n: f"/latest {some[n % 3]}"),
            sql(
                "SELECT article_id FROM article_tags WHERE tag_id = ?"
                " ORDER BY article_id DESC LIMIT 5",
                lambda n: (tag_ids[some[n % 3]],),
            ),
        ),
        ("/stats", run("/stats"), sql("SELECT * FROM counts")),
        (
            "/subscriptions",
            run("/subscriptions", chat),
            sql(
                "SELECT tag FROM subscriptions WHERE platform = ? AND chat_id = ?",
                lambda n: (chat.platform, chat.chat_id),
            ),
        ),
        ("/audit", run("/audit 20"), sql("SELECT * FROM audit_log ORDER BY id DESC LIMIT 20")),
        ("/feeds list", run("/feeds list"), sql("SELECT * FROM feeds ORDER BY id")),
    ]
    out = []
    for label, ours, base in cases:
        ours(0)  # warm the caches once
        out.append((label, measured(ours, calls), measured(base, calls)))
    return out


def press_rate(
    store: Store, driver: Driver, presses: int, folder: Path
) -> tuple[float, float, float]:
    """Presses per second of CPU time through the handlers, raw one-transaction upserts per
    second, and SQL statements per press."""
    posts = store.engine.rows(
        "SELECT article_id, platform, chat_id, message_id FROM posts"
        " WHERE article_id IN (SELECT id FROM articles WHERE removed = 0)"
        " ORDER BY random() LIMIT 500"
    )
    rng = random.Random(3)
    work = []
    for number in range(presses):
        post = posts[number % len(posts)]
        chat = ChatRef(post["platform"], post["chat_id"])
        user = UserRef(chat.platform, f"presser{rng.randrange(5000)}", "Presser")
        data = encode(Button("x", "vote", (str(post["article_id"]), str(rng.randint(1, 5)))))
        work.append((MessageRef(chat, post["message_id"]), user, data))
    statements: list[str] = []
    store.engine.conn.set_trace_callback(statements.append)
    driver.press(*work[0])
    statements.clear()  # the first press of a person also writes their row: count the next
    driver.press(*work[0])
    store.engine.conn.set_trace_callback(None)
    presses_in = [
        Press(chat=m.chat, user=u, message=m, action=read(d)[0], params=read(d)[1])
        for m, u, d in work
    ]

    async def press_all() -> None:
        # One after another on one loop, as an adapter's handler awaits them.
        for press in presses_in:
            await dispatch.handle_press(driver.ctx, press)

    started = time.process_time()
    driver.loop.run_until_complete(press_all())
    ours = presses / (time.process_time() - started)

    raw = sqlite3.connect(folder / f"raw-votes-{time.monotonic_ns()}.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute(
        "CREATE TABLE votes (article_id INTEGER, platform TEXT, user_id TEXT,"
        " position INTEGER, voted_at TEXT, PRIMARY KEY (article_id, platform, user_id))"
    )
    started = time.process_time()
    for _message, user, data in work:
        _action, params = read(data)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(
            "INSERT INTO votes VALUES (?,?,?,?,'2026-01-01') ON CONFLICT DO UPDATE"
            " SET position = excluded.position",
            (params[0], user.platform, user.user_id, params[1]),
        )
        raw.execute("COMMIT")
    base = presses / (time.process_time() - started)
    raw.close()
    return ours, base, float(len(counted(statements)))


def counted(statements: list[str]) -> list[str]:
    """The statements the code sent. The trace reports a statement again for each trigger it
    fires, with the same text: repeats in a row are one statement. Transaction control is
    not counted."""
    skip = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "--")
    sent = [s for i, s in enumerate(statements) if i == 0 or s != statements[i - 1]]
    return [s for s in sent if not s.lstrip().upper().startswith(skip)]


def refresh_cost(store: Store, calls: int) -> Figure:
    """CPU time of one stale_posts call when the refresh job has caught up and then ten polls
    changed (ten stale posts among all)."""
    for post in store.stale_posts(["telegram", "discord"], limit=1_000_000):
        poll = store.get_poll(post.article_id)
        store.post_rendered(post.id, poll.version if poll else 0)
    ids = [
        r[0]
        for r in store.engine.execute(
            "SELECT article_id FROM posts ORDER BY article_id DESC LIMIT 10"
        )
    ]
    for number, article_id in enumerate(ids):
        store.cast_vote(article_id, UserRef("telegram", f"refresher{number}", "R"), 1)
    assert len(store.stale_posts(["telegram", "discord"])) == len(ids)
    return measured(lambda n: store.stale_posts(["telegram", "discord"]), calls)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--presses", type=int, default=2000)
    args = parser.parse_args(argv)
    config = core_config()
    sizes = [int(s) for s in args.sizes.split(",")]
    refresh: dict[int, Figure] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in sizes:
            started = time.perf_counter()
            path = build_archive(
                folder / f"archive-{size}.db",
                articles=size,
                votes=args.votes,
                subscriptions=args.subscriptions,
            )
            print(
                f"\n== {size:,} articles, {args.votes:,} votes, {args.subscriptions:,}"
                f" subscriptions (archive ready in {time.perf_counter() - started:.1f} s)"
            )
            store = Store(path)
            store.migrate()
            driver = Driver(Ctx(store=store, config=config))
            raw = baselines(path)
            # The objects of start-up never die: a full collection walking them all lands on
            # whichever call happens to trigger it (tens of ms here). Frozen, as a long-running
            # process should freeze them once started, collections only see new objects.
            gc.collect()
            gc.freeze()
            print(
                f"{'command':<15} {'p50 ms':>8} {'p99 ms':>8} | {'raw p50':>8} {'raw p99':>8}"
                f" | {'p99 ratio':>9} | goal p99 < 5 ms"
            )
            for label, ours, base in command_rows(store, driver, raw, args.calls):
                ratio = ours.p99 / base.p99 if base.p99 else float("inf")
                verdict = "met" if ours.p99 < 0.005 else "NOT met"
                print(
                    f"{label:<15} {ms(ours.p50)}  {ms(ours.p99)}  | {ms(base.p50)}  {ms(base.p99)}"
                    f"  | {ratio:8.1f}x | {verdict}"
                )
            raw.close()
            refresh[size] = refresh_cost(store, args.calls)
            print(
                f"refresh: stale_posts p50 {ms(refresh[size].p50)} ms,"
                f" p99 {ms(refresh[size].p99)} ms with {size:,} posts"
            )
            ours_rate, base_rate, statements = press_rate(store, driver, args.presses, folder)
            share = ours_rate / base_rate
            print(
                f"presses: {ours_rate:,.0f}/s through the handlers, raw one-transaction upserts"
                f" {base_rate:,.0f}/s: {share:.0%} (goal >= 25%), {statements:.0f} SQL"
                " statements per press (goal <= 6)"
            )
            store.close()
    if len(refresh) > 1:
        low, high = refresh[min(refresh)], refresh[max(refresh)]
        print(
            f"\nrefresh at {max(refresh):,} posts / at {min(refresh):,}: p50"
            f" {high.p50 / low.p50:.2f}x (goal: the same)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
