"""The store's people: who arrives, under which names, and what holds them back there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Db, Row, from_ts, to_ts
from storage.models import ChatRef, UserRef

BOT_WIDE = "*"

# -- SQLite dialect: COLLATE NOCASE (lower() on both sides on PostgreSQL: in the "C" collation
# it folds ASCII only, as NOCASE does, and idx_people_username is on it) --------------------
_BY_USERNAME = {
    "sqlite": "SELECT * FROM people WHERE platform=? AND username = ? COLLATE NOCASE"
    " ORDER BY user_id",
    "postgresql": "SELECT * FROM people WHERE platform=?"
    ' AND lower(username) = lower(CAST(? AS TEXT) COLLATE "C")'
    " ORDER BY user_id",
}


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


def _worth_writing(person: Row | None, user: UserRef, now: datetime) -> bool:
    """A person's row is written when it is new, their names changed, or a day has passed."""
    if person is None or _names_changed(person, user):
        return True
    last = from_ts(person["c"])
    return last is None or last < now - _SEEN_AGAIN


def _ban_of(rows: list[Row], user: UserRef) -> Ban | None:
    """The ban that holds a person, from the arrival rows: a bot-wide one first."""
    bans = sorted((r for r in rows if r["kind"] == "ban"), key=lambda r: r["scope"] != BOT_WIDE)
    if not bans:
        return None
    at = from_ts(bans[0]["c"])
    assert at is not None
    return Ban(user, bans[0]["scope"], bans[0]["a"], bans[0]["b"], at)


def _mute_of(rows: list[Row], user: UserRef) -> Mute | None:
    """The mute that holds a person longest, from the arrival rows."""
    mutes = sorted((r for r in rows if r["kind"] == "mute"), key=lambda r: r["b"], reverse=True)
    if not mutes:
        return None
    until = from_ts(mutes[0]["b"])
    assert until is not None
    return Mute(user, mutes[0]["scope"], until, mutes[0]["a"])


def person_of(db: Db, user: UserRef) -> str | None:
    """The person id an account is linked under (/link), or None."""
    value = db.scalar(
        "SELECT person FROM people WHERE platform=? AND user_id=?", (user.platform, user.user_id)
    )
    return None if value is None else str(value)


def linked_accounts(db: Db, user: UserRef) -> list[UserRef]:
    """The other accounts linked to `user` into one person, with their names."""
    rows = db.rows(
        "SELECT o.platform, o.user_id, o.username, o.display_name FROM people me"
        " JOIN people o ON o.person = me.person"
        " WHERE me.platform=? AND me.user_id=? AND me.person IS NOT NULL"
        " AND NOT (o.platform = me.platform AND o.user_id = me.user_id)"
        " ORDER BY o.platform, o.user_id",
        (user.platform, user.user_id),
    )
    return [
        UserRef(r["platform"], r["user_id"], r["display_name"] or "", r["username"] or "")
        for r in rows
    ]


def accounts_of(db: Db, user: UserRef) -> list[UserRef]:
    """Every account of the person `user` is: `user` first, then those linked to it. A ban,
    a mute or a warning of one is written for each (one person, one standing)."""
    return [user, *linked_accounts(db, user)]


class People:
    """People as the bot has seen them; Moderation builds on it."""

    db: Db

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
        if _worth_writing(person, user, now):
            self.seen(user)
        return Standing(_ban_of(rows, user), _mute_of(rows, user))

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

    def accounts(self, user: UserRef) -> list[UserRef]:
        """Every account of the person `user` is (see accounts_of)."""
        return accounts_of(self.db, user)

    def find_people(self, platform: str, text: str) -> list[UserRef]:
        """People matching '@name' (username, case-insensitive) or a numeric id."""
        name = text.strip()
        if name.startswith("@"):
            rows = self.db.rows(_BY_USERNAME[self.db.dialect], (platform, name[1:]))
        else:
            rows = self.db.rows(
                "SELECT * FROM people WHERE platform=? AND user_id=?", (platform, name)
            )
        return [
            UserRef(platform, r["user_id"], r["display_name"] or "", r["username"] or "")
            for r in rows
        ]
