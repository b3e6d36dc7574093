"""Full text (issue #15): a --fulltext source's new articles get their page's main text as the
body, fetched politely through the guarded fetcher from pages served on 127.0.0.1; a page that
fails leaves the feed's text. trafilatura is part of the test environment (the fulltext extra)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.fulltext import HostPacer
from handlers.context import CoreConfig, Ctx
from handlers.render import article_post
from storage.models import Feed
from storage.store import Store
from tests.conftest import Chat, add, article
from tests.fakes.loopback import Serve
from tests.test_cli import Newsbot
from tests.test_cli import newsbot as newsbot  # the fixture
from tests.test_feeds_http import fetch, make_poller

# A word that is only on the page, never in the feed: found by /search once the page is read.
PAGE_WORD = "Quokkaforschung"
TEASER = "Forscher zählen Beuteltiere auf einer Insel. Mehr im Artikel."
PARAGRAPHS = "".join(
    f"<p>Absatz {n}: Die {PAGE_WORD} auf Rottnest Island zählt seit Jahren die Tiere, "
    "misst ihr Gewicht und beobachtet, wie sie mit den vielen Besuchern leben.</p>"
    for n in range(1, 9)
)
ARTICLE_PAGE = (
    "<!doctype html><html lang='de'><head><title>Quokkas</title>"
    "<meta property='og:image' content='https://img.example.org/quokka.jpg'></head>"
    "<body><nav><a href='/'>Start</a> <a href='/x'>Ressorts</a></nav>"
    f"<article><h1>Quokkas gezählt</h1>{PARAGRAPHS}</article>"
    "<footer>Impressum · Datenschutz</footer></body></html>"
).encode()


def rss(links: list[str]) -> bytes:
    items = "".join(
        f"<item><guid>{link}</guid><title>Quokkas gezählt {n}</title>"
        f"<link>{link}</link><description>{TEASER}</description>"
        f"<pubDate>Mon, 0{n + 1} Mar 2026 10:00:00 GMT</pubDate></item>"
        for n, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<language>de</language>{items}</channel></rss>"
    ).encode()


class FrozenClock:
    """Time that moves only when someone sleeps: a sleep jumps it forward."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Site:
    """A feed and its article pages at /a/KIND/N, each kind failing (or not) its own way."""

    base: str = ""
    links: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    clock: FrozenClock = field(default_factory=FrozenClock)
    requests: list[tuple[str, str, float]] = field(default_factory=list)  # host, path, when

    async def feed(self, request: web.Request) -> web.Response:
        return web.Response(body=rss(self.links), content_type="application/rss+xml")

    async def page(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.host.rsplit(":", 1)[0], request.path, self.clock.now))
        kind = request.match_info["kind"]
        if kind == "good":
            return web.Response(body=ARTICLE_PAGE, content_type="text/html", charset="utf-8")
        if kind == "endless":
            # An HTML page that never ends: only the byte cap stops reading it.
            response = web.StreamResponse(headers={"Content-Type": "text/html"})
            await response.prepare(request)
            for _ in range(2_000):
                await response.write(b"<p>" + b"Endlos " * 1000 + b"</p>")
            return response
        if kind == "slow":
            await asyncio.wait_for(self.release.wait(), 30)
            return web.Response(body=ARTICLE_PAGE, content_type="text/html")
        if kind == "pdf":
            return web.Response(body=b"%PDF-1.4 " + ARTICLE_PAGE, content_type="application/pdf")
        if kind == "binary":  # says HTML, is not
            return web.Response(body=b"\x00\x01\x02" * 5000, content_type="text/html")
        if kind == "complex":  # 20,000 elements: minutes of extraction, refused before it
            return web.Response(
                body=b"<html><body>" + b"<i></i>" * 20_000, content_type="text/html"
            )
        if kind == "empty":
            return web.Response(body=b"<html><body></body></html>", content_type="text/html")
        raise web.HTTPNotFound()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/feed", self.feed)
        app.router.add_get("/a/{kind}/{n}", self.page)
        return app

    def link(self, path: str, host: str = "127.0.0.1") -> str:
        return self.base.replace("127.0.0.1", host) + path


@pytest.fixture
async def site(serve: Serve) -> AsyncIterator[Site]:
    s = Site()
    s.base = await serve(s.app())
    yield s
    s.release.set()


def add_source(store: Store, site: Site, *, fulltext: bool = True) -> Feed:
    return store.add_feed(f"{site.base}/feed", "url", interval_seconds=300, fulltext=fulltext).feed


async def test_a_good_page_becomes_the_body_and_search_finds_its_words(
    site: Site, any_ctx: Ctx, config: CoreConfig
) -> None:
    chat = Chat(any_ctx)
    site.links = [site.link("/a/good/1")]
    feed = add_source(any_ctx.store, site)
    assert feed.fulltext
    outcome = await fetch(make_poller(any_ctx.store, config), feed.id)
    [new] = outcome.report.new
    article = any_ctx.store.get_article(new.id)
    assert article is not None
    assert PAGE_WORD in article.body and "Absatz 8" in article.body
    assert "Impressum" not in article.body  # the page's main text, not its furniture
    assert article.summary == TEASER
    # The search index holds the page's words: /search finds a word only the page has.
    assert f"#{article.id}" in await chat.text(f"/search {PAGE_WORD}")
    # A post keeps the feed's text; /article N shows the full text.
    post = article_post(article, None).text.plain()
    assert TEASER in post and PAGE_WORD not in post
    assert PAGE_WORD in await chat.text(f"/article {article.id}")


async def test_the_pages_og_image_is_handed_on(site: Site, ctx: Ctx, config: CoreConfig) -> None:
    article_id = add(ctx, article("Quokkas", TEASER, url=site.link("/a/good/1")))
    stored = ctx.store.get_article(article_id)
    assert stored is not None
    found = await make_poller(ctx.store, config).full_texts.fill([stored])
    assert found[article_id].image == "https://img.example.org/quokka.jpg"
    assert PAGE_WORD in found[article_id].text
    # The article had no picture of its own: the page's becomes its lead image, unchecked yet.
    again = ctx.store.get_article(article_id)
    assert again is not None and again.image_url == "https://img.example.org/quokka.jpg"
    assert again.image_verdict is None and again.shown_image is None


async def test_an_articles_own_picture_stays_over_the_pages(
    site: Site, ctx: Ctx, config: CoreConfig
) -> None:
    own = "https://cdn.example.org/own.png"
    article_id = add(ctx, article("Quokkas", TEASER, url=site.link("/a/good/1"), image=own))
    stored = ctx.store.get_article(article_id)
    assert stored is not None and stored.image_url == own
    await make_poller(ctx.store, config).full_texts.fill([stored])
    again = ctx.store.get_article(article_id)
    assert again is not None and again.image_url == own


@pytest.mark.parametrize("kind", ["endless", "slow", "pdf", "binary", "complex", "empty"])
async def test_a_page_that_fails_leaves_the_feeds_text(
    site: Site, store: Store, config: CoreConfig, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    site.links = [site.link(f"/a/{kind}/1")]
    feed = add_source(store, site)
    poller = make_poller(store, config, feed_timeout=1, feed_max_bytes=200_000)
    with caplog.at_level(logging.INFO, logger="bot.fulltext"):
        outcome = await fetch(poller, feed.id)
    [new] = outcome.report.new
    article = store.get_article(new.id)
    assert article is not None
    assert article.body == TEASER and article.summary is None
    assert outcome.kind == "new"  # the feed itself did fine
    reason = {
        "endless": "too_large",
        "slow": "timeout",
        "pdf": "not_html",
        "complex": "too_complex",
    }.get(kind, kind)
    assert any(f"no full text from 127.0.0.1: {reason}" in r.message for r in caplog.records)


async def test_a_source_without_fulltext_never_fetches_pages(
    site: Site, store: Store, config: CoreConfig
) -> None:
    site.links = [site.link("/a/good/1")]
    feed = add_source(store, site, fulltext=False)
    outcome = await fetch(make_poller(store, config), feed.id)
    assert site.requests == []
    assert outcome.report.new[0].body == TEASER


class RecordingPacer(HostPacer):
    """The pacer, noting each turn it gives (host, moment of its clock)."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(3.0, clock=clock, sleep=clock.sleep)
        self.turns: list[tuple[str, float]] = []

    async def turn(self, host: str) -> float:
        moment = await super().turn(host)
        self.turns.append((host, moment))
        return moment


async def test_one_page_per_host_every_few_seconds(
    site: Site, store: Store, config: CoreConfig
) -> None:
    # Five new articles of one source: three linked under the name 127.0.0.1, two under
    # "localhost" (the same server, another host). The pacer runs on a clock that moves only
    # when it sleeps.
    site.links = [site.link(f"/a/good/{n}") for n in (1, 2, 3)]
    site.links += [site.link(f"/a/good/{n}", "localhost") for n in (4, 5)]
    feed = add_source(store, site)
    poller = make_poller(store, config)
    pacer = poller.full_texts.pacer = RecordingPacer(site.clock)
    outcome = await fetch(poller, feed.id)
    assert len(outcome.report.new) == 5
    # Every page waited for its turn; each host's pages came one after another, in order ...
    assert len(pacer.turns) == len(site.requests) == 5
    paths: dict[str, list[str]] = {}
    for host, path, _ in site.requests:
        paths.setdefault(host, []).append(path)
    assert paths == {
        "127.0.0.1": ["/a/good/1", "/a/good/2", "/a/good/3"],
        "localhost": ["/a/good/4", "/a/good/5"],
    }
    # ... each host's turns 3 s apart, and neither host waited for the other.
    turns: dict[str, list[float]] = {}
    for host, moment in pacer.turns:
        turns.setdefault(host, []).append(moment)
    assert [len(moments) for moments in turns.values()] == [3, 2]
    for moments in turns.values():
        assert moments[0] == 0.0
        assert all(b - a >= 3.0 for a, b in itertools.pairwise(moments)), moments
    assert all(PAGE_WORD in (store.get_article(a.id) or a).body for a in outcome.report.new)


async def test_the_pacer_spaces_each_host_and_lets_others_go() -> None:
    clock = FrozenClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    # The clock stands still: every turn is reserved at once, in the order asked.
    pacer = HostPacer(3.0, clock=clock, sleep=sleep)
    turns = [await pacer.turn(host) for host in ("a", "a", "b", "a", "b")]
    assert turns == [0.0, 3.0, 0.0, 6.0, 3.0]
    assert slept == [3.0, 6.0, 3.0]


# -- asking for it: /feeds add ... fulltext, newsbot feeds add --fulltext ------------------------


async def test_an_admin_adds_a_full_text_source_from_a_chat(any_chat: Chat) -> None:
    url = "https://example.org/feed.xml"
    added = await any_chat.text(f"/feeds add {url} Tiere, Inseln fulltext", user="owner")
    assert "Quelle 1 hinzugefügt" in added
    [feed] = any_chat.ctx.store.feeds()
    assert feed.fulltext and feed.tags == ("Tiere", "Inseln")
    assert f"#1 · aktiv · {url} · Volltext" in await any_chat.text("/feeds list", user="owner")
    await any_chat.text("/feeds add https://example.org/plain.xml Tiere", user="owner")
    assert not any_chat.ctx.store.feeds()[1].fulltext


def test_the_command_line_adds_a_full_text_source(newsbot: Newsbot) -> None:
    out = newsbot("feeds", "add", "https://example.org/feed.xml", "--fulltext").stdout
    assert "Quelle 1 hinzugefügt" in out
    listed = json.loads(newsbot("feeds", "list", "--format", "json").stdout)
    assert [(f["location"], f["fulltext"]) for f in listed] == [
        ("https://example.org/feed.xml", True)
    ]
