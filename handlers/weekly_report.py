"""The weekly style report: which week, its figures from the store, as text, JSON and a chart."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from handlers.charts import Bar, BarChart
from handlers.events import Rich, Span, UserError, bold
from handlers.i18n import current_language, format_number, t, tn
from storage.reports import GroupRating, RatedInWeek, WeekFigures
from storage.store import Store

MIN_VOTES = 3  # an article needs this many votes in the week to count as best or worst
SHOWN = 5  # articles, tags and sources per list
SEND_AT = time(8, 0)  # Monday, local time: the report on the week that just ended
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class Week:
    """An ISO week (Monday to Sunday) in a time zone."""

    year: int
    number: int
    zone: ZoneInfo

    @property
    def name(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    def days(self) -> list[tuple[date, datetime, datetime]]:
        """Each day with its start and end, local midnight to midnight (23 or 25 hours when
        the clocks change)."""
        days = [self.monday + timedelta(days=n) for n in range(7)]
        return [(d, self._midnight(d), self._midnight(d + timedelta(days=1))) for d in days]

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone)


def parse_week(text: str, zone: ZoneInfo) -> Week:
    """`2026-W48` as a Week; a UserError that names the form for anything else."""
    found = _WEEK.match(text.strip())
    if found is not None:
        year, number = int(found[1]), int(found[2])
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            pass
        else:
            return Week(year, number, zone)
    raise UserError("report.bad_week", value=text[:40])


def week_of(day: date, zone: ZoneInfo) -> Week:
    year, number, _ = day.isocalendar()
    return Week(year, number, zone)


def week_due(now: datetime, zone: ZoneInfo) -> Week:
    """The week whose report is due at `now`: the one before the last Monday 08:00 passed."""
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, SEND_AT, zone):
        monday -= timedelta(days=7)
    return week_of(monday - timedelta(days=7), zone)


def day_name(day: date) -> str:
    """`Mo., 23. Nov.` or `Mon, Nov 23`: a day of the week in the reader's language."""
    return format_date(day, format="EEE, d MMM", locale=current_language.get())


def last_whole_week(now: datetime, zone: ZoneInfo) -> Week:
    """The week before the one `now` falls in."""
    return week_of(now.astimezone(zone).date() - timedelta(days=7), zone)


def week_figures(store: Store, week: Week) -> WeekFigures:
    return store.reports.week(week.days(), min_votes=MIN_VOTES, limit=SHOWN)


def _article_line(rated: RatedInWeek) -> Rich:
    detail = tn("report.rating", rated.votes, mean=format_number(rated.mean))
    return Rich.of(bold(f"#{rated.article_id}"), Span(f" {rated.title} — {detail}"))


def _group_line(group: GroupRating) -> Rich:
    detail = tn("report.rating", group.votes, mean=format_number(group.mean))
    return Rich.of(Span(f"{group.name} — {detail}"))


def _section(header: str, lines: list[Rich]) -> list[Rich]:
    return [Rich.of(""), Rich.of(bold(header)), *(lines or [Rich.of(t("report.none"))])]


def report_text(week: Week, figures: WeekFigures) -> Rich:
    first, last = week.monday, week.monday + timedelta(days=6)
    lines = [
        Rich.of(bold(t("report.header", week=week.name))),
        Rich.of(t("report.span", first=day_name(first), last=day_name(last))),
        Rich.of(tn("report.votes", figures.votes)),
    ]
    if figures.votes == 0:
        return Rich.join(lines)
    lines += _section(t("report.best", min=MIN_VOTES), [_article_line(r) for r in figures.best])
    lines += _section(t("report.worst"), [_article_line(r) for r in figures.worst])
    lines += _section(t("report.tags"), [_group_line(g) for g in figures.tags])
    lines += _section(t("report.sources"), [_group_line(g) for g in figures.sources])
    days = [Rich.of(f"{day_name(d.day)}: {d.votes}") for d in figures.days]
    lines += _section(t("report.days"), days)
    return Rich.join(lines)


def report_chart(week: Week, figures: WeekFigures) -> BarChart:
    """Votes per day of the week."""
    most = max((d.votes for d in figures.days), default=0)
    bars = tuple(Bar(day_name(d.day), d.votes, str(d.votes)) for d in figures.days)
    return BarChart(
        title=t("report.header", week=week.name),
        subtitle=t("report.days"),
        bars=bars,
        scale=max(most, 1),
        footer=tn("report.votes", figures.votes),
        key=("report", week.name, current_language.get()),
    )


def report_json(week: Week, figures: WeekFigures) -> dict[str, Any]:
    """The figures as plain JSON values, for `newsbot report --format json`."""
    data = asdict(figures)
    data["days"] = [{"day": d.day.isoformat(), "votes": d.votes} for d in figures.days]
    first = week.monday
    return {
        "week": week.name,
        "from": first.isoformat(),
        "to": (first + timedelta(days=6)).isoformat(),
        "timezone": week.zone.key,
        "min_votes": MIN_VOTES,
        **data,
    }
