"""From input bytes to stored articles with polls and queued deliveries."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.article_input import InputRejected, normalise_guid, normalise_url
from bot.article_input.feed_entries import FeedEntry, parse_any_lazily
from handlers.context import CoreConfig
from storage.models import Article, NewArticle
from storage.store import Store, content_hash
from storage.tags import MAX_TAGS_PER_ARTICLE, tag_key

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 5_000_000
INPUT_SUFFIXES = {".txt", ".xml", ".rss", ".atom", ".rdf", ".json", ".md"}


@dataclass(slots=True)
class IngestReport:
    new: list[Article] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name, reason key)
    deliveries: int = 0
    tags_dropped: int = 0  # beyond MAX_TAGS_PER_ARTICLE, summed over the new articles

    def merge(self, other: IngestReport) -> None:
        self.new += other.new
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.deliveries += other.deliveries
        self.tags_dropped += other.tags_dropped


def dedupe_keys(article: NewArticle) -> tuple[str, str | None]:
    """The unique key (normalised GUID, else link, else content hash) and the link's key."""
    # Many feeds use the link as GUID: compare such GUIDs with links too.
    guid = (article.guid or "").strip()
    link = article.url or (guid if guid.lower().startswith(("http://", "https://")) else None)
    url_key = normalise_url(link) if link else None
    if guid:
        return "guid:" + normalise_guid(guid), url_key
    if url_key:
        return "url:" + url_key, url_key
    return "hash:" + content_hash(article.title, article.body), None


def store_article(
    store: Store,
    config: CoreConfig,
    article: NewArticle,
    *,
    extra_tags: Iterable[str] = (),
    deliver: bool = True,
) -> IngestReport:
    language = article.language if article.language in config.polls else config.default_language
    poll = config.polls[language]
    cut = 0
    if extra_tags:
        seen = {tag_key(t) for t in article.tags}
        extra = tuple(t for t in extra_tags if tag_key(t) not in seen)
        # A source's own tags route its articles to subscribers: the article's tags make room
        # for them under the cap, rather than the other way round.
        room = max(0, MAX_TAGS_PER_ARTICLE - len(extra))
        cut = max(0, len(article.tags) - room)
        article = dataclasses.replace(article, tags=article.tags[:room] + extra)
    key, url_key = dedupe_keys(article)
    # Option 1 is the best, as in German school grades; its score is 5.
    options = [(label, 5 - i) for i, label in enumerate(poll.options)]
    result = store.add_article(
        article,
        dedupe_key=key,
        url_key=url_key,
        question=(article.question or poll.question)[:300],
        options=options,
        language=language,
        deliver=deliver,
    )
    report = IngestReport()
    if result.article is None:
        report.duplicates += 1
    else:
        report.new.append(result.article)
        report.deliveries += result.deliveries
        report.tags_dropped += result.tags_dropped + cut
    return report


@dataclass(slots=True)
class Loaded:
    """Articles read and parsed from one file or body, ready to store; parsing needs no
    database, so it can run off the event loop. A feed's entries may come unbuilt
    (`FeedEntry`): those the store already has are then never built (see `prepare`)."""

    name: str
    articles: Sequence[NewArticle | FeedEntry] = field(default_factory=list)
    rejected: str | None = None  # the reason key when nothing could be read
    # An upload that yields no article at all is rejected ("no_articles"); a polled feed is not.
    reject_if_empty: bool = False


@dataclass(frozen=True, slots=True)
class AlreadyStored:
    """An item whose GUID, link or text key the store already holds: counted, never built."""

    published: datetime | None


@dataclass(slots=True)
class Prepared:
    """Loaded items checked against the store and built, in their order, ready to store."""

    articles: list[NewArticle | AlreadyStored] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name, reason key)


def _item_keys(item: NewArticle | FeedEntry) -> tuple[str, str | None] | None:
    """An item's dedupe keys when they need no text: a feed entry without GUID or link is
    keyed by its text, so it has to be built first."""
    if isinstance(item, NewArticle):
        return dedupe_keys(item)
    if not item.guid and not item.url:
        return None
    return dedupe_keys(NewArticle(title="", body="", url=item.url, guid=item.guid))


def known_keys(store: Store, loaded: Sequence[Loaded]) -> set[str]:
    """Which of the loaded items' keys the store already has: one query per batch of keys."""
    keys = [k for item in loaded for k in map(_item_keys, item.articles) if k is not None]
    return store.stored_keys([key for key, _ in keys], [url for _, url in keys if url])


def prepare(loaded: Sequence[Loaded], known: set[str]) -> Prepared:
    """Build the items whose keys are not `known` (from `known_keys`); the others stay
    `AlreadyStored`. Needs no database, so it can run off the event loop too."""
    prepared = Prepared()
    for item in loaded:
        if item.rejected:
            prepared.rejected.append((item.name, item.rejected))
            continue
        before = len(prepared.articles)
        for entry in item.articles:
            keys = _item_keys(entry)
            if keys is not None and not known.isdisjoint(k for k in keys if k is not None):
                prepared.articles.append(AlreadyStored(entry.published))
                continue
            article = entry.article() if isinstance(entry, FeedEntry) else entry
            if article is not None:
                prepared.articles.append(article)
        if item.reject_if_empty and len(prepared.articles) == before:
            log.info("rejected %s: no_articles", item.name)
            prepared.rejected.append((item.name, "no_articles"))
    return prepared


def parse_loaded(data: bytes, *, name: str, source: str) -> Loaded:
    try:
        return Loaded(name, parse_any_lazily(data, name=name, source=source), reject_if_empty=True)
    except InputRejected as err:
        log.info("rejected %s: %s (%s)", name, err.reason_key, err.detail)
        return Loaded(name, rejected=err.reason_key)


def load_file(path: Path, *, source: str) -> Loaded:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return Loaded(str(path), rejected="too_large")
        data = path.read_bytes()
    except OSError as err:
        log.warning("cannot read %s: %s", path, err)
        return Loaded(str(path), rejected="unreadable")
    return parse_loaded(data, name=str(path), source=source)


def input_files(path: Path) -> Iterator[Path]:
    """A file, or the article files in a folder (sorted, so ingest order is stable)."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix.lower() in INPUT_SUFFIXES:
                yield child
    else:
        yield path


def load_path(path: Path, *, source: str = "file") -> list[Loaded]:
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
    """Store parsed articles in their order (see `store_prepared`); items the store already
    has are counted without being built."""
    prepared = prepare(loaded, known_keys(store, loaded))
    return store_prepared(
        store, config, prepared, extra_tags=extra_tags, deliver_newest=deliver_newest
    )


def store_prepared(
    store: Store,
    config: CoreConfig,
    prepared: Prepared,
    *,
    extra_tags: tuple[str, ...] = (),
    deliver_newest: int | None = None,
) -> IngestReport:
    """Store prepared articles in their order. With `deliver_newest`, only that many of the
    last ones are posted (a source's first fetch: its backlog is archived, not flooded into
    chats)."""
    report = IngestReport()
    articles = prepared.articles
    report.rejected += prepared.rejected
    posted_from = len(articles) - deliver_newest if deliver_newest is not None else 0
    for index, article in enumerate(articles):
        if isinstance(article, AlreadyStored):
            report.duplicates += 1
            continue
        report.merge(
            store_article(
                store, config, article, extra_tags=extra_tags, deliver=index >= posted_from
            )
        )
    return report


def ingest_bytes(
    store: Store,
    config: CoreConfig,
    data: bytes,
    *,
    name: str,
    source: str = "file",
    extra_tags: Iterable[str] = (),
) -> IngestReport:
    loaded = parse_loaded(data, name=name, source=source)
    return store_loaded(store, config, [loaded], extra_tags=tuple(extra_tags))


def ingest_path(
    store: Store,
    config: CoreConfig,
    path: Path,
    *,
    source: str = "file",
    extra_tags: Iterable[str] = (),
) -> IngestReport:
    return store_loaded(store, config, load_path(path, source=source), extra_tags=tuple(extra_tags))
