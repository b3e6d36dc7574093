"""Wall-clock times of a chat's schedule: time zones, digest times and quiet hours, read in
the chat's own zone so that 08:00 stays 08:00 across a daylight-saving change."""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

DEFAULT_ZONE = "Europe/Berlin"
DIGEST_KINDS = ("daily", "weekly")
MINUTES_PER_DAY = 24 * 60
# Every spelling of a weekday people type, English and German, by its number (Monday 0).
WEEKDAYS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("mo", "mon", "monday", "montag"),
            ("di", "tu", "tue", "tues", "tuesday", "dienstag"),
            ("mi", "we", "wed", "wednesday", "mittwoch"),
            ("do", "th", "thu", "thur", "thurs", "thursday", "donnerstag"),
            ("fr", "fri", "friday", "freitag"),
            ("sa", "sat", "saturday", "samstag", "sonnabend"),
            ("so", "su", "sun", "sunday", "sonntag"),
        )
    )
    for name in names
}
_CLOCK = re.compile(r"^([0-9]{1,2})[:.h]([0-9]{2})$")


@functools.lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """The IANA names this machine knows, by their folded spelling."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def zone_name(text: str) -> str | None:
    """The IANA name `text` spells (in any case), or None for one that does not exist."""
    if not text or len(text) > 64 or not text.isascii():
        return None
    return _zones().get(text.strip().casefold())


def zone(name: str) -> tzinfo:
    """The time zone called `name` (a name zone_name() returned); UTC if it went away."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def parse_clock(text: str) -> int | None:
    """Minutes after midnight of `08:00` (also `8:00`, `08.00`); None for anything else."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def weekday_number(text: str) -> int | None:
    return WEEKDAYS.get(text.strip().rstrip(".").casefold())


def _at(day: date, minute: int, where: tzinfo) -> datetime:
    """The moment the wall clock in `where` shows `minute` on `day`, in UTC. A time skipped
    by a change to summer time is read with the offset before the change (an hour later)."""
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=where)
    return local.astimezone(UTC)


def next_digest(
    after: datetime, kind: str, weekday: int | None, minute: int, where: tzinfo
) -> datetime:
    """The first digest time strictly after `after`: each day (daily) or on `weekday`
    (weekly) at `minute` on the chat's wall clock."""
    start = after.astimezone(where).date()
    for offset in range(9):
        day = start + timedelta(days=offset)
        if kind == "weekly" and day.weekday() != weekday:
            continue
        moment = _at(day, minute, where)
        if moment > after:
            return moment
    raise ValueError(f"no digest time after {after} for {kind}/{weekday}/{minute}")


def period_start(moment: datetime, kind: str) -> datetime:
    """Where the period of a digest taken at `moment` begins: a day or a week before."""
    return moment - (timedelta(days=7) if kind == "weekly" else timedelta(days=1))


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """One night of quiet hours in UTC: the chat is quiet while begin <= now < end."""

    begin: datetime
    end: datetime


def quiet_window(now: datetime, start: int, end: int, where: tzinfo) -> QuietWindow:
    """The quiet hours from `start` to `end` that hold at `now`, else the next ones."""
    today = now.astimezone(where).date()
    for offset in (-1, 0, 1):
        day = today + timedelta(days=offset)
        begin = _at(day, start, where)
        finish = _at(day + timedelta(days=1) if end < start else day, end, where)
        if finish > now:
            return QuietWindow(begin, finish)
    raise ValueError(f"no quiet hours after {now} for {start}-{end}")


def quiet_until(now: datetime, start: int, end: int, where: tzinfo) -> datetime | None:
    """When the quiet hours from `start` to `end` (minutes on the chat's wall clock, over
    midnight when end < start) that hold at `now` end, in UTC; None outside them."""
    local = now.astimezone(where)
    minute = local.hour * 60 + local.minute
    over_midnight = end < start
    inside = (minute >= start or minute < end) if over_midnight else start <= minute < end
    if not inside:
        return None
    day = local.date()
    if over_midnight and minute >= start:
        day += timedelta(days=1)
    return _at(day, end, where)
