"""When a chat gets its posts: /timezone, /digest (one message per day or week instead of one
per article) and /quiet (posts wait out the night), and why a delivery waits."""

from __future__ import annotations

from datetime import datetime

from handlers.articles import post_reply, require_article
from handlers.buttons import Key, Pressed, button
from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError
from handlers.i18n import format_date, t
from handlers.permissions import audit, require_chat_rights
from handlers.registry import Param, command
from storage.models import ChatRef
from storage.schedule_times import (
    DIGEST_KINDS,
    clock_text,
    parse_clock,
    weekday_number,
    zone,
    zone_name,
)
from storage.schedules import ChatSchedule

OFF = frozenset({"off", "aus"})
KIND_WORDS = {"daily": "daily", "täglich": "daily", "weekly": "weekly", "wöchentlich": "weekly"}


def words(cmd: Command) -> list[str]:
    """The arguments as words: Discord hands a whole option over as one argument."""
    return " ".join(cmd.args).split()


def local_time(schedule: ChatSchedule, moment: datetime) -> str:
    """A moment as the chat's clock shows it."""
    return format_date(moment.astimezone(zone(schedule.zone_name)))


def _change(ctx: Ctx, cmd: Command, action: str, target: str) -> None:
    """Who may change a chat's schedule, and the audit entry of every change."""
    require_chat_rights(ctx, cmd, target=target)
    audit(ctx, cmd, action, target=target)


# -- /timezone ------------------------------------------------------------------------------


def timezone_text(schedule: ChatSchedule) -> str:
    if schedule.timezone is None:
        return t("schedule.zone_default", zone=schedule.zone_name)
    return t("schedule.zone_is", zone=schedule.zone_name)


@command("timezone", Param("zone", "text", required=False))
def cmd_timezone(ctx: Ctx, cmd: Command) -> list[Reply]:
    given = words(cmd)
    if not given:
        return [Reply(text=Rich.of(timezone_text(ctx.store.schedules.get(cmd.chat))))]
    name = zone_name(given[0]) if len(given) == 1 else None
    if name is None:
        raise UserError("schedule.bad_zone", value=" ".join(given)[:40])
    _change(ctx, cmd, "timezone", name)
    schedule = ctx.store.schedules.set_timezone(cmd.chat, name)
    lines = [t("schedule.zone_set", zone=name)]
    if schedule.digest_due is not None:
        lines.append(t("schedule.digest_next", when=local_time(schedule, schedule.digest_due)))
    return [Reply(text=Rich.of("\n".join(lines)))]


# -- /digest --------------------------------------------------------------------------------


def digest_text(schedule: ChatSchedule) -> str:
    if schedule.digest is None or schedule.digest_minute is None:
        return t("schedule.digest_off")
    at = clock_text(schedule.digest_minute)
    if schedule.digest == "weekly" and schedule.digest_weekday is not None:
        day = t(f"schedule.weekday.{schedule.digest_weekday}")
        state = t("schedule.digest_weekly", day=day, time=at, zone=schedule.zone_name)
    else:
        state = t("schedule.digest_daily", time=at, zone=schedule.zone_name)
    if schedule.digest_due is None:
        return state
    return state + "\n" + t("schedule.digest_next", when=local_time(schedule, schedule.digest_due))


def parse_digest(given: list[str]) -> tuple[str, int | None, int]:
    """`daily 08:00` or `weekly mon 08:00` as (kind, weekday, minute); UserError otherwise."""
    kind = KIND_WORDS.get(given[0].casefold()) if given else None
    expected = 2 if kind == "daily" else 3
    if kind is None or len(given) != expected:
        raise UserError("schedule.digest_usage")
    weekday = None
    if kind == "weekly":
        weekday = weekday_number(given[1])
        if weekday is None:
            raise UserError("schedule.bad_weekday", value=given[1][:20])
    return kind, weekday, _clock(given[-1])


@command("digest", Param("schedule", "words", required=False))
def cmd_digest(ctx: Ctx, cmd: Command) -> list[Reply]:
    given = words(cmd)
    schedules = ctx.store.schedules
    if not given:
        return [Reply(text=Rich.of(digest_text(schedules.get(cmd.chat))))]
    if len(given) == 1 and given[0].casefold() in OFF:
        _change(ctx, cmd, "digest", "off")
        released = schedules.digest_off(cmd.chat)
        lines = [t("schedule.digest_now_off")]
        if released:
            lines.append(t("schedule.digest_released", count=released))
        return [Reply(text=Rich.of("\n".join(lines)))]
    kind, weekday, minute = parse_digest(given)
    assert kind in DIGEST_KINDS
    _change(ctx, cmd, "digest", " ".join([kind, *given[1:]])[:60])
    schedule = schedules.set_digest(cmd.chat, kind, weekday, minute)
    return [Reply(text=Rich.of(t("schedule.digest_set") + "\n" + digest_text(schedule)))]


# -- /quiet ---------------------------------------------------------------------------------


def quiet_text(schedule: ChatSchedule) -> str:
    if schedule.quiet_start is None or schedule.quiet_end is None:
        return t("schedule.quiet_none")
    return t(
        "schedule.quiet_is",
        start=clock_text(schedule.quiet_start),
        end=clock_text(schedule.quiet_end),
        zone=schedule.zone_name,
    )


def _clock(value: str) -> int:
    minute = parse_clock(value)
    if minute is None:
        raise UserError("schedule.bad_time", value=value[:20])
    return minute


def parse_quiet(given: list[str]) -> tuple[int, int]:
    """`22:00-07:00` (also `22:00 - 07:00`, `22:00 07:00`) as two minutes after midnight."""
    text = " ".join(given).replace("–", "-")
    parts = [p for p in text.replace("-", " ").split() if p]
    if len(parts) != 2:
        raise UserError("schedule.quiet_usage")
    start, end = _clock(parts[0]), _clock(parts[1])
    if start == end:
        raise UserError("schedule.quiet_empty")
    return start, end


@command("quiet", Param("hours", "words", required=False))
def cmd_quiet(ctx: Ctx, cmd: Command) -> list[Reply]:
    given = words(cmd)
    schedules = ctx.store.schedules
    if not given:
        return [Reply(text=Rich.of(quiet_text(schedules.get(cmd.chat))))]
    if len(given) == 1 and given[0].casefold() in OFF:
        _change(ctx, cmd, "quiet", "off")
        schedules.set_quiet(cmd.chat, None, None)
        return [Reply(text=Rich.of(t("schedule.quiet_now_off")))]
    start, end = parse_quiet(given)
    _change(ctx, cmd, "quiet", f"{clock_text(start)}-{clock_text(end)}")
    schedule = schedules.set_quiet(cmd.chat, start, end)
    return [Reply(text=Rich.of(t("schedule.quiet_set") + "\n" + quiet_text(schedule)))]


# -- the digest's buttons, and why a delivery waits -----------------------------------------


@button("show_article", Key("article", "article"))
def press_show_article(ctx: Ctx, pressed: Pressed) -> list[Reply]:
    """A digest entry's button: the article as a post of its own, with its poll."""
    return [post_reply(ctx, require_article(ctx, pressed.keys[0]), pressed.press.chat)]


def waiting_line(ctx: Ctx, chat: ChatRef, article_id: int) -> str | None:
    """Why the delivery of `article_id` to `chat` waits, in the current language (for /why):
    quiet hours until a time, or the next digest at a time; None when it does not wait."""
    waiting = ctx.store.schedules.waiting(chat, article_id)
    if waiting is None:
        return None
    schedule = ctx.store.schedules.get(chat)
    when = local_time(schedule, waiting.until) if waiting.until is not None else "?"
    key = "schedule.waiting_quiet" if waiting.reason == "quiet" else "schedule.waiting_digest"
    return t(key, when=when)
