"""The store's moderation part: people, bot admins, bans, mutes, warnings, confirmations."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from sqlite3 import Row
from typing import TYPE_CHECKING

from storage.db import from_ts, to_ts
from storage.models import Activity, AuditEntry, ChatRef, DeliveryProblem, TagSubscriptions, UserRef

if TYPE_CHECKING:
    from storage.store import Store

BOT_WIDE = "*"

# -- SQLite dialect: COLLATE NOCASE (lower() on both sides, or citext, on PostgreSQL) ----------
_BY_USERNAME = "SELECT * FROM people WHERE platform=? AND username = ? COLLATE NOCASE"


@dataclass(frozen=True, slots=True)
class Ban:
    user: UserRef
    scope: str
    reason: str | None
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Mute:
    user: UserRef
    scope: str
    until: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class Warning:
    id: int
    user: UserRef
    scope: str
    reason: str | None
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Standing:
    """What holds a person back where they arrive: a ban (bot-wide first), a running mute."""

    ban: Ban | None
    mute: Mute | None


# The person's row, their bans and their running mutes where they arrive, in one statement.
_ARRIVAL = (
    "SELECT 'person' AS kind, NULL AS scope, username AS a, display_name AS b, last_seen AS c"
    " FROM people WHERE platform=? AND user_id=?"
    " UNION ALL SELECT 'ban', scope, reason, banned_by, banned_at FROM bans"
    " WHERE platform=? AND user_id=? AND scope IN (?, ?)"
    " UNION ALL SELECT 'mute', scope, reason, until, NULL FROM mutes"
    " WHERE platform=? AND user_id=? AND scope IN (?, ?) AND until > ?"
)
_SEEN_AGAIN = timedelta(days=1)


def _names_changed(row: Row, user: UserRef) -> bool:
    """Whether `seen` would change the stored names (an empty name never replaces one)."""
    return bool(
        (user.username and user.username != row["a"])
        or (user.display_name and user.display_name != row["b"])
    )


class Moderation:
    """Moderation records, on the same connection and transactions as the Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.engine

    # -- people -----------------------------------------------------------------------

    def arrival(self, user: UserRef, chat: ChatRef) -> Standing:
        """A person arrives with a command, a press or a message: whether a ban or a mute
        holds them there, and their names remembered (see `seen`), in one read. Their row is
        written only when it is new, their names changed, or it was last written more than a
        day ago: nothing needs the exact time, and a press should not cost a write."""
        now = self.db.now()
        who = (user.platform, user.user_id)
        scopes = (BOT_WIDE, chat.key())
        rows = self.db.rows(_ARRIVAL, (*who, *who, *scopes, *who, *scopes, to_ts(now)))
        person = next((r for r in rows if r["kind"] == "person"), None)
        if person is None or _names_changed(person, user):
            self.seen(user)
        else:
            last = from_ts(person["c"])
            if last is None or last < now - _SEEN_AGAIN:
                self.seen(user)
        ban = mute = None
        bans = sorted((r for r in rows if r["kind"] == "ban"), key=lambda r: r["scope"] != BOT_WIDE)
        if bans:
            at = from_ts(bans[0]["c"])
            assert at is not None
            ban = Ban(user, bans[0]["scope"], bans[0]["a"], bans[0]["b"], at)
        mutes = sorted((r for r in rows if r["kind"] == "mute"), key=lambda r: r["b"], reverse=True)
        if mutes:
            until = from_ts(mutes[0]["b"])
            assert until is not None
            mute = Mute(user, mutes[0]["scope"], until, mutes[0]["a"])
        return Standing(ban, mute)

    def seen(self, user: UserRef) -> None:
        """Remember a person's names, so that @username and ids resolve later."""
        self.db.execute(
            "INSERT INTO people (platform, user_id, username, display_name, last_seen)"
            " VALUES (?,?,?,?,?) ON CONFLICT(platform, user_id) DO UPDATE SET"
            " username = coalesce(nullif(excluded.username, ''), people.username),"
            " display_name = coalesce(nullif(excluded.display_name, ''), people.display_name),"
            " last_seen = excluded.last_seen",
            (
                user.platform,
                user.user_id,
                user.username or None,
                user.display_name or None,
                to_ts(self.db.now()),
            ),
        )

    def find_people(self, platform: str, text: str) -> list[UserRef]:
        """People matching '@name' (username, case-insensitive) or a numeric id."""
        name = text.strip()
        if name.startswith("@"):
            rows = self.db.rows(_BY_USERNAME, (platform, name[1:]))
        else:
            rows = self.db.rows(
                "SELECT * FROM people WHERE platform=? AND user_id=?", (platform, name)
            )
        return [
            UserRef(platform, r["user_id"], r["display_name"] or "", r["username"] or "")
            for r in rows
        ]

    def forget_person(self, user: UserRef, private_chat: ChatRef | None) -> int:
        """Delete a person's own data: votes, their private chat's subscriptions and settings.
        Returns how many votes went; those polls are marked for a refresh."""
        with self.db.write() as conn:
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
                for table in ("subscriptions", "chats"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE platform=? AND chat_id=?",
                        (private_chat.platform, private_chat.chat_id),
                    )
                conn.execute(
                    "UPDATE deliveries SET status='cancelled' WHERE platform=? AND chat_id=?"
                    " AND status IN ('pending','sending')",
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
        with self.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO bans (platform, user_id, scope, reason, banned_by, banned_at)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (user.platform, user.user_id, scope, reason, by, to_ts(self.db.now())),
            )
            if cur.rowcount and scope == BOT_WIDE:
                self.bump_votes_of(user)
            return cur.rowcount > 0

    def unban(self, user: UserRef, scope: str) -> bool:
        with self.db.write() as conn:
            cur = conn.execute(
                "DELETE FROM bans WHERE platform=? AND user_id=? AND scope=?",
                (user.platform, user.user_id, scope),
            )
            if cur.rowcount and scope == BOT_WIDE:
                self.bump_votes_of(user)
            return cur.rowcount > 0

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
        self.db.execute(
            "INSERT INTO mutes (platform, user_id, scope, until, reason, muted_by)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(platform, user_id, scope) DO UPDATE SET"
            " until = excluded.until, reason = excluded.reason, muted_by = excluded.muted_by",
            (user.platform, user.user_id, scope, to_ts(until), reason, by),
        )

    def unmute(self, user: UserRef, scope: str) -> bool:
        cur = self.db.execute(
            "DELETE FROM mutes WHERE platform=? AND user_id=? AND scope=?",
            (user.platform, user.user_id, scope),
        )
        return cur.rowcount > 0

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
        """Add a warning; returns the person's active warnings in that scope."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO warnings (platform, user_id, scope, reason, warned_by, warned_at)"
                " VALUES (?,?,?,?,?,?)",
                (user.platform, user.user_id, scope, reason, by, to_ts(self.db.now())),
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
        cur = self.db.execute(
            "UPDATE warnings SET active=0 WHERE platform=? AND user_id=? AND scope=? AND active=1",
            (user.platform, user.user_id, scope),
        )
        return cur.rowcount

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

    def reset_votes(self, article_id: int) -> int:
        with self.db.write() as conn:
            cur = conn.execute("DELETE FROM votes WHERE article_id=?", (article_id,))
            self._bump([article_id])
            return cur.rowcount

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
