"""Platform benchmarks: Telegram presses, Discord presses and Telegram deliveries through the
real adapters against the fakes of tests/fakes on 127.0.0.1, each beside a bare library bot
(or raw HTTP) making the same calls to the same fake in the same run; medians of 3 rounds.
Run: python -m bench.platform_bench [--chats N] [--rounds N] [--only telegram|discord]."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from bench.platform_harness import bot_environment, ratio_lines


async def run(args: argparse.Namespace) -> None:
    if args.only in (None, "telegram"):
        from bench.platform_telegram import bench_telegram

        with tempfile.TemporaryDirectory() as tmp, bot_environment(Path(tmp)):
            tg = await bench_telegram(args.chats, args.rounds)
        print(ratio_lines("Telegram presses", tg.presses, tg.bare_presses, "presses/s", 0.95))
        print(f"  calls per press: newsbot {tg.calls_per_press}, bare {tg.bare_calls_per_press}")
        print(ratio_lines("Telegram deliveries", tg.posts, tg.raw_posts, "posts/s", 0.95))
    if args.only in (None, "discord"):
        from bench.platform_discord import bench_discord

        with tempfile.TemporaryDirectory() as tmp, bot_environment(Path(tmp)):
            dc = await bench_discord(args.chats, args.rounds)
        print(ratio_lines("Discord presses", dc.presses, dc.bare_presses, "presses/s", 0.9))
        print(f"  calls per press: newsbot {dc.calls_per_press}, bare {dc.bare_calls_per_press}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=500, help="posts pressed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["telegram", "discord"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
