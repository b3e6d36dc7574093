"""A chat's clock: digest times and quiet hours read on the wall clock of its time zone, across
the daylight-saving changes of Europe/Berlin, and what people type refused in plain words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.settings import SettingsError, load_settings
from storage.schedule_times import (
    next_digest,
    parse_clock,
    quiet_until,
    weekday_number,
    zone,
    zone_name,
)

BERLIN = zone("Europe/Berlin")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_daily_digest_stays_at_eight_on_the_wall_clock_across_both_changes() -> None:
    # Summer time starts on Sunday 29 March 2026 and ends on Sunday 25 October 2026.
    before_spring = next_digest(utc(2026, 3, 28, 7, 30), "daily", None, 8 * 60, BERLIN)
    assert before_spring == utc(2026, 3, 29, 6, 0)  # 08:00 CEST, the first day of summer time
    assert before_spring.astimezone(BERLIN).hour == 8
    day_before = next_digest(utc(2026, 3, 27, 7, 30), "daily", None, 8 * 60, BERLIN)
    assert day_before == utc(2026, 3, 28, 7, 0)  # still 08:00 CET
    autumn = next_digest(utc(2026, 10, 24, 6, 30), "daily", None, 8 * 60, BERLIN)
    assert autumn == utc(2026, 10, 25, 7, 0)  # 08:00 CET again
    assert autumn.astimezone(BERLIN).hour == 8


def test_a_weekly_digest_comes_on_its_weekday_and_never_at_the_moment_itself() -> None:
    monday = weekday_number("montag")
    assert monday == weekday_number("Mon") == weekday_number("mo.") == 0
    # Wednesday 1 April 2026: the next Monday is 6 April.
    assert next_digest(utc(2026, 4, 1, 12), "weekly", monday, 8 * 60, BERLIN) == utc(
        2026, 4, 6, 6, 0
    )
    at_it = utc(2026, 4, 6, 6, 0)
    assert next_digest(at_it, "weekly", monday, 8 * 60, BERLIN) == utc(2026, 4, 13, 6, 0)


def test_quiet_hours_over_midnight_end_in_the_morning_of_the_chat() -> None:
    start, end = 22 * 60, 7 * 60
    # 23:30 in Berlin (winter, UTC+1): quiet until 07:00 the next morning.
    assert quiet_until(utc(2026, 1, 10, 22, 30), start, end, BERLIN) == utc(2026, 1, 11, 6, 0)
    # 05:00 in Berlin: quiet until 07:00 that morning.
    assert quiet_until(utc(2026, 1, 11, 4, 0), start, end, BERLIN) == utc(2026, 1, 11, 6, 0)
    # 12:00 in Berlin: not quiet.
    assert quiet_until(utc(2026, 1, 11, 11, 0), start, end, BERLIN) is None
    # The night summer time ends: 07:00 CET is 06:00 UTC again.
    assert quiet_until(utc(2026, 10, 24, 21, 0), start, end, BERLIN) == utc(2026, 10, 25, 6, 0)


def test_what_people_type() -> None:
    assert parse_clock("08:00") == 480
    assert parse_clock("8:05") == 485
    assert parse_clock("23:59") == 23 * 60 + 59
    for wrong in ("25:00", "7", "24:00", "08:60", "acht", ""):
        assert parse_clock(wrong) is None, wrong
    assert weekday_number("someday") is None
    assert zone_name("europe/berlin") == "Europe/Berlin"
    assert zone_name("UTC") == "UTC"
    for wrong in ("Mars/Olympus", "../etc/passwd", "Europe", "", "x" * 100):
        assert zone_name(wrong) is None, wrong


def test_the_default_zone_is_a_setting_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    assert load_settings().timezone == "Europe/Berlin"
    assert load_settings(timezone="america/new_york").timezone == "America/New_York"
    with pytest.raises(SettingsError) as refused:
        load_settings(timezone="Mars/Olympus")
    assert "NEWSBOT_TIMEZONE" in str(refused.value)
    assert "Mars/Olympus" in str(refused.value)
