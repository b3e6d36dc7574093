"""Several `newsbot run` workers on one store: real processes against the fakes, on SQLite and
on PostgreSQL. Deliveries are sent once, a killed worker's are sent by another after its
lease, a second Telegram poller refuses to start, and Discord shards split across workers."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import open_store
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import ChatRef, NewArticle
from storage.store import Store
from tests.chaos.conftest import BODY, TAG
from tests.chaos.ledger import title
from tests.chaos.process import BotProcess, Runs, child_env
from tests.chaos.sizes import FAST_TELEGRAM, START
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

SECRET = "scale-out-webhook-secret"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, db: Path) -> str:
    """Where the workers' store is: a SQLite file on this machine, or a PostgreSQL server."""
    if request.param == "sqlite":
        return str(db)
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The test's own connection to the workers' store, for setting up and checking."""
    opened = open_store(load_settings(db=store_url, demo=False))
    yield opened
    opened.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fan_out(store: Store, chats: list[ChatRef], number: int = 1) -> int:
    """`chats` subscribed, and one article that queues a post for each of them."""
    for chat in chats:
        store.subscribe(chat, [TAG], backlog=0)
    new = NewArticle(title=title(number), body=BODY, tags=(TAG,), language="de")
    report = store_article(store, load_settings(demo=False).core_config(), new)
    assert report.new
    return report.new[0].id


def worker_env(
    db: Path, store_url: str, tg: FakeTelegram, worker: str, *, webhook: bool, **settings: str
) -> dict[str, str]:
    """One worker's environment: its own id, and in webhook mode its own port."""
    chosen = {"db": store_url, "worker_id": worker, **FAST_TELEGRAM, **settings}
    if webhook:
        port = free_port()
        chosen |= {
            "telegram_webhook_url": f"http://127.0.0.1:{port}/telegram",
            "telegram_webhook_secret": SECRET,
            "telegram_webhook_port": str(port),
        }
    return child_env(db, telegram=tg, settings=chosen)


def posts_per_chat(tg: FakeTelegram, chats: list[ChatRef], text: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for chat in chats:
        found[chat.chat_id] = sum(text in m.get("text", "") for m in tg.messages(int(chat.chat_id)))
    return found


async def lease_ended(store: Store, name: str, within: float) -> None:
    """Wait (bounded) until nobody holds the lease: its holder died and it ran out. The
    store has no events to wait on: it is asked every tenth of a second."""
    async with asyncio.timeout(within):
        while store.leases.holder(name) is not None:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.1)


def unsent(store: Store) -> int:
    return int(store.engine.scalar("SELECT count(*) FROM deliveries WHERE status != 'sent'"))


async def test_two_workers_never_send_the_same_delivery(
    tg: FakeTelegram, runs: Runs, db: Path, store_url: str, store: Store
) -> None:
    readers = [tg.user(300_000 + n, f"Leser{n}") for n in range(450)]
    chats = [ChatRef("telegram", str(reader.id)) for reader in readers]
    fan_out(store, chats)
    # Webhook mode: Telegram's one-poller rule does not apply, both take deliveries.
    first = await runs.start(worker_env(db, store_url, tg, "w1", webhook=True))
    second = await runs.start(worker_env(db, store_url, tg, "w2", webhook=True))
    everyone = lambda: all(posts_per_chat(tg, chats, title(1)).values())  # noqa: E731
    await first.until(tg.wait_for(everyone, START, what="a post in every chat"))
    # Stopped, neither sends any more: what arrived is all that ever arrives.
    for bot in (first, second):
        assert await bot.terminate(30) is not None
    counts = posts_per_chat(tg, chats, title(1))
    assert all(counts[chat.chat_id] == 1 for chat in chats), counts.most_common(3)
    assert unsent(store) == 0
    assert runs.tracebacks() == 0


async def test_a_killed_workers_deliveries_are_sent_by_another_after_its_lease(
    tg: FakeTelegram, runs: Runs, db: Path, store_url: str, store: Store
) -> None:
    readers = [tg.user(400_000 + n, f"Leser{n}") for n in range(40)]
    chats = [ChatRef("telegram", str(reader.id)) for reader in readers]
    fan_out(store, chats)
    # Slow sends: the first worker holds claimed rows when it is killed.
    slow = {"telegram_rate_overall": "10", "delivery_lease": "4"}
    first = await runs.start(worker_env(db, store_url, tg, "w1", webhook=True, **slow))
    await first.until(tg.wait_for(lambda: len(tg.calls("sendMessage")) >= 5, START))
    await first.kill()
    held = int(
        store.engine.scalar(
            "SELECT count(*) FROM deliveries WHERE status = 'sending' AND claimed_by = 'w1'"
        )
    )
    sent = int(store.engine.scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'"))
    in_flight = len(tg.calls("sendMessage")) - sent
    assert held > 0, "the worker held nothing when it died: the test proves nothing"

    second = await runs.start(worker_env(db, store_url, tg, "w2", webhook=True))
    everyone = lambda: all(posts_per_chat(tg, chats, title(1)).values())  # noqa: E731
    await second.until(tg.wait_for(everyone, START, what="a post in every chat"))
    assert await second.terminate(30) is not None
    counts = posts_per_chat(tg, chats, title(1))
    doubled = sum(1 for n in counts.values() if n > 1)
    assert doubled <= in_flight, f"{doubled} doubled, {in_flight} were in flight at the kill"
    assert max(counts.values()) <= 2
    assert unsent(store) == 0
    assert runs.tracebacks() == 0


async def test_a_second_polling_worker_refuses_to_start_with_one_line(
    tg: FakeTelegram, runs: Runs, db: Path, store_url: str, store: Store
) -> None:
    lease = {"telegram_poll_lease": "3"}
    first = await runs.start(worker_env(db, store_url, tg, "w1", webhook=False, **lease))
    await first.until(tg.wait_for(lambda: tg.calls("getUpdates"), START, what="polling"))
    second = await runs.start(worker_env(db, store_url, tg, "w2", webhook=False))
    assert await second._finished(START), "the second poller kept running"
    assert second.returncode == 2
    lines = [line for line in second.output.splitlines() if line.strip()]
    assert len(lines) == 1, second.output
    assert "worker w1 polls this bot already" in lines[0]
    assert "NEWSBOT_TELEGRAM_WEBHOOK_URL" in lines[0]
    assert first.returncode is None, "the first poller must go on"
    # A poller that dies leaves the bot to another once its lease has run out.
    await first.kill()
    await lease_ended(store, "telegram:4242:polling", within=30)
    third = await runs.start(worker_env(db, store_url, tg, "w3", webhook=False, **lease))
    polls = len(tg.calls("getUpdates"))
    await third.until(tg.wait_for(lambda: len(tg.calls("getUpdates")) > polls + 1, START))
    assert await third.terminate(30) is not None


# Servers on shard 0 and shard 1 of 2: (id >> 22) % 2.
GUILDS = {0: 1000 << 22, 1: 1001 << 22}
OWNER = 900_001


async def test_discord_shards_split_across_workers_each_answering_its_own(
    dc: FakeDiscord, runs: Runs, db: Path
) -> None:
    dc.add_user(OWNER, "owner")
    channels = {}
    for shard, guild in GUILDS.items():
        dc.add_guild(guild, f"Shard {shard}", owner_id=OWNER)
        channels[shard] = dc.add_channel(guild, guild + 1, f"news-{shard}").id
    workers: dict[int, BotProcess] = {}
    for shard in GUILDS:
        settings = {
            "worker_id": f"shard{shard}",
            "discord_shards": str(shard),
            "discord_shard_count": "2",
        }
        env = child_env(db, discord=dc, settings=settings)
        workers[shard] = await runs.start(env, discord=True)
        await workers[shard].until(
            dc.wait_for(lambda: dc.shard_sessions(shard), START, what=f"shard {shard}")  # noqa: B023
        )
    for shard, guild in GUILDS.items():
        asked = await workers[shard].until(dc.slash(guild, channels[shard], OWNER, "help"))
        await workers[shard].until(dc.wait_for_interaction_response(asked, START))
        # Only the worker running the server's shard heard of it, and so it answered.
        heard = [
            s.identify["shard"]
            for s in dc.sessions
            if s.identify and any(data.get("id") == str(asked) for _, data in s.dispatched)
        ]
        assert heard == [[shard, 2]]
    for bot in workers.values():
        assert await bot.terminate(30) is not None
    assert runs.tracebacks() == 0
