"""Where articles come from on a schedule: feeds over HTTP, local files and folders, the demo."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Protocol, TypeVar

from bot.address_guard import AddressGuard
from bot.article_input import InputRejected, parse_any
from bot.article_input.feed_entries import FeedEntry, read_feed_entries
from bot.feed_fetch import FeedFetcher, FetchResult
from bot.fetch_errors import FetchFailed, FetchRefused
from bot.fulltext import FullTexts, HostPacer
from bot.ingest import (
    IngestReport,
    Loaded,
    Prepared,
    known_keys,
    load_path,
    prepare,
    store_article,
    store_prepared,
)
from bot.metrics import Metrics
from bot.settings import Settings
from handlers.context import CoreConfig
from storage.database_thread import DatabaseThread
from storage.faults import storage_fault
from storage.models import Feed
from storage.store import Store

log = logging.getLogger(__name__)

DEMO_CURSOR = "demo.cursor"
DEMO_SOURCE = "demo"


@dataclass(slots=True)
class FeedOutcome:
    """What one fetch of a source came to: new (articles stored, maybe none new), unchanged
    (304, or reason "same_body": the bytes last stored in full, sent again), refused (we will
    not take it: internal address, too large, DOCTYPE...) or failed (it may pass: timeout,
    HTTP error...), with the reason key and its detail."""

    feed: Feed
    kind: str
    report: IngestReport = field(default_factory=IngestReport)
    reason: str = ""
    detail: str = ""


# Parse rejections that are refusals (retrying the same bytes cannot help) rather than failures.
_REFUSED_INPUT = frozenset({"doctype", "too_deep", "too_large"})
DAY = 86400.0


class _Dated(Protocol):
    @property
    def published(self) -> datetime | None: ...


DatedT = TypeVar("DatedT", bound=_Dated)


def oldest_first(articles: list[DatedT]) -> list[DatedT]:
    """Feed entries oldest first, so that article numbers follow publication and the newest are
    the ones a first fetch posts. Feeds list the newest first; dates decide when all have one."""
    ordered = list(reversed(articles))
    if all(a.published for a in ordered):
        ordered.sort(key=lambda a: a.published or 0)
    return ordered


def body_digest(body: bytes, final_url: str) -> str:
    """What identifies a fetched body: its bytes, and the address its relative links resolve
    against."""
    return hashlib.sha256(final_url.encode() + b"\n" + body).hexdigest()


def _entries_if_changed(
    body: bytes, final_url: str, last_digest: str | None, source: str
) -> tuple[str, list[FeedEntry] | None]:
    """The body's digest, and its entries unless it is the body last stored in full."""
    digest = body_digest(body, final_url)
    if digest == last_digest:
        return digest, None
    return digest, read_feed_entries(body, source=source, base_url=final_url)


class SourcePoller:
    """Fetches due sources, at most `concurrency` at once. Their schedule state lives in the
    feeds table, not in the job store, so several processes and restarts agree on it.

    Spreading: a feed's next fetch is its interval ± jitter after the last one, and the first
    one after adding lands anywhere within half an interval either side, so that thousands of
    feeds added at once spread over their interval instead of coming due together. A failing
    feed waits interval x 2^failures (at most a day), and is parked after park_after failures
    in a row with its last error."""

    def __init__(
        self,
        store: Store,
        config: CoreConfig,
        *,
        backlog: int = 1,
        park_after: int = 10,
        fetcher: FeedFetcher | None = None,
        concurrency: int = 10,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        db: DatabaseThread | None = None,
        worker: str = "",
        claim_lease: float = 300.0,
        full_texts: FullTexts | None = None,
    ) -> None:
        self.store = store  # used in the database thread `db` only
        # With a worker name, each due source is claimed for `claim_lease` seconds before it is
        # fetched, so that several workers never fetch one source at once.
        self.worker = worker
        self.claim_lease = claim_lease
        self.db = db or DatabaseThread()
        self.config = config
        self.backlog = backlog
        self.park_after = park_after
        self.fetcher = fetcher or FeedFetcher(AddressGuard())
        self.jitter = jitter
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(concurrency)
        self.metrics = Metrics()  # the App's own (Runtime.metrics) while the bot runs
        # The pages of --fulltext sources' new articles, through the same guarded fetcher.
        self.full_texts = full_texts or FullTexts(store, self.db, self.fetcher)

    @classmethod
    def from_settings(
        cls,
        store: Store,
        config: CoreConfig,
        settings: Settings,
        *,
        db: DatabaseThread | None = None,
        worker: str = "",
    ) -> SourcePoller:
        fetcher = FeedFetcher(
            AddressGuard(allow_private=settings.allow_private_feeds),
            timeout=settings.feed_timeout,
            connect_timeout=settings.feed_connect_timeout,
            max_bytes=settings.feed_max_bytes,
            per_host_limit=settings.feed_per_host,
            total_limit=settings.feed_concurrency,
        )
        db = db or DatabaseThread()
        full_texts = FullTexts(
            store,
            db,
            fetcher,
            pacer=HostPacer(settings.fulltext_host_spacing),
            max_pages=settings.fulltext_max_pages,
        )
        return cls(
            store,
            config,
            full_texts=full_texts,
            backlog=settings.backlog,
            park_after=settings.feed_park_after,
            fetcher=fetcher,
            concurrency=settings.feed_concurrency,
            jitter=settings.feed_jitter,
            db=db,
            worker=worker,
            # A fetch is bounded by feed_timeout; parsing and storing take the rest.
            claim_lease=settings.feed_timeout + 120.0,
        )

    async def poll_due(self) -> IngestReport:
        report = IngestReport()
        for outcome in await self.fetch_all(await self.db.run(self._due)):
            report.merge(outcome.report)
        return report

    def _due(self) -> list[Feed]:
        if not self.worker:
            return self.store.due_feeds()
        return self.store.claim_due_feeds(self.worker, lease=self.claim_lease)

    async def fetch_all(
        self, feeds: list[Feed], on_done: Callable[[FeedOutcome], object] | None = None
    ) -> list[FeedOutcome]:
        """Fetch these sources now, at most `concurrency` at once; the outcomes in the given
        order. `on_done` hears of each as it finishes (a progress bar)."""

        async def fetch(feed: Feed) -> FeedOutcome:
            outcome = await self._fetch_bounded(feed)
            if on_done is not None:
                on_done(outcome)
            return outcome

        async with self.fetcher.cycle():
            return list(await asyncio.gather(*(fetch(feed) for feed in feeds)))

    async def _fetch_bounded(self, feed: Feed) -> FeedOutcome:
        async with self._slots:
            try:
                outcome = await self.fetch_feed(feed)
            except Exception as exc:
                if storage_fault(exc) is not None:
                    raise  # the database, not the feed: the job waits it out
                # One broken feed must not stop the others; it is retried with backoff.
                log.exception("source %s: fetch failed unexpectedly", feed.id)
                outcome = await self._failed(feed, "failed", "internal", type(exc).__name__)
            finally:
                if self.worker:
                    await self._release(feed)
            self.metrics.feed_fetched(outcome.kind)
            return outcome

    async def _release(self, feed: Feed) -> None:
        try:
            await self.db.run(self.store.release_feed, feed.id, self.worker)
        except Exception as err:
            if storage_fault(err) is None:
                raise
            # Its claim runs out by itself; the source is not due before then anyway.
            log.info("source %s: cannot give back the claim: %s", feed.id, err)

    async def fetch_feed(self, feed: Feed) -> FeedOutcome:
        if feed.kind == "path":
            return await self._fetch_path(feed)
        if feed.kind != "url":
            return await self._failed(feed, "refused", "kind", f"unknown source kind {feed.kind}")
        first = not await self.db.run(self.store.feed_fetched_once, feed.id)
        try:
            result = await self.fetcher.fetch(feed.location, feed.etag, feed.last_modified)
        except FetchRefused as err:
            return await self._failed(feed, "refused", err.reason, err.detail)
        except FetchFailed as err:
            return await self._failed(feed, "failed", err.reason, err.detail)
        if result.not_modified or result.body is None:
            await self._fetched(feed, first, result)
            return FeedOutcome(feed, "unchanged")
        try:
            # feedparser is slow on large feeds: off the event loop, which keeps serving chats.
            digest, entries = await asyncio.to_thread(
                _entries_if_changed,
                result.body,
                result.final_url,
                feed.body_hash,
                f"feed:{feed.id}",
            )
        except InputRejected as err:
            kind = "refused" if err.reason_key in _REFUSED_INPUT else "failed"
            return await self._failed(feed, kind, err.reason_key, err.detail)
        if entries is None:
            # The server ignored the conditional GET and sent what is stored already.
            await self._fetched(feed, first, result)
            return FeedOutcome(feed, "unchanged", reason="same_body")
        loaded = [Loaded(feed.location, entries)]
        report = await self._store(feed, first, loaded, by_date=True, result=result, digest=digest)
        await self._stored(feed, report)
        return FeedOutcome(feed, "new", report)

    async def _stored(self, feed: Feed, report: IngestReport) -> None:
        if not report.new:
            return
        log.info("source %s: %s new articles", feed.id, len(report.new))
        if feed.fulltext:
            # Stored and queued for posting first: pages come after, and never hold up posts.
            await self.full_texts.fill(report.new)

    async def _store(
        self,
        feed: Feed,
        first: bool,
        loaded: list[Loaded],
        *,
        by_date: bool = False,
        result: FetchResult | None = None,
        digest: str | None = None,
    ) -> IngestReport:
        """Store what a fetch loaded and record the fetch: the keys are looked up in the
        database thread, the entries not stored yet are built off it, and the body's digest is
        recorded only after every entry is stored, so a failure halfway parses it again.
        `by_date`: a feed's entries are stored oldest first (see `oldest_first`)."""
        known = await self.db.run(lambda: known_keys(self.store, loaded))
        prepared: Prepared = await asyncio.to_thread(prepare, loaded, known)
        if by_date:
            prepared.articles = oldest_first(prepared.articles)
        next_in = self.next_in(feed, first=first)

        def store_all() -> IngestReport:
            report = store_prepared(
                self.store,
                self.config,
                prepared,
                extra_tags=feed.tags,
                deliver_newest=self.backlog if first else None,
            )
            self.store.feed_fetched(
                feed.id,
                next_in=next_in,
                etag=result.etag if result else None,
                last_modified=result.last_modified if result else None,
                body_hash=digest,
            )
            return report

        return await self.db.run(store_all)

    async def _fetch_path(self, feed: Feed) -> FeedOutcome:
        first = not await self.db.run(self.store.feed_fetched_once, feed.id)
        loaded = await asyncio.to_thread(load_path, Path(feed.location), source=f"feed:{feed.id}")
        if any(item.rejected == "missing" for item in loaded):
            outcome = await self._failed(feed, "failed", "missing", "path not found")
            outcome.report.rejected.append((feed.location, "missing"))
            return outcome
        report = await self._store(feed, first, loaded)
        await self._stored(feed, report)
        return FeedOutcome(feed, "new", report)

    async def _fetched(self, feed: Feed, first: bool, result: FetchResult) -> None:
        next_in = self.next_in(feed, first=first)
        await self.db.run(
            lambda: self.store.feed_fetched(
                feed.id, next_in=next_in, etag=result.etag, last_modified=result.last_modified
            )
        )

    async def _failed(self, feed: Feed, kind: str, reason: str, detail: str) -> FeedOutcome:
        next_in = self.backoff(feed)
        updated = await self.db.run(
            lambda: self.store.feed_failed(
                feed.id, f"{reason}: {detail}", next_in=next_in, park_after=self.park_after
            )
        )
        if updated.state == "parked" and feed.state != "parked":
            log.warning("source %s parked after %s failures: %s", feed.id, updated.failures, reason)
        else:
            log.info("source %s: %s (%s)", feed.id, reason, detail)
        return FeedOutcome(updated, kind, reason=reason, detail=detail)

    def next_in(self, feed: Feed, *, first: bool = False) -> float:
        spread = 0.5 if first else self.jitter
        return feed.interval_seconds * self.rng.uniform(1 - spread, 1 + spread)

    def backoff(self, feed: Feed) -> float:
        """Seconds until a feed that just failed (once more) is tried again."""
        doubled = feed.interval_seconds * 2.0 ** min(feed.failures + 1, 32)
        return min(DAY, doubled * self.rng.uniform(1 - self.jitter, 1 + self.jitter))


def demo_files() -> list[str]:
    folder = resources.files("bot") / "demo_articles"
    return sorted(item.name for item in folder.iterdir() if item.name.endswith(".txt"))


def demo_wanted(store: Store, enabled: bool) -> bool:
    """The demo runs when it is enabled, no source is configured and no real article exists."""
    return enabled and not store.feeds() and store.count_articles(exclude_source=DEMO_SOURCE) == 0


def ingest_next_demo(store: Store, config: CoreConfig) -> IngestReport:
    """Store the next bundled demo article, one per call, until all are in."""
    files = demo_files()
    cursor = int(store.get_state(DEMO_CURSOR) or 0)
    report = IngestReport()
    while cursor < len(files) and not report.new:
        name = files[cursor]
        data = (resources.files("bot") / "demo_articles" / name).read_bytes()
        cursor += 1
        try:
            articles = parse_any(data, name=name, source=DEMO_SOURCE)
        except InputRejected as err:
            log.error("demo article %s rejected: %s", name, err.reason_key)
            continue
        for article in articles:
            report.merge(store_article(store, config, article))
    store.set_state(DEMO_CURSOR, str(cursor))
    return report
