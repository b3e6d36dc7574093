"""Benchmark of ingest: a generated RSS feed of 10,000 entries through the real parse and store
(ingest_bytes), new and then again (all duplicates), beside raw feedparser parsing the same
bytes, measured in the same run (CPU time, median of 3).

Run: python -m bench.ingest_bench [--entries N]"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import feedparser

from bench.archive import Writer
from bench.store_bench import core_config
from bot.article_input import MAX_FEED_ENTRIES
from bot.ingest import IngestReport, ingest_bytes
from storage.store import Store

ROUNDS = 3


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


def cpu(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args(argv)
    config = core_config()
    data = generated_feed(args.entries)
    raw, new, again = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(ROUNDS):
            raw.append(cpu(lambda: feedparser.parse(io.BytesIO(data))))
            store = Store(Path(tmp) / f"ingest-{number}.db")
            store.migrate()
            try:
                reports: list[IngestReport] = []

                def ingest(store: Store = store, reports: list[IngestReport] = reports) -> None:
                    reports.append(ingest_bytes(store, config, data, name="f", source="feed"))

                new.append(cpu(ingest))
                again.append(cpu(ingest))
                # A feed gives at most MAX_FEED_ENTRIES articles; all of it is parsed.
                assert len(reports[0].new) == min(args.entries, MAX_FEED_ENTRIES)
                assert reports[1].duplicates == len(reports[0].new)
            finally:
                store.close()
    print(
        f"feed: {args.entries:,} entries, {len(data) / 1e6:.1f} MB; newsbot parses them all"
        f" and stores the first {min(args.entries, MAX_FEED_ENTRIES):,} (MAX_FEED_ENTRIES)"
    )
    raw_s, new_s, again_s = (statistics.median(x) for x in (raw, new, again))
    print(f"raw feedparser.parse        {raw_s:6.2f} s")
    print(f"newsbot ingest, new         {new_s:6.2f} s  ({raw_s / new_s:.2f}x raw; goal >= 0.6x)")
    print(
        f"newsbot ingest, duplicates  {again_s:6.2f} s  ({new_s / again_s:.1f}x faster than new;"
        " goal >= 5x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
