"""Where articles come from on a schedule: local files and folders, and the bundled demo."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bot.article_input import InputRejected, parse_any
from bot.ingest import MAX_FILE_BYTES, IngestReport, input_files, store_article
from handlers.context import CoreConfig
from storage.models import Feed, NewArticle
from storage.store import Store

log = logging.getLogger(__name__)

DEMO_CURSOR = "demo.cursor"
DEMO_SOURCE = "demo"


@dataclass(slots=True)
class Loaded:
    """Articles read and parsed from one file, off the event loop."""

    name: str
    articles: list[NewArticle] = field(default_factory=list)
    rejected: str | None = None


def load_file(path: Path, *, source: str) -> Loaded:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return Loaded(str(path), rejected="too_large")
        data = path.read_bytes()
    except OSError as err:
        log.warning("cannot read %s: %s", path, err)
        return Loaded(str(path), rejected="unreadable")
    try:
        return Loaded(str(path), parse_any(data, name=str(path), source=source))
    except InputRejected as err:
        return Loaded(str(path), rejected=err.reason_key)


def load_path(path: Path, *, source: str) -> list[Loaded]:
    if not path.exists():
        return [Loaded(str(path), rejected="missing")]
    return [load_file(file, source=source) for file in input_files(path)]


def store_loaded(
    store: Store,
    config: CoreConfig,
    loaded: list[Loaded],
    *,
    extra_tags: tuple[str, ...] = (),
    deliver_newest: int | None = None,
) -> IngestReport:
    """Store parsed articles. With `deliver_newest`, only that many of the newest are posted
    (a source's first fetch: its backlog is archived, not flooded into chats)."""
    report = IngestReport()
    articles = [a for item in loaded for a in item.articles]
    report.rejected += [(item.name, item.rejected) for item in loaded if item.rejected]
    posted_from = len(articles) - deliver_newest if deliver_newest is not None else 0
    # Oldest first, so that article numbers follow publication order.
    for index, article in enumerate(articles):
        report.merge(
            store_article(
                store, config, article, extra_tags=extra_tags, deliver=index >= posted_from
            )
        )
    return report


class SourcePoller:
    """Fetches due sources. Their schedule state lives in the feeds table, not in the job
    store, so several processes and restarts agree on it."""

    def __init__(
        self, store: Store, config: CoreConfig, *, backlog: int = 1, park_after: int = 10
    ) -> None:
        self.store = store
        self.config = config
        self.backlog = backlog
        self.park_after = park_after

    async def poll_due(self) -> IngestReport:
        report = IngestReport()
        for feed in self.store.due_feeds():
            report.merge(await self.fetch(feed))
        return report

    async def fetch(self, feed: Feed) -> IngestReport:
        if feed.kind != "path":
            log.warning("source %s: kind %s is not supported here", feed.id, feed.kind)
            return IngestReport()
        first = not self.store.feed_fetched_once(feed.id)
        loaded = await asyncio.to_thread(load_path, Path(feed.location), source=f"feed:{feed.id}")
        missing = [item for item in loaded if item.rejected == "missing"]
        if missing:
            self.store.feed_failed(
                feed.id,
                "path not found",
                next_in=feed.interval_seconds,
                park_after=self.park_after,
            )
            return IngestReport(rejected=[(feed.location, "missing")])
        report = store_loaded(
            self.store,
            self.config,
            loaded,
            extra_tags=feed.tags,
            deliver_newest=self.backlog if first else None,
        )
        self.store.feed_fetched(feed.id, next_in=feed.interval_seconds)
        if report.new:
            log.info("source %s: %s new articles", feed.id, len(report.new))
        return report


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
