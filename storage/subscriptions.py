"""The store's chats: their subscriptions to tags, their settings, and a chat's change of id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from storage.db import Db, Row, marks, to_ts
from storage.models import ChatRef, ChatSettings, Subscription

# -- SQLite dialect: UPDATE OR REPLACE / OR IGNORE (a row under the new id may exist already;
# PostgreSQL has neither: REPLACE is a DELETE of the clash first, IGNORE a NOT EXISTS) --------
# Subscriptions delete their clash first on both: rows that REPLACE deletes do not fire the
# triggers that count subscriptions (m011).
_MOVE_SUBSCRIPTIONS = (
    "DELETE FROM subscriptions WHERE platform=:platform AND chat_id=:new AND :new != :old"
    " AND tag_key IN"
    " (SELECT tag_key FROM subscriptions WHERE platform=:platform AND chat_id=:old)",
    "UPDATE subscriptions SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
    # Keyword filters go with the chat; the old chat's win when it has any.
    "DELETE FROM chat_filters WHERE platform=:platform AND chat_id=:new AND :new != :old"
    " AND EXISTS (SELECT 1 FROM chat_filters WHERE platform=:platform AND chat_id=:old)",
    "UPDATE chat_filters SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
)
_MOVE_CHAT = {
    "sqlite": (
        *_MOVE_SUBSCRIPTIONS,
        "UPDATE OR REPLACE chats SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
        "UPDATE OR REPLACE deliveries SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
        "UPDATE OR IGNORE posts SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
    ),
    "postgresql": (
        *_MOVE_SUBSCRIPTIONS,
        # The old chat's settings win, when it has any (REPLACE replaces only on a move).
        "DELETE FROM chats WHERE platform=:platform AND chat_id=:new AND :new != :old"
        " AND EXISTS (SELECT 1 FROM chats WHERE platform=:platform AND chat_id=:old)",
        "UPDATE chats SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
        # The old chat's delivery of an article wins over the new chat's.
        "DELETE FROM deliveries WHERE platform=:platform AND chat_id=:new AND :new != :old"
        " AND (article_id, thread_id) IN (SELECT article_id, thread_id FROM deliveries"
        " WHERE platform=:platform AND chat_id=:old)",
        "UPDATE deliveries SET chat_id=:new WHERE platform=:platform AND chat_id=:old",
        # A post whose message id the new chat has already stays where it is (IGNORE).
        "UPDATE posts p SET chat_id=:new WHERE p.platform=:platform AND p.chat_id=:old"
        " AND NOT EXISTS (SELECT 1 FROM posts n WHERE n.platform=:platform"
        " AND n.chat_id=:new AND n.message_id = p.message_id AND n.id != p.id)",
    ),
}
CHAT_SETTINGS = frozenset(
    {
        "language",
        "subscribe_policy",
        "threads",
        "detected_language",
        "images",
        "post_style",
        "post_template",
        "translate",
    }
)


class Subscriptions:
    """Which tags each chat follows, by tag key (folded by the caller), and its settings."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, chat: ChatRef, key: str, name: str, thread: str = "") -> bool:
        """Subscribe the chat to the tag `key`, shown as `name`, posting into the forum topic
        `thread` ("" for none); False when it already was, into that topic (an inactive
        subscription is switched on again; one into another topic moves to this one)."""
        row = self.db.one(
            "SELECT active, thread_id FROM subscriptions WHERE platform=? AND chat_id=?"
            " AND tag_key=?",
            (chat.platform, chat.chat_id, key),
        )
        if row is not None and row["active"] and row["thread_id"] == thread:
            return False
        self.db.execute(
            "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, active, reason,"
            " created, thread_id) VALUES (?,?,?,?,1,NULL,?,?)"
            " ON CONFLICT(platform, chat_id, tag_key)"
            " DO UPDATE SET active = 1, reason = NULL, thread_id = excluded.thread_id",
            (chat.platform, chat.chat_id, key, name, to_ts(self.db.now()), thread),
        )
        return True

    def remove(self, chat: ChatRef, keys: Sequence[str] | None) -> list[str]:
        """Remove the chat's subscriptions to these keys (all for None); returns their tags."""
        with self.db.write():
            if keys is None:
                rows = self.db.execute(
                    "SELECT tag FROM subscriptions WHERE platform=? AND chat_id=? ORDER BY tag",
                    (chat.platform, chat.chat_id),
                ).fetchall()
                self.db.execute(
                    "DELETE FROM subscriptions WHERE platform=? AND chat_id=?",
                    (chat.platform, chat.chat_id),
                )
                return [r[0] for r in rows]
            removed: list[str] = []
            for key in keys:
                row = self.db.execute(
                    "DELETE FROM subscriptions WHERE platform=? AND chat_id=? AND tag_key=?"
                    " RETURNING tag",
                    (chat.platform, chat.chat_id, key),
                ).fetchone()
                if row:
                    removed.append(row[0])
            return removed

    def of(self, chat: ChatRef) -> list[Subscription]:
        rows = self.db.rows(
            "SELECT * FROM subscriptions WHERE platform=? AND chat_id=? ORDER BY tag_key",
            (chat.platform, chat.chat_id),
        )
        return [
            Subscription(
                chat=chat,
                tag=r["tag"],
                active=bool(r["active"]),
                reason=r["reason"],
                thread=r["thread_id"],
            )
            for r in rows
        ]

    def pause(self, chat: ChatRef, reason: str) -> None:
        self.db.execute(
            "UPDATE subscriptions SET active = 0, reason = ? WHERE platform=? AND chat_id=?",
            (reason, chat.platform, chat.chat_id),
        )

    def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """Everything that names the old chat names the new one (its rows win a clash)."""
        with self.db.write():
            for sql in _MOVE_CHAT[self.db.dialect]:
                self.db.execute(
                    sql, {"new": new.chat_id, "platform": old.platform, "old": old.chat_id}
                )

    # -- settings -----------------------------------------------------------------------------

    def settings(self, chat: ChatRef) -> ChatSettings:
        row = self.db.one(
            "SELECT * FROM chats WHERE platform=? AND chat_id=?", (chat.platform, chat.chat_id)
        )
        return _settings(chat, row)

    def settings_of(self, chats: Iterable[ChatRef]) -> list[ChatSettings]:
        """settings() of many chats (each once) in a query per platform and _CHUNK of them:
        the refresh job draws thousands of copies in their chats' looks."""
        wanted: dict[str, list[str]] = defaultdict(list)
        for chat in set(chats):
            wanted[chat.platform].append(chat.chat_id)
        found: dict[ChatRef, ChatSettings] = {}
        for platform, ids in wanted.items():
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                rows = self.db.rows(
                    f"SELECT * FROM chats WHERE platform=? AND chat_id IN ({marks(chunk)})",
                    (platform, *chunk),
                )
                for row in rows:
                    chat = ChatRef(platform, row["chat_id"])
                    found[chat] = _settings(chat, row)
                for chat_id in chunk:
                    chat = ChatRef(platform, chat_id)
                    found.setdefault(chat, ChatSettings(chat=chat))
        return list(found.values())

    def update_settings(self, chat: ChatRef, changes: dict[str, object]) -> ChatSettings:
        if not set(changes) <= CHAT_SETTINGS:
            raise ValueError(f"unknown chat settings {set(changes) - CHAT_SETTINGS}")
        with self.db.write():
            self.db.execute(
                "INSERT INTO chats (platform, chat_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (chat.platform, chat.chat_id),
            )
            for column, value in changes.items():
                # Flags are stored as 0/1 on both engines (PostgreSQL will not put a boolean
                # into an integer column).
                stored = int(value) if isinstance(value, bool) else value
                self.db.execute(
                    f"UPDATE chats SET {column} = ? WHERE platform=? AND chat_id=?",
                    (stored, chat.platform, chat.chat_id),
                )
        return self.settings(chat)


_CHUNK = 500  # chat ids per query: well under SQLite's limit on parameters


def _settings(chat: ChatRef, row: Row | None) -> ChatSettings:
    if row is None:
        return ChatSettings(chat=chat)
    return ChatSettings(
        chat=chat,
        language=row["language"],
        subscribe_policy=row["subscribe_policy"],
        threads=bool(row["threads"]),
        detected_language=row["detected_language"],
        images=bool(row["images"]),
        post_style=row["post_style"] or "default",
        post_template=row["post_template"],
        translate=bool(row["translate"]),
    )
