"""What several workers hand each other through the store, on both engines: leases, delivery
claims and source claims. Each worker is its own connection to the same database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from bot.ingest import store_article
from bot.settings import load_settings
from storage.db import utcnow
from storage.models import ChatRef, MessageRef, NewArticle, UserRef
from storage.post_refresh import overtaken, refreshed
from storage.store import Store

TAG = "Rechenzentren"


class Clock:
    """A clock a test moves forward, shared by the workers' stores."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workers(any_store: Store, clock: Clock) -> Iterator[tuple[Store, Store]]:
    """Two workers' connections to one fresh store, on the test's clock."""
    any_store.clock = clock
    other = Store(any_store.engine.location, clock=clock)
    yield any_store, other
    other.close()


def fan_out(store: Store, chats: int) -> int:
    """One article queued for `chats` subscribed chats; returns the article id."""
    for n in range(chats):
        store.subscribe(ChatRef("telegram", str(1000 + n)), [TAG], backlog=0)
    new = NewArticle(title="Ein Rechenzentrum im Norden", body="Es wird gebaut.", tags=(TAG,))
    report = store_article(store, load_settings(demo=False).core_config(), new)
    assert report.new
    return report.new[0].id


def test_a_lease_is_one_holders_until_it_runs_out(
    workers: tuple[Store, Store], clock: Clock
) -> None:
    a, b = workers
    assert a.leases.take("job:refresh", "worker-a", 15)
    assert not b.leases.take("job:refresh", "worker-b", 15)
    clock.advance(10)
    assert a.leases.take("job:refresh", "worker-a", 15), "the holder renews it"
    clock.advance(10)
    assert not b.leases.take("job:refresh", "worker-b", 15), "renewed: still a's"
    clock.advance(6)
    assert b.leases.take("job:refresh", "worker-b", 15), "a stopped renewing: b takes over"
    holder = a.leases.holder("job:refresh")
    assert holder is not None and holder.holder == "worker-b"
    assert not a.leases.release("job:refresh", "worker-a")
    assert b.leases.release("job:refresh", "worker-b")
    assert a.leases.take("job:refresh", "worker-a", 15), "given back: free at once"


def test_two_workers_claiming_at_once_never_get_the_same_delivery(
    workers: tuple[Store, Store],
) -> None:
    fan_out(workers[0], 300)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(name: str, store: Store) -> None:
        start.wait()
        while rows := store.claim_deliveries(["telegram"], limit=7, worker=name, lease=60):
            claimed[name] += [row.id for row in rows]

    pairs = zip("ab", workers, strict=True)
    threads = [threading.Thread(target=claim, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    both = claimed["a"] + claimed["b"]
    assert len(both) == 300
    assert len(set(both)) == 300, "a delivery was claimed by both workers"


def test_a_dead_workers_deliveries_are_claimed_again_once_its_lease_runs_out(
    workers: tuple[Store, Store], clock: Clock
) -> None:
    a, b = workers
    fan_out(a, 5)
    held = a.claim_deliveries(["telegram"], worker="a", lease=60)
    assert len(held) == 5
    assert b.claim_deliveries(["telegram"], worker="b", lease=60) == []
    clock.advance(40)
    assert a.renew_delivery_claims("a", 60) == 5  # a is still sending: renewed
    clock.advance(40)
    assert b.claim_deliveries(["telegram"], worker="b", lease=60) == [], "renewed in time"
    clock.advance(21)  # a died after its renewal: its lease runs out
    taken = b.claim_deliveries(["telegram"], worker="b", lease=60)
    assert sorted(d.id for d in taken) == sorted(d.id for d in held)


def test_each_due_source_is_fetched_by_one_worker_at_a_time(
    workers: tuple[Store, Store], clock: Clock
) -> None:
    a, b = workers
    feed = a.add_feed("https://example.org/feed.xml", "url", interval_seconds=300).feed
    assert [f.id for f in a.claim_due_feeds("a", lease=140)] == [feed.id]
    assert b.claim_due_feeds("b", lease=140) == [], "a fetches it"
    b.release_feed(feed.id, "b")  # not b's claim: nothing changes
    assert b.claim_due_feeds("b", lease=140) == []
    clock.advance(141)  # a died mid-fetch
    assert [f.id for f in b.claim_due_feeds("b", lease=140)] == [feed.id]
    b.feed_fetched(feed.id, next_in=300)
    b.release_feed(feed.id, "b")
    assert a.claim_due_feeds("a", lease=140) == [], "fetched: not due for 300 s"
    clock.advance(301)
    assert [f.id for f in a.claim_due_feeds("a", lease=140)] == [feed.id]


def test_an_edit_overtaken_by_a_newer_vote_leaves_the_post_for_the_refresh_job(
    workers: tuple[Store, Store],
) -> None:
    a, _ = workers
    article = fan_out(a, 1)
    message = MessageRef(ChatRef("telegram", "1000"), "7")
    a.record_post(article, message, 0, "de")
    assert not overtaken(a, message, 0), "the edit shows the newest counts"
    assert a.stale_posts(["telegram"]) == []
    # A vote on another worker came in while this edit (of version 0) was on its way.
    a.cast_vote(article, UserRef("telegram", "55", "Ada", "ada"), 3)
    a.post_rendered(a.posts_of(article)[0].id, 1)  # that worker's edit, recorded first
    assert overtaken(a, message, 0)
    assert [p.message for p in a.stale_posts(["telegram"])] == [message]


def stale_copies(store: Store, chats: int) -> list[MessageRef]:
    """An article posted to `chats` chats, then voted on: every copy shows older counts."""
    article = fan_out(store, chats)
    messages = [MessageRef(ChatRef("telegram", str(1000 + n)), str(n + 1)) for n in range(chats)]
    for message in messages:
        store.record_post(article, message, 0, "de")
    store.cast_vote(article, UserRef("telegram", "55", "Ada", "ada"), 3)
    return messages


def test_two_workers_claiming_stale_posts_at_once_never_get_the_same_post(
    workers: tuple[Store, Store],
) -> None:
    messages = stale_copies(workers[0], 120)
    claimed: dict[str, list[MessageRef]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(name: str, store: Store) -> None:
        start.wait()
        while posts := store.claim_stale_posts(["telegram"], 7, worker=name, lease=15):
            claimed[name] += [post.message for post in posts]

    pairs = zip("ab", workers, strict=True)
    threads = [threading.Thread(target=claim, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    both = claimed["a"] + claimed["b"]
    assert len(set(both)) == len(both), "a post was claimed by both workers"
    assert sorted(both, key=lambda m: int(m.message_id)) == messages


def test_a_dead_workers_stale_posts_are_claimed_again_once_its_claim_runs_out(
    workers: tuple[Store, Store], clock: Clock
) -> None:
    a, b = workers
    messages = stale_copies(a, 5)
    held = a.claim_stale_posts(["telegram"], worker="a", lease=15)
    assert [post.message for post in held] == messages
    assert b.claim_stale_posts(["telegram"], worker="b", lease=15) == []
    clock.advance(10)
    assert a.renew_refresh_claims("a", 15) == 5  # a is still editing: renewed
    clock.advance(10)
    assert b.claim_stale_posts(["telegram"], worker="b", lease=15) == [], "renewed in time"
    clock.advance(6)  # a died after its renewal: its claim runs out
    taken = b.claim_stale_posts(["telegram"], worker="b", lease=15)
    assert [post.message for post in taken] == messages
    # b edits two of them and gives the batch back: the other three are free at once.
    refreshed(b, taken[0].id, 1)
    refreshed(b, taken[1].id, 1)
    assert b.release_refresh_claims("b", [post.id for post in taken]) == 5
    again = a.claim_stale_posts(["telegram"], worker="a", lease=15)
    assert [post.message for post in again] == messages[2:]
    assert a.release_refresh_claims("a") == 3, "a stops: every post it holds goes back"
    assert len(b.claim_stale_posts(["telegram"], worker="b", lease=15)) == 3
