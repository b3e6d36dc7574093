"""Conditions the chaos tests wait for, cheap enough to be re-checked on every change of a fake
(thousands of requests per run): they look at what is new since they last looked."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.chaos.ledger import TITLE_RE, Pair, check_posts, platform_posts, votes
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram


class Arrivals:
    """How many calls of `method` the fake Telegram has received since this was made."""

    def __init__(self, tg: FakeTelegram, method: str = "sendMessage") -> None:
        self.tg = tg
        self.method = method.lower()
        self.cursor = len(tg.requests)
        self.seen = 0

    def count(self) -> int:
        new = self.tg.requests[self.cursor :]
        self.cursor += len(new)
        self.seen += sum(1 for method, _ in new if method.lower() == self.method)
        return self.seen


class Delivered:
    """Whether every expected post has arrived at least once, on Telegram (followed message
    by message) and Discord (recounted; its runs are small)."""

    def __init__(
        self,
        expected: Iterable[Pair],
        articles: dict[int, int],
        *,
        tg: FakeTelegram | None = None,
        dc: FakeDiscord | None = None,
    ) -> None:
        self.tg, self.dc, self.articles = tg, dc, articles
        self.missing_telegram = {pair for pair in expected if pair[0] == "telegram"}
        self.wanted_discord = {pair for pair in expected if pair[0] == "discord"}
        self.seen = 0

    def telegram(self) -> bool:
        if self.missing_telegram and self.tg is not None:
            new = self.tg.messages_sent_since(self.seen)
            self.seen += len(new)
            for record in new:
                match = TITLE_RE.search(str(record.get("text", "")))
                if match is not None and int(match[1]) in self.articles:
                    pair = ("telegram", str(record["chat_id"]), self.articles[int(match[1])])
                    self.missing_telegram.discard(pair)
        return not self.missing_telegram

    def discord_done(self) -> bool:
        if not self.wanted_discord:
            return True
        posts = platform_posts(self.articles, dc=self.dc)
        return check_posts(self.wanted_discord, posts).lost == 0

    async def wait(self, within: float) -> None:
        """Until every post is there; AssertionError (with the fake's summary) after
        `within` seconds for each platform."""
        if self.tg is not None:
            await self.tg.wait_for(self.telegram, within, what="every post on Telegram")
        if self.dc is not None:
            await self.dc.wait_for(self.discord_done, within, what="every post on Discord")


class Counted:
    """Whether the votes table holds at least `want` votes of Telegram people for an article;
    looked up again only when the fake has answered another press (the vote is stored first)."""

    def __init__(self, tg: FakeTelegram, db: Path, article_id: int, want: int) -> None:
        self.tg, self.db, self.article_id, self.want = tg, db, article_id, want
        self.answers = -1
        self.done = want == 0

    def __call__(self) -> bool:
        if self.done or len(self.tg.callback_answers) == self.answers:
            return self.done
        self.answers = len(self.tg.callback_answers)
        self.done = len(votes(self.db, self.article_id)) >= self.want
        return self.done
