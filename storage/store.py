"""The store's front: the typed methods handlers call, each answered by one storage module."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from storage.article_images import ArticleImages
from storage.article_texts import ArticleTexts
from storage.articles import Articles
from storage.audit import AuditLog
from storage.db import Connection, Db, utcnow
from storage.db import from_ts as from_ts  # re-exported: the column format of times
from storage.db import to_ts as to_ts
from storage.feeds import Feeds
from storage.filters import Filters
from storage.leases import Leases
from storage.links import Links
from storage.location import Location
from storage.maintenance import Maintenance
from storage.models import (
    Article,
    ChatRef,
    ChatSettings,
    DbStats,
    Delivery,
    ExportedPoll,
    Feed,
    FeedAdded,
    IngestResult,
    MessageRef,
    NewArticle,
    Poll,
    Post,
    RatedArticle,
    SubscribeResult,
    Subscription,
    TagCount,
    UserRef,
    VoteOutcome,
    VoteResult,
)
from storage.outbox import Outbox
from storage.oversight import Oversight
from storage.polls import ChooseOption, Polls
from storage.posts import Posts
from storage.reports import Reports
from storage.schedules import Schedules
from storage.subscriptions import Subscriptions

# The tag rules live in storage/tags.py; these names stay importable from here.
from storage.tags import ALL_TAGS as ALL_TAGS
from storage.tags import MAX_TAG_CHARS as MAX_TAG_CHARS
from storage.tags import MAX_TAGS_PER_ARTICLE as MAX_TAGS_PER_ARTICLE
from storage.tags import fit_tag as fit_tag
from storage.tags import tag_key as tag_key
from storage.tags import tags_to_keep as _tags_to_keep
from storage.topics import ForumTopics

log = logging.getLogger(__name__)


def content_hash(title: str, body: str) -> str:
    text = unicodedata.normalize("NFKC", f"{title}\n{body}").casefold()
    text = re.sub(r"\W+", " ", text).strip()
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    """newsbot's database as handlers see it: one module per kind of data over one database
    layer (storage.db); a method that spans kinds groups their work in one atomic write."""

    def __init__(
        self,
        location: str | Path | Location,
        *,
        clock: Callable[[], datetime] = utcnow,
        synchronous: str = "NORMAL",
        read_only: bool = False,
    ) -> None:
        self.engine = Db(location, clock=clock, synchronous=synchronous, read_only=read_only)
        self.articles = Articles(self.engine)
        self.polls = Polls(self.engine, self.articles)
        self.posts = Posts(self.engine)
        self.schedules = Schedules(self.engine)  # time zones, digests, quiet hours
        self.outbox = Outbox(self.engine, self.posts, self.schedules)
        self.chats = Subscriptions(self.engine)
        self.images = ArticleImages(self.engine)
        self.filters = Filters(self.engine, self.articles)  # keyword filters per chat
        self.feed_sources = Feeds(self.engine)
        self.audit_log = AuditLog(self.engine)
        self.maintenance = Maintenance(self.engine)
        self.leases = Leases(self.engine)  # what several workers hand each other
        self.topics = ForumTopics(self.engine)
        self.links = Links(self.engine, self.polls)  # accounts linked into one person
        self.reports = Reports(self.engine)  # the weekly style report's figures
        self.oversight = Oversight(self.engine)  # /healthz, /metrics, the dashboard
        self.texts = ArticleTexts(self.engine)  # full texts and translations (issue #15)

    # -- plumbing -------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.engine.path

    @property
    def read_only(self) -> bool:
        return self.engine.read_only

    @property
    def db(self) -> Database:
        """The sqlite-utils view of the connection (migrations, tests, benchmarks)."""
        return self.engine.database

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.engine.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.engine.clock = clock

    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names (see Db.migrate)."""
        return self.engine.migrate()

    def pending_migrations(self) -> list[str]:
        return self.engine.pending_migrations()

    def close(self) -> None:
        self.engine.close()

    def before_commit(self, hook: Callable[[Connection], None]) -> None:
        """Run `hook` inside every write, just before it commits (the update inbox)."""
        self.engine.before_commit(hook)

    def now(self) -> datetime:
        return self.engine.now()

    # -- articles -------------------------------------------------------------------------

    def add_article(
        self,
        new: NewArticle,
        *,
        dedupe_key: str,
        url_key: str | None,
        question: str,
        options: Sequence[tuple[str, int]],
        language: str,
        deliver: bool = True,
    ) -> IngestResult:
        """Store a parsed article, its poll and its deliveries in one write; a duplicate
        (same key, link or text) stores nothing."""
        chash = content_hash(new.title, new.body)
        tags, dropped = _tags_to_keep(new.tags)
        with self.engine.write():
            duplicate = self.articles.duplicate_of(dedupe_key, chash, url_key)
            if duplicate is not None:
                return IngestResult(article=None, duplicate_of=duplicate)
            article = self.articles.insert(
                new,
                dedupe_key=dedupe_key,
                url_key=url_key,
                chash=chash,
                language=language,
                tags=tags,
            )
            article_id = article.id
            if dropped:
                log.info(
                    "article %s: %s tags beyond the first %s were dropped",
                    article_id,
                    dropped,
                    MAX_TAGS_PER_ARTICLE,
                )
            self.polls.create(article_id, question, options)
            deliveries = 0
            if deliver:
                keys = sorted({key for key, _name in tags} | {ALL_TAGS})
                admitted = self.filters.admitted(keys, new.title, new.body, [n for _k, n in tags])
                deliveries = self.outbox.queue_article(article_id, keys, admitted)
        # As stored: the row is not read back.
        return IngestResult(article=article, deliveries=deliveries, tags_dropped=dropped)

    def stored_keys(self, dedupe_keys: Sequence[str], url_keys: Sequence[str] = ()) -> set[str]:
        """Which of these dedupe keys and link keys are already taken: an article carrying
        one of them would be a duplicate, so it need not be built before `add_article`."""
        return self.articles.stored_keys(dedupe_keys, url_keys)

    def get_article(self, article_id: int, *, include_removed: bool = True) -> Article | None:
        return self.articles.get(article_id, include_removed=include_removed)

    def latest_articles(self, tag: str | None = None, limit: int = 5) -> list[Article]:
        return self.articles.latest(tag_key(tag) if tag else None, limit)

    def find_articles(self, text: str, limit: int = 50) -> list[Article]:
        """Title or tag contains `text`, newest first (inline queries; search ranks)."""
        return self.articles.find(text, limit)

    def count_articles(self, *, exclude_source: str | None = None) -> int:
        return self.articles.count(exclude_source=exclude_source)

    def tag_counts(self, limit: int = 50) -> list[TagCount]:
        return self.articles.tag_counts(limit)

    def tags_matching(self, text: str, limit: int = 25) -> list[str]:
        """Known tags containing `text`, prefixes and most used first (tag completion)."""
        return self.articles.tags_matching(tag_key(text), limit)

    def known_tag(self, tag: str) -> str | None:
        """The display spelling of a known tag, or None."""
        return self.articles.tag_name(tag_key(tag))

    # -- subscriptions --------------------------------------------------------------------

    def subscribe(
        self,
        chat: ChatRef,
        tags: Iterable[str],
        *,
        backlog: int = 1,
        hold: timedelta = timedelta(0),
        thread: str = "",
    ) -> SubscribeResult:
        """Subscribe the chat (its forum topic `thread`) to `tags`; the newest `backlog` new
        tags' articles not sent there yet are queued, due after `hold` or release_held()."""
        added: list[str] = []
        already: list[str] = []
        queued = 0
        with self.engine.write():
            for tag in tags:
                key = tag_key(tag)
                if not key:
                    continue
                name = self.known_tag(tag) or tag.strip().lstrip("#").strip()
                if key == ALL_TAGS:
                    name = ALL_TAGS
                (added if self.chats.add(chat, key, name, thread) else already).append(name)
            if added and backlog > 0:
                keys = [tag_key(t) for t in added]
                wanted = None if ALL_TAGS in keys else keys
                passes = self.filters.screen(chat)
                queued = self.outbox.queue_backlog(chat, wanted, backlog, hold, thread, passes)
        return SubscribeResult(added=added, already=already, backlog_queued=queued)

    def release_held(self, chat: ChatRef) -> int:
        """The chat's held backlog rows come due now (the answer that announced them is out)."""
        return self.outbox.release_held(chat)

    def unsubscribe(self, chat: ChatRef, tags: Iterable[str] | None) -> list[str]:
        """Remove subscriptions; None removes all. Returns the tags removed."""
        return self.chats.remove(chat, None if tags is None else [tag_key(t) for t in tags])

    def subscriptions(self, chat: ChatRef) -> list[Subscription]:
        return self.chats.of(chat)

    def pause_chat(self, chat: ChatRef, reason: str) -> int:
        """The chat cannot be reached: pause its subscriptions, park its deliveries (count)."""
        with self.engine.write():
            self.chats.pause(chat, reason)
            return self.outbox.pause_chat(chat, reason)

    def migrate_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat got a new id (Telegram group -> supergroup): move everything that names it."""
        self.chats.move_chat(old, new)
        self.schedules.move_chat(old, new)

    # -- chat settings ------------------------------------------------------------------

    def chat_settings(self, chat: ChatRef) -> ChatSettings:
        return self.chats.settings(chat)

    def update_chat_settings(self, chat: ChatRef, **changes: object) -> ChatSettings:
        return self.chats.update_settings(chat, changes)

    # -- polls and votes ----------------------------------------------------------------

    def get_poll(self, article_id: int) -> Poll | None:
        return self.polls.get(article_id)

    def cast_vote(self, article_id: int, user: UserRef, position: int) -> VoteOutcome:
        """One vote per person and article (see Polls.cast_vote)."""
        return self.polls.cast_vote(article_id, user, position)

    def vote(self, article_id: int, user: UserRef, choose: ChooseOption) -> VoteResult:
        """A checked vote in one write: `choose(article, poll state)` returns the option or
        raises, and then nothing is written (see Polls.vote)."""
        return self.polls.vote(article_id, user, choose)

    def polls_changed(self, article_ids: Iterable[int]) -> None:
        """Recount the polls from the votes table and mark their posts for a refresh."""
        self.polls.changed(article_ids)

    def set_poll_closed(self, article_id: int, closed: bool) -> bool:
        return self.polls.set_closed(article_id, closed)

    def top_articles(
        self, tag: str | None = None, limit: int = 5, *, prior_weight: float = 5.0
    ) -> list[RatedArticle]:
        """Best-rated articles by a Bayesian average (see Polls.top_articles)."""
        return self.polls.top_articles(tag_key(tag) if tag else None, limit, prior_weight)

    def polls_for_export(self, article_id: int | None = None) -> list[ExportedPoll]:
        ids = self.polls.ids() if article_id is None else [article_id]
        out: list[ExportedPoll] = []
        for aid in ids:
            article, poll = self.get_article(aid), self.get_poll(aid)
            if article and poll:
                out.append(ExportedPoll(article=article, poll=poll))
        return out

    # -- the outbox -----------------------------------------------------------------------

    def claim_deliveries(
        self,
        platforms: Iterable[str],
        *,
        only_chats: Mapping[str, Collection[str]] | None = None,
        limit: int = 100,
        lease: float = 120.0,
        worker: str = "",
    ) -> list[Delivery]:
        """Lease due deliveries to `worker`; `only_chats` limits a platform to those chats."""
        return self.outbox.claim(
            platforms, only_chats or {}, limit=limit, lease=lease, worker=worker
        )

    def release_claims(self, worker: str, *, count_attempt: bool) -> int:
        """Give back every row `worker` holds; `count_attempt` when a send may have left."""
        return self.outbox.release_claims(worker, count_attempt=count_attempt)

    def renew_delivery_claims(self, worker: str, lease: float) -> int:
        """The rows `worker` holds stay its own for `lease` more seconds."""
        return self.outbox.renew_claims(worker, lease)

    def delivery_sent(
        self,
        delivery_id: int,
        message: MessageRef,
        poll_version: int,
        language: str | None = None,
    ) -> None:
        self.outbox.sent(delivery_id, message, poll_version, language)

    def delivery_retry(self, delivery_id: int, error: str, delay: float) -> None:
        self.outbox.retry(delivery_id, error, delay)

    def delivery_release(self, delivery_id: int) -> None:
        """Give a claimed row back untried (its chat waits on an earlier row)."""
        self.outbox.release(delivery_id)

    def delivery_failed(self, delivery_id: int, error: str) -> None:
        self.outbox.failed(delivery_id, error)

    def delivery_moved(self, delivery_id: int, new_chat: ChatRef) -> None:
        """Point an undelivered row at the chat's new id and make it due at once."""
        self.outbox.moved(delivery_id, new_chat)

    def deliveries_for_chat(self, chat: ChatRef, status: str | None = None) -> list[Delivery]:
        return self.outbox.for_chat(chat, status)

    def due_count(self, chat: ChatRef) -> int:
        """Deliveries for the chat that are due now or being sent."""
        return self.outbox.due_count(chat)

    # -- posts and live counts ------------------------------------------------------------

    def record_post(
        self,
        article_id: int,
        message: MessageRef,
        poll_version: int,
        language: str | None = None,
    ) -> None:
        self.posts.record(article_id, message, poll_version, language)

    def stale_posts(
        self,
        platforms: Iterable[str],
        limit: int = 200,
        *,
        only_chats: Mapping[str, Collection[str]] | None = None,
    ) -> list[Post]:
        """Posts whose counts are older than their poll: the coalescing job edits these."""
        return self.posts.stale(platforms, limit, only_chats or {})

    def claim_stale_posts(
        self,
        platforms: Iterable[str],
        limit: int = 200,
        *,
        only_chats: Mapping[str, Collection[str]] | None = None,
        worker: str,
        lease: float,
    ) -> list[Post]:
        """Stale posts no other worker is editing, claimed by `worker` for `lease` seconds."""
        return self.posts.claim_stale(
            platforms, limit, only_chats or {}, worker=worker, lease=lease
        )

    def renew_refresh_claims(self, worker: str, lease: float) -> int:
        """The posts `worker` is editing stay its own for `lease` more seconds."""
        return self.posts.renew_refresh_claims(worker, lease)

    def release_refresh_claims(self, worker: str, post_ids: Sequence[int] | None = None) -> int:
        """`worker` is done editing these posts (every post it holds when None)."""
        return self.posts.release_refresh_claims(worker, post_ids)

    def post_rendered(self, post_id: int, version: int) -> None:
        self.posts.rendered(post_id, version)

    def post_outdated(self, message: MessageRef) -> None:
        """The message does not show what was recorded for it: edit it again."""
        self.posts.outdated(message)

    def post_at(self, message: MessageRef) -> Post | None:
        """The post a message of the bot's shows, if it was recorded as one."""
        return self.posts.at(message)

    def posts_of(self, article_id: int) -> list[Post]:
        return self.posts.of(article_id)

    # -- sources (feeds, files, the demo) ---------------------------------------------------

    def add_feed(
        self,
        location: str,
        kind: str,
        *,
        interval_seconds: int,
        tags: Sequence[str] = (),
        fulltext: bool = False,
    ) -> FeedAdded:
        """Add a source; an existing location is returned unchanged (not created)."""
        return self.feed_sources.add(
            location, kind, interval_seconds=interval_seconds, tags=tags, fulltext=fulltext
        )

    def get_feed(self, feed_id: int) -> Feed | None:
        return self.feed_sources.get(feed_id)

    def feeds(self) -> list[Feed]:
        return self.feed_sources.all()

    def remove_feed(self, feed_id: int) -> Feed | None:
        return self.feed_sources.remove(feed_id)

    def set_feed_state(self, feed_id: int, state: str) -> Feed | None:
        return self.feed_sources.set_state(feed_id, state)

    def due_feeds(self) -> list[Feed]:
        return self.feed_sources.due()

    def claim_due_feeds(self, worker: str, *, lease: float, limit: int = 500) -> list[Feed]:
        """Due sources no other worker is fetching, claimed by `worker` (see Feeds.claim_due)."""
        return self.feed_sources.claim_due(worker, lease=lease, limit=limit)

    def release_feed(self, feed_id: int, worker: str) -> None:
        self.feed_sources.release(feed_id, worker)

    def feed_fetched(
        self,
        feed_id: int,
        *,
        next_in: float,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
    ) -> None:
        self.feed_sources.fetched(
            feed_id, next_in=next_in, etag=etag, last_modified=last_modified, body_hash=body_hash
        )

    def feed_failed(self, feed_id: int, error: str, *, next_in: float, park_after: int) -> Feed:
        return self.feed_sources.failed(feed_id, error, next_in=next_in, park_after=park_after)

    def feed_fetched_once(self, feed_id: int) -> bool:
        return self.feed_sources.fetched_once(feed_id)

    # -- small key-value state ------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        return self.maintenance.get_state(key)

    def set_state(self, key: str, value: str) -> None:
        self.maintenance.set_state(key, value)

    # -- the audit log --------------------------------------------------------------------

    def audit(
        self,
        *,
        platform: str,
        chat_id: str | None,
        actor: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        outcome: str = "ok",
    ) -> None:
        self.audit_log.record(
            platform=platform,
            chat_id=chat_id,
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            outcome=outcome,
        )

    # -- maintenance ----------------------------------------------------------------------

    def stats(self) -> DbStats:
        return self.maintenance.stats()

    def backup(self, target: str | Path) -> None:
        """A consistent copy while writers go on (see Maintenance.backup)."""
        self.maintenance.backup(target)
