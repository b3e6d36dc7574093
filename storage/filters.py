"""The store's keyword filters per chat, which chats an article passes at fan-out, and the facts
/why N reads about one article in one chat."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.articles import Articles
from storage.db import Db, Row, from_ts, marks, to_ts
from storage.filter_rules import (
    ArticleText,
    ChatFilter,
    Kind,
    Mode,
    RuleRefused,
    Verdict,
    checked,
    judge,
    same_rule,
)
from storage.models import Article, ChatRef, Subscription
from storage.tags import ALL_TAGS, tag_key

_COLUMNS = "id, platform, chat_id, mode, kind, text"
_CACHED_CHATS = 10_000


@dataclass(frozen=True, slots=True)
class DeliveryTrace:
    """What became of an article's delivery row in one chat."""

    status: str  # pending, sending, sent, failed, paused
    next_try: datetime | None
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ArticleTrace:
    """Everything /why N weighs for one article in one chat."""

    article: Article | None
    delivery: DeliveryTrace | None
    subscriptions: list[Subscription]  # the chat's subscriptions to the article's tags
    verdict: Verdict | None  # None when the chat has no filters


def _filters(rows: Sequence[Row]) -> list[ChatFilter]:
    return [
        ChatFilter(id=r["id"], number=n, mode=r["mode"], kind=r["kind"], text=r["text"])
        for n, r in enumerate(rows, 1)
    ]


class Filters:
    """A chat's includes and excludes; only chats that have some cost any work at fan-out."""

    def __init__(self, db: Db, articles: Articles) -> None:
        self.db = db
        self.articles = articles
        # Each chat's filters as last read, by (count, last id): fan-out reads only those stamps.
        self._cache: dict[ChatRef, tuple[tuple[int, int], list[ChatFilter]]] = {}

    # -- a chat's filters -------------------------------------------------------------------

    def of(self, chat: ChatRef) -> list[ChatFilter]:
        """The chat's filters, oldest first, numbered as /filter list shows them."""
        return _filters(
            self.db.rows(
                f"SELECT {_COLUMNS} FROM chat_filters WHERE platform=? AND chat_id=? ORDER BY id",
                (chat.platform, chat.chat_id),
            )
        )

    def add(
        self, chat: ChatRef, mode: Mode, kind: Kind, text: str, *, limit: int
    ) -> ChatFilter | None:
        """Add a filter (RuleRefused when it cannot be one, or the chat has `limit` already);
        None when the chat has it already."""
        with self.db.write():
            current = self.of(chat)
            text = checked(kind, text, sum(1 for f in current if f.kind == "regex"))
            key = (mode, kind, same_rule(kind, text))
            if any((f.mode, f.kind, same_rule(f.kind, f.text)) == key for f in current):
                return None
            if len(current) >= limit:
                raise RuleRefused("too_many_filters")
            self.db.execute(
                "INSERT INTO chat_filters (platform, chat_id, mode, kind, text, created)"
                " VALUES (?,?,?,?,?,?)",
                (chat.platform, chat.chat_id, mode, kind, text, to_ts(self.db.now())),
            )
            return self.of(chat)[-1]

    def remove(self, chat: ChatRef, number: int) -> ChatFilter | None:
        """Remove the filter /filter list shows as `number`; None when there is none."""
        with self.db.write():
            current = self.of(chat)
            if not 0 < number <= len(current):
                return None
            gone = current[number - 1]
            self.db.execute("DELETE FROM chat_filters WHERE id=?", (gone.id,))
            return gone

    def clear(self, chat: ChatRef) -> int:
        """Remove all of the chat's filters; how many there were."""
        return self.db.changes(
            "DELETE FROM chat_filters WHERE platform=? AND chat_id=?", (chat.platform, chat.chat_id)
        )

    # -- fan-out ----------------------------------------------------------------------------

    def admitted(
        self, tag_keys: Sequence[str], title: str, body: str, tags: Sequence[str]
    ) -> list[ChatRef]:
        """The chats with filters, subscribed to one of these tag keys, that let this new
        article through (storage.outbox.Outbox.queue_article queues every chat without)."""
        stamps = self.db.execute(
            "SELECT f.platform, f.chat_id, count(*), max(f.id) FROM chat_filters f"
            " GROUP BY f.platform, f.chat_id HAVING EXISTS (SELECT 1 FROM subscriptions s"
            " WHERE s.platform = f.platform AND s.chat_id = f.chat_id AND s.active = 1"
            f" AND s.tag_key IN ({marks(tag_keys)}))",
            tuple(tag_keys),
        ).fetchall()
        if not stamps:
            return []  # the usual case: the article is folded only for chats with filters
        article = ArticleText.of(title, body, tags)
        passed = []
        for platform, chat_id, count, last in stamps:
            chat = ChatRef(platform, chat_id)
            if judge(self._rules(chat, (int(count), int(last))), article).passes:
                passed.append(chat)
        return passed

    def _rules(self, chat: ChatRef, stamp: tuple[int, int]) -> list[ChatFilter]:
        """The chat's filters, read again only when they changed. Ids only grow (SQLite's
        AUTOINCREMENT, PostgreSQL's identity): any change moves the count or the last id, so
        a worker never judges by filters another worker has changed since."""
        cached = self._cache.get(chat)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if len(self._cache) >= _CACHED_CHATS:
            self._cache.clear()  # a bound, not a policy: reading them again is cheap
        rules = self.of(chat)
        self._cache[chat] = (stamp, rules)
        return rules

    def screen(self, chat: ChatRef) -> Callable[[int], bool] | None:
        """Whether an archived article passes the chat's filters (a /subscribe backlog); None
        when the chat has none."""
        rules = self.of(chat)
        if not rules:
            return None

        def passes(article_id: int) -> bool:
            found = self.articles.get(article_id)
            return found is not None and judge(rules, text_of(found)).passes

        return passes

    # -- /why N -----------------------------------------------------------------------------

    def trace(self, chat: ChatRef, article_id: int) -> ArticleTrace:
        article = self.articles.get(article_id)
        row = self.db.one(
            "SELECT status, next_try, sent_at, last_error FROM deliveries"
            " WHERE article_id=? AND platform=? AND chat_id=?",
            (article_id, chat.platform, chat.chat_id),
        )
        delivery = None
        if row is not None:
            delivery = DeliveryTrace(
                row["status"], from_ts(row["next_try"]), from_ts(row["sent_at"]), row["last_error"]
            )
        keys = {tag_key(tag) for tag in article.tags} | {ALL_TAGS} if article else set()
        subs = [
            Subscription(
                ChatRef(chat.platform, r["chat_id"]), r["tag"], bool(r["active"]), r["reason"]
            )
            for r in self.db.rows(
                "SELECT chat_id, tag_key, tag, active, reason FROM subscriptions"
                " WHERE platform=? AND chat_id=? ORDER BY tag_key",
                (chat.platform, chat.chat_id),
            )
            if r["tag_key"] in keys
        ]
        rules = self.of(chat)
        verdict = judge(rules, text_of(article)) if rules and article else None
        return ArticleTrace(article, delivery, subs, verdict)


def text_of(article: Article) -> ArticleText:
    return ArticleText.of(article.title, article.body, article.tags)
