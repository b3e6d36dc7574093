"""The load of bench.loop_lag_bench, in a process of its own so that its work never lands on
the bot's event loop: the fake Telegram Bot API, presses at a steady rate on the posts as they
arrive, and one person running /tags, /top, /search, /ask and /stats one after another.

Run by loop_lag_bench: `python -m bench.lag_load FIRST_CHAT CHATS RATE WORDS`; it prints one
JSON line with the fake's address, starts the load on "go", stops it on "mark" and prints one
JSON line of counts, and ends on "stop" (stdin), serving the bot until it has stopped."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys

from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:BENCH-telegram-token_4711"
COMMANDER = 42  # the person running commands, in their private chat
TICK = 0.02  # seconds between batches of presses


class Load:
    def __init__(self, tg: FakeTelegram, rate: float, words: list[str]) -> None:
        self.tg = tg
        self.rate = rate
        self.words = words
        self.posts: list[tuple[int, int, int]] = []  # (chat, message id, article)
        self.presses = 0
        self.commands = 0
        self.seen_requests = 0
        self.counts: dict[str, int] = {}
        self.replies_to_commander = 0

    def scan(self) -> None:
        """Read what the bot did since the last look: each record once."""
        for record in self.tg.messages_sent_since(len(self.posts) + self.replies_to_commander):
            chat = int(record["chat_id"])
            if chat == COMMANDER:
                self.replies_to_commander += 1
                continue
            data = record.get("reply_markup", {}).get("inline_keyboard", [[{}]])[0][0]
            article = int(str(data.get("callback_data", "nb:vote:0:1")).split(":")[2])
            self.posts.append((chat, int(record["message_id"]), article))
        requests = self.tg.requests
        for method, _ in itertools.islice(requests, self.seen_requests, None):
            self.counts[method] = self.counts.get(method, 0) + 1
        self.seen_requests = len(requests)

    async def press(self, stop: asyncio.Event) -> None:
        rng = random.Random(5)
        per_tick = max(1, round(self.rate * TICK))
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not stop.is_set():
            self.scan()
            if self.posts:
                for _ in range(per_tick):
                    chat, message_id, article = rng.choice(self.posts)
                    option = rng.randint(1, 5)
                    self.tg.press(chat, chat, message_id, f"nb:vote:{article}:{option}")
                    self.presses += 1
            next_tick += TICK
            await asyncio.sleep(max(0.0, next_tick - loop.time()))

    async def command(self, stop: asyncio.Event) -> None:
        rng = random.Random(7)
        common = self.words[:200]
        while not stop.is_set():
            for text in (
                "/tags",
                "/top",
                f"/search {rng.choice(common)}",
                f"/ask {' '.join(rng.sample(common, 3))}?",
                "/stats",
            ):
                before = self.replies_to_commander
                self.tg.send_text(COMMANDER, COMMANDER, text)
                deadline = asyncio.get_running_loop().time() + 30
                while self.replies_to_commander <= before and not stop.is_set():
                    if asyncio.get_running_loop().time() > deadline:
                        break
                    await asyncio.sleep(0.005)
                    self.scan()
                self.commands += 1


async def main(first_chat: int, chats: int, rate: float, words: list[str]) -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        for chat_id in range(first_chat, first_chat + chats):
            tg.user(chat_id, f"Person {chat_id}", language_code="de")
        tg.user(COMMANDER, "Commander", language_code="de")
        print(json.dumps({"api_root": tg.api_root}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        assert (await reader.readline()).strip() == b"go"
        stop = asyncio.Event()
        load = Load(tg, rate, words)
        tasks = [asyncio.create_task(load.press(stop)), asyncio.create_task(load.command(stop))]
        await reader.readline()  # "mark": the measured window is over
        stop.set()
        await asyncio.gather(*tasks)
        load.scan()
        report = {
            "presses": load.presses,
            "commands": load.commands,
            "posts": len(load.posts),
            "answers": load.counts.get("answerCallbackQuery", 0),
            "edits": load.counts.get("editMessageReplyMarkup", 0)
            + load.counts.get("editMessageText", 0),
            "sends": load.counts.get("sendMessage", 0),
        }
        print(json.dumps(report), flush=True)
        await reader.readline()  # "stop" (the bot has stopped), or the end of stdin


if __name__ == "__main__":
    first, count, per_second = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    asyncio.run(main(first, count, per_second, sys.argv[4].split(",")))
