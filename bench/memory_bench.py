"""Memory of `newsbot run` serving Telegram and Discord at once (the two fakes of tests/fakes
on 127.0.0.1) with a large store, after an article was fanned out to every subscribed chat;
beside a bare Python process that imports the same libraries.

Run: python -m bench.memory_bench            # 10k articles, 100k votes, 10k subscriptions
     python -m bench.memory_bench --full     # 100k articles, 1M votes, 100k subscriptions"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from bench.lag_archive import FANOUT_TAG, Archive, build_archive
from bench.platform_harness import TELEGRAM_TOKEN
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import ChatRef, NewArticle
from storage.store import Store
from tests.chaos.process import child_env
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 150.0
GUILD = 910_000_000_000_000_001
FIRST_CHANNEL = 910_000_000_000_100_000
DISCORD_CHANNELS = 50
# What `newsbot run` with both tokens imports from outside the project.
LIBRARIES = (
    "telegram, telegram.ext, telegram.request, tornado.web, discord, discord.app_commands,"
    " sqlite_utils, apscheduler.schedulers.asyncio, feedparser, httpx, aiohttp, pydantic,"
    " pydantic_settings, babel.dates"
)
RSS_OF_SELF = "print(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')))"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(field))
    return int(line.split()[1]) / 1024


def bare_rss_mb() -> float:
    out = subprocess.run(
        [sys.executable, "-c", f"import {LIBRARIES}; {RSS_OF_SELF}"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    return int(out.split()[1]) / 1024


def _fan_out(archive: Archive) -> int:
    """In this process, as a feed fetch of another worker would: Discord channels subscribed
    too, then the article that goes to every chat."""
    config = load_settings(demo=False).core_config()
    store = Store(archive.path)
    try:
        for i in range(DISCORD_CHANNELS):
            store.subscribe(ChatRef("discord", str(FIRST_CHANNEL + i)), [FANOUT_TAG], backlog=0)
        article = NewArticle(
            title="Neues Modell von xAI für alle",
            body="Ein kurzer Text über das Thema. Er hat zwei Sätze.",
            tags=(FANOUT_TAG,),
            language="de",
        )
        return store_article(store, config, article).deliveries
    finally:
        store.close()


async def measure(archive: Archive, bound: float, log: IO[bytes]) -> None:
    async with FakeTelegram(token=TELEGRAM_TOKEN) as tg, FakeDiscord() as dc:
        for chat_id in archive.subscriber_ids:
            tg.user(chat_id, f"Person {chat_id}", language_code="de")
        dc.add_user(GUILD + 1, "owner")
        dc.add_guild(GUILD, "Bench Guild", owner_id=GUILD + 1, locale="de")
        for i in range(DISCORD_CHANNELS):
            dc.add_channel(GUILD, FIRST_CHANNEL + i, f"news-{i}")
        # The highest pacing the settings allow: the fan-out is no subject here.
        pace = {
            "telegram_rate_overall": "1000",
            "telegram_rate_per_chat": "100",
            "discord_rate_overall": "45",
        }
        env = child_env(archive.path, telegram=tg, discord=dc, settings=pace)
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.chaos.launch", "run", cwd=ROOT, env=env,
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            await dc.wait_ready(timeout=60)
            await tg.wait_for(lambda: tg.calls("getUpdates"), 60, what="polling")
            started_rss = rss_mb(bot.pid)
            deliveries = await asyncio.to_thread(_fan_out, archive)
            start = time.perf_counter()
            telegram_chats = len(archive.subscriber_ids)
            deadline = start + bound
            while time.perf_counter() < deadline:
                sent = len(tg.all_messages())
                on_discord = sum(
                    1 for i in range(DISCORD_CHANNELS) if dc.messages(FIRST_CHANNEL + i)
                )
                if sent >= telegram_chats and on_discord >= DISCORD_CHANNELS:
                    break
                await asyncio.sleep(1.0)
            elapsed = time.perf_counter() - start
            after_rss, peak = rss_mb(bot.pid), rss_mb(bot.pid, "VmHWM")
        finally:
            bot.terminate()
            await asyncio.wait_for(bot.wait(), 60)
    bare = bare_rss_mb()
    verdict = "met" if peak < GOAL_MB else f"missed by {peak - GOAL_MB:.0f} MB"
    print(
        f"archive: {archive.articles:,} articles, {archive.votes:,} votes,"
        f" {archive.subscriptions:,} Telegram subscriptions, {DISCORD_CHANNELS} Discord channels"
    )
    print(
        f"fan-out: {deliveries:,} deliveries; {sent:,} Telegram and {on_discord} Discord posts"
        f" in {elapsed:.0f} s"
    )
    print(
        f"newsbot run (Telegram + Discord): {started_rss:.0f} MB at start, {after_rss:.0f} MB"
        f" after the fan-out, peak {peak:.0f} MB; bare python importing the same libraries"
        f" {bare:.0f} MB; ratio {peak / bare:.2f}x; goal peak < {GOAL_MB:g} MB: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    parser.add_argument("--bound", type=float, help="seconds the fan-out may take at most")
    args = parser.parse_args()
    scale = 1 if args.full else 10
    with tempfile.TemporaryDirectory() as tmp:
        archive = build_archive(
            Path(tmp) / "newsbot.db",
            articles=100_000 // scale,
            votes=1_000_000 // scale,
            subscriptions=100_000 // scale,
            seed=11,
        )
        with (Path(tmp) / "newsbot.log").open("wb") as log:
            asyncio.run(measure(archive, args.bound or (900.0 if args.full else 180.0), log))


if __name__ == "__main__":
    main()
