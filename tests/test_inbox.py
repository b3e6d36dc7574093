"""The update inbox: stored once, handled once, finished with its effect, left for a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.inbox import LEASE, MAX_ATTEMPTS, Inbox
from storage.models import ChatRef
from storage.store import Store

SOURCE = "telegram:123"
CHAT = ChatRef("telegram", "42")


@pytest.fixture
def clock(any_store: Store) -> list[datetime]:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    any_store.clock = lambda: now[0]
    return now


def batch(*ids: int) -> list[tuple[int, str]]:
    return [(i, f'{{"update_id": {i}}}') for i in ids]


def pending(inbox: Inbox, worker: str = "w1", *, take_over: bool = False) -> list[int]:
    return [u.update_id for u in inbox.unfinished(SOURCE, worker, take_over=take_over)]


def test_a_repeated_update_is_stored_once_and_handled_once(any_store: Store) -> None:
    inbox = Inbox(any_store)
    assert inbox.receive(SOURCE, batch(1, 2)) == 2
    assert inbox.receive(SOURCE, batch(2, 3)) == 1  # Telegram sent 2 again
    assert inbox.receive("telegram:999", batch(1)) == 1  # another bot's update 1
    assert inbox.claim(SOURCE, 1, "w1")
    assert not inbox.claim(SOURCE, 1, "w1")  # a repeat while the first copy is handled
    assert not inbox.claim(SOURCE, 1, "w2")  # ... by whichever worker
    inbox.done(SOURCE, 1)
    assert inbox.state(SOURCE, 1) == "done"
    assert not inbox.claim(SOURCE, 1, "w1")  # a repeat after it was handled
    assert inbox.state(SOURCE, 2) == "pending"
    assert inbox.state(SOURCE, 4) is None


def test_unfinished_updates_wait_for_a_restart_of_their_worker_or_their_lease(
    any_store: Store, clock: list[datetime]
) -> None:
    inbox = Inbox(any_store)
    inbox.receive(SOURCE, batch(5, 3, 4))
    assert inbox.claim(SOURCE, 3, "w1")
    assert inbox.claim(SOURCE, 4, "w2")
    # w1 restarts: what it held is free again at once, w2's update is w2's.
    assert pending(inbox, "w1") == [3, 5]
    assert pending(inbox, "w3") == [3, 5]
    clock[0] += LEASE + timedelta(seconds=1)
    assert pending(inbox, "w3") == [3, 4, 5]
    # The only consumer (polling) takes over every claim.
    assert inbox.claim(SOURCE, 5, "w2")
    assert pending(inbox, "w1", take_over=True) == [3, 4, 5]


def test_an_update_that_never_finishes_is_given_up(any_store: Store, clock: list[datetime]) -> None:
    inbox = Inbox(any_store)
    inbox.receive(SOURCE, batch(7))
    for _ in range(MAX_ATTEMPTS):
        assert pending(inbox, take_over=True) == [7]
        assert inbox.claim(SOURCE, 7, "w1")
    assert pending(inbox, take_over=True) == []
    assert inbox.state(SOURCE, 7) == "failed"


def test_finished_updates_are_forgotten_after_a_while(
    any_store: Store, clock: list[datetime]
) -> None:
    inbox = Inbox(any_store)
    inbox.receive(SOURCE, batch(1, 2))
    inbox.done(SOURCE, 1)
    clock[0] += timedelta(days=3)
    assert inbox.prune(timedelta(days=2)) == 1
    assert inbox.state(SOURCE, 1) is None
    assert inbox.state(SOURCE, 2) == "pending"  # unfinished updates are never forgotten


async def test_an_update_is_finished_in_the_transaction_of_its_effect(any_store: Store) -> None:
    """A crash right after a handler's write must not replay it (a second press would take
    the vote back): the write and 'done' commit together, and only the handler's own."""
    inbox = Inbox(any_store)
    inbox.receive(SOURCE, batch(1, 2))

    async def side_job() -> None:
        any_store.subscribe(ChatRef("telegram", "7"), ["OpenAI"])

    def failing_write() -> None:
        with any_store.engine.write():
            any_store.subscribe(CHAT, ["Microsoft"])
            raise ZeroDivisionError

    with inbox.handling(SOURCE, 1):
        # A task the handler starts (the outbox kicked by a vote) inherits the context.
        await asyncio.create_task(side_job())
        assert inbox.state(SOURCE, 1) == "pending"
        with pytest.raises(ZeroDivisionError):
            failing_write()  # rolled back: no effect, not finished
        assert inbox.state(SOURCE, 1) == "pending"
        any_store.subscribe(CHAT, ["xAI"])
        assert inbox.state(SOURCE, 1) == "done"
    with inbox.handling(SOURCE, 2):
        pass  # a handler that wrote nothing is finished by its caller
    any_store.subscribe(CHAT, ["Apple"])  # not a handler's write
    assert inbox.state(SOURCE, 2) == "pending"
    assert [s.tag for s in any_store.subscriptions(CHAT)] == ["Apple", "xAI"]


def test_a_dead_workers_updates_are_orphans_once_its_claim_runs_out(
    any_store: Store, clock: list[datetime]
) -> None:
    """With a webhook, Telegram never resends what a worker stored: another worker takes over
    what a dead one held (claim run out) or stored and never claimed, nothing else."""
    inbox = Inbox(any_store)
    inbox.receive(SOURCE, batch(1, 2, 3, 4))
    assert inbox.claim(SOURCE, 1, "dead")  # taken, then the worker died
    assert inbox.claim(SOURCE, 2, "alive")
    inbox.done(SOURCE, 4)
    clock[0] += timedelta(seconds=5)
    assert [u.update_id for u in inbox.orphaned(SOURCE)] == []  # 3 is new: its worker may
    clock[0] += LEASE  # ... claim it yet; after the lease and the grace, 1 and 3 are orphans
    assert inbox.claim(SOURCE, 2, "alive")  # taken again just now: not an orphan
    assert [u.update_id for u in inbox.orphaned(SOURCE)] == [1, 3]
    assert inbox.claim(SOURCE, 1, "adopter")
    assert [u.update_id for u in inbox.orphaned(SOURCE)] == [3]
