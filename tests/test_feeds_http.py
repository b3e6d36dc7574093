"""Feeds over HTTP end to end: served from 127.0.0.1 by aiohttp, fetched by the SourcePoller,
stored, posted, managed with /feeds and `newsbot feeds`. Nothing leaves loopback."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import os
import random
import sys
import tracemalloc
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from aiohttp import web

from bot.address_guard import AddressGuard, IPAddress
from bot.feed_fetch import FeedFetcher
from bot.settings import load_settings
from bot.sources import FeedOutcome, SourcePoller
from handlers.context import CoreConfig, Ctx
from storage.models import ChatRef, Feed
from storage.store import ALL_TAGS, Store
from tests.conftest import Chat
from tests.fakes.loopback import ConnectionCounter, Serve

LOOPBACK = ipaddress.ip_address("127.0.0.1")
ETAG = '"v1"'


def rss(items: list[tuple[str, str, str]], *, title: str = "Testfeed") -> bytes:
    """RSS 2.0 with (guid, title, pubDate) items, newest first as feeds list them."""
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{name}</title><link>{guid}</link>"
        f"<description>&lt;p&gt;Text zu {name}. Mehr dazu im Artikel.&lt;/p&gt;</description>"
        f"<category>Technik</category><pubDate>{date}</pubDate></item>"
        for guid, name, date in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><language>de</language>{entries}</channel></rss>"
    ).encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>Atom test</title>
<id>urn:uuid:feed</id><updated>2026-03-01T10:00:00Z</updated>
<entry><id>urn:uuid:1</id><title>Atom entry about quantum chips</title>
<link href="/posts/quantum"/><updated>2026-03-01T10:00:00Z</updated>
<content type="html">&lt;p&gt;Quantum chips &lt;script&gt;alert(1)&lt;/script&gt;got
faster.&lt;/p&gt;</content><category term="Quantum"/></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://example.org/"><title>RDF test</title><link>http://example.org/</link>
<description>d</description></channel>
<item rdf:about="http://example.org/rdf/1"><title>RDF-Eintrag zur Glasfaser</title>
<link>http://example.org/rdf/1</link><description>Glasfaser kommt aufs Land.</description>
<dc:date>2026-02-01T08:00:00Z</dc:date><dc:subject>Netz</dc:subject></item>
</rdf:RDF>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title></item></channel></rss>"""


@cache
def quadratic_blowup() -> bytes:
    """One 50 KB entity used 5,000 times: 250 MB once expanded, 300 KB on the wire."""
    entity = "A" * 50_000
    uses = "&a;" * 5_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{entity}">]>'
        f'<rss version="2.0"><channel><title>t</title><item><title>{uses}</title></item>'
        "</channel></rss>"
    ).encode()


@cache
def gzip_bomb() -> bytes:
    """About 20 KB that inflate to 20 MB of feed-looking bytes."""
    return gzip.compress(b"<rss>" + b" " * 20_000_000, compresslevel=9)


def make_poller(store: Store, config: CoreConfig, **overrides: object) -> SourcePoller:
    """The poller as the app builds it, from settings (private addresses allowed: loopback)."""
    defaults: dict[str, object] = {
        "allow_private_feeds": True,
        "feed_timeout": 5,
        "feed_connect_timeout": 2,
    }
    settings = load_settings(**(defaults | overrides))
    poller = SourcePoller.from_settings(store, config, settings)
    poller.rng = random.Random(5)
    return poller


def static(
    body: bytes, *, seen: list[web.Request] | None = None, etag: str = ETAG
) -> web.Application:
    """An app serving one feed at /feed with an ETag, answering 304 to a matching request."""

    async def handler(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append(request)
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/feed", handler)
    return app


def added(store: Store, url: str, *, tags: tuple[str, ...] = (), interval: int = 300) -> Feed:
    return store.add_feed(url, "url", interval_seconds=interval, tags=tags).feed


async def fetch(poller: SourcePoller, feed_id: int) -> FeedOutcome:
    feed = poller.store.get_feed(feed_id)
    assert feed is not None
    [outcome] = await poller.fetch_all([feed])
    return outcome


# --- formats, conditional GET, redirects --------------------------------------------------


async def test_rss_atom_and_rdf_feeds_are_fetched_and_stored(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    base = await serve(static(rss([("https://news.example.org/1", "Erster", "")])))
    atom = await serve(static(ATOM))
    rdf = await serve(static(RDF))
    poller = make_poller(store, config)
    feeds = [
        added(store, f"{base}/feed", tags=("Lokal",)),
        added(store, f"{atom}/feed"),
        added(store, f"{rdf}/feed"),
    ]

    outcomes = await poller.fetch_all(feeds)

    assert [o.kind for o in outcomes] == ["new", "new", "new"]
    first, entry, rdf_entry = (o.report.new[0] for o in outcomes)
    assert first.title == "Erster" and first.body == "Text zu Erster. Mehr dazu im Artikel."
    assert first.tags == ("Technik", "Lokal")  # the feed's categories, then the source's tags
    assert entry.title == "Atom entry about quantum chips" and entry.language == "en"
    assert "alert" not in entry.body and "<" not in entry.body
    assert entry.url == f"{atom}/posts/quantum"  # relative link resolved against the feed
    assert rdf_entry.title == "RDF-Eintrag zur Glasfaser" and rdf_entry.tags == ("Netz",)
    for feed in feeds:
        stored = store.get_feed(feed.id)
        assert stored is not None and stored.last_success and stored.failures == 0


async def test_conditional_get_turns_an_unchanged_feed_into_304(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    seen: list[web.Request] = []
    base = await serve(static(rss([("urn:x:1", "Eins", "")]), seen=seen))
    poller = make_poller(store, config)
    feed = added(store, f"{base}/feed")

    assert (await fetch(poller, feed.id)).kind == "new"
    again = await fetch(poller, feed.id)

    assert again.kind == "unchanged" and again.report.new == []
    assert "If-None-Match" not in seen[0].headers
    assert seen[1].headers["If-None-Match"] == ETAG
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.etag == ETAG


async def test_redirects_are_followed_and_links_resolve_against_the_final_address(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/feed")

    app = static(ATOM)
    app.router.add_get("/old", moved)
    base = await serve(app)
    feed = added(store, f"{base}/old")

    outcome = await fetch(make_poller(store, config), feed.id)

    assert outcome.kind == "new"
    assert outcome.report.new[0].url == f"{base}/posts/quantum"


# --- the address guard, on the real fetch path -------------------------------------------


class OnePortGuard(AddressGuard):
    """The real guard (private addresses refused), except 127.0.0.1 on one port, standing in
    for a public first hop."""

    def __init__(self, port: int) -> None:
        super().__init__(allow_private=False)
        self.port = port

    def address_allowed(self, address: IPAddress, port: int) -> bool:
        return (address == LOOPBACK and port == self.port) or super().address_allowed(address, port)


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/admin", "http://169.254.169.254/"])
async def test_a_redirect_to_an_internal_address_is_refused_before_connecting(
    serve: Serve, store: Store, config: CoreConfig, counter: ConnectionCounter, target: str
) -> None:
    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(target.format(port=counter.port))

    app = web.Application()
    app.router.add_get("/feed", bounce)
    base = await serve(app)
    guard = OnePortGuard(int(base.rsplit(":", 1)[1]))
    poller = SourcePoller(store, config, fetcher=FeedFetcher(guard, timeout=5))
    feed = added(store, f"{base}/feed")

    outcome = await fetch(poller, feed.id)

    assert (outcome.kind, outcome.reason) == ("refused", "private_address")
    assert counter.connections == 0
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.last_error and "private_address" in stored.last_error


class TableGuard(AddressGuard):
    """The real guard with a resolver answering from a table, like a DNS server we control."""

    def __init__(self, table: dict[str, list[IPAddress]]) -> None:
        super().__init__(allow_private=False)
        self.table = table

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return self.table[host]


async def test_names_resolving_to_internal_addresses_are_refused(
    store: Store, config: CoreConfig, counter: ConnectionCounter
) -> None:
    real = SourcePoller(store, config)  # the default: private addresses refused
    local = added(store, f"http://localhost:{counter.port}/feed")
    table = TableGuard({"feeds.example.test": [ipaddress.ip_address("93.184.215.14"), LOOPBACK]})
    mixed = SourcePoller(store, config, fetcher=FeedFetcher(table))
    rebinding = added(store, f"http://feeds.example.test:{counter.port}/feed")

    by_name = await fetch(real, local.id)
    by_table = await fetch(mixed, rebinding.id)

    assert (by_name.kind, by_name.reason) == ("refused", "private_address")
    assert (by_table.kind, by_table.reason) == ("refused", "private_address")
    assert counter.connections == 0


# --- hostile bodies -----------------------------------------------------------------------


async def test_a_body_over_the_cap_is_cut_off(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    items = [(f"urn:x:{i}", f"Eintrag {i} " + "x" * 500, "") for i in range(100)]
    base = await serve(static(rss(items)))
    feed = added(store, f"{base}/feed")

    outcome = await fetch(make_poller(store, config, feed_max_bytes=10_000), feed.id)

    assert (outcome.kind, outcome.reason) == ("refused", "too_large")
    assert store.count_articles() == 0


async def test_a_gzip_bomb_is_refused_without_inflating_it(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    body = gzip_bomb()  # built before memory is traced

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/feed", bomb)
    base = await serve(app)
    feed = added(store, f"{base}/feed")
    poller = make_poller(store, config, feed_max_bytes=1_000_000)

    tracemalloc.start()
    try:
        outcome = await fetch(poller, feed.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (outcome.kind, outcome.reason) == ("refused", "too_large")
    assert peak < 8_000_000


async def test_a_server_that_never_finishes_the_body_fails_at_the_deadline(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    done = asyncio.Event()

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = 100_000
        await response.prepare(request)
        await response.write(b"<rss>")
        await asyncio.wait_for(done.wait(), 10)  # bounded, and released when the test ends
        return response

    app = web.Application()
    app.router.add_get("/feed", trickle)
    base = await serve(app)
    feed = added(store, f"{base}/feed")

    # The server holds the body open for 10 s; only the 1 s deadline makes this a timeout.
    outcome = await fetch(make_poller(store, config, feed_timeout=1), feed.id)
    done.set()

    assert (outcome.kind, outcome.reason) == ("failed", "timeout")


@pytest.mark.parametrize("document", ["billion_laughs", "quadratic_blowup"])
async def test_entity_bombs_are_refused_quickly_and_with_little_memory(
    serve: Serve, store: Store, config: CoreConfig, document: str
) -> None:
    body = BILLION_LAUGHS if document == "billion_laughs" else quadratic_blowup()
    base = await serve(static(body))
    feed = added(store, f"{base}/feed")
    poller = make_poller(store, config)

    tracemalloc.start()
    try:
        outcome = await fetch(poller, feed.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (outcome.kind, outcome.reason) == ("refused", "doctype")
    assert peak < 10_000_000  # expanded, the quadratic one alone would be 250 MB
    assert store.count_articles() == 0


# --- dedupe, the first fetch, backoff ----------------------------------------------------


async def test_guids_that_change_scheme_host_case_and_tracking_are_not_new(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    versions = [
        rss(
            [
                ("http://News.Example.org/a/1/", "Eins", ""),
                ("http://news.example.org/a/2", "Zwei", ""),
            ]
        ),
        rss(
            [
                ("https://news.example.org/a/1?utm_source=feed", "Eins", ""),
                ("https://NEWS.example.org/a/2/", "Zwei", ""),
            ]
        ),
    ]
    served = iter(versions)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=next(served), content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", handler)
    base = await serve(app)
    poller = make_poller(store, config)
    feed = added(store, f"{base}/feed")

    assert len((await fetch(poller, feed.id)).report.new) == 2
    again = await fetch(poller, feed.id)

    assert again.kind == "new" and again.report.new == [] and again.report.duplicates == 2
    assert store.count_articles() == 2


async def test_a_first_fetch_archives_the_backlog_and_posts_only_the_newest(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    dates = [f"Mon, 0{d} Mar 2026 08:00:00 GMT" for d in range(2, 7)]
    items = [(f"urn:x:{i}", f"Meldung {i}", dates[i - 1]) for i in range(5, 0, -1)]
    current = {"body": rss(items)}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=current["body"], content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", handler)
    base = await serve(app)
    chat = ChatRef("telegram", "-100")
    store.subscribe(chat, [ALL_TAGS], backlog=0)
    poller = make_poller(store, config, backlog=1)
    feed = added(store, f"{base}/feed")

    first = await fetch(poller, feed.id)

    # Stored oldest first, so article numbers follow publication; only the newest is posted.
    assert [a.title for a in first.report.new] == [f"Meldung {i}" for i in range(1, 6)]
    [delivery] = store.deliveries_for_chat(chat)
    assert delivery.article_id == first.report.new[-1].id
    current["body"] = rss([("urn:x:6", "Meldung 6", "Mon, 09 Mar 2026 08:00:00 GMT"), *items])
    later = await fetch(poller, feed.id)
    assert [a.title for a in later.report.new] == ["Meldung 6"]
    assert len(store.deliveries_for_chat(chat)) == 2


async def test_a_failing_feed_backs_off_and_is_parked_with_its_error(
    serve: Serve, store: Store, config: CoreConfig, ctx: Ctx
) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/feed", broken)
    base = await serve(app)
    poller = make_poller(store, config, feed_park_after=3, feed_jitter=0)
    feed = added(store, f"{base}/feed", interval=60)

    delays = []
    for _ in range(3):
        before = store.now()
        outcome = await fetch(poller, feed.id)
        assert (outcome.kind, outcome.reason) == ("failed", "http_status")
        assert outcome.feed.next_fetch is not None
        delays.append(round((outcome.feed.next_fetch - before).total_seconds()))

    assert delays == [120, 240, 480]  # interval x 2^failures
    parked = store.get_feed(feed.id)
    assert parked is not None and parked.state == "parked" and parked.failures == 3
    assert parked.last_error == "http_status: HTTP 500"
    assert store.due_feeds() == []
    capped = replace(parked, interval_seconds=3600, failures=9)
    assert poller.backoff(capped) == 86400  # never more than a day

    chat = Chat(ctx)
    listing = await chat.text("/feeds list", user="owner")
    assert "geparkt" in listing and "Fehler vom Server (HTTP 500)" in listing
    assert "3-mal in Folge" in listing
    assert "läuft wieder" in await chat.text(f"/feeds resume {feed.id}", user="owner")
    resumed = store.get_feed(feed.id)
    assert resumed is not None and resumed.state == "active" and resumed.failures == 0
    assert [f.id for f in store.due_feeds()] == [feed.id]


# --- many feeds ---------------------------------------------------------------------------


async def test_feeds_are_fetched_with_bounded_concurrency(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    in_flight = 0
    most = 0
    full = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight >= 3:
            full.set()
        # Hold every request until three are open at once: a fourth would have to come now.
        await asyncio.wait_for(full.wait(), 5)
        in_flight -= 1
        return web.Response(body=rss([(request.path, request.path, "")]))

    app = web.Application()
    app.router.add_get("/{name}", handler)
    base = await serve(app)
    feeds = [added(store, f"{base}/f{i}") for i in range(12)]
    poller = make_poller(store, config, feed_concurrency=3, feed_per_host=10)

    outcomes = await poller.fetch_all(feeds)

    assert [o.kind for o in outcomes] == ["new"] * 12
    assert most == 3


def test_thousands_of_feeds_spread_over_their_interval(store: Store, config: CoreConfig) -> None:
    poller = SourcePoller(store, config, jitter=0.1, rng=random.Random(1))
    feed = Feed(1, "http://x", "url", (), 900, "active", None, None, 0, None)
    first = [poller.next_in(feed, first=True) for _ in range(3000)]
    later = [poller.next_in(feed) for _ in range(3000)]

    # After the first fetch, each feed lands anywhere in a whole interval's width ...
    buckets = [0] * 10
    for delay in first:
        assert 450 <= delay <= 1350
        buckets[int((delay - 450) / 90.0001)] += 1
    assert min(buckets) > 200  # ... evenly, so that feeds added together come due apart
    # ... and keeps that phase within the jitter afterwards.
    assert all(810 <= delay <= 990 for delay in later)


# --- /feeds in a chat ----------------------------------------------------------------------


async def test_feeds_command_is_refused_for_others_and_audited(any_ctx: Ctx) -> None:
    chat = Chat(any_ctx)
    for text in ("/feeds", "/feeds add https://example.org/feed.xml", "/feeds remove 1"):
        assert "Bot-Admin-Rechte" in await chat.text(text, user="mallory", admin=True)
    assert any_ctx.store.feeds() == []
    refused = [e for e in any_ctx.mod.audit_entries() if e.outcome == "refused"]
    assert len(refused) == 3 and {e.actor for e in refused} == {"console:mallory"}
    assert {e.action for e in refused} == {"feeds"}


async def test_an_owner_manages_feeds_from_a_chat(
    serve: Serve, any_ctx: Ctx, config: CoreConfig
) -> None:
    chat = Chat(any_ctx)
    base = await serve(static(rss([("urn:x:1", "Eins", "")])))
    url = f"{base}/feed"

    assert "Noch keine Quellen" in await chat.text("/feeds", user="owner")
    assert "Quelle 1 hinzugefügt" in await chat.text(f"/feeds add {url} Lokal, KI", user="owner")
    assert "gibt es schon" in await chat.text(f"/feeds add {url}", user="owner")
    assert "Nur Feed-Adressen mit http oder https" in await chat.text(
        "/feeds add file:///etc/passwd", user="owner"
    )
    assert "So geht es: /feeds" in await chat.text("/feeds delete 1", user="owner")
    assert "Es gibt keine Quelle 7." in await chat.text("/feeds pause 7", user="owner")
    [feed] = any_ctx.store.feeds()
    assert (feed.kind, feed.tags) == ("url", ("Lokal", "KI"))

    outcome = await fetch(make_poller(any_ctx.store, config), feed.id)
    assert outcome.report.new[0].tags == ("Technik", "Lokal", "KI")
    [reply] = await chat.say("/feeds list", user="owner")
    listing = reply.text.plain()
    assert reply.private and "#1 · aktiv · " + url in listing
    assert "Tags: Lokal, KI · alle 5 min" in listing and "zuletzt erfolgreich: " in listing
    assert "noch nie" not in listing

    assert "pausiert" in await chat.text("/feeds pause 1", user="owner")
    assert any_ctx.store.due_feeds() == []
    assert "läuft wieder" in await chat.text("/feeds resume 1", user="owner")
    assert "Quelle 1 entfernt" in await chat.text("/feeds remove 1", user="owner")
    assert any_ctx.store.feeds() == []
    done = [
        (e.action, e.target) for e in reversed(any_ctx.mod.audit_entries()) if e.outcome == "ok"
    ]
    assert done == [
        ("feeds.add", "feed:1"),
        ("feeds.pause", "feed:1"),
        ("feeds.resume", "feed:1"),
        ("feeds.remove", "feed:1"),
    ]
    # A bot admin may do it too, and in English the words are English.
    any_ctx.mod.grant_admin(chat.person("bob"), "console:owner")
    await chat.text("/lang en", user="owner")
    assert "No sources yet" in await chat.text("/feeds list", user="bob")


# --- the command line ---------------------------------------------------------------------


async def newsbot(tmp_path: Path, *args: str, private: bool = True) -> tuple[int, str]:
    """`newsbot ARGS` in a real process; the loop keeps serving feeds meanwhile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")} | {
        "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
        # ./newsbot.toml when the test wrote one; else the command line speaks German.
        **({} if (tmp_path / "newsbot.toml").exists() else {"NEWSBOT_LANGUAGE": "de"}),
        "NEWSBOT_DEMO": "false",
        "NEWSBOT_ALLOW_PRIVATE_FEEDS": "true" if private else "false",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert b"Traceback" not in err, err.decode()
    return int(proc.returncode or 0), out.decode()


async def test_feeds_add_and_fetch_from_the_command_line(serve: Serve, tmp_path: Path) -> None:
    items = [("urn:x:2", "Zweite Meldung", ""), ("urn:x:1", "Erste Meldung", "")]
    base = await serve(static(rss(items)))
    url = f"{base}/feed"

    code, out = await newsbot(tmp_path, "feeds", "add", url, "--tags", "Lokal", "--interval", "15m")
    assert code == 0 and f"Quelle 1 hinzugefügt: {url}" in out
    code, out = await newsbot(tmp_path, "feeds", "add", "ftp://example.org/feed")
    assert code == 2 and "Nur Feed-Adressen mit http oder https" in out

    code, out = await newsbot(tmp_path, "feeds", "fetch")
    assert code == 0 and f"Quelle 1 ({url}): 2 neu, 0 bekannt" in out
    code, out = await newsbot(tmp_path, "feeds", "fetch")
    assert code == 0 and "Keine Quelle ist fällig." in out
    code, out = await newsbot(tmp_path, "feeds", "fetch", "1")
    assert code == 0 and "unverändert (304)" in out
    code, out = await newsbot(tmp_path, "feeds", "fetch", "1", private=False)
    assert code == 0 and "abgelehnt: zeigt auf eine interne Adresse" in out
    code, out = await newsbot(tmp_path, "feeds", "fetch", "7")
    assert code == 2 and "Keine Quelle 7." in out

    code, out = await newsbot(tmp_path, "feeds", "list")
    assert out.split("\n")[1].split("\t")[1:6] == ["active", "url", f"{url}", "Lokal", "900"]
    store = Store(tmp_path / "newsbot.db")
    try:
        titles = [a.title for a in store.latest_articles(limit=5)]
        assert titles == ["Zweite Meldung", "Erste Meldung"]
        assert store.latest_articles(limit=1)[0].tags == ("Technik", "Lokal")
        feed = store.get_feed(1)
        assert feed is not None and feed.failures == 1  # the refused fetch
        assert feed.next_fetch and feed.next_fetch - store.now() > timedelta(minutes=20)
    finally:
        store.close()


async def test_a_poll_keeps_connections_to_a_host_but_no_cookies_between_feeds(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    """One poll of many feeds on one host reuses its connections (no new TCP handshake per
    feed); a cookie one feed sets reaches neither another feed nor the next poll."""
    connections: set[object] = set()
    cookies: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        connections.add(request.transport.get_extra_info("peername"))
        cookies.append(request.headers.get("Cookie", ""))
        response = web.Response(body=rss([(request.path, request.path, "")]))
        response.set_cookie("visit", request.path)
        return response

    app = web.Application()
    app.router.add_get("/{name}", handler)
    base = await serve(app)
    feeds = [added(store, f"{base}/f{i}") for i in range(6)]
    poller = make_poller(store, config, feed_concurrency=1)

    assert [o.kind for o in await poller.fetch_all(feeds)] == ["new"] * 6
    assert len(connections) == 1
    await poller.fetch_all(feeds)
    assert cookies == [""] * 12


async def test_cookies_still_follow_a_feed_through_its_redirects(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    async def start(request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "/feed"})
        response.set_cookie("consent", "yes")
        return response

    async def feed(request: web.Request) -> web.Response:
        if request.cookies.get("consent") != "yes":
            return web.Response(status=403)
        return web.Response(body=rss([("g1", "Mit Zustimmung", "")]))

    app = web.Application()
    app.router.add_get("/start", start)
    app.router.add_get("/feed", feed)
    base = await serve(app)
    poller = make_poller(store, config)

    outcome = await fetch(poller, added(store, f"{base}/start").id)

    assert outcome.kind == "new"
    assert [a.title for a in outcome.report.new] == ["Mit Zustimmung"]


async def test_fetching_many_sources_names_only_failures_and_sums_up_by_reason(
    serve: Serve, tmp_path: Path
) -> None:
    base = await serve(static(rss([("urn:x:1", "Eine Meldung", "")])))
    store = Store(tmp_path / "newsbot.db")
    store.migrate()
    for location in [f"{base}/feed?n={n}" for n in range(22)] + [
        f"{base}/gone-a",
        f"{base}/gone-b",
    ]:
        store.add_feed(location, "url", interval_seconds=300)
    store.close()
    code, out = await newsbot(tmp_path, "feeds", "fetch")
    lines = out.splitlines()
    # 24 sources are too many to list: only the two that failed get a line, then the sum.
    assert code == 0 and len(lines) == 3, out
    assert all("gone-" in line for line in lines[:2])
    assert lines[2].startswith("24 Quellen: 22 gelesen (1 neu, 21 bekannt), 2 gescheitert ("), out
