"""The store's polls and votes: one vote per person and article, counts kept beside the poll."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.articles import Articles
from storage.db import Db, to_ts
from storage.models import Poll, PollOption, RatedArticle, UserRef, VoteKind, VoteOutcome

# A vote counts unless its voter is banned bot-wide: such votes stay stored, uncounted.
_COUNTS = (
    "NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = v.platform"
    " AND b.user_id = v.user_id AND b.scope = '*')"
)


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
        row = self.db.one("SELECT * FROM polls WHERE article_id = ?", (article_id,))
        if row is None:
            return None
        options = self.db.rows(
            "SELECT position, score, label, votes FROM poll_options"
            " WHERE article_id = ? ORDER BY position",
            (article_id,),
        )
        return Poll(
            article_id=article_id,
            question=row["question"],
            options=tuple(
                PollOption(
                    position=o["position"], score=o["score"], label=o["label"], votes=o["votes"]
                )
                for o in options
            ),
            closed=bool(row["closed"]),
            version=row["version"],
        )

    def ids(self) -> list[int]:
        return [int(r[0]) for r in self.db.execute("SELECT article_id FROM polls ORDER BY 1")]

    def cast_vote(self, article_id: int, user: UserRef, position: int) -> VoteOutcome:
        """One vote per person and article: a new option moves the vote, the same option takes
        it back. The caller has checked that the poll is open and the option exists."""
        with self.db.write():
            kind, added, taken = self._store_vote(article_id, user, position)
            if not self._banned_everywhere(user):
                for changed, delta in ((added, 1), (taken, -1)):
                    if changed is not None:
                        self.db.execute(
                            "UPDATE poll_options SET votes = votes + ?"
                            " WHERE article_id=? AND position=?",
                            (delta, article_id, changed),
                        )
            self.db.execute(
                "UPDATE polls SET version = version + 1 WHERE article_id=?", (article_id,)
            )
            poll = self.get(article_id)
        assert poll is not None
        option = next(o for o in poll.options if o.position == position)
        return VoteOutcome(kind=kind, option=option, poll=poll)

    def _store_vote(
        self, article_id: int, user: UserRef, position: int
    ) -> tuple[VoteKind, int | None, int | None]:
        """Write the person's vote; returns what it did, the option that gained a vote and
        the one that lost it."""
        key = (article_id, user.platform, user.user_id)
        before = self.db.scalar(
            "SELECT position FROM votes WHERE article_id=? AND platform=? AND user_id=?", key
        )
        if before is None:
            self.db.execute(
                "INSERT INTO votes (article_id, platform, user_id, position, voted_at)"
                " VALUES (?,?,?,?,?)",
                (*key, position, to_ts(self.db.now())),
            )
            return "cast", position, None
        if before == position:
            self.db.execute(
                "DELETE FROM votes WHERE article_id=? AND platform=? AND user_id=?", key
            )
            return "withdrawn", None, position
        self.db.execute(
            "UPDATE votes SET position=?, voted_at=? WHERE article_id=? AND platform=?"
            " AND user_id=?",
            (position, to_ts(self.db.now()), *key),
        )
        return "moved", position, int(before)

    def _banned_everywhere(self, user: UserRef) -> bool:
        return bool(
            self.db.scalar(
                "SELECT 1 FROM bans WHERE platform=? AND user_id=? AND scope='*'",
                (user.platform, user.user_id),
            )
        )

    def changed(self, article_ids: Iterable[int]) -> None:
        """Recount the polls' votes from the votes table (who counts may have changed: a ban,
        deleted votes) and mark their posts for a refresh."""
        ids = [(a,) for a in sorted(set(article_ids))]
        self.db.executemany(
            "UPDATE poll_options SET votes = (SELECT count(*) FROM votes v"
            " WHERE v.article_id = poll_options.article_id"
            f" AND v.position = poll_options.position AND {_COUNTS}) WHERE article_id = ?",
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
        mean of all votes, so one lone top vote does not win over many good ones."""
        where, params = "a.removed = 0", []
        join = ""
        if key is not None:
            join = " JOIN article_tags at ON at.article_id = a.id JOIN tags t ON t.id = at.tag_id"
            where += " AND t.key = ?"
            params.append(key)
        row = self.db.one("SELECT sum(score * votes) AS points, sum(votes) AS n FROM poll_options")
        if row is None or not row["n"]:
            return []
        global_mean = row["points"] / row["n"]
        rows = self.db.rows(
            "SELECT a.*, sum(o.votes) AS n, 1.0 * sum(o.score * o.votes) / sum(o.votes) AS mean,"
            " (? * ? + sum(o.score * o.votes)) / (? + sum(o.votes)) AS rating"
            f" FROM articles a{join} JOIN poll_options o ON o.article_id = a.id"
            f" WHERE {where} GROUP BY a.id HAVING sum(o.votes) > 0"
            " ORDER BY rating DESC, n DESC, a.id DESC LIMIT ?",
            (prior_weight, global_mean, prior_weight, *params, limit),
        )
        return [
            RatedArticle(
                article=self.articles.article(r), votes=r["n"], mean=r["mean"], rating=r["rating"]
            )
            for r in rows
        ]
