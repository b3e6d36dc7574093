"""The store's chat schedules: a chat's time zone, its digest and its quiet hours, and the
outbox rows they hold back (a digest's rows, posts waiting for quiet hours to end)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Db, Row, chat_scope, from_ts, marks, to_ts
from storage.models import ChatRef
from storage.schedule_times import (
    DEFAULT_ZONE,
    QuietWindow,
    next_digest,
    quiet_until,
    quiet_window,
    zone,
)

_COLUMNS = (
    "timezone, digest, digest_weekday, digest_minute, digest_due, last_digest,"
    " quiet_start, quiet_end"
)
_UPSERT = "INSERT INTO chat_schedules (platform, chat_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
_CHUNK = 500  # ids per IN list
# Due rows of chats in their quiet hours come due when those end: one statement over the rows
# due now (those the claim reads anyway), each looked up by its chat. Windows that ended were
# rolled on first, so a chat whose window began is in it.
_HOLD_QUIET = (
    "UPDATE deliveries SET next_try = (SELECT c.quiet_until FROM chat_schedules c"
    " WHERE c.platform = deliveries.platform AND c.chat_id = deliveries.chat_id)"
    " WHERE status = 'pending' AND next_try <= :now AND EXISTS (SELECT 1 FROM chat_schedules c"
    " WHERE c.platform = deliveries.platform AND c.chat_id = deliveries.chat_id"
    " AND c.quiet_from <= :now)"
)


@dataclass(frozen=True, slots=True)
class ChatSchedule:
    """A chat's schedule. `timezone` None: the bot's default zone (`zone_name` either way);
    `digest` None: every article is posted on its own; times are UTC."""

    chat: ChatRef
    zone_name: str
    timezone: str | None = None
    digest: str | None = None  # daily or weekly
    digest_weekday: int | None = None  # Monday 0, for weekly
    digest_minute: int | None = None  # minutes after midnight on the chat's clock
    digest_due: datetime | None = None
    last_digest: datetime | None = None  # the last digest taken (or its switching on)
    quiet_start: int | None = None  # minutes after midnight
    quiet_end: int | None = None

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet hours that hold at `now` end; None outside them or without any."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return quiet_until(now, self.quiet_start, self.quiet_end, zone(self.zone_name))

    def quiet_window(self, now: datetime) -> QuietWindow | None:
        """The quiet hours that hold at `now`, else the next ones; None without any."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return quiet_window(now, self.quiet_start, self.quiet_end, zone(self.zone_name))

    def next_digest(self, after: datetime) -> datetime | None:
        if self.digest is None or self.digest_minute is None:
            return None
        return next_digest(
            after, self.digest, self.digest_weekday, self.digest_minute, zone(self.zone_name)
        )


@dataclass(frozen=True, slots=True)
class TakenDigest:
    """The rows one digest took (marked sent), oldest first, and what to restore if it
    cannot be sent: the schedule's due time and last digest before it was taken."""

    chat: ChatRef
    delivery_ids: tuple[int, ...]
    article_ids: tuple[int, ...]
    kind: str
    taken_at: datetime
    was_due: datetime
    was_last: datetime | None


@dataclass(frozen=True, slots=True)
class DigestRating:
    """A poll's standing for a digest's best-rated list."""

    article_id: int
    votes: int
    mean: float


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a delivery waits: `quiet` (the chat's quiet hours end at `until`) or `digest`
    (it goes out in the digest due at `until`)."""

    reason: str
    until: datetime | None


class Schedules:
    """Chat schedules over the outbox. `default_zone` is the zone of chats that set none."""

    def __init__(self, db: Db, default_zone: str = DEFAULT_ZONE) -> None:
        self.db = db
        self.default_zone = default_zone

    def _schedule(self, chat: ChatRef, row: Row | None) -> ChatSchedule:
        if row is None:
            return ChatSchedule(chat=chat, zone_name=self.default_zone)
        return ChatSchedule(
            chat=chat,
            zone_name=row["timezone"] or self.default_zone,
            timezone=row["timezone"],
            digest=row["digest"],
            digest_weekday=row["digest_weekday"],
            digest_minute=row["digest_minute"],
            digest_due=from_ts(row["digest_due"]),
            last_digest=from_ts(row["last_digest"]),
            quiet_start=row["quiet_start"],
            quiet_end=row["quiet_end"],
        )

    def get(self, chat: ChatRef) -> ChatSchedule:
        row = self.db.one(
            f"SELECT {_COLUMNS} FROM chat_schedules WHERE platform=? AND chat_id=?",
            (chat.platform, chat.chat_id),
        )
        return self._schedule(chat, row)

    def _update(self, chat: ChatRef, changes: dict[str, object]) -> ChatSchedule:
        """Write `changes`, then the digest's next due time from the result: the first
        digest time after the last digest (or now)."""
        with self.db.write():
            self.db.execute(_UPSERT, (chat.platform, chat.chat_id))
            sets = ", ".join(f"{column} = ?" for column in changes)
            self.db.execute(
                f"UPDATE chat_schedules SET {sets} WHERE platform=? AND chat_id=?",
                (*changes.values(), chat.platform, chat.chat_id),
            )
            schedule = self.get(chat)
            due = schedule.next_digest(schedule.last_digest or self.db.now())
            self.db.execute(
                "UPDATE chat_schedules SET digest_due = ? WHERE platform=? AND chat_id=?",
                (due and to_ts(due), chat.platform, chat.chat_id),
            )
            self._set_quiet_window(schedule)
            return self.get(chat)

    def _set_quiet_window(self, schedule: ChatSchedule) -> None:
        window = schedule.quiet_window(self.db.now())
        begin, end = (to_ts(window.begin), to_ts(window.end)) if window else (None, None)
        self.db.execute(
            "UPDATE chat_schedules SET quiet_from = ?, quiet_until = ?"
            " WHERE platform=? AND chat_id=?",
            (begin, end, schedule.chat.platform, schedule.chat.chat_id),
        )

    def set_timezone(self, chat: ChatRef, name: str) -> ChatSchedule:
        return self._update(chat, {"timezone": name})

    def set_digest(
        self, chat: ChatRef, kind: str, weekday: int | None, minute: int
    ) -> ChatSchedule:
        """Switch the digest on (its period starts now) or move its time."""
        last = self.get(chat).last_digest if self.get(chat).digest else None
        return self._update(
            chat,
            {
                "digest": kind,
                "digest_weekday": weekday,
                "digest_minute": minute,
                "last_digest": to_ts(last or self.db.now()),
            },
        )

    def digest_off(self, chat: ChatRef) -> int:
        """Back to one post per article: what waited for the next digest is posted now.
        Returns how many rows that is."""
        with self.db.write():
            self._update(chat, {"digest": None, "digest_weekday": None, "digest_minute": None})
            return self.db.changes(
                "UPDATE deliveries SET status='pending', next_try=?"
                " WHERE platform=? AND chat_id=? AND status='digest'",
                (to_ts(self.db.now()), chat.platform, chat.chat_id),
            )

    def set_quiet(self, chat: ChatRef, start: int | None, end: int | None) -> ChatSchedule:
        """Quiet hours from `start` to `end` (minutes on the chat's clock); None: none."""
        return self._update(chat, {"quiet_start": start, "quiet_end": end})

    def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat got a new id: its schedule goes with it (the new id's own, if any, stays)."""
        self.db.execute(
            "UPDATE chat_schedules SET chat_id=? WHERE platform=? AND chat_id=? AND NOT EXISTS"
            " (SELECT 1 FROM chat_schedules n WHERE n.platform=? AND n.chat_id=?)",
            (new.chat_id, old.platform, old.chat_id, new.platform, new.chat_id),
        )

    # -- new rows ---------------------------------------------------------------------------

    def hold_for_digest(self, article_ids: Sequence[int], chat: ChatRef | None = None) -> int:
        """New outbox rows of these articles (for `chat` only, when given) for chats in
        digest mode wait for the digest instead of going out one by one; returns how many."""
        # Most stores have no chat in digest mode: one look at an index, and nothing more.
        if not article_ids or not self.db.one(
            "SELECT 1 FROM chat_schedules WHERE digest_due IS NOT NULL LIMIT 1"
        ):
            return 0
        only = " AND platform=? AND chat_id=?" if chat is not None else ""
        return self.db.changes(
            "UPDATE deliveries SET status='digest' WHERE status='pending' AND attempts=0"
            f" AND article_id IN ({marks(article_ids)}){only} AND EXISTS (SELECT 1 FROM"
            " chat_schedules c WHERE c.platform = deliveries.platform"
            " AND c.chat_id = deliveries.chat_id AND c.digest IS NOT NULL)",
            (*article_ids, *((chat.platform, chat.chat_id) if chat is not None else ())),
        )

    def hold_quiet(self) -> int:
        """Rows due for chats in their quiet hours wait until those end, in their order (all
        then come due at the same moment, and go out by id). Returns how many rows moved.
        Called by every claim: without a quiet chat it costs one look at an index."""
        now = to_ts(self.db.now())
        self._roll_quiet_windows(now)
        quiet = self.db.one("SELECT 1 FROM chat_schedules WHERE quiet_from <= ? LIMIT 1", (now,))
        return self.db.changes(_HOLD_QUIET, {"now": now}) if quiet else 0

    def _roll_quiet_windows(self, now: str) -> None:
        """Quiet hours that ended make way for the next ones (once a day per chat)."""
        rows = self.db.rows(
            f"SELECT platform, chat_id, {_COLUMNS} FROM chat_schedules WHERE quiet_until <= ?",
            (now,),
        )
        for row in rows:
            self._set_quiet_window(self._schedule(ChatRef(row["platform"], row["chat_id"]), row))

    # -- digests ------------------------------------------------------------------------------

    def due_digests(
        self, platforms: Iterable[str], only_chats: Mapping[str, Collection[str]]
    ) -> list[ChatRef]:
        """Chats (of these platforms, those in `only_chats` for those chats only) whose
        digest time has passed and that are not in their quiet hours, the longest due first."""
        where, params = chat_scope(platforms, only_chats, "s")
        if not where:
            return []
        now = self.db.now()
        rows = self.db.rows(
            f"SELECT s.platform, s.chat_id, {_COLUMNS} FROM chat_schedules s"
            f" WHERE s.digest_due <= ? AND ({where}) ORDER BY s.digest_due",
            (to_ts(now), *params),
        )
        due = [(ChatRef(r["platform"], r["chat_id"]), r) for r in rows]
        return [chat for chat, row in due if self._schedule(chat, row).quiet_until(now) is None]

    def take_digest(self, chat: ChatRef) -> TakenDigest | None:
        """In one write: the chat's rows waiting for its digest are marked sent, and the
        next digest time is set from now, so that a digest is taken once however long it
        was overdue (a bot that was down sends one, not one per missed period). None when
        it is not due (another worker took it)."""
        now = self.db.now()
        with self.db.write():
            schedule = self.get(chat)
            was_due = schedule.digest_due
            if schedule.digest is None or was_due is None or was_due > now:
                return None
            rows = self.db.execute(
                "SELECT id, article_id FROM deliveries WHERE platform=? AND chat_id=?"
                " AND status='digest' ORDER BY id",
                (chat.platform, chat.chat_id),
            ).fetchall()
            ids = [int(r[0]) for r in rows]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                self.db.execute(
                    "UPDATE deliveries SET status='sent', sent_at=?, last_error=NULL"
                    f" WHERE id IN ({marks(chunk)})",
                    (to_ts(now), *chunk),
                )
            due = schedule.next_digest(now)
            self.db.execute(
                "UPDATE chat_schedules SET last_digest=?, digest_due=?"
                " WHERE platform=? AND chat_id=?",
                (to_ts(now), due and to_ts(due), chat.platform, chat.chat_id),
            )
        return TakenDigest(
            chat=chat,
            delivery_ids=tuple(ids),
            article_ids=tuple(int(r[1]) for r in rows),
            kind=schedule.digest,
            taken_at=now,
            was_due=was_due,
            was_last=schedule.last_digest,
        )

    def give_back(self, taken: TakenDigest, ids: Sequence[int], retry_in: float) -> None:
        """A digest (or its parts with rows `ids`) could not be sent: those rows wait for
        the digest again, which is tried once more `retry_in` seconds from now."""
        chat = taken.chat
        with self.db.write():
            for start in range(0, len(ids), _CHUNK):
                chunk = list(ids[start : start + _CHUNK])
                self.db.execute(
                    "UPDATE deliveries SET status='digest', sent_at=NULL"
                    f" WHERE status='sent' AND id IN ({marks(chunk)})",
                    tuple(chunk),
                )
            retry = to_ts(self.db.now() + timedelta(seconds=retry_in))
            self.db.execute(
                "UPDATE chat_schedules SET digest_due=?, last_digest=?"
                " WHERE platform=? AND chat_id=? AND digest IS NOT NULL",
                (retry, taken.was_last and to_ts(taken.was_last), chat.platform, chat.chat_id),
            )

    def best_rated(self, chat: ChatRef, since: datetime, limit: int) -> list[DigestRating]:
        """The chat's articles of the period (their rows written since `since`) with votes,
        best mean first (more votes first among equals)."""
        rows = self.db.execute(
            "SELECT p.article_id, p.votes, p.points FROM deliveries d"
            " JOIN polls p ON p.article_id = d.article_id"
            " JOIN articles a ON a.id = d.article_id"
            " WHERE d.platform=? AND d.chat_id=? AND d.created >= ? AND p.votes > 0"
            " AND a.removed = 0",
            (chat.platform, chat.chat_id, to_ts(since)),
        ).fetchall()
        rated = [DigestRating(int(r[0]), int(r[1]), r[2] / r[1]) for r in rows]
        # Option 1 (the best) scores 5: the highest mean is the best rated.
        rated.sort(key=lambda r: (-r.mean, -r.votes, r.article_id))
        return rated[:limit]

    def waiting(self, chat: ChatRef, article_id: int) -> Waiting | None:
        """Why the delivery of `article_id` to `chat` waits, if it does (for /why)."""
        status = self.db.scalar(
            "SELECT status FROM deliveries WHERE article_id=? AND platform=? AND chat_id=?",
            (article_id, chat.platform, chat.chat_id),
        )
        schedule = self.get(chat)
        if status == "digest":
            return Waiting("digest", schedule.digest_due)
        if status == "pending":
            until = schedule.quiet_until(self.db.now())
            if until is not None:
                return Waiting("quiet", until)
        return None
