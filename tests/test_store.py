"""The store's guarantees: dedupe, the outbox, pausing and moving chats, the audit log."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from handlers.context import Ctx
from storage.models import ChatRef, MessageRef, UserRef
from storage.store import Store
from tests.conftest import add, article

TG = ChatRef("telegram", "42")


def test_the_same_article_is_stored_once(any_ctx: Ctx) -> None:
    add(any_ctx, article(guid="https://Example.org/a/?utm_source=x"))
    from bot.ingest import store_article

    # Same GUID after normalisation, same link, same text: each is a duplicate.
    for dup in (
        article(title="Anders", body="Anderer Text.", guid="http://example.org/a"),
        article(title="Anders 2", body="Noch anders.", url="https://example.org/a"),
        article(),
    ):
        report = store_article(any_ctx.store, any_ctx.config, dup)
        assert report.duplicates == 1 and not report.new
    assert any_ctx.store.count_articles() == 1


def test_outbox_claims_lease_and_release(any_ctx: Ctx) -> None:
    any_ctx.store.subscribe(TG, ["xAI"])
    aid = add(any_ctx, article())
    [claimed] = any_ctx.store.claim_deliveries(["telegram"])
    assert claimed.article_id == aid and claimed.status == "sending" and claimed.attempts == 1
    # A second worker does not get the leased row.
    assert any_ctx.store.claim_deliveries(["telegram"]) == []
    # Rows for platforms that are not running stay untouched.
    assert any_ctx.store.claim_deliveries(["discord"]) == []
    any_ctx.store.delivery_sent(claimed.id, MessageRef(TG, "77"), 0)
    [row] = any_ctx.store.deliveries_for_chat(TG)
    assert row.status == "sent" and row.message_id == "77"
    assert [p.message.message_id for p in any_ctx.store.posts_of(aid)] == ["77"]


def test_a_crashed_send_is_retried_after_its_lease(any_store: Store, any_ctx: Ctx) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    any_store.clock = lambda: now[0]
    any_store.subscribe(TG, ["xAI"])
    add(any_ctx, article())
    assert len(any_store.claim_deliveries(["telegram"], lease=60)) == 1
    now[0] += timedelta(seconds=61)
    [again] = any_store.claim_deliveries(["telegram"])
    assert again.attempts == 2


def test_pausing_a_chat_parks_its_deliveries_with_the_reason(any_ctx: Ctx) -> None:
    any_ctx.store.subscribe(TG, ["xAI", "OpenAI"])
    add(any_ctx, article())
    parked = any_ctx.store.pause_chat(TG, "bot was blocked by the user")
    assert parked == 1
    subs = any_ctx.store.subscriptions(TG)
    assert all(not s.active and s.reason == "bot was blocked by the user" for s in subs)
    assert any_ctx.store.claim_deliveries(["telegram"]) == []
    # Paused chats get nothing new either.
    add(any_ctx, article(title="Zweiter", body="Noch ein Text über xAI."))
    assert [d.status for d in any_ctx.store.deliveries_for_chat(TG)] == ["paused"]


def test_migrating_a_chat_moves_everything(any_ctx: Ctx) -> None:
    new = ChatRef("telegram", "-100999")
    any_ctx.store.subscribe(TG, ["xAI"])
    any_ctx.store.update_chat_settings(TG, language="en")
    aid = add(any_ctx, article())
    any_ctx.store.record_post(aid, MessageRef(TG, "5"), 0)
    any_ctx.store.migrate_chat(TG, new)
    assert [s.tag for s in any_ctx.store.subscriptions(new)] == ["xAI"]
    assert any_ctx.store.chat_settings(new).language == "en"
    assert len(any_ctx.store.deliveries_for_chat(new)) == 1
    assert any_ctx.store.posts_of(aid)[0].message.chat == new
    assert any_ctx.store.subscriptions(TG) == []


def test_votes_make_posts_stale_until_refreshed(any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    any_ctx.store.record_post(aid, MessageRef(TG, "1"), 0)
    assert any_ctx.store.stale_posts(["telegram"]) == []
    for user in ("a", "b", "c"):
        any_ctx.store.cast_vote(aid, UserRef("telegram", user), 1)
    # Three votes, one stale post: one edit coalesces them.
    [post] = any_ctx.store.stale_posts(["telegram"])
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None
    any_ctx.store.post_rendered(post.id, poll.version)
    assert any_ctx.store.stale_posts(["telegram"]) == []


def test_votes_count_across_platforms(any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    any_ctx.store.cast_vote(aid, UserRef("telegram", "1"), 1)
    any_ctx.store.cast_vote(aid, UserRef("discord", "1"), 2)
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 2


def test_audit_log_is_append_only(any_store: Store) -> None:
    any_store.audit(platform="console", chat_id="local", actor="console:owner", action="ban")
    # The engine itself refuses (a trigger): an integrity error on either.
    refused = (sqlite3.IntegrityError, psycopg.IntegrityError)
    with pytest.raises(refused):
        any_store.engine.execute("UPDATE audit_log SET outcome = 'x'")
    with pytest.raises(refused):
        any_store.engine.execute("DELETE FROM audit_log")
    assert [(e.action, e.outcome) for e in any_store.audit_log.entries()] == [("ban", "ok")]


# -- SQLite only: these are about the SQLite file itself (its copy, its PRAGMAs) -----------


def test_backup_is_a_working_copy(ctx: Ctx, tmp_path: Path) -> None:
    add(ctx, article())
    target = tmp_path / "copy" / "backup.db"
    ctx.store.backup(target)
    copy = Store(target)
    try:
        assert copy.count_articles() == 1
        assert copy.pending_migrations() == []
    finally:
        copy.close()


def test_wal_and_foreign_keys_are_on(store: Store) -> None:
    conn = store.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10000


def test_tag_completion_prefers_prefixes_and_takes_wildcards_literally(any_ctx: Ctx) -> None:
    add(any_ctx, article(title="A", body="Eins.", tags=("OpenAI", "xAI")))
    add(any_ctx, article(title="B", body="Zwei.", tags=("OpenAI", "AI")))
    add(any_ctx, article(title="C", body="Drei.", tags=("100%_sicher",)))
    assert any_ctx.store.tags_matching("ai") == ["AI", "OpenAI", "xAI"]
    assert any_ctx.store.tags_matching("#Open") == ["OpenAI"]
    # Marks are not part of a tag's key (100%_sicher is "100 sicher"), so "%" and "_" are never
    # wildcards: they separate words like a space, in the tag and in what is typed.
    assert any_ctx.store.tags_matching("100%_si") == ["100%_sicher"]
    assert any_ctx.store.tags_matching("0_s") == ["100%_sicher"]
    assert any_ctx.store.tags_matching("_") == any_ctx.store.tags_matching("")
