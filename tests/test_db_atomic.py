"""Writes are atomic: a failed COMMIT rolls back, nested writes are savepoints (on SQLite and
on PostgreSQL, where an error inside a transaction aborts all of it but its savepoint)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest

from bot.ingest import store_article
from handlers.context import CoreConfig
from storage.db import Connection
from storage.models import ChatRef
from storage.store import Store
from tests.conftest import article

CHAT = ChatRef("telegram", "42")
# What the engine raises for a broken constraint.
INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


def tags_of(store: Store) -> list[str]:
    return sorted(s.tag for s in store.subscriptions(CHAT))


@pytest.fixture
def other(any_store: Store) -> Iterator[Store]:
    """A second process's view of the same store: it sees only what was committed."""
    second = Store(any_store.engine.location)
    yield second
    second.close()


def break_next_commit(store: Store) -> None:
    """Make the next write's COMMIT itself fail: a row that breaks a foreign key, checked
    only at COMMIT (deferred), written just before it. (PostgreSQL's foreign keys are not
    deferrable until this transaction makes this one so; the change goes with the rollback.)"""
    armed = [True]

    def orphan_vote(conn: Connection) -> None:
        if armed.pop() if armed else False:
            if store.engine.dialect == "sqlite":
                conn.execute("PRAGMA defer_foreign_keys = ON")
            else:
                conn.execute(
                    "ALTER TABLE votes ALTER CONSTRAINT votes_article_id_fkey"
                    " DEFERRABLE INITIALLY DEFERRED"
                )
            conn.execute(
                "INSERT INTO votes (article_id, platform, user_id, position, voted_at)"
                " VALUES (999, 'telegram', '1', 1, '2026-01-01 00:00:00.000000')"
            )

    store.before_commit(orphan_vote)


def test_a_failed_commit_rolls_back_and_the_next_write_is_its_own(
    any_store: Store, other: Store
) -> None:
    break_next_commit(any_store)
    with pytest.raises(INTEGRITY, match=r"(?i)FOREIGN KEY"):
        any_store.subscribe(CHAT, ["xAI"])
    assert not any_store.engine.conn.in_transaction  # nothing left open for the next write to join
    assert tags_of(any_store) == []

    any_store.subscribe(CHAT, ["OpenAI"])
    # Committed on its own: another connection sees it at once, and the failed write not.
    assert tags_of(other) == ["OpenAI"]
    assert other.engine.scalar("SELECT count(*) FROM votes") == 0


def test_a_failed_nested_write_undoes_only_itself(any_store: Store, other: Store) -> None:
    with any_store.engine.write():
        any_store.subscribe(CHAT, ["xAI"])

        def failing_write() -> None:
            with any_store.engine.write():
                any_store.subscribe(CHAT, ["OpenAI"])
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            failing_write()
        any_store.subscribe(CHAT, ["Apple"])
        assert tags_of(other) == []  # nothing is visible before the outer write commits
    assert tags_of(other) == ["Apple", "xAI"]


def test_a_failed_nested_constraint_keeps_the_outer_write(any_store: Store, other: Store) -> None:
    def write_breaking_a_constraint() -> None:
        with any_store.engine.write() as conn:
            any_store.subscribe(CHAT, ["OpenAI"])
            conn.execute("INSERT INTO subscriptions (platform) VALUES ('telegram')")

    with any_store.engine.write():
        any_store.subscribe(CHAT, ["xAI"])
        with pytest.raises(INTEGRITY):
            write_breaking_a_constraint()
    assert tags_of(other) == ["xAI"]


def test_a_failing_outer_write_undoes_its_finished_nested_writes(
    any_store: Store, other: Store
) -> None:
    def failing_write() -> None:
        with any_store.engine.write():
            any_store.subscribe(CHAT, ["xAI"])  # a nested write of its own, released
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing_write()
    assert not any_store.engine.conn.in_transaction
    assert tags_of(other) == [] and tags_of(any_store) == []


def test_a_failed_commit_inside_a_method_that_spans_modules_stores_nothing(
    any_store: Store, other: Store, config: CoreConfig
) -> None:
    any_store.subscribe(CHAT, ["xAI"])
    break_next_commit(any_store)
    with pytest.raises(INTEGRITY):
        store_article(any_store, config, article())
    # Neither the article, nor its poll, nor its delivery: the next try starts clean.
    assert other.count_articles() == 0
    assert other.deliveries_for_chat(CHAT) == []
    report = store_article(any_store, config, article())
    assert len(report.new) == 1 and len(other.deliveries_for_chat(CHAT)) == 1
