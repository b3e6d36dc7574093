"""Counts kept beside the rows they count (m011): what /tags, /stats, /top and the refresh job
show stays what counting the rows would say, whatever changed them; and a vote press costs a
handful of statements however large the archive."""

from __future__ import annotations

import pytest

import storage.polls
from storage.models import ChatRef, MessageRef, UserRef
from storage.moderation import BOT_WIDE
from tests.conftest import Chat, add, article, vote_data


def sent_statements(statements: list[str]) -> list[str]:
    """The statements the code sent: the trace repeats a statement's text for each trigger it
    fires, and transaction control is not a query."""
    sent = [s for i, s in enumerate(statements) if i == 0 or s != statements[i - 1]]
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [s for s in sent if not s.lstrip().upper().startswith(control)]


def counted_truth(chat: Chat) -> dict[str, object]:
    """What counting the rows says, for comparison with what the store keeps."""
    db = chat.ctx.store.engine

    def rows(sql: str) -> list[tuple[object, ...]]:
        return [tuple(r) for r in db.execute(sql).fetchall()]

    return {
        "tags": rows(
            "SELECT t.name, count(*) AS n FROM tags t JOIN article_tags at ON at.tag_id = t.id"
            " JOIN articles a ON a.id = at.article_id WHERE a.removed = 0"
            " GROUP BY t.id ORDER BY n DESC, t.key"
        ),
        "articles": rows("SELECT count(*) FROM articles WHERE removed = 0")[0][0],
        "votes": rows("SELECT count(*) FROM votes")[0][0],
        "subscriptions": rows("SELECT count(*) FROM subscriptions WHERE active = 1")[0][0],
        "per_tag": rows(
            "SELECT tag_key, count(*) FROM subscriptions WHERE active = 1 GROUP BY tag_key"
            " ORDER BY 2 DESC, 1"
        ),
        "posts": rows("SELECT count(*) FROM posts")[0][0],
    }


def kept(chat: Chat) -> dict[str, object]:
    store = chat.ctx.store
    stats = store.stats()
    per_tag = store.engine.execute(
        "SELECT tag_key, n FROM tag_subscribers WHERE n > 0 ORDER BY n DESC, tag_key"
    ).fetchall()
    return {
        "tags": [(c.tag, c.articles) for c in store.tag_counts(limit=1000)],
        "articles": stats.articles,
        "votes": stats.votes,
        "subscriptions": stats.subscriptions,
        "per_tag": [tuple(r) for r in per_tag],
        "posts": stats.posts,
    }


# SQLite only: the count comes from SQLite's statement trace (bench/press_bench.py counts a
# press on both engines: PostgreSQL adds its write lock to the same statements).
async def test_a_vote_press_runs_at_most_six_statements(chat: Chat) -> None:
    article_id = add(chat.ctx, article())
    post = chat.post(article_id)
    statements: list[str] = []
    await chat.press(vote_data(article_id, 1), "alice", on=post)  # alice's first: her row
    chat.ctx.store.engine.conn.set_trace_callback(statements.append)
    try:
        [reply] = await chat.press(vote_data(article_id, 2), "alice", on=post)
    finally:
        chat.ctx.store.engine.conn.set_trace_callback(None)
    assert reply.edit and reply.notice and "Gut" in reply.notice
    assert len(sent_statements(statements)) <= 6, "\n".join(sent_statements(statements))
    poll = chat.ctx.store.get_poll(article_id)
    assert poll is not None and [o.votes for o in poll.options] == [0, 1, 0, 0, 0]


async def test_refused_presses_write_nothing(any_chat: Chat) -> None:
    article_id = add(any_chat.ctx, article())
    post = any_chat.post(article_id)
    any_chat.ctx.store.set_poll_closed(article_id, True)
    [reply] = await any_chat.press(vote_data(article_id, 1), "alice", on=post)
    assert reply.notice and "geschlossen" in reply.notice.lower()
    assert any_chat.ctx.store.stats().votes == 0


async def test_counts_stay_true_through_every_change(any_chat: Chat) -> None:
    store, mod = any_chat.ctx.store, any_chat.ctx.mod
    first = add(any_chat.ctx, article("Eins", "Erster Text über Netze.", ("KI", "Netz")))
    second = add(any_chat.ctx, article("Zwei", "Zweiter Text über Energie.", ("KI", "Energie")))
    third = add(any_chat.ctx, article("Drei", "Dritter Text über Roboter.", ("Robotik",)))
    old, new = ChatRef("telegram", "-1"), ChatRef("telegram", "-2")
    store.subscribe(old, ["KI", "Netz"], backlog=0)
    store.subscribe(new, ["KI", "Robotik"], backlog=0)
    store.subscribe(ChatRef("discord", "9"), ["KI"], backlog=0)
    for number, target in enumerate((first, first, second, third, third, third)):
        store.cast_vote(target, UserRef("telegram", f"u{number}", "U"), 1 + number % 5)
    any_chat.post(first, "p1")
    store.record_post(second, MessageRef(new, "p2"), 0)
    assert kept(any_chat) == counted_truth(any_chat)

    mod.set_removed(second, True, "spam")
    store.cast_vote(first, UserRef("telegram", "u0", "U"), 1)  # taken back
    store.cast_vote(third, UserRef("telegram", "u3", "U"), 2)  # moved
    store.pause_chat(ChatRef("discord", "9"), "blocked")
    store.migrate_chat(old, new)  # "KI" clashes: one subscription stays
    assert kept(any_chat) == counted_truth(any_chat)

    mod.set_removed(second, False)
    mod.ban(UserRef("telegram", "u4", "U"), BOT_WIDE, "spam", "telegram:1")
    store.unsubscribe(new, ["Robotik"])
    store.engine.execute("DELETE FROM articles WHERE id = ?", (first,))
    assert kept(any_chat) == counted_truth(any_chat)


def exact_top(chat: Chat, key: str | None, weight: float = 5.0) -> list[tuple[int, int]]:
    """The ranking of /top as one query over every vote would compute it."""
    join, where, params = "", "a.removed = 0", []
    if key is not None:
        join = " JOIN article_tags at ON at.article_id = a.id JOIN tags t ON t.id = at.tag_id"
        where += " AND t.key = ?"
        params.append(key)
    db = chat.ctx.store.engine
    points, votes = db.execute("SELECT sum(score * votes), sum(votes) FROM poll_options").fetchone()
    if not votes:
        return []
    rows = db.execute(
        "SELECT a.id, sum(o.votes) AS n, (? * ? + sum(o.score * o.votes)) / (? + sum(o.votes))"  # noqa: S608 (constant fragments)
        f" AS rating FROM articles a{join} JOIN poll_options o ON o.article_id = a.id"
        f" WHERE {where} GROUP BY a.id HAVING sum(o.votes) > 0"
        " ORDER BY rating DESC, n DESC, a.id DESC LIMIT 5",
        (weight, points / votes, weight, *params),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize("scan_tags_up_to", [3000, 0])
async def test_top_ranks_as_counting_every_vote_would(
    any_chat: Chat, monkeypatch: pytest.MonkeyPatch, scan_tags_up_to: int
) -> None:
    # Small tags are rated by reading their articles, large ones through the ratings' index:
    # both ways, the same ranking.
    monkeypatch.setattr(storage.polls, "_SCAN_TAG_ARTICLES", scan_tags_up_to)
    store = any_chat.ctx.store
    ids = [
        add(
            any_chat.ctx, article(f"Artikel {n}", f"Text Nummer {n} über Dinge.", ("KI",) * (n % 2))
        )
        for n in range(12)
    ]

    def top(key: str | None, weight: float = 5.0) -> list[tuple[int, int]]:
        return [(r.article.id, r.votes) for r in store.top_articles(key, prior_weight=weight)]

    voter = 0
    # Waves of votes that pull the mean of all votes from good to bad and back: the ratings'
    # index is rebuilt on the way, and between rebuilds answers within its drift.
    for wave, option in enumerate((1, 1, 5, 5, 4, 2, 1, 3)):
        for offset, article_id in enumerate(ids):
            for _ in range((wave + offset) % 4):
                voter += 1
                store.cast_vote(article_id, UserRef("telegram", str(voter), "V"), option)
            assert top(None) == exact_top(any_chat, None)
            assert top("KI") == exact_top(any_chat, "ki")
    assert top(None, 0.0) == exact_top(any_chat, None, 0.0)
    any_chat.ctx.mod.set_removed(exact_top(any_chat, None)[0][0], True)
    assert top(None) == exact_top(any_chat, None)


async def test_stale_posts_follow_votes_renders_and_failed_edits(any_chat: Chat) -> None:
    store = any_chat.ctx.store
    first, second = (
        add(any_chat.ctx, article()),
        add(any_chat.ctx, article("Zwei", "Anderer Text.")),
    )
    unposted = add(any_chat.ctx, article("Drei", "Noch ein Text."))
    tg, dc = ChatRef("telegram", "1"), ChatRef("discord", "2")
    for n, (article_id, where) in enumerate(((first, tg), (first, dc), (second, tg))):
        store.record_post(article_id, MessageRef(where, f"m{n}"), 0)
    assert store.stale_posts(["telegram", "discord"]) == []

    store.cast_vote(first, UserRef("telegram", "a", "A"), 1)
    store.cast_vote(unposted, UserRef("telegram", "a", "A"), 1)
    stale = store.stale_posts(["telegram", "discord"])
    assert [(p.article_id, p.message.chat) for p in stale] == [(first, tg), (first, dc)]
    assert [p.message.chat for p in store.stale_posts(["discord"])] == [dc]

    version = store.get_poll(first).version  # type: ignore[union-attr]
    store.post_rendered(stale[0].id, version)
    assert [p.message.chat for p in store.stale_posts(["telegram", "discord"])] == [dc]
    store.post_rendered(stale[1].id, version)
    assert store.stale_posts(["telegram", "discord"]) == []

    store.post_outdated(MessageRef(tg, "m2"))  # an edit of the second article's post failed
    assert [p.article_id for p in store.stale_posts(["telegram"])] == [second]
    store.record_post(unposted, MessageRef(dc, "late"), 0)  # posted with older counts
    assert [p.article_id for p in store.stale_posts(["discord"])] == [unposted]


async def test_recording_posts_of_an_article_already_queued_as_stale(any_chat: Chat) -> None:
    """Recording a post is an upsert, and an upsert overrides a trigger's own conflict clause:
    a second stale post of a queued poll, or the same post recorded again while its poll is
    queued, must neither fail nor lose the queue entry (a press on a post with a stale sibling
    failed this way)."""
    store = any_chat.ctx.store
    article_id = add(any_chat.ctx, article())
    first = MessageRef(ChatRef("telegram", "-1"), "1")
    second = MessageRef(ChatRef("telegram", "-2"), "2")
    store.record_post(article_id, first, 0)
    store.cast_vote(article_id, UserRef("telegram", "7", "Ada"), 1)
    store.record_post(article_id, second, 0)  # another stale post of a queued poll
    store.record_post(article_id, first, 0)  # the same post again, still stale
    stale = {p.message for p in store.stale_posts(["telegram"])}
    assert stale == {first, second}
    version = store.get_poll(article_id).version  # type: ignore[union-attr]
    store.record_post(article_id, first, version)  # a press shows the new counts
    assert [p.message for p in store.stale_posts(["telegram"])] == [second]
