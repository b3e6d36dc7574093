"""`/search` and `/ask` on PostgreSQL against SQLite: one generated archive (bench.search_bench's,
50,000 articles by default) in SQLite, copied into PostgreSQL with `newsbot db copy`, and the
same searches and questions through the real handlers on both, wall-clock time per call.

Run: python -m bench.pg_search_bench [--articles 50000] [--repeat 3]

PostgreSQL comes from pgserver in a temporary folder (unix socket only). Wall-clock, not CPU
time: PostgreSQL's work happens in its server process, which the client's CPU time would not
show. Each query runs once untimed on both (their replies are compared: which articles they
name), then its figure is the median of `--repeat` calls, the two engines' calls taking
turns query by query (so that a change in the machine's load falls on both alike); p50 and p99
are taken over the queries. The SQLite archive is built once and kept in the temp folder
(bench.search_bench.archive), and so is its PostgreSQL copy (`newsbot-bench/pg-search-N/`, a
server's data folder; the copy takes 6 minutes at 50,000 articles on the 2-core VM)."""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.postgres_server import bench_postgres
from bench.search_bench import CACHE, archive, command_call, percentile, queries
from bot.app import open_store
from bot.settings import load_settings
from handlers.context import Ctx
from storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("sqlite", "postgresql")
DATABASE = "newsbot_search_bench"
_ARTICLE = re.compile(r"#(\d+)")


def wall_time(call: Callable[[], object], repeat: int) -> float:
    """The median wall-clock time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def copy_into_postgres(source: Path, url: str) -> float:
    """`newsbot db copy SOURCE URL` as a person runs it; its seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {"PYTHONPATH": str(ROOT), "NEWSBOT_CONFIG": str(source.parent / "absent.toml")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "copy", str(source), url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"newsbot db copy failed ({done.returncode}): {done.stderr.strip()}")
    return time.perf_counter() - started


def articles_named(call: Callable[[], object]) -> tuple[str, ...]:
    """The articles a reply names (`#N`), in its order: what the two engines should agree on
    (their snippets and scores may differ)."""
    replies = call()
    assert isinstance(replies, list)
    return tuple(_ARTICLE.findall("\n".join(reply.text.plain() for reply in replies)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ["NEWSBOT_CONFIG"] = "/nonexistent/newsbot.toml"
    config = load_settings(demo=False).core_config()
    source = archive(args.articles)
    # A cached archive of older code is brought up to date first (db copy wants no lag).
    open_store(load_settings(db=source, demo=False)).close()
    searches, questions = queries(random.Random(11))
    kept = CACHE / f"pg-search-{args.articles}"
    copied = kept / "newsbot-copied"  # written once the copy succeeded
    with bench_postgres(kept) as pg:
        if copied.exists():
            url = pg.url(DATABASE)
            open_store(load_settings(db=url, demo=False)).close()  # newer migrations
            print(f"{args.articles:,} articles in PostgreSQL, copied by an earlier run", end="")
        else:
            pg.drop(DATABASE)
            url = pg.database(DATABASE)
            seconds = copy_into_postgres(source, url)
            copied.write_text(f"{source}\n")
            copy = f"copied by `newsbot db copy` in {seconds:.0f} s"
            print(f"{args.articles:,} articles {copy}", end="")
        print(f"; {len(searches)} searches, {len(questions)} questions;")
        print(f"wall-clock ms per call, median of {args.repeat}; p50/p99 over the queries")
        stores = {"sqlite": Store(source), "postgresql": Store(url)}
        try:
            contexts = {engine: Ctx(store=store, config=config) for engine, store in stores.items()}
            for name, texts in (("search", searches), ("ask", questions)):
                times: dict[str, list[float]] = {engine: [] for engine in ENGINES}
                same = 0
                for text in texts:
                    calls = {e: command_call(contexts[e], name, text) for e in ENGINES}
                    same += len({articles_named(call) for call in calls.values()}) == 1
                    for engine in ENGINES:
                        times[engine].append(wall_time(calls[engine], args.repeat))
                p = {
                    e: (percentile(times[e], 0.5) * 1e3, percentile(times[e], 0.99) * 1e3)
                    for e in ENGINES
                }
                (s50, s99), (g50, g99) = p["sqlite"], p["postgresql"]
                print(
                    f"/{name:<7} SQLite {s50:7.1f} / {s99:7.1f} ms | PostgreSQL {g50:7.1f} /"
                    f" {g99:7.1f} ms | PostgreSQL/SQLite p50 {g50 / s50:.2f}x, p99"
                    f" {g99 / s99:.2f}x | same articles named: {same} of {len(texts)}"
                )
        finally:
            for store in stores.values():
                store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
