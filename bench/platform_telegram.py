"""Telegram presses and deliveries through the real adapter against the fake Bot API, beside a
bare python-telegram-bot Application and raw httpx POSTs making the same calls to the same fake.
Part of bench.platform_bench."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes
from telegram.request import HTTPXRequest

from bench.platform_harness import TELEGRAM_TOKEN, Timed, bench_settings, running_app, timed
from bot.app import App
from bot.ingest import store_article
from bot.platforms.telegram.adapter import (
    ALLOWED_UPDATES,
    CONCURRENT_UPDATES,
    CONNECT_TIMEOUT,
    CONNECTIONS,
    POLL_TIMEOUT,
    POOL_TIMEOUT,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
)
from storage.models import ChatRef, NewArticle
from tests.fakes.telegram_api import FakeTelegram

FIRST_USER = 500_000
OPTIONS = ("Sehr gut", "Gut", "Befriedigend", "Ausreichend", "Mangelhaft")
BOUND = 120.0  # seconds any one round may take before the bench gives up


@dataclass
class TelegramFigures:
    presses: list[Timed] = field(default_factory=list)
    bare_presses: list[Timed] = field(default_factory=list)
    posts: list[Timed] = field(default_factory=list)
    raw_posts: list[Timed] = field(default_factory=list)
    calls_per_press: dict[str, float] = field(default_factory=dict)
    bare_calls_per_press: dict[str, float] = field(default_factory=dict)


class CallCounter:
    """Counts the fake's requests by method from a starting point on, reading each request
    once (a waiting predicate runs on every change of the fake: it must not rescan)."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.seen = len(tg.requests)
        self.counts: dict[str, int] = {}

    def total(self, *methods: str) -> int:
        requests = self.tg.requests
        while self.seen < len(requests):
            method = requests[self.seen][0]
            self.counts[method] = self.counts.get(method, 0) + 1
            self.seen += 1
        return sum(self.counts.get(m, 0) for m in methods)

    def per(self, n: int) -> dict[str, float]:
        self.total()
        return {m: c / n for m, c in self.counts.items() if m.lower() != "getupdates"}


async def deliver_round(app: App, tg: FakeTelegram, chats: int, number: int) -> Timed:
    """A new article for every subscribed chat; timed from the outbox worker's wake-up until
    the last post arrived (the fan-out into the outbox is the store's, not measured here)."""
    article = NewArticle(
        title=f"Neues Modell von xAI, Teil {number}",
        body="Ein kurzer Text über das Thema. Er hat zwei Sätze.",
        tags=("xAI",),
        language="de",
    )
    await app.db.run(store_article, app.store, app.runtime.ctx.config, article)
    counter = CallCounter(tg)

    async def work() -> None:
        app.runtime.wake()
        await tg.wait_for(lambda: counter.total("sendMessage") >= chats, BOUND, what="posts")

    return await timed(chats, work)


async def press_round(
    tg: FakeTelegram, posts: list[tuple[int, int]], article: int, option: int
) -> tuple[Timed, dict[str, float]]:
    """Every person presses another option under their post (a changed vote: one answer and
    one edit each); returns the figures and the calls per press."""
    counter = CallCounter(tg)

    async def work() -> None:
        for chat_id, message_id in posts:
            tg.press(chat_id, chat_id, message_id, f"nb:vote:{article}:{option}")
        await tg.wait_for(
            lambda: (
                counter.total("answerCallbackQuery") >= len(posts)
                and counter.total("editMessageReplyMarkup", "editMessageText") >= len(posts)
            ),
            BOUND,
            what="answers and edits",
        )

    figure = await timed(len(posts), work)
    return figure, counter.per(len(posts))


def _posts(fake: FakeTelegram) -> list[tuple[int, int]]:
    """(chat, message id) of the first message in every chat."""
    first: dict[int, int] = {}
    for message in fake.all_messages():
        first.setdefault(int(message["chat_id"]), int(message["message_id"]))
    return list(first.items())


def _subscribe_all(app: App, users: list[int]) -> None:
    for uid in users:
        app.store.subscribe(ChatRef("telegram", str(uid)), ["xAI"], backlog=0)


class BarePressBot:
    """The least a python-telegram-bot bot does for a poll press: answer the query, edit the
    keyboard with the new counts (kept in memory), as newsbot's adapter calls them."""

    def __init__(self, api_root: str) -> None:
        self.votes: dict[tuple[int, int], dict[int, int]] = {}
        # As PTB advises for concurrent updates: a connection for each handler.
        request = HTTPXRequest(
            connection_pool_size=CONCURRENT_UPDATES,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            write_timeout=WRITE_TIMEOUT,
            pool_timeout=POOL_TIMEOUT,
        )
        polls = HTTPXRequest(
            connect_timeout=CONNECT_TIMEOUT, read_timeout=CONNECT_TIMEOUT, pool_timeout=POOL_TIMEOUT
        )
        self.app = (
            ApplicationBuilder()
            .token(TELEGRAM_TOKEN)
            .base_url(f"{api_root}/bot")
            .request(request)
            .get_updates_request(polls)
            .job_queue(None)
            .concurrent_updates(CONCURRENT_UPDATES)
            .build()
        )
        self.app.add_handler(CallbackQueryHandler(self.on_press))

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.message is not None
        assert query.data
        _, _, article, option = query.data.split(":")
        where = (query.message.chat.id, query.message.message_id)
        votes = self.votes.setdefault(where, {})
        votes[query.from_user.id] = int(option)
        await query.answer(f"Deine Stimme: {OPTIONS[int(option) - 1]}")
        counts = [sum(1 for v in votes.values() if v == k) for k in range(1, 6)]
        buttons = [
            InlineKeyboardButton(f"{label} · {n}", callback_data=f"nb:vote:{article}:{k}")
            for k, (label, n) in enumerate(zip(OPTIONS, counts, strict=True), start=1)
        ]
        await query.edit_message_reply_markup(InlineKeyboardMarkup([buttons]))

    async def __aenter__(self) -> BarePressBot:
        await self.app.initialize()
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            poll_interval=0, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.app.updater is not None
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()


async def raw_posts(tg: FakeTelegram, payloads: list[dict[str, Any]]) -> Timed:
    """The same sendMessage payloads as raw httpx POSTs: one client, as many senders as the
    adapter's connection pool, each taking the next payload (httpcore's pool gets slow when
    far more requests wait on it than it has connections, so a good client does not do that)."""
    url = f"{tg.api_root}/bot{TELEGRAM_TOKEN}/sendMessage"
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=READ_TIMEOUT) as client:

        async def sender(queue: list[dict[str, Any]]) -> None:
            while queue:
                response = await client.post(url, json=queue.pop())
                response.raise_for_status()
                # A sender needs the new message's id (to edit it later), as newsbot does.
                assert response.json()["result"]["message_id"]

        async def work() -> None:
            queue = payloads[::-1]
            await asyncio.gather(*(sender(queue) for _ in range(CONNECTIONS)))

        return await timed(len(payloads), work)


async def bench_telegram(chats: int, rounds: int) -> TelegramFigures:
    """newsbot on one fake, the bare bot and the raw client on another, the rounds of each
    interleaved (after one warm-up round each) so that a change in the machine's load falls
    on both alike."""
    figures = TelegramFigures()
    users = [FIRST_USER + i for i in range(chats)]
    async with FakeTelegram(token=TELEGRAM_TOKEN) as tg, FakeTelegram(token=TELEGRAM_TOKEN) as bare:
        for fake in (tg, bare):
            for uid in users:
                fake.user(uid, f"Person {uid}", language_code="de")
        os.environ["NEWSBOT_TELEGRAM_TOKEN"] = TELEGRAM_TOKEN
        os.environ["NEWSBOT_TELEGRAM_API_URL"] = tg.api_root
        try:
            async with running_app(bench_settings()) as app:
                await app.db.run(_subscribe_all, app, users)
                sends = CallCounter(tg)
                await deliver_round(app, tg, chats, 0)
                payloads = [p for m, p in tg.requests[sends.seen :] if m == "sendMessage"]
                posts = _posts(tg)
                await raw_posts(bare, payloads)
                bare_posts = _posts(bare)
                for number in range(1, rounds + 1):
                    figures.posts.append(await deliver_round(app, tg, chats, number))
                    figures.raw_posts.append(await raw_posts(bare, payloads))
                article = int(
                    payloads[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(
                        ":"
                    )[2]
                )
                async with BarePressBot(bare.api_root):
                    await press_round(tg, posts, article, len(OPTIONS))
                    await press_round(bare, bare_posts, article, len(OPTIONS))
                    for run in range(rounds):
                        figure, figures.calls_per_press = await press_round(
                            tg, posts, article, 1 + run
                        )
                        figures.presses.append(figure)
                        figure, figures.bare_calls_per_press = await press_round(
                            bare, bare_posts, article, 1 + run
                        )
                        figures.bare_presses.append(figure)
        finally:
            os.environ.pop("NEWSBOT_TELEGRAM_TOKEN", None)
    return figures
