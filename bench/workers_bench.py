"""Fan-out throughput of several `newsbot run` workers on one PostgreSQL: an article for N
subscribed Telegram chats, sent by 1 worker and by 3 (real processes, webhook mode so that
several may run), beside 1 worker on SQLite, against the fake Bot API on 127.0.0.1.

Run: python -m bench.workers_bench [--chats 5000] [--rounds 2] [--workers 3]
                                   [--synchronous-commit off]

PostgreSQL comes from pgserver in a temporary folder (unix socket only). The workers' pacing
is set to the highest the settings allow (1,000 sends/s per worker overall, 100 per chat): the
fake has no limits, and no worker comes near those. Each round starts the workers, waits until
every one holds its presence lease and has set its webhook, stores one new article (which
queues a post per chat in the same transaction), and times from that commit until the fake has
received the N-th sendMessage; then the workers are stopped (SIGTERM). Rounds of the three
set-ups interleave, so that a change in the machine's load falls on all alike; the figure is
the median of the rounds by the clock. Beside it: the cores each party used (workers, the fake
with the bench, PostgreSQL's processes), and how much of the time a worker held the store's
write lock and how many waited for it (sampled from pg_locks)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.platform_telegram import CallCounter
from bench.postgres_server import BenchPostgres, bench_postgres
from bench.process_cpu import cpu_seconds, tree_cpu_seconds
from bot.app import open_store
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import ChatRef, NewArticle
from storage.store import Store
from tests.chaos.process import Runs, child_env
from tests.fakes.telegram_api import FakeTelegram

TAG = "Skalierung"
FIRST_CHAT = 700_000
SECRET = "bench-webhook-secret"
READY = 90.0  # seconds the workers may take to start on a busy machine
BOUND = 300.0  # seconds one round's posts may take before the bench gives up
# The highest pacing the settings accept: far above what one worker sends here.
FAST = {
    "telegram_rate_overall": "1000",
    "telegram_rate_per_chat": "100",
    "telegram_rate_per_group_minute": "1200",
    "deliver_every": "0.2",
}


@dataclass
class Round:
    """One round's posts per second by the clock, the cores each party used meanwhile (CPU
    seconds per second of the round), and on PostgreSQL the share of the round during which a
    worker held the store's write lock and how many waited for it on average."""

    rate: float
    workers_cores: float
    fake_cores: float
    postgres_cores: float
    lock_held: float
    lock_waiters: float


@dataclass
class Setup:
    """Where the workers' store is and how many of them share it."""

    name: str
    location: str
    workers: int
    rounds: list[Round] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        return self.location.startswith("postgresql")

    def median(self, measure: str) -> float:
        figures: list[float] = [getattr(r, measure) for r in self.rounds]
        return statistics.median(figures)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def subscribe(location: str, chats: int) -> None:
    """The chats subscribed to the tag, in one transaction (the store as a setup tool)."""
    store = open_store(load_settings(db=location, demo=False))
    try:
        with store.engine.write():
            for n in range(chats):
                store.subscribe(ChatRef("telegram", str(FIRST_CHAT + n)), [TAG], backlog=0)
    finally:
        store.close()


def add_article(location: str, number: int) -> None:
    settings = load_settings(db=location, demo=False)
    store = open_store(settings)
    try:
        new = NewArticle(
            title=f"Mehr Rechenzentren, Teil {number}",
            body="Ein kurzer Text über das Thema. Er hat zwei Sätze.",
            tags=(TAG,),
            language="de",
        )
        report = store_article(store, settings.core_config(), new)
        assert report.new, "the article was not new"
    finally:
        store.close()


def workers_present(store: Store, ids: list[str]) -> bool:
    return all(store.leases.holder(f"worker:{worker}") is not None for worker in ids)


class LockWaits:
    """Samples, ten times a second while a round runs, whether a worker holds the store's
    write lock (an advisory lock: storage/db.py) and how many wait for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[int, int]] = []  # (held, waiting)
        self.stopped = asyncio.Event()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, autocommit=True)

    def _count(self, conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int]:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
            " FROM pg_locks WHERE locktype = 'advisory'"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def run(self) -> None:
        conn = await asyncio.to_thread(self._connect)
        try:
            while not self.stopped.is_set():
                self.samples.append(await asyncio.to_thread(self._count, conn))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopped.wait(), 0.1)
        finally:
            conn.close()

    @property
    def held(self) -> float:
        """The share of the round during which some worker held the lock."""
        return statistics.fmean(h for h, _ in self.samples) if self.samples else 0.0

    @property
    def waiting(self) -> float:
        """How many workers waited for it, on average."""
        return statistics.fmean(w for _, w in self.samples) if self.samples else 0.0


async def one_round(
    setup: Setup, tg: FakeTelegram, folder: Path, chats: int, number: int, pg: BenchPostgres
) -> Round:
    """Posts per second of one article to every chat, with the set-up's workers running."""
    runs = Runs(folder)
    ids = [f"{setup.name}-w{n}" for n in range(1, setup.workers + 1)]
    hooks = CallCounter(tg)
    try:
        for worker in ids:
            port = _free_port()
            chosen = FAST | {
                "db": setup.location,
                "worker_id": worker,
                "telegram_webhook_url": f"http://127.0.0.1:{port}/telegram",
                "telegram_webhook_secret": SECRET,
                "telegram_webhook_port": str(port),
            }
            await runs.start(child_env(folder / "absent.db", telegram=tg, settings=chosen))
        await tg.wait_for(lambda: hooks.total("setWebhook") >= len(ids), READY, what="webhooks")
        store = open_store(load_settings(db=setup.location, demo=False))
        try:
            deadline = time.monotonic() + READY
            while not await asyncio.to_thread(workers_present, store, ids):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{setup.name}: workers not present after {READY:g} s")
                await asyncio.sleep(0.1)  # the store has no events to wait on
        finally:
            store.close()
        sends = CallCounter(tg)
        locks = LockWaits(setup.location) if setup.postgres else None
        sampling = asyncio.create_task(locks.run()) if locks else None
        await asyncio.to_thread(add_article, setup.location, number)
        started, fake = time.perf_counter(), time.process_time()
        workers, server = sum(cpu_seconds(b.pid) for b in runs.all), tree_cpu_seconds(pg.pid)
        await tg.wait_for(lambda: sends.total("sendMessage") >= chats, BOUND, what="posts")
        wall = time.perf_counter() - started
        fake = time.process_time() - fake
        workers = sum(cpu_seconds(b.pid) for b in runs.all) - workers
        server = tree_cpu_seconds(pg.pid) - server
        if locks and sampling:
            locks.stopped.set()
            await sampling
        for bot in runs.all:
            await bot.terminate(30)
        if runs.tracebacks():
            raise RuntimeError(f"{setup.name}: a worker logged a traceback, see {folder}")
        held, waiting = (locks.held, locks.waiting) if locks else (0.0, 0.0)
        return Round(chats / wall, workers / wall, fake / wall, server / wall, held, waiting)
    finally:
        await runs.kill_all()


async def bench(chats: int, rounds: int, workers: int, sync_commit: str) -> list[Setup]:
    with tempfile.TemporaryDirectory(prefix="nbwork") as tmp, bench_postgres() as pg:
        folder = Path(tmp)
        url = pg.database("newsbot_workers_bench")
        if sync_commit != "on":
            pg.handle.psql(
                f"ALTER DATABASE newsbot_workers_bench SET synchronous_commit = {sync_commit};"
            )
        setups = [
            Setup("sqlite-1", str(folder / "newsbot.db"), 1),
            Setup("postgresql-1", url, 1),
            Setup(f"postgresql-{workers}", url, workers),
        ]
        for location in (setups[0].location, url):
            await asyncio.to_thread(subscribe, location, chats)
        async with FakeTelegram(token="4242:bench-workers-token") as tg:
            for n in range(chats):
                tg.user(FIRST_CHAT + n, f"Leser {n}")
            number = 0
            for _ in range(rounds):
                for setup in setups:
                    number += 1
                    done = await one_round(setup, tg, folder, chats, number, pg)
                    setup.rounds.append(done)
                    print(f"  {setup.name:<14} {describe(done, setup.postgres)}", flush=True)
    return setups


def describe(r: Round, postgres: bool) -> str:
    line = f"{r.rate:6,.0f} posts/s; cores used: workers {r.workers_cores:.2f}, fake and bench"
    line += f" {r.fake_cores:.2f}"
    if postgres:
        line += f", PostgreSQL {r.postgres_cores:.2f}; write lock held {r.lock_held:.0%} of"
        line += f" the time, {r.lock_waiters:.2f} workers waiting"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="PostgreSQL's setting for the workers' database (off: a commit does not wait for"
        " its WAL on disk; a crash may lose the last moments, never consistency)",
    )
    args = parser.parse_args(argv)
    print(f"an article to {args.chats:,} Telegram chats, {args.rounds} rounds per set-up")
    print(f"PostgreSQL synchronous_commit = {args.synchronous_commit}")
    sqlite, one, many = asyncio.run(
        bench(args.chats, args.rounds, args.workers, args.synchronous_commit)
    )
    print("medians:")
    for setup in (sqlite, one, many):
        runs = ", ".join(f"{r.rate:,.0f}" for r in setup.rounds)
        median = Round(*(setup.median(m) for m in Round.__dataclass_fields__))
        print(f"  {setup.name:<14} {describe(median, setup.postgres)} (runs {runs})")
    rate = {s.name: s.median("rate") for s in (sqlite, one, many)}
    print(f"PostgreSQL {args.workers} workers / 1 worker: {rate[many.name] / rate[one.name]:.2f}x")
    print(f"PostgreSQL 1 worker / SQLite 1 worker: {rate[one.name] / rate[sqlite.name]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
