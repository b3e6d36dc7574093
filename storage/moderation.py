"""The store's moderation part: bot admins, bans, mutes, warnings, confirmations, built on
the people it knows (storage/people.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.db import from_ts, to_ts
from storage.models import (
    Activity,
    AuditEntry,
    ChatRef,
    DeliveryProblem,
    TagSubscriptions,
    UserRef,
    VoteTally,
)
from storage.people import BOT_WIDE as BOT_WIDE
from storage.people import Ban, Mute, People, accounts_of
from storage.polls import COUNTED_VOTE

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True, slots=True)
class Warning:
    id: int
    user: UserRef
    scope: str
    reason: str | None
    by: str
    at: datetime


class Moderation(People):
    """Moderation records, on the same connection and transactions as the Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.engine

    def forget_person(self, user: UserRef, private_chat: ChatRef | None) -> int:
        """Delete a person's own data: votes, their private chat's subscriptions, settings and
        schedule. Returns how many votes went; those polls are marked for a refresh. A link to
        other accounts (/link) goes too."""
        with self.db.write() as conn:
            self.store.links.unlink(user)
            polls = [
                r[0]
                for r in conn.execute(
                    "SELECT article_id FROM votes WHERE platform=? AND user_id=?",
                    (user.platform, user.user_id),
                )
            ]
            conn.execute(
                "DELETE FROM votes WHERE platform=? AND user_id=?", (user.platform, user.user_id)
            )
            self._bump(polls)
            if private_chat is not None:
                for table in ("subscriptions", "chats", "chat_schedules"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE platform=? AND chat_id=?",
                        (private_chat.platform, private_chat.chat_id),
                    )
                conn.execute(
                    "UPDATE deliveries SET status='cancelled' WHERE platform=? AND chat_id=?"
                    " AND status IN ('pending','sending','digest')",
                    (private_chat.platform, private_chat.chat_id),
                )
            conn.execute(
                "DELETE FROM people WHERE platform=? AND user_id=?", (user.platform, user.user_id)
            )
        return len(polls)

    def _bump(self, article_ids: list[int]) -> None:
        self.store.polls.changed(article_ids)

    def bump_votes_of(self, user: UserRef) -> None:
        """The person's votes changed weight (a ban): recount them, refresh every post."""
        polls = [
            r[0]
            for r in self.db.execute(
                "SELECT article_id FROM votes WHERE platform=? AND user_id=?",
                (user.platform, user.user_id),
            )
        ]
        self._bump(polls)

    # -- bot admins ---------------------------------------------------------------------

    def is_bot_admin(self, user: UserRef) -> bool:
        return bool(
            self.db.scalar(
                "SELECT 1 FROM bot_admins WHERE platform=? AND user_id=?",
                (user.platform, user.user_id),
            )
        )

    def grant_admin(self, user: UserRef, by: str) -> bool:
        cur = self.db.execute(
            "INSERT INTO bot_admins (platform, user_id, granted_by, granted_at) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (user.platform, user.user_id, by, to_ts(self.db.now())),
        )
        return cur.rowcount > 0

    def revoke_admin(self, user: UserRef) -> bool:
        cur = self.db.execute(
            "DELETE FROM bot_admins WHERE platform=? AND user_id=?", (user.platform, user.user_id)
        )
        return cur.rowcount > 0

    def bot_admins(self) -> list[UserRef]:
        rows = self.db.rows(
            "SELECT b.platform, b.user_id, p.username, p.display_name FROM bot_admins b"
            " LEFT JOIN people p ON p.platform = b.platform AND p.user_id = b.user_id"
            " ORDER BY b.platform, b.user_id"
        )
        return [
            UserRef(r["platform"], r["user_id"], r["display_name"] or "", r["username"] or "")
            for r in rows
        ]

    # -- bans -----------------------------------------------------------------------------

    def ban(self, user: UserRef, scope: str, reason: str | None, by: str) -> bool:
        """Ban the person, on every account linked to this one (/link)."""
        banned = False
        with self.db.write() as conn:
            for account in accounts_of(self.db, user):
                cur = conn.execute(
                    "INSERT INTO bans (platform, user_id, scope, reason, banned_by, banned_at)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (account.platform, account.user_id, scope, reason, by, to_ts(self.db.now())),
                )
                if cur.rowcount and scope == BOT_WIDE:
                    self.bump_votes_of(account)
                banned = banned or cur.rowcount > 0
        return banned

    def unban(self, user: UserRef, scope: str) -> bool:
        """Lift the person's ban, on every account linked to this one."""
        lifted = False
        with self.db.write() as conn:
            for account in accounts_of(self.db, user):
                cur = conn.execute(
                    "DELETE FROM bans WHERE platform=? AND user_id=? AND scope=?",
                    (account.platform, account.user_id, scope),
                )
                if cur.rowcount and scope == BOT_WIDE:
                    self.bump_votes_of(account)
                lifted = lifted or cur.rowcount > 0
        return lifted

    def ban_of(self, user: UserRef, chat: ChatRef | None) -> Ban | None:
        """A bot-wide ban, or a ban in this chat."""
        scopes = [BOT_WIDE] if chat is None else [BOT_WIDE, chat.key()]
        marks = ",".join("?" * len(scopes))
        row = self.db.one(
            f"SELECT * FROM bans WHERE platform=? AND user_id=? AND scope IN ({marks})"
            " ORDER BY scope = '*' DESC LIMIT 1",
            (user.platform, user.user_id, *scopes),
        )
        if row is None:
            return None
        at = from_ts(row["banned_at"])
        assert at is not None
        return Ban(user, row["scope"], row["reason"], row["banned_by"], at)

    # -- mutes ----------------------------------------------------------------------------

    def mute(self, user: UserRef, scope: str, until: datetime, reason: str | None, by: str) -> None:
        """Mute the person, on every account linked to this one."""
        with self.db.write():
            self.db.executemany(
                "INSERT INTO mutes (platform, user_id, scope, until, reason, muted_by)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(platform, user_id, scope) DO UPDATE SET"
                " until = excluded.until, reason = excluded.reason, muted_by = excluded.muted_by",
                [
                    (a.platform, a.user_id, scope, to_ts(until), reason, by)
                    for a in accounts_of(self.db, user)
                ],
            )

    def unmute(self, user: UserRef, scope: str) -> bool:
        with self.db.write():
            return any(
                [
                    self.db.changes(
                        "DELETE FROM mutes WHERE platform=? AND user_id=? AND scope=?",
                        (a.platform, a.user_id, scope),
                    )
                    > 0
                    for a in accounts_of(self.db, user)
                ]
            )

    def mute_of(self, user: UserRef, chat: ChatRef | None) -> Mute | None:
        """A mute that has not run out yet, bot-wide or in this chat."""
        scopes = [BOT_WIDE] if chat is None else [BOT_WIDE, chat.key()]
        marks = ",".join("?" * len(scopes))
        row = self.db.one(
            f"SELECT * FROM mutes WHERE platform=? AND user_id=? AND scope IN ({marks})"
            " AND until > ? ORDER BY until DESC LIMIT 1",
            (user.platform, user.user_id, *scopes, to_ts(self.db.now())),
        )
        if row is None:
            return None
        until = from_ts(row["until"])
        assert until is not None
        return Mute(user, row["scope"], until, row["reason"])

    # -- warnings -------------------------------------------------------------------------

    def warn(self, user: UserRef, scope: str, reason: str | None, by: str) -> int:
        """Add a warning (on every account linked to this one: one person, one set of
        warnings); returns the person's active warnings in that scope."""
        with self.db.write() as conn:
            for account in accounts_of(self.db, user):
                conn.execute(
                    "INSERT INTO warnings (platform, user_id, scope, reason, warned_by,"
                    " warned_at) VALUES (?,?,?,?,?,?)",
                    (account.platform, account.user_id, scope, reason, by, to_ts(self.db.now())),
                )
            return len(self.warnings(user, scope))

    def warnings(self, user: UserRef, scope: str) -> list[Warning]:
        rows = self.db.rows(
            "SELECT * FROM warnings WHERE platform=? AND user_id=? AND scope=? AND active=1"
            " ORDER BY id",
            (user.platform, user.user_id, scope),
        )
        out = []
        for r in rows:
            at = from_ts(r["warned_at"])
            assert at is not None
            out.append(Warning(r["id"], user, r["scope"], r["reason"], r["warned_by"], at))
        return out

    def reset_warnings(self, user: UserRef, scope: str) -> int:
        """Reset the person's warnings in `scope` on every linked account; returns how many
        this account had."""
        with self.db.write():
            counts = [
                self.db.changes(
                    "UPDATE warnings SET active=0 WHERE platform=? AND user_id=? AND scope=?"
                    " AND active=1",
                    (a.platform, a.user_id, scope),
                )
                for a in accounts_of(self.db, user)
            ]
        return counts[0]

    # -- articles and polls -------------------------------------------------------------

    def set_removed(self, article_id: int, removed: bool, reason: str | None = None) -> bool:
        """Hide an article from lists, search and answers, or bring it back. Removing cancels
        its pending deliveries; either way its posts are marked for a refresh, which replaces
        them with a short note or restores them."""
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE articles SET removed=?, removed_reason=? WHERE id=? AND removed != ?",
                (int(removed), reason if removed else None, article_id, int(removed)),
            )
            if not cur.rowcount:
                return False
            if removed:
                conn.execute(
                    "UPDATE deliveries SET status='cancelled', lease_until=NULL"
                    " WHERE article_id=? AND status IN ('pending','sending')",
                    (article_id,),
                )
            self._bump([article_id])
            return True

    def vote_tally(self, article_id: int) -> VoteTally:
        """The votes stored on an article, counted and uncounted (a bot-wide ban's)."""
        row = self.db.rows(
            "SELECT count(*) AS stored,"
            f" coalesce(sum(CASE WHEN {COUNTED_VOTE} THEN 1 ELSE 0 END), 0) AS counted"
            " FROM votes v WHERE v.article_id = ?",
            (article_id,),
        )[0]
        counted = int(row["counted"])
        return VoteTally(counted=counted, uncounted=int(row["stored"]) - counted)

    def reset_votes(self, article_id: int) -> VoteTally:
        """Delete every vote stored on an article; what was deleted, counted and uncounted."""
        with self.db.write() as conn:
            tally = self.vote_tally(article_id)
            conn.execute("DELETE FROM votes WHERE article_id=?", (article_id,))
            self._bump([article_id])
            return tally

    def chat_problems(self, chat: ChatRef, limit: int = 5) -> list[DeliveryProblem]:
        """The last delivery errors for a chat, newest first."""
        rows = self.db.rows(
            "SELECT article_id, status, last_error FROM deliveries WHERE platform=? AND"
            " chat_id=? AND last_error IS NOT NULL ORDER BY id DESC LIMIT ?",
            (chat.platform, chat.chat_id, limit),
        )
        return [DeliveryProblem(r["article_id"], r["status"], r["last_error"]) for r in rows]

    def activity(self) -> Activity:
        """Figures for /stats beyond Store.stats()."""
        today = self.db.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return Activity(
            votes_today=int(
                self.db.scalar("SELECT count(*) FROM votes WHERE voted_at >= ?", (to_ts(today),))
            ),
            feeds_failing=int(
                self.db.scalar("SELECT count(*) FROM feeds WHERE failures > 0 OR state='parked'")
            ),
        )

    def subscriptions_per_tag(self, limit: int = 10) -> list[TagSubscriptions]:
        # Counted by triggers (m011), read in the order of their index.
        rows = self.db.rows(
            "SELECT tag, n FROM tag_subscribers WHERE n > 0 ORDER BY n DESC, tag_key LIMIT ?",
            (limit,),
        )
        return [TagSubscriptions(tag=r["tag"], chats=r["n"]) for r in rows]

    # -- confirmations of dangerous actions ---------------------------------------------

    def ask_confirmation(self, action: str, target: str, actor: str, ttl: float = 300) -> str:
        token = secrets.token_hex(4)
        self.db.execute(
            "INSERT INTO confirmations (token, action, target, actor, expires) VALUES (?,?,?,?,?)",
            (token, action, target, actor, to_ts(self.db.now() + timedelta(seconds=ttl))),
        )
        return token

    def take_confirmation(self, action: str, target: str, actor: str) -> bool:
        """True when `actor` asked to do this within the time allowed; the request is used up."""
        cur = self.db.execute(
            "DELETE FROM confirmations WHERE action=? AND target=? AND actor=? AND expires > ?",
            (action, target, actor, to_ts(self.db.now())),
        )
        return cur.rowcount > 0

    # -- the audit log --------------------------------------------------------------------

    def audit_entries(
        self, limit: int = 20, *, about: str | None = None, chat: ChatRef | None = None
    ) -> list[AuditEntry]:
        """The newest entries, optionally only those about a person or article (as actor or
        target), or only those of one chat."""
        return self.store.audit_log.entries(limit, about=about, chat=chat)
