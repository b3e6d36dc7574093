"""The store's audit log: every moderation step, append-only (triggers refuse changes)."""

from __future__ import annotations

from storage.db import Db, from_ts, to_ts
from storage.models import AuditEntry, ChatRef


class AuditLog:
    """Entries say who did what to whom, why, and how it went."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def record(
        self,
        *,
        platform: str,
        chat_id: str | None,
        actor: str,
        action: str,
        target: str | None,
        reason: str | None,
        outcome: str,
    ) -> None:
        self.db.execute(
            "INSERT INTO audit_log (at, platform, chat_id, actor, action, target, reason, outcome)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (to_ts(self.db.now()), platform, chat_id, actor, action, target, reason, outcome),
        )

    def entries(
        self, limit: int = 20, *, about: str | None = None, chat: ChatRef | None = None
    ) -> list[AuditEntry]:
        """The newest entries, optionally only those about a person or article (as actor or
        target), or only those of one chat."""
        clauses: list[str] = []
        params: list[object] = []
        if about is not None:
            clauses.append("(target = ? OR actor = ?)")
            params += [about, about]
        if chat is not None:
            clauses.append("platform = ? AND chat_id = ?")
            params += [chat.platform, chat.chat_id]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.rows(
            f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        out = []
        for r in rows:
            at = from_ts(r["at"])
            assert at is not None
            out.append(
                AuditEntry(
                    id=r["id"],
                    at=at,
                    platform=r["platform"],
                    chat_id=r["chat_id"],
                    actor=r["actor"],
                    action=r["action"],
                    target=r["target"],
                    reason=r["reason"],
                    outcome=r["outcome"],
                )
            )
        return out
