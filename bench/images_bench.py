"""CPU per delivery with a lead image against without: newsbot as `newsbot run` wires it, on the
fake Bot API, each article posted to many chats; the image (a real PNG) is served from
127.0.0.1 and checked once per article. Rounds with and without a picture interleave.
Run: python -m bench.images_bench [--chats 300] [--rounds 5]."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from pathlib import Path

from bench.platform_harness import (
    TELEGRAM_TOKEN,
    Timed,
    bench_settings,
    bot_environment,
    running_app,
    timed,
)
from bench.platform_telegram import CallCounter
from bot.app import App
from bot.ingest import store_article
from storage.models import ChatRef, NewArticle
from tests.fakes.telegram_api import FakeTelegram
from tests.image_server import Images, image_server

FIRST_USER = 500_000
BOUND = 120.0  # seconds any one round may take before the bench gives up


async def deliver_round(
    app: App, tg: FakeTelegram, chats: int, number: int, image: str | None
) -> Timed:
    """A new article for every subscribed chat, timed from the outbox worker's wake-up until
    the last post arrived (with a picture: its one check included)."""
    article = NewArticle(
        title=f"Neues Modell von xAI, Teil {number}",
        body="Ein kurzer Text über das Thema. Er hat zwei Sätze.",
        tags=("xAI",),
        language="de",
        image=image,
    )
    await app.db.run(store_article, app.store, app.runtime.ctx.config, article)
    counter = CallCounter(tg)
    method = "sendPhoto" if image else "sendMessage"

    async def work() -> None:
        app.runtime.wake()
        await tg.wait_for(lambda: counter.total(method) >= chats, BOUND, what="posts")

    return await timed(chats, work)


def _subscribe_all(app: App, users: list[int]) -> None:
    for uid in users:
        app.store.subscribe(ChatRef("telegram", str(uid)), ["xAI"], backlog=0)


async def bench(chats: int, rounds: int, images: Images) -> tuple[list[Timed], list[Timed]]:
    users = [FIRST_USER + i for i in range(chats)]
    plain: list[Timed] = []
    pictured: list[Timed] = []
    async with FakeTelegram(token=TELEGRAM_TOKEN) as tg:
        for uid in users:
            tg.user(uid, f"Person {uid}", language_code="de")
        os.environ["NEWSBOT_TELEGRAM_TOKEN"] = TELEGRAM_TOKEN
        os.environ["NEWSBOT_TELEGRAM_API_URL"] = tg.api_root
        try:
            async with running_app(bench_settings()) as app:
                await app.db.run(_subscribe_all, app, users)
                # Warm-up, one of each.
                await deliver_round(app, tg, chats, 0, None)
                await deliver_round(app, tg, chats, 1, images.url("photo.png?warm"))
                for number in range(rounds):
                    plain.append(await deliver_round(app, tg, chats, 10 + 2 * number, None))
                    # A new URL each round: every article's picture is checked (once).
                    url = images.url(f"photo.png?round={number}")
                    pictured.append(await deliver_round(app, tg, chats, 11 + 2 * number, url))
        finally:
            os.environ.pop("NEWSBOT_TELEGRAM_TOKEN", None)
    assert images.hits["/photo.png"] == rounds + 1, images.hits
    return plain, pictured


async def run(chats: int, rounds: int) -> None:
    async with image_server() as images:
        plain, pictured = await bench(chats, rounds, images)
    cpu, cpu_images = (statistics.median(t.cpu_ms for t in r) for r in (plain, pictured))
    rate, rate_images = (statistics.median(t.rate for t in r) for r in (plain, pictured))
    more = cpu_images / cpu - 1
    verdict = "met" if more < 0.20 else "missed"
    print(
        f"{chats} chats, {rounds} rounds each; CPU per delivery (all threads, fake included):"
        f" text {cpu:.2f} ms (runs {', '.join(f'{t.cpu_ms:.2f}' for t in plain)}),"
        f" with a picture {cpu_images:.2f} ms (runs"
        f" {', '.join(f'{t.cpu_ms:.2f}' for t in pictured)}): {more:+.0%}, goal < +20%: {verdict}"
    )
    print(f"  posts/s by the clock: text {rate:,.0f}, with a picture {rate_images:,.0f}")
    print(f"  picture checks: {images.hits['/photo.png']} for {(rounds + 1) * chats} photo posts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        bot_environment(Path(tmp), NEWSBOT_ALLOW_PRIVATE_FEEDS="true"),
    ):
        asyncio.run(run(args.chats, args.rounds))


if __name__ == "__main__":
    main()
