"""The event loop keeps serving while the store works: a slow query runs in the database
thread, never on the loop that serves Telegram, Discord and the scheduler."""

from __future__ import annotations

import asyncio
import threading

from handlers.context import Ctx
from storage.inbox import Inbox
from storage.models import ChatRef
from tests.conftest import Chat, add, article

TICKS = 200
BOUND = 10.0  # seconds: every wait here is bounded


def slow_votes(ctx: Ctx) -> tuple[threading.Event, threading.Event]:
    """Make every vote a slow query of the real store: a trigger on the connection calls a
    function that holds the write until the test releases it. Returns (entered, release).
    (SQLite only: a Python function inside a query is SQLite's; the database thread these
    tests are about is the same for both engines.)"""
    entered, release = threading.Event(), threading.Event()

    def hold() -> int:
        entered.set()
        release.wait(BOUND)
        return 0

    conn = ctx.store.db.conn
    conn.create_function("newsbot_test_hold", 0, hold)
    conn.execute(
        "CREATE TEMP TRIGGER slow_vote AFTER INSERT ON votes BEGIN SELECT newsbot_test_hold(); END"
    )
    return entered, release


async def test_the_loop_ticks_while_a_slow_query_runs(chat: Chat, ctx: Ctx) -> None:
    article_id = add(ctx, article())
    entered, release = slow_votes(ctx)
    vote = asyncio.create_task(chat.text(f"/vote {article_id} 2"))
    try:
        assert await asyncio.to_thread(entered.wait, BOUND), "the vote never reached the store"
        # The vote is inside its query now. A loop that ran it would not get here until the
        # query ended; this one keeps turning.
        for _ in range(TICKS):
            await asyncio.sleep(0)
        assert not vote.done(), "the vote finished while its query was held"
    finally:
        release.set()
    text = await asyncio.wait_for(vote, BOUND)
    assert "Gut" in text
    poll = ctx.store.get_poll(article_id)
    assert poll is not None and [o.votes for o in poll.options][1] == 1


async def test_two_chats_one_slow(chat: Chat, ctx: Ctx) -> None:
    """A second chat's command waits behind the slow one in the database thread, and neither
    the loop nor the first one is harmed: both are answered, in order."""
    article_id = add(ctx, article())
    entered, release = slow_votes(ctx)
    other = Chat(ctx, chat=ChatRef("console", "other"))
    vote = asyncio.create_task(chat.text(f"/vote {article_id} 1"))
    try:
        assert await asyncio.to_thread(entered.wait, BOUND)
        tags = asyncio.create_task(other.text("/tags"))
        for _ in range(TICKS):
            await asyncio.sleep(0)
        assert not vote.done() and not tags.done()
    finally:
        release.set()
    assert "Sehr gut" in await asyncio.wait_for(vote, BOUND)
    assert "xAI" in await asyncio.wait_for(tags, BOUND)


async def test_a_handlers_write_in_the_thread_finishes_its_update(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    """The update inbox marks the update a handler is working on done in the handler's own
    write transaction, which now runs in the database thread."""
    inbox = Inbox(any_ctx.store)
    inbox.receive("test", [(1, "{}")])
    assert inbox.claim("test", 1, "w")
    with inbox.handling("test", 1):
        await any_chat.say("/subscribe xAI")
    assert inbox.state("test", 1) == "done"
