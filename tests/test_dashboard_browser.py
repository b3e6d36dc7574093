"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver): its
pages render, text from feeds shows as text and never runs, and a server that needs its token
shows nothing without it. Bound to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.http_access import AccessGuard
from bot.http_endpoint import HttpEndpoint
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import ChatRef, NewArticle, UserRef

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "a-long-dashboard-token-4711"
HOSTILE = "<script>document.title='pwned'</script>Böse Überschrift"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Chromium is missing: apt-get install chromium chromium-driver (make test does"
    " it as root); CI=true turns this skip into a failure",
)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--no-proxy-server")  # loopback straight, whatever the environment
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    """An App (no platform connected: the dashboard only reads) with a hostile feed, a
    paused chat, an article with votes, and an audit entry."""
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(
        db=tmp_path / "bot.db", demo=False, language="en", http_listen="127.0.0.1:0"
    )
    store = open_store(settings)
    config = settings.core_config()
    added = store_article(
        store, config, NewArticle(title=HOSTILE, body="Ein Text.", tags=("xAI",), language="de")
    )
    article = added.new[0].id
    store_article(
        store,
        config,
        NewArticle(title="Wetter in Berlin", body="Sonne.", tags=("Wetter",), language="de"),
    )
    for n, position in enumerate((1, 2, 2)):
        store.cast_vote(article, UserRef("telegram", str(n), f"p{n}"), position)
    feed = store.add_feed("https://feeds.example.org/rss", "url", interval_seconds=300)
    store.feed_failed(feed.feed.id, HOSTILE, next_in=60, park_after=10)
    store.subscribe(ChatRef("telegram", "-100"), ["xAI"])
    store.pause_chat(ChatRef("telegram", "-100"), "Forbidden: bot was kicked <b>now</b>")
    store.audit(
        platform="telegram",
        chat_id="-100",
        actor="telegram:1",
        action="ban",
        target="telegram:666",
        outcome="ok",
    )
    app = App(settings, store)
    await app.start()
    try:
        yield app
    finally:
        await app.shutdown()


async def endpoint_of(app: App, guard: AccessGuard | None = None) -> HttpEndpoint:
    endpoint = HttpEndpoint(app.runtime, app.scheduler, app.settings, guard=guard)
    await endpoint.start()
    return endpoint


async def load(driver: object, url: str) -> tuple[str, str]:
    """Open `url` in the browser (in a thread: the bot's loop serves the page meanwhile);
    the page's title and visible text."""

    def visit() -> tuple[str, str]:
        from selenium.webdriver.common.by import By

        driver.get(url)  # type: ignore[attr-defined]
        body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        return str(driver.title), str(body)  # type: ignore[attr-defined]

    return await asyncio.wait_for(asyncio.to_thread(visit), timeout=60)


async def shown_images(driver: object) -> list[tuple[int, str]]:
    """Each image of the page as the browser decoded it: its natural width and its source."""

    def look() -> list[tuple[int, str]]:
        found = driver.execute_script(  # type: ignore[attr-defined]
            "return [...document.images].map(i => [i.naturalWidth, i.src]);"
        )
        return [(int(width), str(src)) for width, src in found]

    return await asyncio.wait_for(asyncio.to_thread(look), timeout=60)


async def test_pages_render_and_feed_text_stays_text(dashboard: App, browser: object) -> None:
    endpoint = await endpoint_of(dashboard)
    try:
        title, text = await load(browser, endpoint.base_url + "/")
        assert title.startswith("newsbot dashboard")
        assert "pwned" not in title  # the feed's script never ran
        assert HOSTILE in text  # ...and shows as the text it is
        assert "Votes in all: 3" in text
        assert "Excellent" in text and "█" in text  # text bars, in the dashboard's language
        # The article with votes shows its /results chart, a PNG the browser decoded.
        charts = await shown_images(browser)
        [(width, source)] = charts
        assert width > 0 and source.endswith("/chart/1.png")

        assert "Wetter in Berlin" in text

        # The search is /search's: the hostile article matches, the other does not.
        title, text = await load(browser, endpoint.base_url + "/?q=Überschrift")
        assert "pwned" not in title and HOSTILE in text
        assert "Wetter in Berlin" not in text
        _, text = await load(browser, endpoint.base_url + "/?q=Berlin")
        assert "Wetter in Berlin" in text and HOSTILE not in text

        title, text = await load(browser, endpoint.base_url + "/feeds")
        assert "pwned" not in title
        assert "https://feeds.example.org/rss" in text and HOSTILE in text

        _, text = await load(browser, endpoint.base_url + "/paused")
        assert "telegram:-100" in text and "Forbidden: bot was kicked <b>now</b>" in text

        # On loopback without a token, the audit log stays for owners (token holders).
        _, text = await load(browser, endpoint.base_url + "/audit")
        assert "telegram:666" not in text and "NEWSBOT_HTTP_TOKEN" in text
    finally:
        await endpoint.stop()


async def test_without_the_token_the_browser_sees_nothing(dashboard: App, browser: object) -> None:
    """A server that holds its address to be non-local (bound on 127.0.0.1 only)."""
    endpoint = await endpoint_of(dashboard, AccessGuard(TOKEN, listen_is_local=False))
    try:
        for path in ("/", "/feeds", "/audit", "/metrics"):
            _, text = await load(browser, endpoint.base_url + path)
            assert "NEWSBOT_HTTP_TOKEN" in text, path
            assert HOSTILE not in text and "telegram:666" not in text
        _, text = await load(browser, endpoint.base_url + "/?token=wrong-token-0000000")
        assert HOSTILE not in text

        # With it once in the address, a cookie carries it from then on; the audit log shows.
        _, text = await load(browser, endpoint.base_url + f"/audit?token={TOKEN}")
        assert "telegram:666" in text
        current = browser.current_url  # type: ignore[attr-defined]
        assert "token" not in current  # the token left the address bar
        title, text = await load(browser, endpoint.base_url + "/")
        assert HOSTILE in text and "pwned" not in title
    finally:
        await endpoint.stop()
