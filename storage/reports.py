"""The figures of a week's style report: the votes cast in it, by article, tag, source and day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from storage.db import Db, to_ts
from storage.polls import COUNTED_VOTE

# Counted votes (a globally banned voter's stay stored, uncounted) of live articles cast in
# [start, end), with the score of the option each chose. The voted_at index (m011) finds them.
_WEEK_VOTES = (
    " FROM votes v JOIN poll_options o ON o.article_id = v.article_id AND o.position = v.position"
    " JOIN articles a ON a.id = v.article_id"
    f" WHERE v.voted_at >= ? AND v.voted_at < ? AND a.removed = 0 AND {COUNTED_VOTE}"
)
_MEAN = "sum(o.score) * 1.0 / count(*)"
_SET_STATE = (
    "INSERT INTO state (key, value) VALUES (?, ?)"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
_BY_ARTICLE = (
    f"SELECT a.id, a.title, a.source, count(*) AS votes, sum(o.score) AS points {_WEEK_VOTES}"
    " GROUP BY a.id, a.title, a.source HAVING count(*) >= ?"
    f" ORDER BY {_MEAN} {{direction}}, count(*) DESC, a.id LIMIT ?"
)
_TAGGED = " JOIN article_tags at ON at.article_id = a.id JOIN tags t ON t.id = at.tag_id WHERE"
_BY_TAG = (
    "SELECT t.name AS name, count(*) AS votes, sum(o.score) AS points"
    f" {_WEEK_VOTES.replace(' WHERE', _TAGGED)}"
    f" GROUP BY t.id, t.name ORDER BY count(*) DESC, {_MEAN} DESC, t.name LIMIT ?"
)
_BY_SOURCE = (
    f"SELECT a.source AS name, count(*) AS votes, sum(o.score) AS points {_WEEK_VOTES}"
    f" GROUP BY a.source ORDER BY count(*) DESC, {_MEAN} DESC, a.source LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class RatedInWeek:
    """An article by the votes cast on it in the week: how many, and their mean (5 = best)."""

    article_id: int
    title: str
    source: str
    votes: int
    mean: float


@dataclass(frozen=True, slots=True)
class GroupRating:
    """A tag or a source by the votes its articles got in the week."""

    name: str
    votes: int
    mean: float


@dataclass(frozen=True, slots=True)
class DayVotes:
    day: date
    votes: int


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """Everything the weekly style report shows about one week."""

    votes: int
    best: tuple[RatedInWeek, ...]
    worst: tuple[RatedInWeek, ...]
    tags: tuple[GroupRating, ...]
    sources: tuple[GroupRating, ...]
    days: tuple[DayVotes, ...]


class Reports:
    """Reads for the weekly style report; nothing here writes."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def mark_sent(self, key: str, week: str) -> bool:
        """Record that the report on `week` (2026-W48) is going out; False when that week or
        a later one was recorded already. Atomic: of two workers asking, one gets True."""
        with self.db.write():
            last = self.db.scalar("SELECT value FROM state WHERE key=?", (key,))
            if last is not None and str(last) >= week:
                return False
            self.db.execute(_SET_STATE, (key, week))
        return True

    def week(
        self,
        days: Sequence[tuple[date, datetime, datetime]],
        *,
        min_votes: int,
        limit: int = 5,
    ) -> WeekFigures:
        """The figures of the days given as (day, start, end), in order: the best and worst
        rated articles with at least `min_votes` votes, and the `limit` tags and sources with
        the most votes."""
        span = (to_ts(days[0][1]), to_ts(days[-1][2]))
        best, worst = self._best_and_worst(span, min_votes, limit)
        per_day = tuple(
            DayVotes(day, int(self.db.scalar(f"SELECT count(*) {_WEEK_VOTES}", _span(start, end))))
            for day, start, end in days
        )
        return WeekFigures(
            votes=sum(d.votes for d in per_day),
            best=best,
            worst=worst,
            tags=self._groups(_BY_TAG, span, limit),
            sources=self._groups(_BY_SOURCE, span, limit),
            days=per_day,
        )

    def _best_and_worst(
        self, span: tuple[str, str], min_votes: int, limit: int
    ) -> tuple[tuple[RatedInWeek, ...], tuple[RatedInWeek, ...]]:
        """Up to `limit` each, best first and worst first. Fewer than 2 * limit rated
        articles are split in two halves (the better half the larger), so none is both."""
        ranked = self._articles(span, "DESC", min_votes, 2 * limit)
        if len(ranked) < 2 * limit:
            half = (len(ranked) + 1) // 2
            return ranked[:half], tuple(reversed(ranked[half:]))
        return ranked[:limit], self._articles(span, "ASC", min_votes, limit)

    def _articles(
        self, span: tuple[str, str], direction: str, min_votes: int, limit: int
    ) -> tuple[RatedInWeek, ...]:
        rows = self.db.rows(_BY_ARTICLE.format(direction=direction), (*span, min_votes, limit))
        return tuple(
            RatedInWeek(
                article_id=int(r["id"]),
                title=r["title"],
                source=r["source"],
                votes=int(r["votes"]),
                mean=int(r["points"]) / int(r["votes"]),
            )
            for r in rows
        )

    def _groups(self, sql: str, span: tuple[str, str], limit: int) -> tuple[GroupRating, ...]:
        return tuple(
            GroupRating(r["name"], int(r["votes"]), int(r["points"]) / int(r["votes"]))
            for r in self.db.rows(sql, (*span, limit))
        )


def _span(start: datetime, end: datetime) -> tuple[str, str]:
    return to_ts(start), to_ts(end)
