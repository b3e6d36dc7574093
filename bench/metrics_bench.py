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


async def http_scrapes(app: App, calls: int) -> tuple[float, float]:
    """Median wall and CPU time of a whole GET /metrics on 127.0.0.1, the bot's loop serving
    it, asked over one kept-alive connection by a bare client (httpx would add its own
    parsing of the 34 KB answer to the CPU time of this one process)."""
    endpoint = HttpEndpoint(app.runtime, app.scheduler, app.settings)
    await endpoint.start()
    assert endpoint.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    walls, cpus = [], []
    try:
        for _ in range(calls):
            wall, cpu = time.perf_counter(), time.process_time()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head[:40]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    finally:
        writer.close()
        await endpoint.stop()
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def measure(path: Path, calls: int) -> None:
    os.environ["NEWSBOT_CONFIG"] = ""
    config = core_config()
    settings = load_settings(db=path, demo=False, http_listen="127.0.0.1:0")
    store = Store(path)
    app = App(settings, store)
    busy_metrics(app)
    figures = store.oversight.figures()
    body = app.runtime.metrics.exposition(figures, {"telegram": True, "discord": True})
    print(f"articles {figures.articles:,}, votes {figures.votes:,}; scrape {len(body):,} bytes")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    ctx = Ctx(store=store, config=config)
    driver = Driver(ctx)
    private = ChatRef("console", "bench-admin")
    cpu = time.process_time
    read = median_ms(store.oversight.figures, calls, cpu)
    render = median_ms(
        lambda: app.runtime.metrics.exposition(figures, {"telegram": True}), calls, cpu
    )
    stats = median_ms(lambda: driver.command(private, ADMIN, "/stats"), calls, cpu)
    whole, whole_cpu = asyncio.run(http_scrapes(app, calls))
    scrape = read + render
    print(f"{'':<34}{'median ms':>10}{'x /stats':>10}")
    for label, value in (
        ("store read (figures), CPU", read),
        ("text rendering, CPU", render),
        ("scrape work (read + render), CPU", scrape),
        ("GET /metrics over HTTP, wall", whole),
        ("GET /metrics over HTTP, CPU", whole_cpu),
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
        measure(path, args.calls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
