"""Forum topics: a topic that can no longer be posted to pauses what goes into it, not its chat."""

from __future__ import annotations

from storage.db import Db
from storage.models import ChatRef


class ForumTopics:
    """The subscriptions and deliveries of one forum topic of a chat (thread "" is the chat
    itself, or a forum's General topic)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def pause(self, chat: ChatRef, thread: str, reason: str) -> int:
        """The topic is closed or deleted: pause the chat's subscriptions that post into it and
        park what waits for it, with the reason; the chat's other topics go on. Returns how
        many subscriptions were paused."""
        with self.db.write():
            paused = self.db.changes(
                "UPDATE subscriptions SET active = 0, reason = ?"
                " WHERE platform=? AND chat_id=? AND thread_id=? AND active = 1",
                (reason, chat.platform, chat.chat_id, thread),
            )
            self.db.execute(
                "UPDATE deliveries SET status = 'paused', last_error = ?, lease_until = NULL,"
                " claimed_by = NULL WHERE platform=? AND chat_id=? AND thread_id=?"
                " AND status IN ('pending', 'sending')",
                (reason, chat.platform, chat.chat_id, thread),
            )
        return paused
