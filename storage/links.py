"""Accounts on several platforms linked into one person: one-time link codes, the links, and
what a link merges (the votes, bans, mutes and warnings of the accounts)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from storage.db import Db, Row, from_ts, to_ts
from storage.models import UserRef
from storage.people import accounts_of, linked_accounts, person_of
from storage.polls import Polls

CODE_TTL = timedelta(minutes=10)
# Codes asked for plus wrong codes tried, per account and hour: ten characters of a
# 30-letter alphabet (49 bits) cannot be guessed at five tries an hour, and a stolen
# database holds only hashes of codes that die within minutes.
MAX_TRIES_PER_HOUR = 5
_TRIES_WINDOW = timedelta(hours=1)
# Used and expired codes are kept a day, so that a second try names what happened.
_KEEP_CODES = timedelta(days=1)
_ALPHABET = "ACDEFGHJKLMNPQRSTUVWXYZ2345679"  # no 0/O, 1/I, 8/B to mix up
_CODE_LENGTH = 10

LinkRefusal = Literal[
    "too_many_tries",  # the hourly limit of codes and tries is reached
    "wrong_code",  # no such code
    "expired",  # the code's ten minutes are over
    "used",  # the code was redeemed already
    "same_platform",  # sent from the platform the code was asked for on
    "already_linked",  # the two accounts are one person already
    "linked_elsewhere",  # both accounts belong to different people already
    "platform_taken",  # the person has an account on this platform already
]


@dataclass(frozen=True, slots=True)
class LinkCode:
    """A code to send from the other platform, and when it stops working."""

    code: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class LinkResult:
    """What sending a code did: the accounts now linked (the person's other ones), or why not.
    `votes_merged` counts the earlier of two votes on one article that the link dropped."""

    refusal: LinkRefusal | None
    linked: tuple[UserRef, ...] = ()
    votes_merged: int = 0


def normalised_code(text: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(normalised_code(code).encode()).hexdigest()


class Links:
    """The links between accounts (people.person) and the codes that make them."""

    def __init__(self, db: Db, polls: Polls) -> None:
        self.db = db
        self.polls = polls

    # -- codes --------------------------------------------------------------------------

    def issue_code(self, user: UserRef) -> LinkCode | None:
        """A new one-time code for `user` (their earlier ones stop working); None when they
        reached the hourly limit."""
        now = self.db.now()
        with self.db.write():
            if not self._may_try(user, now):
                return None
            self._count_try(user, now)
            self.db.execute(
                "DELETE FROM link_codes WHERE (platform=? AND user_id=?) OR expires < ?",
                (user.platform, user.user_id, to_ts(now - _KEEP_CODES)),
            )
            raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
            expires = now + CODE_TTL
            self.db.execute(
                "INSERT INTO link_codes (code_hash, platform, user_id, expires) VALUES (?,?,?,?)",
                (_hash(raw), user.platform, user.user_id, to_ts(expires)),
            )
        return LinkCode(f"{raw[:5]}-{raw[5:]}", expires)

    def tries_left(self, user: UserRef) -> int:
        """How many codes or tries `user` has left this hour."""
        return MAX_TRIES_PER_HOUR - self._tries(user, self.db.now())

    def _tries(self, user: UserRef, now: datetime) -> int:
        return int(
            self.db.scalar(
                "SELECT count(*) FROM link_attempts WHERE platform=? AND user_id=? AND at > ?",
                (user.platform, user.user_id, to_ts(now - _TRIES_WINDOW)),
            )
        )

    def _may_try(self, user: UserRef, now: datetime) -> bool:
        return self._tries(user, now) < MAX_TRIES_PER_HOUR

    def _count_try(self, user: UserRef, now: datetime) -> None:
        self.db.execute(
            "DELETE FROM link_attempts WHERE platform=? AND user_id=? AND at <= ?",
            (user.platform, user.user_id, to_ts(now - _TRIES_WINDOW)),
        )
        self.db.execute(
            "INSERT INTO link_attempts (platform, user_id, at) VALUES (?,?,?)",
            (user.platform, user.user_id, to_ts(now)),
        )

    # -- linking ------------------------------------------------------------------------

    def redeem(self, user: UserRef, code: str) -> LinkResult:
        """`user` sends a code asked for from another account: the two become one person.
        A code is used once; a wrong, expired or used one counts as a try."""
        now = self.db.now()
        with self.db.write():
            if not self._may_try(user, now):
                return LinkResult("too_many_tries")
            row = self.db.one(
                "SELECT platform, user_id, expires, used_at FROM link_codes WHERE code_hash=?",
                (_hash(code),),
            )
            refusal: LinkRefusal | None = None
            if row is None:
                refusal = "wrong_code"
            elif row["used_at"] is not None:
                refusal = "used"
            elif (from_ts(row["expires"]) or now) <= now:
                refusal = "expired"
            if refusal is not None or row is None:
                self._count_try(user, now)
                return LinkResult(refusal or "wrong_code")
            issuer = UserRef(row["platform"], row["user_id"])
            if issuer.platform == user.platform:
                return LinkResult("same_platform")  # the code stays good for the other one
            result = self._link(issuer, user, now)
            if result.refusal in {None, "already_linked"}:
                self.db.execute(
                    "UPDATE link_codes SET used_at=? WHERE code_hash=?", (to_ts(now), _hash(code))
                )
            return result

    def _link(self, issuer: UserRef, user: UserRef, now: datetime) -> LinkResult:
        """Make the two accounts (and those already linked to either) one person."""
        theirs, mine = person_of(self.db, issuer), person_of(self.db, user)
        if theirs is not None and theirs == mine:
            return LinkResult("already_linked", tuple(linked_accounts(self.db, user)))
        if theirs is not None and mine is not None:
            return LinkResult("linked_elsewhere")
        group_a, group_b = accounts_of(self.db, issuer), accounts_of(self.db, user)
        if {a.platform for a in group_a} & {b.platform for b in group_b}:
            return LinkResult("platform_taken")
        # The group that is a person already keeps its id; the other joins it.
        keep, join = (group_b, group_a) if mine is not None else (group_a, group_b)
        person = mine or theirs or secrets.token_hex(8)
        for account in (*keep, *join):
            self.db.execute(
                "INSERT INTO people (platform, user_id, last_seen, person) VALUES (?,?,?,?)"
                " ON CONFLICT(platform, user_id) DO UPDATE SET person = excluded.person",
                (account.platform, account.user_id, to_ts(now), person),
            )
        merged = self._merge_votes(keep, join, person)
        self._merge_standing(keep, join)
        return LinkResult(None, tuple(linked_accounts(self.db, user)), merged)

    def _merge_votes(self, keep: list[UserRef], join: list[UserRef], person: str) -> int:
        """One vote per article for the person: where both groups voted on an article, the
        later vote stays (the m011 triggers take the other out of the counts and mark the
        poll's posts for a refresh); then every vote of theirs carries the person."""
        merged = 0
        for k in keep:
            for j in join:
                for loser, winner, ties_to in ((j, k, ">="), (k, j, ">")):
                    merged += self.db.changes(
                        "DELETE FROM votes WHERE platform=? AND user_id=? AND EXISTS"
                        " (SELECT 1 FROM votes o WHERE o.article_id = votes.article_id"
                        f" AND o.platform=? AND o.user_id=? AND o.voted_at {ties_to}"
                        " votes.voted_at)",
                        (loser.platform, loser.user_id, winner.platform, winner.user_id),
                    )
        for account in (*keep, *join):
            self.db.execute(
                "UPDATE votes SET voter=? WHERE platform=? AND user_id=?"
                " AND (voter IS NULL OR voter <> ?)",
                (person, account.platform, account.user_id, person),
            )
        return merged

    def _merge_standing(self, keep: list[UserRef], join: list[UserRef]) -> None:
        """One ban, one mute, one set of warnings: each group gets the other's. Votes of an
        account that a link bans bot-wide stop counting."""
        banned_before = {a.key() for a in (*keep, *join) if self._banned_everywhere(a)}
        warnings = {
            a.key(): self.db.rows(
                "SELECT scope, reason, warned_by, warned_at FROM warnings"
                " WHERE platform=? AND user_id=? AND active=1 ORDER BY id",
                (a.platform, a.user_id),
            )
            for a in (keep[0], join[0])
        }
        for group, other in ((keep, join[0]), (join, keep[0])):
            for account in group:
                self._copy_standing(other, account, warnings[other.key()])
        newly_banned = [
            a for a in (*keep, *join) if a.key() not in banned_before and self._banned_everywhere(a)
        ]
        for account in newly_banned:
            self.polls.changed(
                r[0]
                for r in self.db.execute(
                    "SELECT article_id FROM votes WHERE platform=? AND user_id=?",
                    (account.platform, account.user_id),
                )
            )

    def _banned_everywhere(self, user: UserRef) -> bool:
        return bool(
            self.db.scalar(
                "SELECT 1 FROM bans WHERE platform=? AND user_id=? AND scope='*'",
                (user.platform, user.user_id),
            )
        )

    def _copy_standing(self, source: UserRef, target: UserRef, warnings: list[Row]) -> None:
        who = (target.platform, target.user_id, source.platform, source.user_id)
        self.db.execute(
            "INSERT INTO bans (platform, user_id, scope, reason, banned_by, banned_at)"
            " SELECT ?, ?, scope, reason, banned_by, banned_at FROM bans"
            " WHERE platform=? AND user_id=? ON CONFLICT DO NOTHING",
            who,
        )
        # A mute held on both lasts until the later end.
        self.db.execute(
            "INSERT INTO mutes (platform, user_id, scope, until, reason, muted_by)"
            " SELECT ?, ?, scope, until, reason, muted_by FROM mutes"
            " WHERE platform=? AND user_id=? AND until > ?"
            " ON CONFLICT(platform, user_id, scope) DO UPDATE SET until = excluded.until,"
            " reason = excluded.reason, muted_by = excluded.muted_by"
            " WHERE excluded.until > mutes.until",
            (*who, to_ts(self.db.now())),
        )
        self.db.executemany(
            "INSERT INTO warnings (platform, user_id, scope, reason, warned_by, warned_at)"
            " VALUES (?,?,?,?,?,?)",
            [
                (target.platform, target.user_id, w["scope"], w["reason"], w["warned_by"], at)
                for w in warnings
                for at in (w["warned_at"],)
            ],
        )

    # -- undoing ------------------------------------------------------------------------

    def linked(self, user: UserRef) -> list[UserRef]:
        """The other accounts of the person `user` is, with their names; [] when unlinked."""
        return linked_accounts(self.db, user)

    def unlink(self, user: UserRef) -> list[UserRef]:
        """`user` stops being one person with their other accounts (returned). Votes stay
        with the accounts that cast them; bans, mutes and warnings stay on both."""
        with self.db.write():
            others = linked_accounts(self.db, user)
            if not others:
                return []
            leaving = [user] if len(others) > 1 else [user, *others]
            for account in leaving:
                self.db.execute(
                    "UPDATE people SET person = NULL WHERE platform=? AND user_id=?",
                    (account.platform, account.user_id),
                )
                self.db.execute(
                    "UPDATE votes SET voter = NULL WHERE platform=? AND user_id=?"
                    " AND voter IS NOT NULL",
                    (account.platform, account.user_id),
                )
        return others
