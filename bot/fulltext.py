"""Full text for sources added with --fulltext: each new article's page, fetched politely through
the guarded fetcher, its main text extracted by trafilatura off the event loop."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from bot.address_guard import parse_url
from bot.feed_fetch import FeedFetcher
from bot.fetch_errors import FetchFailed, FetchRefused
from storage.database_thread import DatabaseThread
from storage.faults import storage_fault
from storage.models import Article
from storage.store import Store

log = logging.getLogger(__name__)

_HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# A page's main text beyond this is cut at a word: whole books on one page would only bloat
# the archive and its index, and /ask reads passages, not books.
MAX_TEXT_CHARS = 100_000
# trafilatura's time grows faster than a page's element count (measured here: 2,000 elements
# 0.5 s, 10,000 2.4 s, 20,000 6.7 s, 90,000 104 s of CPU), and news pages have a few thousand:
# a page with more is refused before extraction (counting takes milliseconds).
MAX_PAGE_ELEMENTS = 15_000


def fulltext_available() -> bool:
    """Whether the optional extra is installed (`pip install newsbot[fulltext]`)."""
    return importlib.util.find_spec("trafilatura") is not None


@dataclass(frozen=True, slots=True)
class PageText:
    """What an article's page gave: its main text, and its og:image (for the lead image)."""

    text: str
    image: str | None = None


class PageFailed(Exception):
    """Why a page gave no text (a reason key and a detail, for the log)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def lead_image(page: PageText, article: Article) -> str | None:
    """The page's og:image as an absolute http(s) address, for an article that has no lead
    image of its own (posts not sent yet, digests and /article show it after its check)."""
    if not page.image or article.image_url:
        return None
    url = urljoin(article.url or "", page.image.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def extract_page(body: bytes, url: str) -> PageText:
    """The main text of an HTML page (CPU-heavy: call it in a thread). trafilatura only ever
    gets bytes we fetched: it never fetches by itself here."""
    import trafilatura

    if b"\x00" in body[:4096]:
        raise PageFailed("binary", "the page has NUL bytes")
    tree = trafilatura.load_html(body)  # lxml, with trafilatura's charset detection
    if tree is None:
        raise PageFailed("not_html", "no HTML document")
    for count, _ in enumerate(tree.iter()):
        if count >= MAX_PAGE_ELEMENTS:
            raise PageFailed("too_complex", f"more than {MAX_PAGE_ELEMENTS} elements")
    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(document, "text", None) if document is not None else None
    if not isinstance(text, str) or not text.strip():
        raise PageFailed("empty", "no main text found")
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS].rsplit(" ", 1)[0] + " …"
    image = getattr(document, "image", None)
    return PageText(text, image if isinstance(image, str) and image else None)


class HostPacer:
    """At most one request per host every `spacing` seconds: each caller reserves the host's
    next free moment before it waits, so callers are served in the order they came."""

    def __init__(
        self,
        spacing: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.spacing = spacing
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}

    async def turn(self, host: str) -> float:
        """Wait for this host's turn; returns the moment (of `clock`) it was given."""
        now = self.clock()
        # Hosts whose spacing has passed need no entry: the table stays as small as the
        # hosts in use.
        for idle in [h for h, at in self._next.items() if at <= now]:
            del self._next[idle]
        at = max(now, self._next.get(host, now))
        self._next[host] = at + self.spacing
        if at > now:
            await self.sleep(at - now)
        return at


class FullTexts:
    """Fetches the pages of new articles and stores their main text as the body. Failures
    (timeout, not HTML, too large, nothing extracted) leave the feed's text and are logged."""

    def __init__(
        self,
        store: Store,
        db: DatabaseThread,
        fetcher: FeedFetcher,
        *,
        pacer: HostPacer | None = None,
        max_pages: int = 20,
    ) -> None:
        self.store = store  # used in the database thread `db` only
        self.db = db
        self.fetcher = fetcher
        self.pacer = pacer or HostPacer(3.0)
        self.max_pages = max_pages
        self._missing_told = False
        # One extraction at a time: each holds the GIL for much of its CPU time, and several
        # at once would take turns with the event loop that serves the chats.
        self._extracting = asyncio.Semaphore(1)

    async def fill(self, articles: Sequence[Article]) -> dict[int, PageText]:
        """Full text for these new articles (the newest `max_pages` with a link), each host's
        pages one after another, hosts side by side; what each page gave, by article id."""
        if not fulltext_available():
            if not self._missing_told:
                log.warning("full text needs trafilatura: pip install 'newsbot[fulltext]'")
                self._missing_told = True
            return {}
        by_host: dict[str, list[Article]] = defaultdict(list)
        for article in [a for a in articles if a.url][-self.max_pages :]:
            try:
                host = parse_url(article.url or "").host.lower()
            except FetchRefused:
                continue
            by_host[host].append(article)
        found: dict[int, PageText] = {}
        await asyncio.gather(*(self._host(host, rows, found) for host, rows in by_host.items()))
        return found

    async def _host(self, host: str, articles: list[Article], found: dict[int, PageText]) -> None:
        for article in articles:
            page = await self._page(host, article)
            # A page that says less than the feed (a cookie wall, a teaser) is no full text.
            if page is None or len(page.text) <= len(article.body):
                continue
            if await self.db.run(self.store.texts.use_full_text, article.id, page.text):
                found[article.id] = page
                image = lead_image(page, article)
                if image is not None:
                    await self.db.run(self.store.images.offer, article.id, image)

    async def _page(self, host: str, article: Article) -> PageText | None:
        url = article.url or ""
        await self.pacer.turn(host)
        try:
            result = await self.fetcher.fetch(url, accept=_HTML_ACCEPT)
            if result.body is None:
                raise PageFailed("empty", "no body")
            if result.content_type not in _HTML_TYPES:
                raise PageFailed("not_html", result.content_type or "no content type")
            # trafilatura parses and scores the whole page: seconds of CPU on a large one.
            async with self._extracting:
                return await asyncio.to_thread(extract_page, result.body, result.final_url)
        except (FetchRefused, FetchFailed) as err:
            reason, detail = err.reason, err.detail
        except PageFailed as err:
            reason, detail = err.reason, err.detail
        except Exception as err:
            if storage_fault(err) is not None:
                raise
            log.exception("article %s: extracting its page from %s failed", article.id, host)
            return None
        # The host only: article links can carry access keys.
        log.info("article %s: no full text from %s: %s (%s)", article.id, host, reason, detail)
        return None
