"""Benchmark of feed polling: newsbot's SourcePoller beside a minimal httpx + feedparser client,
on loopback feeds served from this process, many hosts, measured in the same run.

Run: python -m bench.feeds_bench [--feeds 5000] [--hosts 250] [--items 10]

Hosts are loopback addresses 127.0.1.1, 127.0.1.2, ... (all of 127/8 is loopback on Linux),
one listening socket each on the same port, served by a small HTTP/1.1 server with keep-alive
on its own thread and event loop. Two figures, wall time:
- first fetch: every feed answers 200 with `--items` items; newsbot parses and stores every
  item (its articles, polls, index rows); the client only parses (feedparser.parse).
- 304 cycle: every feed is fetched again with its ETag and answers 304 Not Modified; newsbot
  also records each fetch in the store, as it does.
Both run with newsbot's default concurrency (10 feeds at once)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import feedparser
import httpx

from bot.settings import load_settings
from bot.sources import SourcePoller
from storage.store import Store

T = TypeVar("T")
CONCURRENCY = 10  # newsbot's default feed_concurrency, used by both sides
_WORDS = [
    "Netz",
    "Strom",
    "Chip",
    "Werk",
    "Speicher",
    "Wind",
    "Solar",
    "Daten",
    "Cloud",
    "Modell",
    "Roboter",
    "Fabrik",
    "Bahn",
    "Hafen",
    "Stadt",
    "Forschung",
    "Batterie",
    "Zelle",
    "Kabel",
    "Satellit",
    "Sensor",
    "Agentur",
    "Startup",
    "Gesetz",
    "Markt",
]


def feed_xml(number: int, items: int) -> bytes:
    """An RSS feed of its own: every item's title, link and text differ from every other's."""
    entries = []
    for item in range(items):
        words = [_WORDS[(number * 7 + item * 3 + k) % len(_WORDS)] for k in range(12)]
        text = " ".join(words) + f" Meldung {number}-{item}. " + " ".join(reversed(words)) + "."
        entries.append(
            f"<item><title>{words[0]} und {words[1]} {number}-{item}</title>"
            f"<link>http://feeds.example/{number}/{item}</link>"
            f"<guid>feed-{number}-item-{item}</guid>"
            f"<pubDate>Mon, 0{1 + item % 9} Jun 2026 10:00:00 GMT</pubDate>"
            f"<description>{text} {text}</description><category>{words[2]}</category></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {number}</title><link>http://feeds.example/{number}</link>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


class FeedServer:
    """Serves /feed/N on every host address with keep-alive; 304 for a matching ETag."""

    def __init__(self, hosts: int, feeds: int, items: int) -> None:
        self.addresses = [f"127.0.1.{n}" for n in range(1, hosts + 1)]
        self.bodies = {n: feed_xml(n, items) for n in range(feeds)}
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, number: int) -> str:
        return f"http://{self.addresses[number % len(self.addresses)]}:{self.port}/feed/{number}"

    def __enter__(self) -> FeedServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the feed server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        for _ in range(20):
            probe = socket.socket()
            probe.bind((self.addresses[0], 0))
            port = probe.getsockname()[1]
            probe.close()
            try:
                await asyncio.start_server(self._serve, self.addresses, port, backlog=512)
            except OSError:
                continue
            self.port = port
            return
        raise RuntimeError("no free port on the loopback addresses")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                number = int(lines[0].split()[1].rsplit("/", 1)[1])
                etag = f'"v1-{number}"'
                asked = [
                    line.split(":", 1)[1].strip()
                    for line in lines[1:]
                    if line.lower().startswith("if-none-match:")
                ]
                if asked and asked[0] == etag:
                    writer.write(
                        f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n"
                        "Content-Length: 0\r\n\r\n".encode()
                    )
                else:
                    body = self.bodies[number]
                    writer.write(
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                        f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def client_cycle(server: FeedServer, feeds: int, *, etags: bool) -> int:
    """The baseline: one shared httpx client, a GET per feed (with its ETag on the second
    cycle), the body parsed by feedparser. Returns the number of items parsed."""
    slots = asyncio.Semaphore(CONCURRENCY)
    parsed = 0

    async def one(client: httpx.AsyncClient, number: int) -> None:
        nonlocal parsed
        headers = {"If-None-Match": f'"v1-{number}"'} if etags else {}
        async with slots:
            response = await client.get(server.url(number), headers=headers)
            if response.status_code == 200:
                parsed += len(feedparser.parse(response.content).entries)

    async with httpx.AsyncClient(trust_env=False) as client:
        await asyncio.gather(*(one(client, n) for n in range(feeds)))
    return parsed


async def timed(work: Awaitable[T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


async def compare(server: FeedServer, store: Store, poller: SourcePoller, feeds: int) -> None:
    """Both cycles, each first by the client and then by newsbot, on one event loop."""
    base_first, items = await timed(client_cycle(server, feeds, etags=False))
    ours_first, outcomes = await timed(poller.fetch_all(store.feeds()))
    stored = sum(len(o.report.new) for o in outcomes)
    base_304, _ = await timed(client_cycle(server, feeds, etags=True))
    ours_304, outcomes = await timed(poller.fetch_all(store.feeds()))
    unchanged = sum(o.kind == "unchanged" for o in outcomes)
    print(f"{'cycle':<12} {'newsbot':>9} {'client':>9} {'ratio':>7}")
    print(
        f"{'first fetch':<12} {ours_first:8.2f}s {base_first:8.2f}s {ours_first / base_first:6.2f}x"
        f"   newsbot stored {stored} items; the client parsed {items}"
    )
    print(
        f"{'304 cycle':<12} {ours_304:8.2f}s {base_304:8.2f}s {ours_304 / base_304:6.2f}x"
        f"   {unchanged} of {feeds} unchanged"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=250)
    parser.add_argument("--items", type=int, default=10)
    args = parser.parse_args(argv)
    settings = load_settings(demo=False, allow_private_feeds=True)
    with (
        FeedServer(args.hosts, args.feeds, args.items) as server,
        tempfile.TemporaryDirectory() as d,
    ):
        store = Store(Path(d) / "feeds.db")
        store.migrate()
        try:
            for number in range(args.feeds):
                store.add_feed(server.url(number), "url", interval_seconds=3600, tags=[])
            poller = SourcePoller.from_settings(store, settings.core_config(), settings)
            print(f"{args.feeds} feeds on {args.hosts} loopback hosts, {args.items} items each")
            asyncio.run(compare(server, store, poller, args.feeds))
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
