"""The typed SQLite store: every query newsbot makes, returning dataclasses."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from storage.connection import connect, known_migrations, pending_migrations
from storage.faults import Fault, StorageError, storage_fault
from storage.models import (
    Article,
    ChatRef,
    ChatSettings,
    DbStats,
    Delivery,
    Feed,
    IngestResult,
    MessageRef,
    NewArticle,
    Poll,
    PollOption,
    Post,
    RatedArticle,
    Subscription,
    TagCount,
    UserRef,
    VoteOutcome,
)
from storage.schema import migrations

# The tag rules live in storage/tags.py; these names stay importable from here.
from storage.tags import ALL_TAGS as ALL_TAGS
from storage.tags import MAX_TAG_CHARS as MAX_TAG_CHARS
from storage.tags import MAX_TAGS_PER_ARTICLE as MAX_TAGS_PER_ARTICLE
from storage.tags import fit_tag as fit_tag
from storage.tags import tag_key as tag_key
from storage.tags import tags_to_keep as _tags_to_keep

log = logging.getLogger(__name__)

_TS = "%Y-%m-%d %H:%M:%S.%f"
# A vote counts unless its voter is banned bot-wide: such votes stay stored, uncounted.
_COUNTS = (
    "NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = v.platform"
    " AND b.user_id = v.user_id AND b.scope = '*')"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_ts(value: datetime) -> str:
    """Fixed-width UTC text, so that SQL compares times as strings correctly."""
    return value.astimezone(UTC).strftime(_TS)


def from_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, _TS).replace(tzinfo=UTC)


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching `text` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def content_hash(title: str, body: str) -> str:
    text = unicodedata.normalize("NFKC", f"{title}\n{body}").casefold()
    text = re.sub(r"\W+", " ", text).strip()
    return hashlib.sha256(text.encode()).hexdigest()


def _outbox_scope(
    platforms: Iterable[str], only_chats: Mapping[str, Collection[str]], table: str = "d"
) -> tuple[str, list[str]]:
    """A WHERE clause (and its parameters) for the rows of these platforms, those in
    `only_chats` limited to the chats listed there. Empty when nothing is in scope."""
    whole = sorted(set(platforms) - set(only_chats))
    parts: list[str] = []
    params: list[str] = []
    if whole:
        parts.append(f"{table}.platform IN ({','.join('?' * len(whole))})")
        params += whole
    for platform, chats in sorted(only_chats.items()):
        ids = sorted(set(chats))
        if ids:
            parts.append(
                f"({table}.platform = ? AND {table}.chat_id IN ({','.join('?' * len(ids))}))"
            )
            params += [platform, *ids]
    return " OR ".join(parts), params


class Store:
    """newsbot's database. Methods are short transactions; read-then-write ones take the write
    lock up front (BEGIN IMMEDIATE) so that several processes can share the file."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        synchronous: str = "NORMAL",
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.db = Database(connect(self.path, read_only=read_only, synchronous=synchronous))
        self.clock = clock
        self._before_commit: list[Callable[[sqlite3.Connection], None]] = []

    # -- plumbing -------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names. Deciding what is pending and applying
        it happen in one write transaction, so that processes starting at once on a new file
        wait for each other instead of racing: the later ones find nothing pending. A database
        with migrations this code does not know is refused (StorageError)."""
        if self.read_only:
            pending = pending_migrations(self.db, self.path)
            if pending:
                known = known_migrations()
                done = [name for name in known if name not in pending]
                raise StorageError(
                    Fault.NEEDS_MIGRATION,
                    path=self.path,
                    db_version=done[-1] if done else "-",
                    code_version=known[-1],
                )
            return []
        with self._write():
            pending = pending_migrations(self.db, self.path)
            if pending:
                migrations.apply(self.db)
        return pending

    def pending_migrations(self) -> list[str]:
        return pending_migrations(self.db, self.path)

    def close(self) -> None:
        self.db.conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A read-then-write transaction holding the write lock from its start."""
        conn = self.db.conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            for hook in self._before_commit:
                hook(conn)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself after some errors (a full disk, an I/O error); a
            # COMMIT that failed leaves the transaction open, and the next write must not
            # silently join it.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def before_commit(self, hook: Callable[[sqlite3.Connection], None]) -> None:
        """Run `hook` inside every write transaction, just before it commits (the update
        inbox marks the update being handled done together with its effect)."""
        self._before_commit.append(hook)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        cur = self.db.conn.execute(sql, params)
        cur.row_factory = sqlite3.Row
        return list(cur.fetchall())

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def now(self) -> datetime:
        return self.clock()

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
        """Store a parsed article with its poll, and in the same transaction one delivery per
        matching active subscription. A duplicate (same key, link or text) stores nothing."""
        chash = content_hash(new.title, new.body)
        now = to_ts(self.now())
        with self._write() as conn:
            dup = conn.execute(
                "SELECT id FROM articles WHERE dedupe_key = ? OR content_hash = ?"
                " OR (? IS NOT NULL AND url_key = ?) LIMIT 1",
                (dedupe_key, chash, url_key, url_key),
            ).fetchone()
            if dup:
                return IngestResult(article=None, duplicate_of=int(dup[0]))
            cur = conn.execute(
                "INSERT INTO articles (dedupe_key, url_key, content_hash, title, body, url,"
                " published, added, language, source) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    dedupe_key,
                    url_key,
                    chash,
                    new.title,
                    new.body,
                    new.url,
                    to_ts(new.published) if new.published else None,
                    now,
                    language,
                    new.source,
                ),
            )
            article_id = int(cur.lastrowid or 0)
            tags, dropped = _tags_to_keep(new.tags)
            if dropped:
                log.info(
                    "article %s: %s tags beyond the first %s were dropped",
                    article_id,
                    dropped,
                    MAX_TAGS_PER_ARTICLE,
                )
            conn.executemany(
                "INSERT INTO tags (key, name) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", tags
            )
            conn.executemany(
                "INSERT INTO article_tags (article_id, tag_id, position)"
                " SELECT ?, id, ? FROM tags WHERE key = ?",
                [(article_id, position, key) for position, (key, _name) in enumerate(tags)],
            )
            # The search index row, written once now that the tags are in (m006): a known tag
            # is indexed in its stored spelling, as the m003 triggers did.
            names = conn.execute(
                "SELECT group_concat(name, ' ') FROM (SELECT t.name FROM article_tags at"
                " JOIN tags t ON t.id = at.tag_id WHERE at.article_id = ? ORDER BY at.position)",
                (article_id,),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO article_fts (rowid, title, body, tags) VALUES (?, ?, ?, ?)",
                (article_id, new.title, new.body, names or ""),
            )
            seen = {key for key, _name in tags}
            conn.execute(
                "INSERT INTO polls (article_id, question) VALUES (?, ?)", (article_id, question)
            )
            for position, (label, score) in enumerate(options, start=1):
                conn.execute(
                    "INSERT INTO poll_options (article_id, position, score, label)"
                    " VALUES (?,?,?,?)",
                    (article_id, position, score, label),
                )
            deliveries = 0
            if deliver:
                keys = sorted(seen | {ALL_TAGS})
                marks = ",".join("?" * len(keys))
                cur = conn.execute(
                    "INSERT INTO deliveries (article_id, platform, chat_id, next_try, created)"
                    " SELECT DISTINCT ?, platform, chat_id, ?, ? FROM subscriptions"
                    f" WHERE active = 1 AND tag_key IN ({marks})"
                    " ON CONFLICT DO NOTHING",
                    (article_id, now, now, *keys),
                )
                deliveries = cur.rowcount
        article = self.get_article(article_id)
        assert article is not None
        return IngestResult(article=article, deliveries=deliveries, tags_dropped=dropped)

    def _article(self, row: sqlite3.Row) -> Article:
        tags = tuple(
            r[0]
            for r in self.db.conn.execute(
                "SELECT t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id"
                " WHERE at.article_id = ? ORDER BY at.position",
                (row["id"],),
            )
        )
        added = from_ts(row["added"])
        assert added is not None
        return Article(
            id=row["id"],
            title=row["title"],
            body=row["body"],
            tags=tags,
            url=row["url"],
            published=from_ts(row["published"]),
            added=added,
            language=row["language"],
            source=row["source"],
            removed=bool(row["removed"]),
        )

    def get_article(self, article_id: int, *, include_removed: bool = True) -> Article | None:
        row = self._one("SELECT * FROM articles WHERE id = ?", (article_id,))
        if row is None or (row["removed"] and not include_removed):
            return None
        return self._article(row)

    def latest_articles(self, tag: str | None = None, limit: int = 5) -> list[Article]:
        if tag:
            rows = self._rows(
                "SELECT a.* FROM articles a JOIN article_tags at ON at.article_id = a.id"
                " JOIN tags t ON t.id = at.tag_id WHERE t.key = ? AND a.removed = 0"
                " ORDER BY a.id DESC LIMIT ?",
                (tag_key(tag), limit),
            )
        else:
            rows = self._rows(
                "SELECT * FROM articles WHERE removed = 0 ORDER BY id DESC LIMIT ?", (limit,)
            )
        return [self._article(r) for r in rows]

    def find_articles(self, text: str, limit: int = 50) -> list[Article]:
        """Articles whose title or tags contain `text` (case-insensitive), newest first: the
        quick lookup behind inline queries. Full-text search ranks by relevance instead."""
        needle = like_pattern(text.strip())
        rows = self._rows(
            "SELECT DISTINCT a.* FROM articles a LEFT JOIN article_tags at ON at.article_id = a.id"
            " LEFT JOIN tags t ON t.id = at.tag_id WHERE a.removed = 0 AND"
            " (a.title LIKE ? ESCAPE '\\' OR t.name LIKE ? ESCAPE '\\')"
            " ORDER BY a.id DESC LIMIT ?",
            (needle, needle, limit),
        )
        return [self._article(r) for r in rows]

    def count_articles(self, *, exclude_source: str | None = None) -> int:
        if exclude_source is None:
            return int(self._scalar("SELECT count(*) FROM articles"))
        return int(
            self._scalar("SELECT count(*) FROM articles WHERE source != ?", (exclude_source,))
        )

    def tag_counts(self, limit: int = 50) -> list[TagCount]:
        rows = self._rows(
            "SELECT t.name, count(*) AS n FROM tags t JOIN article_tags at ON at.tag_id = t.id"
            " JOIN articles a ON a.id = at.article_id WHERE a.removed = 0"
            " GROUP BY t.id ORDER BY n DESC, t.key LIMIT ?",
            (limit,),
        )
        return [TagCount(tag=r["name"], articles=r["n"]) for r in rows]

    def tags_matching(self, text: str, limit: int = 25) -> list[str]:
        """Known tags containing `text`, those starting with it first, most used first: what
        tag completion offers."""
        key = tag_key(text)
        needle = like_pattern(key)
        rows = self._rows(
            "SELECT t.name FROM tags t LEFT JOIN article_tags at ON at.tag_id = t.id"
            " WHERE t.key LIKE ? ESCAPE '\\' GROUP BY t.id"
            " ORDER BY substr(t.key, 1, length(?)) != ?, count(at.article_id) DESC, t.key LIMIT ?",
            (needle, key, key, limit),
        )
        return [str(r["name"]) for r in rows]

    def known_tag(self, tag: str) -> str | None:
        """The display spelling of a known tag, or None."""
        row = self._one("SELECT name FROM tags WHERE key = ?", (tag_key(tag),))
        return str(row["name"]) if row else None

    # -- subscriptions --------------------------------------------------------------------

    def subscribe(
        self, chat: ChatRef, tags: Iterable[str], *, backlog: int = 1
    ) -> tuple[list[str], list[str], int]:
        """Subscribe a chat to tags. Returns (added, already subscribed, backlog queued): the
        newest `backlog` articles carrying one of the new tags, not yet sent there, are queued."""
        added: list[str] = []
        already: list[str] = []
        now = to_ts(self.now())
        with self._write() as conn:
            for tag in tags:
                key = tag_key(tag)
                if not key:
                    continue
                row = conn.execute(
                    "SELECT active FROM subscriptions WHERE platform=? AND chat_id=? AND tag_key=?",
                    (chat.platform, chat.chat_id, key),
                ).fetchone()
                name = self.known_tag(tag) or tag.strip().lstrip("#").strip()
                if key == ALL_TAGS:
                    name = ALL_TAGS
                if row and row[0]:
                    already.append(name)
                    continue
                conn.execute(
                    "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, active, reason,"
                    " created) VALUES (?,?,?,?,1,NULL,?) ON CONFLICT(platform, chat_id, tag_key)"
                    " DO UPDATE SET active = 1, reason = NULL",
                    (chat.platform, chat.chat_id, key, name, now),
                )
                added.append(name)
            queued = 0
            if added and backlog > 0:
                keys = [tag_key(t) for t in added]
                if ALL_TAGS in keys:
                    candidates = conn.execute(
                        "SELECT id FROM articles WHERE removed = 0 ORDER BY id DESC LIMIT ?",
                        (backlog,),
                    ).fetchall()
                else:
                    marks = ",".join("?" * len(keys))
                    candidates = conn.execute(
                        "SELECT DISTINCT a.id FROM articles a"
                        " JOIN article_tags at ON at.article_id = a.id"
                        f" JOIN tags t ON t.id = at.tag_id WHERE t.key IN ({marks})"
                        " AND a.removed = 0 ORDER BY a.id DESC LIMIT ?",
                        (*keys, backlog),
                    ).fetchall()
                for (article_id,) in reversed(candidates):
                    cur = conn.execute(
                        "INSERT INTO deliveries (article_id, platform, chat_id, next_try, created)"
                        " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                        (article_id, chat.platform, chat.chat_id, now, now),
                    )
                    queued += cur.rowcount
        return added, already, queued

    def unsubscribe(self, chat: ChatRef, tags: Iterable[str] | None) -> list[str]:
        """Remove subscriptions; None removes all. Returns the tags removed."""
        with self._write() as conn:
            if tags is None:
                rows = conn.execute(
                    "SELECT tag FROM subscriptions WHERE platform=? AND chat_id=? ORDER BY tag",
                    (chat.platform, chat.chat_id),
                ).fetchall()
                conn.execute(
                    "DELETE FROM subscriptions WHERE platform=? AND chat_id=?",
                    (chat.platform, chat.chat_id),
                )
                return [r[0] for r in rows]
            removed: list[str] = []
            for tag in tags:
                row = conn.execute(
                    "DELETE FROM subscriptions WHERE platform=? AND chat_id=? AND tag_key=?"
                    " RETURNING tag",
                    (chat.platform, chat.chat_id, tag_key(tag)),
                ).fetchone()
                if row:
                    removed.append(row[0])
            return removed

    def subscriptions(self, chat: ChatRef) -> list[Subscription]:
        rows = self._rows(
            "SELECT * FROM subscriptions WHERE platform=? AND chat_id=? ORDER BY tag_key",
            (chat.platform, chat.chat_id),
        )
        return [
            Subscription(chat=chat, tag=r["tag"], active=bool(r["active"]), reason=r["reason"])
            for r in rows
        ]

    def pause_chat(self, chat: ChatRef, reason: str) -> int:
        """The chat cannot be reached: pause its subscriptions with the reason and park what
        was waiting for it. Returns the number of deliveries parked."""
        with self._write() as conn:
            conn.execute(
                "UPDATE subscriptions SET active = 0, reason = ? WHERE platform=? AND chat_id=?",
                (reason, chat.platform, chat.chat_id),
            )
            cur = conn.execute(
                "UPDATE deliveries SET status = 'paused', last_error = ?, lease_until = NULL,"
                " claimed_by = NULL"
                " WHERE platform=? AND chat_id=? AND status IN ('pending', 'sending')",
                (reason, chat.platform, chat.chat_id),
            )
            return cur.rowcount

    def migrate_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat got a new id (Telegram group -> supergroup): move everything that names it."""
        with self._write() as conn:
            params = (new.chat_id, old.platform, old.chat_id)
            conn.execute(
                "UPDATE OR REPLACE subscriptions SET chat_id=? WHERE platform=? AND chat_id=?",
                params,
            )
            conn.execute(
                "UPDATE OR REPLACE chats SET chat_id=? WHERE platform=? AND chat_id=?", params
            )
            conn.execute(
                "UPDATE OR REPLACE deliveries SET chat_id=? WHERE platform=? AND chat_id=?",
                params,
            )
            conn.execute(
                "UPDATE OR IGNORE posts SET chat_id=? WHERE platform=? AND chat_id=?", params
            )

    # -- chat settings ------------------------------------------------------------------

    def chat_settings(self, chat: ChatRef) -> ChatSettings:
        row = self._one(
            "SELECT * FROM chats WHERE platform=? AND chat_id=?", (chat.platform, chat.chat_id)
        )
        if row is None:
            return ChatSettings(chat=chat)
        return ChatSettings(
            chat=chat,
            language=row["language"],
            subscribe_policy=row["subscribe_policy"],
            threads=bool(row["threads"]),
            detected_language=row["detected_language"],
        )

    def update_chat_settings(self, chat: ChatRef, **changes: object) -> ChatSettings:
        allowed = {"language", "subscribe_policy", "threads", "detected_language"}
        if not set(changes) <= allowed:
            raise ValueError(f"unknown chat settings {set(changes) - allowed}")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO chats (platform, chat_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (chat.platform, chat.chat_id),
            )
            for column, value in changes.items():
                conn.execute(
                    f"UPDATE chats SET {column} = ? WHERE platform=? AND chat_id=?",
                    (value, chat.platform, chat.chat_id),
                )
        return self.chat_settings(chat)

    # -- polls and votes ----------------------------------------------------------------

    def get_poll(self, article_id: int) -> Poll | None:
        row = self._one("SELECT * FROM polls WHERE article_id = ?", (article_id,))
        if row is None:
            return None
        options = self._rows(
            "SELECT position, score, label, votes FROM poll_options"
            " WHERE article_id = ? ORDER BY position",
            (article_id,),
        )
        return Poll(
            article_id=article_id,
            question=row["question"],
            options=tuple(
                PollOption(
                    position=o["position"], score=o["score"], label=o["label"], votes=o["votes"]
                )
                for o in options
            ),
            closed=bool(row["closed"]),
            version=row["version"],
        )

    def cast_vote(self, article_id: int, user: UserRef, position: int) -> VoteOutcome:
        """One vote per person and article: a new option moves the vote, the same option takes
        it back. The caller has checked that the poll is open and the option exists."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT position FROM votes WHERE article_id=? AND platform=? AND user_id=?",
                (article_id, user.platform, user.user_id),
            ).fetchone()
            key = (article_id, user.platform, user.user_id)
            added: int | None = position
            taken: int | None = None
            if row is None:
                kind = "cast"
                conn.execute(
                    "INSERT INTO votes (article_id, platform, user_id, position, voted_at)"
                    " VALUES (?,?,?,?,?)",
                    (*key, position, to_ts(self.now())),
                )
            elif row[0] == position:
                kind, added, taken = "withdrawn", None, position
                conn.execute(
                    "DELETE FROM votes WHERE article_id=? AND platform=? AND user_id=?", key
                )
            else:
                kind, taken = "moved", row[0]
                conn.execute(
                    "UPDATE votes SET position=?, voted_at=? WHERE article_id=? AND platform=?"
                    " AND user_id=?",
                    (position, to_ts(self.now()), *key),
                )
            if not self._banned_everywhere(user):
                for changed, delta in ((added, 1), (taken, -1)):
                    if changed is not None:
                        conn.execute(
                            "UPDATE poll_options SET votes = votes + ?"
                            " WHERE article_id=? AND position=?",
                            (delta, article_id, changed),
                        )
            conn.execute("UPDATE polls SET version = version + 1 WHERE article_id=?", (article_id,))
            poll = self.get_poll(article_id)
        assert poll is not None
        option = next(o for o in poll.options if o.position == position)
        return VoteOutcome(kind=kind, option=option, poll=poll)

    def _banned_everywhere(self, user: UserRef) -> bool:
        return bool(
            self._scalar(
                "SELECT 1 FROM bans WHERE platform=? AND user_id=? AND scope='*'",
                (user.platform, user.user_id),
            )
        )

    def polls_changed(self, article_ids: Iterable[int]) -> None:
        """Recount the polls' votes from the votes table (who counts may have changed: a ban,
        deleted votes) and mark their posts for a refresh."""
        ids = [(a,) for a in sorted(set(article_ids))]
        self.db.conn.executemany(
            "UPDATE poll_options SET votes = (SELECT count(*) FROM votes v"
            " WHERE v.article_id = poll_options.article_id"
            f" AND v.position = poll_options.position AND {_COUNTS}) WHERE article_id = ?",
            ids,
        )
        self.db.conn.executemany("UPDATE polls SET version = version + 1 WHERE article_id = ?", ids)

    def set_poll_closed(self, article_id: int, closed: bool) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE polls SET closed=?, version = version + 1 WHERE article_id=?",
                (int(closed), article_id),
            )
            return cur.rowcount > 0

    def top_articles(
        self, tag: str | None = None, limit: int = 5, *, prior_weight: float = 5.0
    ) -> list[RatedArticle]:
        """Best-rated articles by a Bayesian average: each article's votes are blended with
        `prior_weight` imaginary votes at the mean of all votes, so one lone top vote does not
        win over many good ones."""
        where, params = "a.removed = 0", []
        join = ""
        if tag:
            join = " JOIN article_tags at ON at.article_id = a.id JOIN tags t ON t.id = at.tag_id"
            where += " AND t.key = ?"
            params.append(tag_key(tag))
        row = self._one("SELECT sum(score * votes) AS points, sum(votes) AS n FROM poll_options")
        if row is None or not row["n"]:
            return []
        global_mean = row["points"] / row["n"]
        rows = self._rows(
            "SELECT a.*, sum(o.votes) AS n, 1.0 * sum(o.score * o.votes) / sum(o.votes) AS mean,"
            " (? * ? + sum(o.score * o.votes)) / (? + sum(o.votes)) AS rating"
            f" FROM articles a{join} JOIN poll_options o ON o.article_id = a.id"
            f" WHERE {where} GROUP BY a.id HAVING sum(o.votes) > 0"
            " ORDER BY rating DESC, n DESC, a.id DESC LIMIT ?",
            (prior_weight, global_mean, prior_weight, *params, limit),
        )
        return [
            RatedArticle(article=self._article(r), votes=r["n"], mean=r["mean"], rating=r["rating"])
            for r in rows
        ]

    def polls_for_export(self, article_id: int | None = None) -> list[tuple[Article, Poll]]:
        if article_id is None:
            ids = [r[0] for r in self.db.conn.execute("SELECT article_id FROM polls ORDER BY 1")]
        else:
            ids = [article_id]
        out: list[tuple[Article, Poll]] = []
        for aid in ids:
            article, poll = self.get_article(aid), self.get_poll(aid)
            if article and poll:
                out.append((article, poll))
        return out

    # -- the outbox -----------------------------------------------------------------------

    def _delivery(self, row: sqlite3.Row) -> Delivery:
        next_try = from_ts(row["next_try"])
        assert next_try is not None
        return Delivery(
            id=row["id"],
            article_id=row["article_id"],
            chat=ChatRef(row["platform"], row["chat_id"]),
            status=row["status"],
            attempts=row["attempts"],
            next_try=next_try,
            message_id=row["message_id"],
            last_error=row["last_error"],
        )

    def claim_deliveries(
        self,
        platforms: Iterable[str],
        *,
        only_chats: Mapping[str, Collection[str]] | None = None,
        limit: int = 100,
        lease: float = 120.0,
        worker: str = "",
    ) -> list[Delivery]:
        """Take due deliveries for the running platforms, leasing them to `worker` so that a
        second process does not send them too. A platform named in `only_chats` gives only
        the rows of those chats (a terminal takes only its own). A lease that runs out (a
        crash mid-send) frees the row again."""
        where, params = _outbox_scope(platforms, only_chats or {})
        if not where:
            return []
        now = self.now()
        with self._write() as conn:
            conn.execute(
                "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL"
                " WHERE status='sending' AND lease_until < ?",
                (to_ts(now),),
            )
            cur = conn.execute(
                f"SELECT d.* FROM deliveries d WHERE d.status='pending' AND ({where})"
                " AND d.next_try <= ? ORDER BY d.next_try, d.id LIMIT ?",
                (*params, to_ts(now), limit),
            )
            cur.row_factory = sqlite3.Row
            rows = cur.fetchall()
            if rows:
                until = to_ts(now + timedelta(seconds=lease))
                conn.executemany(
                    "UPDATE deliveries SET status='sending', lease_until=?, claimed_by=?,"
                    " attempts=attempts+1 WHERE id=?",
                    [(until, worker or None, r["id"]) for r in rows],
                )
        return [
            dataclasses.replace(self._delivery(r), status="sending", attempts=r["attempts"] + 1)
            for r in rows
        ]

    def release_claims(self, worker: str, *, count_attempt: bool) -> int:
        """Give back every row `worker` holds: at a clean stop (the attempt did not happen,
        `count_attempt=False`) or when it starts again after a crash (a send may have been on
        its way: the attempt counts). Returns how many rows were given back."""
        undo = 0 if count_attempt else 1
        cur = self.db.conn.execute(
            "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL,"
            " attempts=max(attempts-?, 0) WHERE status='sending' AND claimed_by=?",
            (undo, worker),
        )
        return int(cur.rowcount)

    def delivery_sent(
        self,
        delivery_id: int,
        message: MessageRef,
        poll_version: int,
        language: str | None = None,
    ) -> None:
        with self._write() as conn:
            row = conn.execute(
                "UPDATE deliveries SET status='sent', message_id=?, sent_at=?, lease_until=NULL,"
                " claimed_by=NULL,"
                " last_error=NULL WHERE id=? RETURNING article_id",
                (message.message_id, to_ts(self.now()), delivery_id),
            ).fetchone()
            if row:
                self.record_post(int(row[0]), message, poll_version, language)

    def delivery_retry(self, delivery_id: int, error: str, delay: float) -> None:
        self.db.conn.execute(
            "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL,"
            " last_error=?, next_try=? WHERE id=?",
            (error[:500], to_ts(self.now() + timedelta(seconds=delay)), delivery_id),
        )

    def delivery_release(self, delivery_id: int) -> None:
        """Give a claimed row back untried (its chat waits on an earlier row)."""
        self.db.conn.execute(
            "UPDATE deliveries SET status='pending', lease_until=NULL, claimed_by=NULL,"
            " attempts=max(attempts-1, 0) WHERE id=? AND status='sending'",
            (delivery_id,),
        )

    def delivery_failed(self, delivery_id: int, error: str) -> None:
        self.db.conn.execute(
            "UPDATE deliveries SET status='failed', lease_until=NULL, claimed_by=NULL,"
            " last_error=? WHERE id=?",
            (error[:500], delivery_id),
        )

    def delivery_moved(self, delivery_id: int, new_chat: ChatRef) -> None:
        """Point an undelivered row at the chat's new id and make it due at once."""
        self.db.conn.execute(
            "UPDATE OR IGNORE deliveries SET chat_id=?, status='pending', lease_until=NULL,"
            " claimed_by=NULL, next_try=? WHERE id=?",
            (new_chat.chat_id, to_ts(self.now()), delivery_id),
        )

    def deliveries_for_chat(self, chat: ChatRef, status: str | None = None) -> list[Delivery]:
        sql = "SELECT * FROM deliveries WHERE platform=? AND chat_id=?"
        params: list[Any] = [chat.platform, chat.chat_id]
        if status:
            sql += " AND status=?"
            params.append(status)
        return [self._delivery(r) for r in self._rows(sql + " ORDER BY id", params)]

    def due_count(self, chat: ChatRef) -> int:
        """Deliveries for the chat that are due now or being sent."""
        return int(
            self._scalar(
                "SELECT count(*) FROM deliveries WHERE platform=? AND chat_id=? AND"
                " (status='sending' OR (status='pending' AND next_try <= ?))",
                (chat.platform, chat.chat_id, to_ts(self.now())),
            )
        )

    # -- posts and live counts ------------------------------------------------------------

    def record_post(
        self,
        article_id: int,
        message: MessageRef,
        poll_version: int,
        language: str | None = None,
    ) -> None:
        self.db.conn.execute(
            "INSERT INTO posts (article_id, platform, chat_id, message_id, rendered_version,"
            " language, posted_at) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT(platform, chat_id, message_id) DO UPDATE SET"
            " rendered_version = max(rendered_version, excluded.rendered_version),"
            " language = coalesce(excluded.language, language)"
            # A message shows one article for good: another article's poll version must
            # never make its post look current.
            " WHERE posts.article_id = excluded.article_id",
            (
                article_id,
                message.chat.platform,
                message.chat.chat_id,
                message.message_id,
                poll_version,
                language,
                to_ts(self.now()),
            ),
        )

    def _post(self, row: sqlite3.Row) -> Post:
        return Post(
            id=row["id"],
            article_id=row["article_id"],
            message=MessageRef(ChatRef(row["platform"], row["chat_id"]), row["message_id"]),
            rendered_version=row["rendered_version"],
            language=row["language"],
        )

    def stale_posts(
        self,
        platforms: Iterable[str],
        limit: int = 200,
        *,
        only_chats: Mapping[str, Collection[str]] | None = None,
    ) -> list[Post]:
        """Posts whose counts are older than their poll: the coalescing job edits these."""
        where, params = _outbox_scope(platforms, only_chats or {}, "p")
        if not where:
            return []
        rows = self._rows(
            "SELECT p.* FROM posts p JOIN polls q ON q.article_id = p.article_id"
            f" WHERE p.rendered_version < q.version AND ({where})"
            " ORDER BY p.article_id, p.id LIMIT ?",
            (*params, limit),
        )
        return [self._post(r) for r in rows]

    def post_rendered(self, post_id: int, version: int) -> None:
        self.db.conn.execute(
            "UPDATE posts SET rendered_version = max(rendered_version, ?) WHERE id=?",
            (version, post_id),
        )

    def post_outdated(self, message: MessageRef) -> None:
        """The message does not show what was recorded for it (an edit failed): the refresh
        job edits it again, whatever the version of its poll."""
        self.db.conn.execute(
            "UPDATE posts SET rendered_version = -1"
            " WHERE platform=? AND chat_id=? AND message_id=?",
            (message.chat.platform, message.chat.chat_id, message.message_id),
        )

    def post_at(self, message: MessageRef) -> Post | None:
        """The post a message of the bot's shows, if it was recorded as one."""
        row = self._one(
            "SELECT * FROM posts WHERE platform=? AND chat_id=? AND message_id=?",
            (message.chat.platform, message.chat.chat_id, message.message_id),
        )
        return self._post(row) if row else None

    def posts_of(self, article_id: int) -> list[Post]:
        return [
            self._post(r)
            for r in self._rows("SELECT * FROM posts WHERE article_id=? ORDER BY id", (article_id,))
        ]

    # -- sources (feeds, files, the demo) ---------------------------------------------------

    def _feed(self, row: sqlite3.Row) -> Feed:
        return Feed(
            id=row["id"],
            location=row["location"],
            kind=row["kind"],
            tags=tuple(t for t in row["tags"].split("\n") if t),
            interval_seconds=row["interval_seconds"],
            state=row["state"],
            last_success=from_ts(row["last_success"]),
            last_error=row["last_error"],
            failures=row["failures"],
            next_fetch=from_ts(row["next_fetch"]),
            etag=row["etag"],
            last_modified=row["last_modified"],
        )

    def add_feed(
        self, location: str, kind: str, *, interval_seconds: int, tags: Sequence[str] = ()
    ) -> tuple[Feed, bool]:
        """Add a source; returns (feed, created). An existing location is returned unchanged."""
        now = to_ts(self.now())
        with self._write() as conn:
            row = conn.execute("SELECT id FROM feeds WHERE location=?", (location,)).fetchone()
            if row:
                feed = self.get_feed(int(row[0]))
                assert feed is not None
                return feed, False
            cur = conn.execute(
                "INSERT INTO feeds (location, kind, tags, interval_seconds, next_fetch, added)"
                " VALUES (?,?,?,?,?,?)",
                (location, kind, "\n".join(tags), interval_seconds, now, now),
            )
            feed = self.get_feed(int(cur.lastrowid or 0))
        assert feed is not None
        return feed, True

    def get_feed(self, feed_id: int) -> Feed | None:
        row = self._one("SELECT * FROM feeds WHERE id=?", (feed_id,))
        return self._feed(row) if row else None

    def feeds(self) -> list[Feed]:
        return [self._feed(r) for r in self._rows("SELECT * FROM feeds ORDER BY id")]

    def remove_feed(self, feed_id: int) -> Feed | None:
        feed = self.get_feed(feed_id)
        if feed:
            self.db.conn.execute("DELETE FROM feeds WHERE id=?", (feed_id,))
        return feed

    def set_feed_state(self, feed_id: int, state: str) -> Feed | None:
        self.db.conn.execute(
            "UPDATE feeds SET state=?, failures = CASE WHEN ?='active' THEN 0 ELSE failures END,"
            " next_fetch=? WHERE id=?",
            (state, state, to_ts(self.now()), feed_id),
        )
        return self.get_feed(feed_id)

    def due_feeds(self) -> list[Feed]:
        return [
            self._feed(r)
            for r in self._rows(
                "SELECT * FROM feeds WHERE state='active' AND next_fetch <= ? ORDER BY next_fetch",
                (to_ts(self.now()),),
            )
        ]

    def feed_fetched(
        self,
        feed_id: int,
        *,
        next_in: float,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        now = self.now()
        self.db.conn.execute(
            "UPDATE feeds SET last_success=?, failures=0, last_error=NULL, next_fetch=?,"
            " etag=coalesce(?, etag), last_modified=coalesce(?, last_modified), fetched_once=1"
            " WHERE id=?",
            (to_ts(now), to_ts(now + timedelta(seconds=next_in)), etag, last_modified, feed_id),
        )

    def feed_failed(self, feed_id: int, error: str, *, next_in: float, park_after: int) -> Feed:
        now = self.now()
        self.db.conn.execute(
            "UPDATE feeds SET failures = failures + 1, last_error=?, next_fetch=?,"
            " state = CASE WHEN failures + 1 >= ? THEN 'parked' ELSE state END WHERE id=?",
            (error[:500], to_ts(now + timedelta(seconds=next_in)), park_after, feed_id),
        )
        feed = self.get_feed(feed_id)
        assert feed is not None
        return feed

    def feed_fetched_once(self, feed_id: int) -> bool:
        return bool(self._scalar("SELECT fetched_once FROM feeds WHERE id=?", (feed_id,)))

    # -- small key-value state ------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        value = self._scalar("SELECT value FROM state WHERE key=?", (key,))
        return str(value) if value is not None else None

    def set_state(self, key: str, value: str) -> None:
        self.db.conn.execute(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

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
        self.db.conn.execute(
            "INSERT INTO audit_log (at, platform, chat_id, actor, action, target, reason, outcome)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (to_ts(self.now()), platform, chat_id, actor, action, target, reason, outcome),
        )

    # -- maintenance ----------------------------------------------------------------------

    def stats(self) -> DbStats:
        def count(sql: str) -> int:
            return int(self._scalar(sql) or 0)

        size = Path(self.path).stat().st_size if self.path != ":memory:" else 0
        return DbStats(
            articles=count("SELECT count(*) FROM articles WHERE removed = 0"),
            tags=count("SELECT count(*) FROM tags"),
            subscriptions=count("SELECT count(*) FROM subscriptions WHERE active = 1"),
            votes=count("SELECT count(*) FROM votes"),
            deliveries_pending=count(
                "SELECT count(*) FROM deliveries WHERE status IN ('pending','sending')"
            ),
            deliveries_failed=count(
                "SELECT count(*) FROM deliveries WHERE status IN ('failed','paused')"
            ),
            posts=count("SELECT count(*) FROM posts"),
            feeds=count("SELECT count(*) FROM feeds"),
            size_bytes=size,
        )

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the database while writers go on: SQLite's backup API copies
        one snapshot in a single step. The copy is written beside the target and renamed
        over it only when complete, and it is one self-contained file (no WAL). Raises
        StorageError (with the target as path) when the copy cannot be written."""
        final = Path(target)
        partial = final.with_name(final.name + ".partial")
        if self.path != ":memory:" and final.resolve() == Path(self.path).resolve():
            # Renaming over the live file would leave running processes writing to a ghost.
            raise StorageError(Fault.CANNOT_OPEN, "the backup is the database", path=str(final))
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            dest = sqlite3.connect(str(partial), isolation_level=None)
            try:
                self.db.conn.backup(dest)
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
            os.replace(partial, final)
        except (OSError, sqlite3.Error) as err:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            fault = storage_fault(err) or StorageError(Fault.CANNOT_OPEN, str(err))
            fault.params["path"] = str(final)
            raise fault from None
