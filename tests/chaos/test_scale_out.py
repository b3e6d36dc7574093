"""Issue #12's proof: three `newsbot run` workers on one PostgreSQL, each with Telegram (by
webhook, behind a load balancer the test plays) and Discord (one gateway shard each). An
article fans out to every chat, one worker is killed with SIGKILL a third of the way through,
and people keep pressing vote buttons; then the killed worker comes back. Every chat gets the
article once (a post in flight at the kill may come twice), every press counts once, and
every copy the store knows of shows the right counts within 5 s of the last press."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from bot.app import open_store
from bot.settings import load_settings
from storage.models import ChatRef
from storage.store import Store
from tests.chaos.ledger import title
from tests.chaos.process import BotProcess, Runs, child_env
from tests.chaos.report import Figures
from tests.chaos.sizes import FAST_TELEGRAM, SIZE, START, seed
from tests.chaos.test_workers import SECRET, fan_out, free_port
from tests.chaos.verdict import figures_for, judge
from tests.fakes.discord_api import FakeDiscord, FakeMessage
from tests.fakes.telegram_api import FakeTelegram

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(SIZE.test_timeout)]

T = TypeVar("T")
WORKERS = 3
# The claim under test: after the last press, every copy shows the right counts within this.
# It covers the pressed post's own edit and the refresh job's edits of every other copy on
# both platforms, by whichever worker holds the refresh job. The last press comes after a
# live worker took the refresh job over from the killed one, after every post was sent and
# after the killed worker came back: no lease of the kill hides in the 5 s.
COUNTS_WITHIN = 5.0
# The refresh job's lease as short as settings allow, so that a live worker takes it over soon
# after the kill. The delivery lease is longer: with 3 s, a worker loaded by the fan-out
# renewed its claims too late and another worker sent its rows too (doubles of live workers).
LEASES = {"delivery_lease": "10", "job_lease": "3"}
# The bot's Discord REST limit is 50 a second in all: each of three workers keeps to 15.
DISCORD_PACE = {"discord_rate_overall": "15", "discord_rate_per_channel": "50"}
TELEGRAM_USERS = 500_000
DISCORD_VOTERS = 800_000_000_000_000_000
OWNER = 700_000_000_000_000_001
COUNT_RE = re.compile(r"·\s*(\d+)$")


def discord_channels(chats: int) -> int:
    """Discord's share of the chats: few enough that one worker's 15 edits a second bring
    every Discord copy up to date well within the 5 s (Discord allows a bot 50 a second)."""
    return max(2 * WORKERS, min(45, chats // 20))


@dataclass
class Voters:
    """Who pressed what: the last choice of each person, the test's expectation."""

    rng: random.Random
    choice: dict[tuple[str, str], int] = field(default_factory=dict)
    presses: int = 0

    def pick(self, platform: str, person: str) -> int:
        """An option other than the person's current one (pressing it again withdraws)."""
        current = self.choice.get((platform, person))
        option = self.rng.choice([n for n in range(1, 6) if n != current])
        self.choice[(platform, person)] = option
        self.presses += 1
        return option

    def tally(self) -> list[int]:
        counts = Counter(self.choice.values())
        return [counts[n] for n in range(1, 6)]


class LoadBalancer:
    """Telegram plus a reverse proxy: each update goes to the next worker in turn, and to the
    one after when a worker does not answer with 200 (Telegram would send it again)."""

    def __init__(self, tg: FakeTelegram, urls: dict[str, str]) -> None:
        self.tg = tg
        self.urls = urls  # worker -> its webhook
        self.turn = itertools.cycle(sorted(urls))
        self.refused = 0

    async def deliver(self, update_id: int) -> str:
        """The worker that took the update."""
        payload = self.tg.take_update(update_id)
        for _ in range(2 * len(self.urls)):
            worker = next(self.turn)
            try:
                status = await self.tg.post_update_to(self.urls[worker], payload, SECRET, 15)
                if status == 200:
                    return worker
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.refused += 1
        raise AssertionError(f"no worker took update {update_id}")


async def either(
    tg: FakeTelegram, dc: FakeDiscord, ready: Callable[[], T | None], within: float, what: str
) -> T:
    """`ready()`'s first truthy value, re-checked whenever either fake changes."""
    waits = [
        asyncio.ensure_future(tg.wait_for(ready, within, what=what)),
        asyncio.ensure_future(dc.wait_for(ready, within, what=what)),
    ]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def shown(labels: list[str]) -> list[int]:
    return [int(m[1]) for m in (COUNT_RE.search(label) for label in labels) if m]


def telegram_labels(record: dict[str, Any]) -> list[str]:
    rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def discord_labels(message: FakeMessage) -> list[str]:
    return [c["label"] for c in message.walk_components() if c.get("type") == 2]


@dataclass
class Scene:
    """The chats, the fakes and the three workers of one run."""

    tg: FakeTelegram
    dc: FakeDiscord
    store: Store
    readers: list[int]  # Telegram people, each with the bot in a private chat
    channels: dict[int, int]  # Discord channel -> its server
    guild_voters: dict[int, list[int]]  # server -> Discord people in it
    workers: dict[str, BotProcess] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    shard_of: dict[str, int] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    # The worker to be killed: no Discord press goes to its shard until it is back, since
    # Discord does not send an interaction again (the person sees it fail).
    victim: str | None = None
    taken_by: dict[str, str] = field(default_factory=dict)  # Telegram query -> its worker

    @property
    def chats(self) -> list[ChatRef]:
        return [ChatRef("telegram", str(r)) for r in self.readers] + [
            ChatRef("discord", str(c)) for c in self.channels
        ]

    def telegram_posts(self) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for record in self.tg.all_messages():
            if title(1) in str(record.get("text", "")) and not record.get("deleted"):
                found.setdefault(int(record["chat_id"]), []).append(record)
        return found

    def discord_posts(self) -> dict[int, list[FakeMessage]]:
        found: dict[int, list[FakeMessage]] = {}
        for channel in self.channels:
            for message in self.dc.messages(channel):
                if (
                    message.author_id == self.dc.bot_id
                    and not message.deleted
                    and message.interaction_id is None
                    and title(1) in str(message.embeds) + message.content
                ):
                    found.setdefault(channel, []).append(message)
        return found

    def posts_per_chat(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for chat, records in self.telegram_posts().items():
            counts[f"telegram:{chat}"] = len(records)
        for channel, messages in self.discord_posts().items():
            counts[f"discord:{channel}"] = len(messages)
        return counts

    def pressable_shards(self) -> set[int]:
        return {self.shard_of[w] for w in self.workers if w not in self.dead | {self.victim}}


def build(tg: FakeTelegram, dc: FakeDiscord, store: Store) -> Scene:
    """Telegram readers, and Discord servers placed so that each shard has some."""
    channels_wanted = discord_channels(SIZE.fanout_chats)
    readers = [TELEGRAM_USERS + n for n in range(SIZE.fanout_chats - channels_wanted)]
    for reader in readers:
        tg.user(reader, f"Leser{reader}")
    dc.add_user(OWNER, "owner")
    channels: dict[int, int] = {}
    voters: dict[int, list[int]] = {}
    for n in range(channels_wanted):
        # Three channels to a server; servers on shards 0, 1, 2 in turn.
        server_number = 3000 + n // 3
        guild = server_number << 22
        if guild not in dc.guilds:
            dc.add_guild(guild, f"Server {server_number}", owner_id=OWNER, locale="de")
            voters[guild] = [DISCORD_VOTERS + server_number * 10 + person for person in range(4)]
            for voter in voters[guild]:
                dc.add_member(guild, voter, f"Leserin{voter}")
        channel = guild + 1 + n % 3
        dc.add_channel(guild, channel, f"news-{n}")
        channels[channel] = guild
    shards = {shard_of_server(guild) for guild in voters}
    assert shards == set(range(WORKERS)), "every shard needs servers, or sharding is untested"
    return Scene(tg, dc, store, readers, channels, voters)


def shard_of_server(guild: int) -> int:
    return (guild >> 22) % WORKERS


def lease_holder(store: Store, name: str) -> str | None:
    lease = store.leases.holder(name)
    return None if lease is None else lease.holder


async def start_workers(scene: Scene, runs: Runs, db: Path, store_url: str) -> LoadBalancer:
    urls: dict[str, str] = {}
    for shard in range(WORKERS):
        worker, port = f"w{shard}", free_port()
        url = f"http://127.0.0.1:{port}/telegram"
        settings = {
            "db": store_url,
            "worker_id": worker,
            "telegram_webhook_url": url,
            "telegram_webhook_secret": SECRET,
            "telegram_webhook_port": str(port),
            "discord_shards": str(shard),
            "discord_shard_count": str(WORKERS),
            **FAST_TELEGRAM,
            **DISCORD_PACE,
            **LEASES,
        }
        scene.envs[worker] = child_env(db, telegram=scene.tg, discord=scene.dc, settings=settings)
        scene.workers[worker] = await runs.start(scene.envs[worker], discord=True)
        scene.shard_of[worker] = shard
        urls[worker] = url
    for worker in scene.workers:
        await connected(scene, worker)
    webhooks = lambda: len(scene.tg.calls("setWebhook")) >= WORKERS  # noqa: E731
    await scene.tg.wait_for(webhooks, START, what="every worker's webhook")
    return LoadBalancer(scene.tg, urls)


async def connected(scene: Scene, worker: str) -> None:
    shard = scene.shard_of[worker]
    await scene.workers[worker].until(
        scene.dc.wait_for(
            lambda: any(s.open and s.identified for s in scene.dc.shard_sessions(shard)),
            START,
            what=f"shard {shard} connected",
        )
    )


async def press_round(scene: Scene, lb: LoadBalancer, voters: Voters, size: int) -> None:
    """`size` people press a vote button on a post they received, at once; done when every
    press was answered (a worker answers a press after its vote is stored)."""
    rng = voters.rng
    telegram = scene.telegram_posts()
    discord = {
        channel: messages
        for channel, messages in scene.discord_posts().items()
        if shard_of_server(scene.channels[channel]) in scene.pressable_shards()
    }
    queries: list[str] = []
    interactions: list[int] = []
    sends: list[Awaitable[None]] = []

    async def send(query: str, update: int) -> None:
        scene.taken_by[query] = await lb.deliver(update)

    # Each person at most once a round: two presses of one person at once have no order.
    pressing: set[tuple[str, int]] = set()
    for _ in range(size):
        if discord and rng.random() < 0.25:
            channel = rng.choice(sorted(discord))
            # The newest copy: an older one of a chat that got two was sent by the killed
            # worker and is not known to the store (it is not kept live, nor are its buttons).
            message = discord[channel][-1]
            person = rng.choice(scene.guild_voters[scene.channels[channel]])
            if ("discord", person) in pressing:
                continue
            pressing.add(("discord", person))
            option = voters.pick("discord", str(person))
            custom_id = message.custom_ids[option - 1]
            interactions.append(await scene.dc.press(channel, message.id, person, custom_id))
        elif telegram:
            chat = rng.choice(sorted(telegram))
            if ("telegram", chat) in pressing:
                continue
            pressing.add(("telegram", chat))
            record = telegram[chat][-1]
            option = voters.pick("telegram", str(chat))
            rows = record["reply_markup"]["inline_keyboard"]
            data = [b["callback_data"] for row in rows for b in row][option - 1]
            queries.append(scene.tg.press(chat, chat, record["message_id"], data))
            sends.append(send(queries[-1], scene.tg.pending_updates[-1]["update_id"]))
    await asyncio.gather(*sends)

    def answered() -> bool:
        # A press the killed worker took is answered (and counted) after its restart.
        waiting = [q for q in queries if scene.taken_by[q] not in scene.dead]
        return all(q in scene.tg.callback_answers for q in waiting) and all(
            scene.dc.interaction(i).responses for i in interactions
        )

    await either(scene.tg, scene.dc, answered, START, f"answers to {size} presses")


async def keep_pressing(
    scene: Scene, lb: LoadBalancer, voters: Voters, size: int, done: Callable[[], bool]
) -> None:
    while not done():
        await press_round(scene, lb, voters, size)


def all_handled(store: Store, deadline: float) -> bool:
    """Whether every Telegram update stored is handled (asked between rounds of presses)."""
    assert asyncio.get_running_loop().time() < deadline, "stored updates were not handled"
    return not store.engine.scalar("SELECT count(*) FROM update_inbox WHERE state = 'pending'")


def unsent(store: Store) -> int:
    return int(store.engine.scalar("SELECT count(*) FROM deliveries WHERE status != 'sent'"))


def in_flight_of(store: Store, worker: str, shown_at_kill: Counter[str]) -> set[str]:
    """Posts the fakes show whose outbox row the killed worker still held: sent, not recorded
    as sent. Only these may arrive twice."""
    rows = store.engine.rows(
        "SELECT platform, chat_id FROM deliveries WHERE status = 'sending' AND claimed_by = ?",
        (worker,),
    )
    held = {f"{row['platform']}:{row['chat_id']}" for row in rows}
    return {chat for chat in held if shown_at_kill[chat]}


def known_posts(store: Store, article: int) -> set[tuple[str, str, str]]:
    """(platform, chat, message) of every copy the store knows of: the ones it keeps live.
    A copy sent by the killed worker and sent again is not among them (nothing knows it)."""
    rows = store.engine.rows(
        "SELECT platform, chat_id, message_id FROM posts WHERE article_id = ?", (article,)
    )
    return {(row["platform"], str(row["chat_id"]), str(row["message_id"])) for row in rows}


class Copies:
    """Whether every copy of the post that the store knows of shows `want`; Telegram copies
    are looked at again only when an edit or a send touched them (thousands of copies,
    re-checked at every change of the fakes)."""

    def __init__(self, scene: Scene, want: list[int], known: set[tuple[str, str, str]]) -> None:
        self.scene, self.want, self.known = scene, want, known
        self.cursor = len(scene.tg.requests)
        self.wrong_telegram = self._wrong_now()

    def _wrong_now(self) -> set[tuple[int, int]]:
        return {
            (chat, record["message_id"])
            for chat, records in self.scene.telegram_posts().items()
            for record in records
            if ("telegram", str(chat), str(record["message_id"])) in self.known
            and shown(telegram_labels(record)) != self.want
        }

    def wrong_discord(self) -> int:
        return sum(
            1
            for channel, messages in self.scene.discord_posts().items()
            for message in messages
            if ("discord", str(channel), str(message.id)) in self.known
            and shown(discord_labels(message)) != self.want
        )

    def __call__(self) -> bool:
        tg = self.scene.tg
        new = tg.requests[self.cursor :]
        self.cursor += len(new)
        for method, params in new:
            if method.lower() in ("editmessagetext", "editmessagereplymarkup") and params.get(
                "chat_id"
            ):
                key = (int(params["chat_id"]), int(params["message_id"]))
                record = tg.message(key[0], key[1])
                if ("telegram", str(key[0]), str(key[1])) not in self.known:
                    continue
                if shown(telegram_labels(record)) == self.want:
                    self.wrong_telegram.discard(key)
                else:
                    self.wrong_telegram.add(key)
        return not self.wrong_telegram and self.wrong_discord() == 0


def shown_copies(scene: Scene) -> set[tuple[str, str, str]]:
    copies = {
        ("telegram", str(chat), str(record["message_id"]))
        for chat, records in scene.telegram_posts().items()
        for record in records
    }
    return copies | {
        ("discord", str(channel), str(message.id))
        for channel, messages in scene.discord_posts().items()
        for message in messages
    }


def report(figures: Figures, **values: object) -> None:
    for name, value in values.items():
        figures.note(f"{name}: {value}")


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    opened = open_store(load_settings(db=postgres_url, demo=False))
    yield opened
    opened.close()


async def test_three_workers_on_postgresql_survive_a_sigkill_during_fanout_and_votes(
    request: pytest.FixtureRequest,
    tg: FakeTelegram,
    dc: FakeDiscord,
    runs: Runs,
    db: Path,
    postgres_url: str,
    pg_store: Store,
) -> None:
    figures = figures_for(request, "6 three workers, SIGKILL, votes")
    loop = asyncio.get_running_loop()
    voters = Voters(random.Random(seed()))
    scene = build(tg, dc, pg_store)
    per_round = max(10, SIZE.fanout_chats // 20)
    lb = await start_workers(scene, runs, db, postgres_url)
    article = fan_out(pg_store, scene.chats)
    total = len(scene.chats)

    # People vote on what they received while the fan-out runs. A third of the way through,
    # the worker that runs the refresh job is killed, whatever it is doing.
    sent = lambda: sum(1 for n in scene.posts_per_chat().values() if n)  # noqa: E731
    await either(tg, dc, lambda: sent() >= 1, START, "the first post")
    victim = scene.victim = lease_holder(pg_store, "job:refresh") or "w1"
    # Rounds of a press per worker until the kill; the round under way at the kill ends.
    pressing = asyncio.create_task(
        keep_pressing(scene, lb, voters, WORKERS, lambda: bool(scene.dead))
    )
    await either(tg, dc, lambda: sent() >= total // 3, START, "a third of the posts")
    await scene.workers[victim].kill()
    scene.dead.add(victim)
    shown_at_kill = scene.posts_per_chat()
    in_flight = in_flight_of(pg_store, victim, shown_at_kill)
    await pressing
    figures.kills = 1
    figures.in_flight_at_kills = len(in_flight)
    at_kill = sum(1 for n in shown_at_kill.values() if n)
    taken_at_kill = [q for q, w in scene.taken_by.items() if w == victim]
    unanswered = [q for q in taken_at_kill if q not in tg.callback_answers]
    report(
        figures,
        chats_with_the_post_at_the_kill=at_kill,
        presses_the_killed_worker_had_taken_unanswered=len(unanswered),
    )
    assert at_kill < total, "the fan-out was over before the kill: the test proves nothing"

    # Presses go on until every chat has the article and a live worker runs the refresh job.
    deadline = loop.time() + START

    def caught_up() -> bool:
        assert loop.time() < deadline, "the fan-out did not finish after the kill"
        holder = lease_holder(pg_store, "job:refresh")
        counts = scene.posts_per_chat()
        everyone = all(counts[c.key()] for c in scene.chats)
        return everyone and holder not in (None, victim) and unsent(pg_store) == 0

    await keep_pressing(scene, lb, voters, per_round, caught_up)

    # The killed worker comes back with its id and port: it handles the presses it had
    # taken and not finished (README "Scaling out"), and runs its shard again.
    scene.workers[victim] = await runs.start(scene.envs[victim], discord=True)
    scene.dead.discard(victim)
    await connected(scene, victim)
    scene.victim = None
    deadline = loop.time() + START
    await keep_pressing(scene, lb, voters, per_round, lambda: all_handled(pg_store, deadline))

    # The last press; from here every copy of the post must show the final counts.
    await press_round(scene, lb, voters, per_round)
    last_press = loop.time()
    want = voters.tally()
    still_wrong = ""
    known = known_posts(pg_store, article)
    copies = Copies(scene, want, known)
    try:
        await either(tg, dc, copies, COUNTS_WITHIN, "every copy showing the last counts")
        took: float | None = loop.time() - last_press
    except AssertionError:
        took = None
        still_wrong = (
            f"{len(copies.wrong_telegram)} on Telegram, {copies.wrong_discord()} on Discord"
        )
        # How late, for the report (the test fails either way).
        with contextlib.suppress(AssertionError):
            await either(tg, dc, copies, SIZE.settle, "every copy, late")
            figures.note(f"every copy right {loop.time() - last_press:.1f} s after the last press")
    for worker, bot in scene.workers.items():
        if worker not in scene.dead:
            assert await bot.terminate(30) is not None

    problems: list[str] = []
    counts = scene.posts_per_chat()
    lost = [c.key() for c in scene.chats if not counts[c.key()]]
    doubled = {chat for chat, n in counts.items() if n > 1}
    figures.posts_expected = total
    figures.posts_received = total - len(lost)
    figures.posts_lost = len(lost)
    figures.posts_doubled = sum(counts[chat] - 1 for chat in doubled)
    if lost:
        problems.append(f"{len(lost)} chats never got the article, e.g. {lost[:3]}")
    if doubled - in_flight:
        problems.append(
            f"doubled though not in flight at the kill: {sorted(doubled - in_flight)[:5]}"
        )
    ghosts = {
        f"{platform}:{chat}"
        for platform, chat, message in shown_copies(scene)
        if (platform, chat, message) not in known
    }
    report(figures, copies_nobody_keeps_live=len(ghosts))
    if ghosts - in_flight:
        problems.append(f"copies the store does not know: {sorted(ghosts - in_flight)[:5]}")
    if max(counts.values()) > 2:
        problems.append(f"a chat got the article {max(counts.values())} times")

    stored = {
        (row["platform"], str(row["user_id"])): int(row["position"])
        for row in pg_store.engine.rows(
            "SELECT platform, user_id, position FROM votes WHERE article_id = ?", (article,)
        )
    }
    totals = [
        int(row["votes"])
        for row in pg_store.engine.rows(
            "SELECT votes FROM poll_options WHERE article_id = ? ORDER BY position", (article,)
        )
    ]
    figures.presses_sent = voters.presses
    figures.presses_counted = sum(1 for who, n in voters.choice.items() if stored.get(who) == n)
    figures.presses_lost = len(set(voters.choice) - set(stored))
    if stored != voters.choice:
        wrong = {k: (stored.get(k), v) for k, v in voters.choice.items() if stored.get(k) != v}
        problems.append(f"votes differ from the last choices: {dict(list(wrong.items())[:5])}")
    if totals != want:
        problems.append(f"the store's totals {totals} differ from the votes pressed {want}")
    if took is None:
        problems.append(
            f"copies still wrong {COUNTS_WITHIN:g} s after the last press: {still_wrong}"
        )
    figures.tracebacks_in_stderr = runs.tracebacks()
    if runs.tracebacks():
        problems.append(f"{runs.tracebacks()} tracebacks in the workers' output")
    report(
        figures,
        chats=f"{len(scene.readers)} Telegram private chats + {len(scene.channels)} Discord "
        f"channels on {WORKERS} shards",
        killed=victim,
        updates_sent_on_to_another_worker=lb.refused,
        seconds_to_last_correct_copy=None if took is None else round(took, 2),
    )
    judge(problems)
