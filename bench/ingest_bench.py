"""Benchmark of ingest: a generated RSS feed of 10,000 entries through the real parse and store,
new and then again, beside raw feedparser parsing the same bytes, measured in the same run
(CPU time of the whole process, median of 3):
- `newsbot ingest FILE` (ingest_path) into a fresh store, the same file again (all
  duplicates), and the file with one new entry in front (a changed body: parsed again);
- the SourcePoller fetching the feed from a loopback server that ignores conditional GET
  (no ETag, no Last-Modified): the first fetch, the same bytes again, a changed body.

Run: python -m bench.ingest_bench [--entries N]"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser

from bench.archive import Writer
from bench.store_bench import core_config
from bot.article_input import MAX_FEED_ENTRIES
from bot.ingest import IngestReport, ingest_path
from bot.settings import load_settings
from bot.sources import FeedOutcome, SourcePoller
from handlers.context import CoreConfig
from storage.store import Store

ROUNDS = 3
NEW_ENTRY = (
    b"<item><title>Eine neue Meldung</title><link>https://news.example/new</link>"
    b'<guid isPermaLink="false">bench-feed-new</guid>'
    b"<description>Neu im Feed.</description></item>"
)


def generated_feed(entries: int, seed: int = 5) -> bytes:
    """An RSS 2.0 feed in German and English: HTML descriptions, categories, dates, GUIDs;
    a sentence of description each, so that 10,000 entries fit the 5 MB a feed may have."""
    rng = random.Random(seed)
    writers = {language: Writer(language, rng) for language in ("de", "en")}
    tags = [writers["de"].content.one(rng).capitalize() for _ in range(300)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for number in range(entries):
        writer = writers["en" if number % 3 == 0 else "de"]
        paragraphs = f"<p>{escape(writer.sentence())}</p>"
        categories = "".join(
            f"<category>{escape(t)}</category>" for t in rng.sample(tags, rng.randint(1, 4))
        )
        items.append(
            f"<item><title>{escape(writer.title())}</title>"
            f"<link>https://news.example/{number}</link>"
            f'<guid isPermaLink="false">bench-feed-{number}</guid>'
            f"<pubDate>{format_datetime(start + timedelta(minutes=number))}</pubDate>"
            f"<description>{escape(paragraphs)}</description>{categories}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Bench</title><link>https://news.example/</link><description>Bench</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def with_new_entry(feed: bytes) -> bytes:
    """The same feed with one more entry in front, where feeds put their newest."""
    marker = b"<description>Bench</description>"
    return feed.replace(marker, marker + NEW_ENTRY, 1)


def cpu(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


@contextmanager
def serving(bodies: list[bytes]) -> Iterator[str]:
    """A feed on 127.0.0.1 that answers every GET with 200 and the last of `bodies`, without
    ETag or Last-Modified, as servers that ignore conditional GET do; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[-1]
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the benchmark prints figures, not requests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def poll_rounds(
    store: Store, config: CoreConfig, url: str, bodies: list[bytes], changed: bytes, stored: int
) -> tuple[float, float, float]:
    """CPU time of the first fetch, the same bytes again and a changed body."""
    settings = load_settings(demo=False, allow_private_feeds=True, feed_timeout=120)
    poller = SourcePoller.from_settings(store, config, settings)
    feed, _ = store.add_feed(url, "url", interval_seconds=300)
    outcomes: list[FeedOutcome] = []

    def poll() -> None:
        fresh = store.get_feed(feed.id)
        assert fresh is not None
        [outcome] = asyncio.run(poller.fetch_all([fresh]))
        outcomes.append(outcome)

    try:
        new, again = cpu(poll), cpu(poll)
        bodies.append(changed)
        later = cpu(poll)
    finally:
        poller.db.close()
    first, same, other = outcomes
    assert (first.kind, len(first.report.new)) == ("new", stored), first
    assert (same.kind, same.reason) == ("unchanged", "same_body"), same
    assert (other.kind, len(other.report.new)) == ("new", 1), other
    return new, again, later


def ratio_line(label: str, seconds: float, raw: float, new: float | None = None) -> str:
    line = f"{label:<44} {seconds:6.2f} s  {raw / seconds:5.2f}x raw"
    if new is not None:
        line += f"  {new / seconds:6.1f}x faster than new"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args(argv)
    config = core_config()
    data = generated_feed(args.entries)
    changed = with_new_entry(data)
    stored = min(args.entries, MAX_FEED_ENTRIES)
    figures: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        figures.setdefault(name, []).append(seconds)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.xml"
        for number in range(ROUNDS):
            record("raw", cpu(lambda: feedparser.parse(io.BytesIO(data))))
            path.write_bytes(data)
            store = Store(Path(tmp) / f"ingest-{number}.db")
            store.migrate()
            try:
                reports: list[IngestReport] = []

                def ingest(store: Store = store, reports: list[IngestReport] = reports) -> None:
                    reports.append(ingest_path(store, config, path))

                record("ingest new", cpu(ingest))
                record("ingest same", cpu(ingest))
                path.write_bytes(changed)
                record("ingest changed", cpu(ingest))
                # A feed gives at most MAX_FEED_ENTRIES articles; all of it is parsed.
                assert len(reports[0].new) == stored
                assert (len(reports[1].new), reports[1].duplicates) == (0, stored)
                assert (len(reports[2].new), reports[2].duplicates) == (1, stored - 1)
            finally:
                store.close()
            store = Store(Path(tmp) / f"poll-{number}.db")
            store.migrate()
            try:
                bodies = [data]
                with serving(bodies) as url:
                    new, again, later = poll_rounds(store, config, url, bodies, changed, stored)
                record("poll new", new)
                record("poll same", again)
                record("poll changed", later)
            finally:
                store.close()
    raw, ingest_new, ingest_same, ingest_changed, poll_new, poll_same, poll_changed = (
        statistics.median(figures[name])
        for name in (
            "raw",
            "ingest new",
            "ingest same",
            "ingest changed",
            "poll new",
            "poll same",
            "poll changed",
        )
    )
    print(
        f"feed: {args.entries:,} entries, {len(data) / 1e6:.1f} MB; newsbot parses them all"
        f" and stores the first {stored:,} (MAX_FEED_ENTRIES); CPU time, median of {ROUNDS}"
    )
    print(f"{'raw feedparser.parse':<44} {raw:6.2f} s")
    print(ratio_line("newsbot ingest FILE, new", ingest_new, raw) + "  (goal >= 0.6x raw)")
    print(ratio_line("newsbot ingest FILE, same file again", ingest_same, raw, ingest_new))
    print(ratio_line("newsbot ingest FILE, 1 new entry in front", ingest_changed, raw, ingest_new))
    print(ratio_line("poller, first fetch (HTTP, parse, store)", poll_new, raw))
    print(
        ratio_line("poller, same bytes again (no ETag)", poll_same, raw, poll_new)
        + "  (goal >= 5x)"
    )
    print(ratio_line("poller, 1 new entry in front", poll_changed, raw, poll_new))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
