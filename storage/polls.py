"""The store's polls and votes: one vote per person and article, counts kept beside the poll."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from storage.articles import Articles
from storage.db import ARTICLE_COLUMNS_A, Db, Row, to_ts
from storage.models import (
    Article,
    Poll,
    PollOption,
    PollState,
    RatedArticle,
    UserRef,
    VoteKind,
    VoteOutcome,
    VoteResult,
)

# The caller's check of a press: the article (None when unknown) and its poll's state (None
# without a poll) in, the option to vote for out; raising refuses the vote.
ChooseOption = Callable[[Article | None, PollState | None], int]

# A vote counts unless its voter is banned bot-wide: such votes stay stored, uncounted.
COUNTED_VOTE = (
    "NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = v.platform"
    " AND b.user_id = v.user_id AND b.scope = '*')"
)

# -- SQLite dialect: the article's tags in order as one JSON array (json_group_array over an
# ordered subquery; json_agg(... ORDER BY) on PostgreSQL, as text like SQLite's) -------------
# The presser's vote on the article, in one look into votes whether or not their account is
# linked to others (m018): an unlinked account's by its key, a linked one's by the person
# (idx_votes_voter), whichever account cast it. Its position comes doubled, plus one when
# this account cast it (a linked person replaces a vote cast from another account).
_VOTER_COLUMNS = (
    "me.person AS person, CASE WHEN me.person IS NULL THEN"
    " (SELECT 2 * position + 1 FROM votes v WHERE v.article_id = a.id AND v.platform = ?"
    " AND v.user_id = ?)"
    " ELSE (SELECT 2 * position + CASE WHEN v.platform = ? AND v.user_id = ? THEN 1 ELSE 0 END"
    " FROM votes v WHERE v.article_id = a.id AND v.voter = me.person) END AS voted"
)
_VOTER_JOIN = "LEFT JOIN people me ON me.platform = ? AND me.user_id = ?"
# What a vote press needs to know, in one statement: the article and its tags in order, whether
# its poll exists and is open, how many options it has, and the person's current vote.
_VOTE_STATE_SQL = (
    f"SELECT {ARTICLE_COLUMNS_A}, {{tag_names}} AS tag_names, q.article_id AS poll_id,"
    " q.closed AS poll_closed,"
    " (SELECT count(*) FROM poll_options o WHERE o.article_id = a.id) AS poll_options,"
    f" {_VOTER_COLUMNS}"
    f" FROM articles a LEFT JOIN polls q ON q.article_id = a.id {_VOTER_JOIN} WHERE a.id = ?"
)
# The same about the voter alone (Store.cast_vote), for an article known to exist.
_VOTER_STATE = f"SELECT {_VOTER_COLUMNS} FROM articles a {_VOTER_JOIN} WHERE a.id = ?"
_VOTE_STATE = {
    "sqlite": _VOTE_STATE_SQL.format(
        tag_names="(SELECT json_group_array(name) FROM (SELECT t.name FROM article_tags at"
        " JOIN tags t ON t.id = at.tag_id WHERE at.article_id = a.id ORDER BY at.position))"
    ),
    "postgresql": _VOTE_STATE_SQL.format(
        tag_names="(SELECT coalesce(json_agg(t.name ORDER BY at.position), '[]')::text"
        " FROM article_tags at JOIN tags t ON t.id = at.tag_id WHERE at.article_id = a.id)"
    ),
}
# A tag with at most this many articles is rated by reading them all (fewer rows than walking
# the index of all ratings for its members would take).
_SCAN_TAG_ARTICLES = 3000
_LIVE = "EXISTS (SELECT 1 FROM articles a WHERE a.id = p.article_id AND a.removed = 0)"
_TAGGED = (
    "EXISTS (SELECT 1 FROM article_tags at WHERE at.article_id = p.article_id AND at.tag_id = ?)"
)
# When the prior of /top has moved this far from the one the index was built with, the index
# is rebuilt: its candidates would grow with the drift.
_REBASE_DRIFT = 0.02


def _voter_params(user: UserRef) -> tuple[str, ...]:
    """The parameters of _VOTER_COLUMNS and _VOTER_JOIN: the presser's key, three times."""
    return (user.platform, user.user_id) * 3


@dataclass(frozen=True, slots=True)
class _Voter:
    """Who presses, as far as their vote on one article goes: the person's id when the
    account is linked, the option the person voted for (from any of their accounts), and
    whether this account cast that vote."""

    person: str | None
    before: int | None
    mine: bool

    @classmethod
    def of(cls, row: Row | None) -> _Voter:
        voted = None if row is None else row["voted"]
        person = None if row is None else row["person"]
        if voted is None:
            return cls(person, None, False)
        return cls(person, voted // 2, voted % 2 == 1)


class Polls:
    """Each article's poll: its options with their counts, and a version that goes up with
    every change, so that posts showing older counts can be found and refreshed."""

    def __init__(self, db: Db, articles: Articles) -> None:
        self.db = db
        self.articles = articles

    def create(self, article_id: int, question: str, options: Sequence[tuple[str, int]]) -> None:
        """The poll of a new article: (label, score) options, numbered from 1."""
        self.db.execute(
            "INSERT INTO polls (article_id, question) VALUES (?, ?)", (article_id, question)
        )
        self.db.executemany(
            "INSERT INTO poll_options (article_id, position, score, label) VALUES (?,?,?,?)",
            [
                (article_id, position, score, label)
                for position, (label, score) in enumerate(options, start=1)
            ],
        )

    def get(self, article_id: int) -> Poll | None:
        rows = self.db.rows(
            "SELECT q.question, q.closed, q.version, o.position, o.score, o.label, o.votes"
            " FROM polls q LEFT JOIN poll_options o ON o.article_id = q.article_id"
            " WHERE q.article_id = ? ORDER BY o.position",
            (article_id,),
        )
        if not rows:
            return None
        first = rows[0]
        return Poll(
            article_id=article_id,
            question=first["question"],
            options=tuple(
                PollOption(
                    position=o["position"], score=o["score"], label=o["label"], votes=o["votes"]
                )
                for o in rows
                if o["position"] is not None
            ),
            closed=bool(first["closed"]),
            version=first["version"],
        )

    def ids(self) -> list[int]:
        return [int(r[0]) for r in self.db.execute("SELECT article_id FROM polls ORDER BY 1")]

    def cast_vote(self, article_id: int, user: UserRef, position: int) -> VoteOutcome:
        """One vote per person and article: a new option moves the vote, the same option takes
        it back. The caller has checked that the poll is open and the option exists. The
        votes table's triggers (m011) count the vote and bump the poll's version."""
        with self.db.write():
            row = self.db.one(_VOTER_STATE, (*_voter_params(user), article_id))
            kind = self._store_vote(article_id, user, position, _Voter.of(row))
            poll = self.get(article_id)
        assert poll is not None
        option = next(o for o in poll.options if o.position == position)
        return VoteOutcome(kind=kind, option=option, poll=poll)

    def vote(self, article_id: int, user: UserRef, choose: ChooseOption) -> VoteResult:
        """A press of a poll button in three statements, in one write: what the press needs
        to know (the article with its tags, the poll's state, the person's vote, from any
        of their linked accounts), the vote itself (two statements when it replaces a vote
        cast from another account), and the poll's new counts. `choose(article, state)` is
        the caller's check: it returns the option to vote for, or raises, and then nothing
        is written."""
        with self.db.write():
            row = self.db.one(_VOTE_STATE[self.db.dialect], (*_voter_params(user), article_id))
            article = None
            if row is not None:
                article = self.articles.article(row, json.loads(row["tag_names"]))
            state = None
            if row is not None and row["poll_id"] is not None:
                state = PollState(closed=bool(row["poll_closed"]), options=row["poll_options"])
            position = choose(article, state)
            kind = self._store_vote(article_id, user, position, _Voter.of(row))
            poll = self.get(article_id)
        assert poll is not None
        option = next(o for o in poll.options if o.position == position)
        return VoteResult(article=article, outcome=VoteOutcome(kind=kind, option=option, poll=poll))

    def _store_vote(self, article_id: int, user: UserRef, position: int, voter: _Voter) -> VoteKind:
        """Write the person's vote, given the one they cast before, if any: from this account,
        or from another account linked to it, whose vote the press replaces (one person,
        one vote). A linked person's vote carries their id as its voter."""
        key = (article_id, user.platform, user.user_id)
        before = voter.before
        if before is not None and not voter.mine:
            # Cast from another account of the person: taken back, or replaced by this one.
            # A delete and an insert rather than an update of its key: the m011 triggers
            # count each with its own voter's bans.
            self.db.execute(
                "DELETE FROM votes WHERE article_id=? AND voter=?", (article_id, voter.person)
            )
            if before == position:
                return "withdrawn"
        elif before == position:
            self.db.execute(
                "DELETE FROM votes WHERE article_id=? AND platform=? AND user_id=?", key
            )
            return "withdrawn"
        elif before is not None:
            self.db.execute(
                "UPDATE votes SET position=?, voted_at=? WHERE article_id=? AND platform=?"
                " AND user_id=?",
                (position, to_ts(self.db.now()), *key),
            )
            return "moved"
        self.db.execute(
            "INSERT INTO votes (article_id, platform, user_id, position, voted_at, voter)"
            " VALUES (?,?,?,?,?,?)",
            (*key, position, to_ts(self.db.now()), voter.person),
        )
        return "cast" if before is None else "moved"

    def changed(self, article_ids: Iterable[int]) -> None:
        """Recount the polls' votes from the votes table (who counts may have changed: a ban,
        deleted votes) and mark their posts for a refresh."""
        ids = [(a,) for a in sorted(set(article_ids))]
        self.db.executemany(
            "UPDATE poll_options SET votes = (SELECT count(*) FROM votes v"
            " WHERE v.article_id = poll_options.article_id"
            f" AND v.position = poll_options.position AND {COUNTED_VOTE}) WHERE article_id = ?",
            ids,
        )
        self.db.executemany("UPDATE polls SET version = version + 1 WHERE article_id = ?", ids)

    def set_closed(self, article_id: int, closed: bool) -> bool:
        return (
            self.db.changes(
                "UPDATE polls SET closed=?, version = version + 1 WHERE article_id=?",
                (int(closed), article_id),
            )
            > 0
        )

    def top_articles(self, key: str | None, limit: int, prior_weight: float) -> list[RatedArticle]:
        """Best-rated articles (those with the tag `key` when it is given) by a Bayesian
        average: each article's votes are blended with `prior_weight` imaginary votes at the
        mean of all votes, so one lone top vote does not win over many good ones.

        The polls carry their votes and points, and a rating at a stored base prior
        (m011_maintained_counts). A rating moves by less than |mean - base mean| when the
        prior moves there, so the best at the base, widened by twice that, hold the best now:
        only those are rated exactly."""
        totals = self.db.one("SELECT votes, points, base_mean, base_weight FROM poll_totals")
        if totals is None or not totals["votes"]:
            return []
        mean = totals["points"] / totals["votes"]
        if totals["base_weight"] != prior_weight or abs(mean - totals["base_mean"]) > _REBASE_DRIFT:
            if not self._rebase(mean, prior_weight):
                return self._rated(key, limit, prior_weight, mean, floor=None)
            drift = 0.0
        else:
            drift = abs(mean - totals["base_mean"])
        tag_id: int | None = None
        if key is not None:
            tag = self.db.one("SELECT id, articles FROM tags WHERE key = ?", (key,))
            if tag is None:
                return []
            tag_id = tag["id"]
            if tag["articles"] <= _SCAN_TAG_ARTICLES:
                return self._rated(key, limit, prior_weight, mean, floor=None)
        kth = self.db.scalar(
            "SELECT rating_at_base FROM polls p WHERE p.votes > 0 AND"
            f" {_LIVE} AND {_TAGGED if tag_id is not None else 'TRUE'}"
            " ORDER BY p.rating_at_base DESC LIMIT 1 OFFSET ?",
            (*((tag_id,) if tag_id is not None else ()), limit - 1),
        )
        floor = None if kth is None else kth - 2 * drift - 1e-9
        return self._rated(key, limit, prior_weight, mean, floor=floor)

    def _rated(
        self, key: str | None, limit: int, prior_weight: float, mean: float, floor: float | None
    ) -> list[RatedArticle]:
        """Rate exactly the polls with votes (of the tag `key`; at least `floor` at the base)
        and return the best, with their articles."""
        source, where = "polls p", ["p.votes > 0", _LIVE]
        params: list[object] = []
        if key is not None and floor is None:
            # Few enough articles: from the tag's index, each poll read once.
            source = "article_tags at JOIN polls p ON p.article_id = at.article_id"
            where.append("at.tag_id = (SELECT id FROM tags WHERE key = ?)")
            params.append(key)
        elif key is not None:
            where.append(_TAGGED.replace("?", "(SELECT id FROM tags WHERE key = ?)"))
            params.append(key)
        if floor is not None:
            where.append("p.rating_at_base >= ?")
            params.append(floor)
        rows = self.db.rows(
            # DOUBLE PRECISION is a REAL to SQLite: a float on both (not PostgreSQL's numeric).
            "SELECT p.article_id, p.votes AS n, CAST(p.points AS DOUBLE PRECISION) / p.votes"
            " AS mean,"
            f" (? * ? + p.points) / (? + p.votes) AS rating FROM {source}"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY rating DESC, n DESC, p.article_id DESC LIMIT ?",
            (prior_weight, mean, prior_weight, *params, limit),
        )
        out = []
        for r in rows:
            article = self.articles.get(r["article_id"])
            assert article is not None
            out.append(
                RatedArticle(article=article, votes=r["n"], mean=r["mean"], rating=r["rating"])
            )
        return out

    def _rebase(self, mean: float, prior_weight: float) -> bool:
        """Recompute every poll's rating at the prior as it is now; False on a read-only
        database, where the exact scan answers instead."""
        if self.db.read_only:
            return False
        with self.db.write():
            self.db.execute(
                "UPDATE poll_totals SET base_mean = ?, base_weight = ?", (mean, prior_weight)
            )
            self.db.execute(
                "UPDATE polls SET rating_at_base = (? * ? + points) / nullif(? + votes, 0)"
                " WHERE votes > 0",
                (prior_weight, mean, prior_weight),
            )
        return True
