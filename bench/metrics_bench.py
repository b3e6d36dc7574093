"""Benchmark of a /metrics scrape on a generated archive (100k articles, 1M votes, 100k
subscriptions by default), beside /stats through the real handlers as the baseline, in the
same run: the store's read (in the database thread's place), the text rendering, and a whole
HTTP GET against the real endpoint on 127.0.0.1.

Run: python -m bench.metrics_bench [--articles 100000] [--calls 200]"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.archive import build_archive
from bench.store_bench import ADMIN, Driver, core_config
from bot.app import App
from bot.http_endpoint import HttpEndpoint
from bot.settings import load_settings
from handlers.context import Ctx
from handlers.registry import COMMANDS
from storage.models import ChatRef
from storage.store import Store


def median_ms(call: Callable[[], object], calls: int, clock: Callable[[], float]) -> float:
    times = []
    for _ in range(calls):
        started = clock()
        call()
        times.append(clock() - started)
    return statistics.median(times) * 1000


def busy_metrics(app: App) -> None:
    """Counters as a process that has run a while has them: every command, both platforms."""
    metrics = app.runtime.metrics
    for name in COMMANDS:
        with metrics.handling(name):
            pass
    for platform in ("telegram", "discord"):
        metrics.delivery_sent(platform)
        metrics.delivery_failed(platform, 1.0)
    for outcome in ("new", "unchanged", "failed", "refused"):
        metrics.feed_fetched(outcome)


async def http_scrapes(app: App, calls: int) -> float:
    """Median wall time of a whole GET /metrics on 127.0.0.1, the bot's loop serving it."""
    endpoint = HttpEndpoint(app.runtime, app.scheduler, app.settings)
    await endpoint.start()
    try:
        async with httpx.AsyncClient(base_url=endpoint.base_url, trust_env=False) as client:
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                response = await client.get("/metrics")
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            return statistics.median(times) * 1000
    finally:
        await endpoint.stop()


async def measure(path: Path, calls: int) -> None:
    os.environ["NEWSBOT_CONFIG"] = ""
    config = core_config()
    settings = load_settings(db=path, demo=False, http_listen="127.0.0.1:0")
    store = Store(path)
    app = App(settings, store)
    busy_metrics(app)
    figures = store.oversight.figures()
    body = app.runtime.metrics.exposition(figures, {"telegram": True, "discord": True})
    print(f"articles {figures.articles:,}, votes {figures.votes:,}; scrape {len(body):,} bytes")

    ctx = Ctx(store=store, config=config)
    driver = Driver(ctx)
    private = ChatRef("console", "bench-admin")
    cpu = time.process_time
    read = median_ms(store.oversight.figures, calls, cpu)
    render = median_ms(
        lambda: app.runtime.metrics.exposition(figures, {"telegram": True}), calls, cpu
    )
    stats = median_ms(lambda: driver.command(private, ADMIN, "/stats"), calls, cpu)
    whole = await http_scrapes(app, calls)
    scrape = read + render
    print(f"{'':<34}{'median ms':>10}{'x /stats':>10}")
    for label, value in (
        ("store read (figures), CPU", read),
        ("text rendering, CPU", render),
        ("scrape work (read + render), CPU", scrape),
        ("GET /metrics over HTTP, wall", whole),
        ("/stats through the handlers, CPU", stats),
    ):
        print(f"{label:<34}{value:>10.2f}{value / stats:>10.2f}")
    ctx.db.close()
    app.db.close()
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = build_archive(
            Path(folder) / "bench.db",
            articles=args.articles,
            votes=args.votes,
            subscriptions=args.subscriptions,
        )
        asyncio.run(measure(path, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
