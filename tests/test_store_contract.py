"""The store's contract on both engines: the operations no handler-level test reaches by name,
called directly on SQLite and on PostgreSQL, and a check that every public Store method is
called by some test that runs on both."""

from __future__ import annotations

import ast
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.models import Article, ChatRef, MessageRef, NewArticle, PollState, UserRef
from storage.moderation import BOT_WIDE, Moderation
from storage.polls import ChooseOption
from storage.store import Store

TG = ChatRef("telegram", "42")
OPTIONS = [("Sehr gut", 5), ("Gut", 4), ("Mittel", 3), ("Schwach", 2), ("Schlecht", 1)]
START = datetime(2026, 1, 1, tzinfo=UTC)


def new(title: str, tags: tuple[str, ...] = ("xAI",), body: str = "") -> NewArticle:
    return NewArticle(title=title, body=body or f"Text über {title}.", tags=tags, language="de")


def stored(store: Store, title: str, tags: tuple[str, ...] = ("xAI",)) -> int:
    result = store.add_article(
        new(title, tags),
        dedupe_key=f"key:{title}",
        url_key=None,
        question="Wie bewerten Sie den Schreibstil des Artikels?",
        options=OPTIONS,
        language="de",
    )
    assert result.article is not None
    return result.article.id


@pytest.fixture
def clock(any_store: Store) -> list[datetime]:
    now = [START]
    any_store.clock = lambda: now[0]
    return now


# -- articles ------------------------------------------------------------------------------


def test_an_article_is_stored_once_with_its_poll_and_deliveries(any_store: Store) -> None:
    any_store.subscribe(TG, ["xAI"], backlog=0)
    first = any_store.add_article(
        new("Eins", ("xAI", "OpenAI")),
        dedupe_key="guid:1",
        url_key="example.org/1",
        question="Wie?",
        options=OPTIONS,
        language="de",
    )
    assert first.article is not None and first.deliveries == 1
    assert first.article.tags == ("xAI", "OpenAI")
    again = any_store.add_article(
        new("Anders", ("xAI",), body="Anderer Text."),
        dedupe_key="guid:2",
        url_key="example.org/1",  # the same link: a duplicate
        question="Wie?",
        options=OPTIONS,
        language="de",
    )
    assert again.article is None and again.duplicate_of == first.article.id
    assert any_store.stored_keys(["guid:1", "guid:9"], ["example.org/1", "x"]) == {
        "guid:1",
        "example.org/1",
    }
    poll = any_store.get_poll(first.article.id)
    assert poll is not None and [o.label for o in poll.options] == [o for o, _ in OPTIONS]


def test_articles_are_found_newest_first_by_tag_and_text(any_store: Store) -> None:
    ids = [stored(any_store, t, tags) for t, tags in [("Alpha", ("KI",)), ("beta", ("Netz",))]]
    third = stored(any_store, "Gamma 100%", ("KI", "Netz"))
    assert [a.id for a in any_store.latest_articles()] == [third, *reversed(ids)]
    assert [a.id for a in any_store.latest_articles("#ki")] == [third, ids[0]]
    # Title or tag, case-insensitively; "%" is no wildcard.
    assert [a.id for a in any_store.find_articles("BETA")] == [ids[1]]
    assert [a.id for a in any_store.find_articles("netz")] == [third, ids[1]]
    assert [a.id for a in any_store.find_articles("0%")] == [third]
    assert any_store.find_articles("a%a") == []
    assert any_store.known_tag("#ki") == "KI" and any_store.known_tag("Robotik") is None
    assert [(c.tag, c.articles) for c in any_store.tag_counts()] == [("KI", 2), ("Netz", 2)]
    mod = Moderation(any_store)
    assert mod.set_removed(third, True, "spam")
    assert any_store.get_article(third, include_removed=False) is None
    removed = any_store.get_article(third)
    assert removed is not None and removed.removed
    assert [(c.tag, c.articles) for c in any_store.tag_counts()] == [("KI", 1), ("Netz", 1)]
    assert any_store.count_articles() == 3
    assert any_store.count_articles(exclude_source="demo") == 3


# -- polls ---------------------------------------------------------------------------------


def test_a_checked_vote_writes_only_what_the_check_allows(any_store: Store) -> None:
    article_id = stored(any_store, "Eins", ("xAI", "OpenAI"))
    seen: list[tuple[tuple[str, ...] | None, PollState | None]] = []

    def choose(option: int) -> ChooseOption:
        def check(article: Article | None, state: PollState | None) -> int:
            seen.append((article.tags if article else None, state))
            if article is None or option > len(OPTIONS):
                raise LookupError("refused")
            return option

        return check

    alice = UserRef("telegram", "1", "Alice")
    result = any_store.vote(article_id, alice, choose(2))
    assert result.outcome.kind == "cast" and result.outcome.option.votes == 1
    assert seen[-1] == (("xAI", "OpenAI"), PollState(closed=False, options=5))
    with pytest.raises(LookupError):
        any_store.vote(article_id, alice, choose(6))
    with pytest.raises(LookupError):
        any_store.vote(article_id + 1, alice, choose(1))
    assert seen[-1] == (None, None)
    poll = any_store.get_poll(article_id)
    assert poll is not None and [o.votes for o in poll.options] == [0, 1, 0, 0, 0]
    assert any_store.vote(article_id, alice, choose(2)).outcome.kind == "withdrawn"


def test_polls_are_recounted_and_exported(any_store: Store) -> None:
    first, second = stored(any_store, "Eins"), stored(any_store, "Zwei")
    for user, option in (("1", 1), ("2", 1), ("3", 4)):
        any_store.cast_vote(first, UserRef("telegram", user), option)
    before = any_store.get_poll(first)
    assert before is not None
    # A bot-wide ban stores the person's votes uncounted; polls_changed recounts them.
    any_store.engine.execute(
        "INSERT INTO bans (platform, user_id, scope, reason, banned_by, banned_at)"
        " VALUES ('telegram', '3', ?, NULL, 'test', '2026-01-01 00:00:00.000000')",
        (BOT_WIDE,),
    )
    any_store.polls_changed([first])
    after = any_store.get_poll(first)
    assert after is not None and after.version > before.version
    assert [o.votes for o in after.options] == [2, 0, 0, 0, 0]
    exported = any_store.polls_for_export()
    assert [(e.article.id, e.poll.total) for e in exported] == [(first, 2), (second, 0)]
    assert [e.article.id for e in any_store.polls_for_export(second)] == [second]


# -- the outbox ----------------------------------------------------------------------------


def test_a_held_backlog_waits_for_its_release_and_a_retry_is_not_released(
    any_store: Store, clock: list[datetime]
) -> None:
    other = ChatRef("telegram", "43")
    any_store.subscribe(other, ["xAI"], backlog=0)
    stored(any_store, "Eins")
    [failed] = any_store.claim_deliveries(["telegram"], worker="w1")
    any_store.delivery_retry(failed.id, "429 Too Many Requests", 30)
    newest = stored(any_store, "Zwei")
    any_store.delivery_release(any_store.claim_deliveries(["telegram"], worker="w1")[0].id)
    # /subscribe's newest article waits for the answer that announces it.
    result = any_store.subscribe(TG, ["xAI"], backlog=1, hold=timedelta(seconds=30))
    assert result.backlog_queued == 1
    assert any_store.due_count(TG) == 0
    assert any_store.release_held(TG) == 1
    assert any_store.due_count(TG) == 1
    [delivery] = any_store.deliveries_for_chat(TG, "pending")
    assert delivery.article_id == newest
    # Another chat's retry keeps its time.
    assert any_store.release_held(other) == 0
    assert any_store.due_count(other) == 1  # "Zwei"; "Eins" waits 30 s for its retry
    clock[0] += timedelta(seconds=31)
    assert any_store.due_count(other) == 2


def test_a_delivery_is_retried_released_failed_and_given_back(
    any_store: Store, clock: list[datetime]
) -> None:
    any_store.subscribe(TG, ["xAI"], backlog=0)
    first, second = stored(any_store, "Eins"), stored(any_store, "Zwei")
    assert any_store.due_count(TG) == 2
    one, two = any_store.claim_deliveries(["telegram"], worker="w1")
    assert (one.article_id, two.article_id) == (first, second)
    any_store.delivery_retry(one.id, "429 Too Many Requests", 30)
    any_store.delivery_release(two.id)  # untried: its attempt does not count
    assert any_store.due_count(TG) == 1
    [again] = any_store.claim_deliveries(["telegram"], worker="w1")
    assert again.id == two.id and again.attempts == 1
    clock[0] += timedelta(seconds=31)
    [retried] = any_store.claim_deliveries(["telegram"], worker="w2")
    assert retried.id == one.id and retried.attempts == 2
    # w1 stops cleanly (its attempt did not happen), w2 restarts after a crash (it may have).
    assert any_store.release_claims("w1", count_attempt=False) == 1
    assert any_store.release_claims("w2", count_attempt=True) == 1
    rows = {d.id: d for d in any_store.deliveries_for_chat(TG, "pending")}
    assert (rows[one.id].attempts, rows[two.id].attempts) == (2, 0)
    assert rows[one.id].last_error == "429 Too Many Requests"
    any_store.delivery_failed(two.id, "403 Forbidden")
    [failed] = any_store.deliveries_for_chat(TG, "failed")
    assert failed.id == two.id and failed.last_error == "403 Forbidden"


def test_a_moved_delivery_follows_its_chat_unless_the_new_chat_has_one(
    any_store: Store, clock: list[datetime]
) -> None:
    new_chat = ChatRef("telegram", "-10042")
    any_store.subscribe(TG, ["xAI"], backlog=0)
    any_store.subscribe(new_chat, ["OpenAI"], backlog=0)
    first = stored(any_store, "Eins", ("xAI",))
    both = stored(any_store, "Zwei", ("xAI", "OpenAI"))
    mine = any_store.claim_deliveries(["telegram"], only_chats={"telegram": [TG.chat_id]})
    claimed = {d.article_id: d for d in mine}
    any_store.delivery_moved(claimed[first].id, new_chat)
    any_store.delivery_moved(claimed[both].id, new_chat)  # the new chat has this one: stays
    moved = {d.article_id: d for d in any_store.deliveries_for_chat(new_chat)}
    assert set(moved) == {first, both}
    assert moved[first].id == claimed[first].id and moved[first].status == "pending"
    assert moved[both].id != claimed[both].id
    [left] = any_store.deliveries_for_chat(TG)
    assert left.id == claimed[both].id and left.status == "sending"


def test_migrating_a_chat_keeps_its_own_rows_where_the_new_id_has_some(any_store: Store) -> None:
    old, new_chat = TG, ChatRef("telegram", "-100999")
    any_store.subscribe(old, ["xAI"], backlog=0)
    any_store.subscribe(new_chat, ["xAI", "OpenAI"], backlog=0)
    any_store.update_chat_settings(old, language="en")
    any_store.update_chat_settings(new_chat, language="de", threads=True)
    article_id = stored(any_store, "Eins", ("xAI",))
    assert len(any_store.deliveries_for_chat(new_chat)) == 1
    any_store.record_post(article_id, MessageRef(old, "5"), 0)
    any_store.record_post(article_id, MessageRef(new_chat, "5"), 0)  # the same message id
    any_store.record_post(article_id, MessageRef(old, "6"), 0)
    any_store.migrate_chat(old, new_chat)
    assert [(s.tag, s.active) for s in any_store.subscriptions(new_chat)] == [
        ("OpenAI", True),
        ("xAI", True),
    ]
    settings = any_store.chat_settings(new_chat)
    assert (settings.language, settings.threads) == ("en", False)  # the old chat's row wins
    assert len(any_store.deliveries_for_chat(new_chat)) == 1
    posts = sorted(
        (p.message.chat.chat_id, p.message.message_id) for p in any_store.posts_of(article_id)
    )
    assert posts == [("-100999", "5"), ("-100999", "6"), ("42", "5")]  # a clash stays put
    assert any_store.stats().subscriptions == 2


# -- sources -------------------------------------------------------------------------------


def test_a_feed_is_due_fetched_failed_parked_and_removed(
    any_store: Store, clock: list[datetime]
) -> None:
    added = any_store.add_feed("https://example.org/a.xml", "url", interval_seconds=900)
    other = any_store.add_feed("https://example.org/b.xml", "url", interval_seconds=900)
    assert (
        added.created
        and not any_store.add_feed(added.feed.location, "url", interval_seconds=60).created
    )
    assert [f.id for f in any_store.due_feeds()] == [added.feed.id, other.feed.id]
    any_store.feed_fetched(added.feed.id, next_in=900, etag='"v1"', body_hash="h1")
    fetched = any_store.get_feed(added.feed.id)
    assert fetched is not None and fetched.etag == '"v1"' and fetched.body_hash == "h1"
    assert any_store.feed_fetched_once(added.feed.id) and not any_store.feed_fetched_once(
        other.feed.id
    )
    for failures in (1, 2):
        feed = any_store.feed_failed(other.feed.id, "timeout", next_in=60, park_after=2)
        assert feed.failures == failures
    assert feed.state == "parked" and feed.last_error == "timeout"
    assert any_store.due_feeds() == []
    clock[0] += timedelta(seconds=901)
    assert [f.id for f in any_store.due_feeds()] == [added.feed.id]  # a parked feed waits
    active = any_store.set_feed_state(other.feed.id, "active")
    assert active is not None and active.failures == 0
    assert [f.id for f in any_store.due_feeds()] == [added.feed.id, other.feed.id]
    assert any_store.remove_feed(added.feed.id) == fetched
    assert [f.id for f in any_store.feeds()] == [other.feed.id]
    assert any_store.get_feed(added.feed.id) is None


# -- plumbing ------------------------------------------------------------------------------


def test_state_migrations_and_the_clock(any_store: Store, clock: list[datetime]) -> None:
    assert any_store.get_state("telegram:offset") is None
    any_store.set_state("telegram:offset", "1")
    any_store.set_state("telegram:offset", "2")
    assert any_store.get_state("telegram:offset") == "2"
    assert any_store.pending_migrations() == [] and any_store.migrate() == []
    assert any_store.now() == START
    seen: list[str] = []
    any_store.before_commit(lambda conn: seen.append("commit"))
    any_store.subscribe(TG, ["xAI"])
    assert seen == ["commit"]


# -- every public operation is in the contract -------------------------------------------

BOTH_ENGINES = {"any_store", "any_ctx", "any_chat"}
# Called by name only in tests that stay on SQLite, each for its reason.
NOT_ON_BOTH = {
    # A copy of the SQLite file (test_store.py::test_backup_is_a_working_copy); a PostgreSQL
    # store is backed up with pg_dump, and backup() says so.
    "backup",
}


def names_used_on_both_engines(module: ast.Module) -> set[str]:
    """The attribute names used by this module's tests that run on both engines, by the
    fixtures they build on, and by the module's helpers those call."""
    functions = {
        node.name: node
        for node in module.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }

    def params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
        return {a.arg for a in node.args.args}

    both = set(BOTH_ENGINES)
    while extra := {n for n, f in functions.items() if n not in both and params(f) & both}:
        both |= extra
    todo = [f for n, f in functions.items() if n in both]
    seen: set[str] = set()
    used: set[str] = set()
    while todo:
        function = todo.pop()
        if function.name in seen:
            continue
        seen.add(function.name)
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.Name) and node.id in functions:
                todo.append(functions[node.id])
    return used


def test_every_public_store_operation_runs_on_both_engines() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_")
    }
    used: set[str] = set()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        used |= names_used_on_both_engines(ast.parse(path.read_text(encoding="utf-8")))
    assert sorted(public - used - NOT_ON_BOTH) == []
    assert public >= NOT_ON_BOTH, "an exception for an operation the store no longer has"


def test_many_chats_settings_are_read_at_once_as_one_by_one(any_store: Store) -> None:
    plain, english, other = TG, ChatRef("telegram", "43"), ChatRef("discord", "7")
    any_store.update_chat_settings(english, language="en", post_style="compact", images=False)
    found = {s.chat: s for s in any_store.chats.settings_of([plain, english, other, english])}
    assert set(found) == {plain, english, other}
    for chat in (plain, english, other):
        assert found[chat] == any_store.chat_settings(chat)
    assert found[english].language == "en" and found[english].post_style == "compact"
    assert found[plain].language is None and found[plain].images
