"""What a chaos run left behind, read back: the posts each chat got on the fake platforms, and
the outbox, votes, counters and integrity of the database."""

from __future__ import annotations

import collections
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram

# (platform, chat id, article id): one post of one article in one chat.
Pair = tuple[str, str, int]
TITLE_RE = re.compile(r"Chaostest (\d{4}) meldet")
# What a traceback looks like wherever it ends up: the header, or a frame line.
TRACEBACK_RE = re.compile(r'Traceback \(most recent call last\)|File "[^"]+", line \d+')


def title(number: int) -> str:
    """An article's title; the number finds the article in any rendering of the post."""
    return f"Chaostest {number:04d} meldet"


@contextmanager
def reading(db: Path) -> Iterator[sqlite3.Connection]:
    # Read-only: looking must not change what is looked at (no checkpoint on close).
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        yield conn


# -- the platforms -----------------------------------------------------------------------------


def _article_in(text: str, articles: dict[int, int]) -> int | None:
    match = TITLE_RE.search(text)
    return None if match is None else articles.get(int(match[1]))


def platform_posts(
    articles: dict[int, int], tg: FakeTelegram | None = None, dc: FakeDiscord | None = None
) -> collections.Counter[Pair]:
    """How often each chat shows each article (`articles`: title number -> article id)."""
    posts: collections.Counter[Pair] = collections.Counter()
    if tg is not None:
        for record in tg.all_messages():
            article = _article_in(str(record.get("text", "")), articles)
            if article is not None and not record.get("deleted"):
                posts[("telegram", str(record["chat_id"]), article)] += 1
    if dc is not None:
        for channel in list(dc.channels):
            for message in dc.messages(channel):
                if message.author_id != dc.bot_id or message.deleted or message.interaction_id:
                    continue
                text = message.content + json.dumps(message.embeds, ensure_ascii=False)
                article = _article_in(text, articles)
                if article is not None:
                    posts[("discord", str(channel), article)] += 1
    return posts


def person_visible(tg: FakeTelegram | None = None, dc: FakeDiscord | None = None) -> list[str]:
    """Everything the bot showed people: messages, edits, answers to presses and queries."""
    seen: list[str] = []
    if tg is not None:
        seen += [str(record.get("text", "")) for record in tg.all_messages()]
        seen += [str(answer.get("text", "")) for answer in tg.callback_answers.values()]
        seen += [json.dumps(answer, default=str) for answer in tg.inline_answers.values()]
    if dc is not None:
        for channel in list(dc.channels):
            for message in dc.messages(channel):
                seen.append(message.content + json.dumps(message.embeds, ensure_ascii=False))
        for record in dc.requests:
            if record.name.endswith("interaction_response") or "webhook" in record.name:
                seen.append(json.dumps(record.body, default=str))
    return seen


def tracebacks_shown(tg: FakeTelegram | None = None, dc: FakeDiscord | None = None) -> list[str]:
    return [text[:300] for text in person_visible(tg, dc) if TRACEBACK_RE.search(text)]


# -- the database ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outbox:
    statuses: dict[str, int]
    sent: frozenset[Pair]
    pending: int  # waiting to be claimed
    claimed: int  # claimed by a process ('sending'), alive or not


def outbox(db: Path) -> Outbox:
    with reading(db) as conn:
        rows = conn.execute("SELECT article_id, platform, chat_id, status FROM deliveries")
        statuses: collections.Counter[str] = collections.Counter()
        sent: set[Pair] = set()
        for article_id, platform, chat_id, status in rows:
            statuses[status] += 1
            if status == "sent":
                sent.add((platform, str(chat_id), int(article_id)))
    return Outbox(dict(statuses), frozenset(sent), statuses["pending"], statuses["sending"])


def votes(db: Path, article_id: int, platform: str = "telegram") -> dict[str, int]:
    """Who has a vote on the article, and for which option."""
    with reading(db) as conn:
        rows = conn.execute(
            "SELECT user_id, position FROM votes WHERE article_id = ? AND platform = ?",
            (article_id, platform),
        )
        return {str(user): int(position) for user, position in rows}


def counter_mismatches(db: Path) -> list[str]:
    """Poll options whose stored count differs from the votes behind it."""
    with reading(db) as conn:
        rows = conn.execute(
            "SELECT o.article_id, o.position, o.votes, (SELECT count(*) FROM votes v"
            " WHERE v.article_id = o.article_id AND v.position = o.position) FROM poll_options o"
        ).fetchall()
    return [f"article {a} option {p}: shows {n}, {m} votes" for a, p, n, m in rows if n != m]


def empty_wal(db: Path) -> None:
    """Checkpoint the write-ahead log into the database and cut it to nothing: from here on,
    every write of the bot makes the log grow again."""
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "the write-ahead log could not be emptied (a reader held it)"


def integrity(db: Path) -> str:
    with reading(db) as conn:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))


# -- judging a run -----------------------------------------------------------------------------


@dataclass
class PostCheck:
    """Posts against what the subscriptions promised."""

    expected: int
    received: int  # distinct (chat, article) pairs that arrived
    lost: int
    doubled: int  # copies beyond the first
    doubled_pairs: set[Pair] = field(default_factory=set)
    lost_pairs: set[Pair] = field(default_factory=set)


def check_posts(expected: Iterable[Pair], posts: collections.Counter[Pair]) -> PostCheck:
    wanted = set(expected)
    lost = {pair for pair in wanted if posts[pair] == 0}
    doubled = {pair for pair, n in posts.items() if n > 1}
    return PostCheck(
        expected=len(wanted),
        received=len(wanted) - len(lost),
        lost=len(lost),
        doubled=sum(posts[pair] - 1 for pair in doubled),
        doubled_pairs=doubled,
        lost_pairs=lost,
    )


def unrecorded(posts: collections.Counter[Pair], box: Outbox) -> collections.Counter[Pair]:
    """Posts the platform shows that the outbox does not know were sent: after a kill, the
    sends that were in flight. Each may be sent again, and only these may be doubled."""
    extra: collections.Counter[Pair] = collections.Counter()
    for pair, n in posts.items():
        unknown = n - (1 if pair in box.sent else 0)
        if unknown > 0:
            extra[pair] = unknown
    return extra


@dataclass
class PressCheck:
    sent: int
    counted: int  # a vote for the option pressed
    refused: int  # not counted, but the person was told (an answer that is not the vote's)
    lost: int  # not counted, and no answer either
    wrong: int  # counted for another option


def check_presses(
    pressed: dict[str, int], counted: dict[str, int], answered: set[str]
) -> PressCheck:
    """`pressed`: person -> option; `counted`: the votes table; `answered`: the people whose
    press got an answer (for those whose press was not counted)."""
    ok = sum(1 for user, option in pressed.items() if counted.get(user) == option)
    wrong = sum(1 for user, option in pressed.items() if counted.get(user) not in (None, option))
    missing = [user for user in pressed if user not in counted]
    refused = sum(1 for user in missing if user in answered)
    return PressCheck(len(pressed), ok, refused, len(missing) - refused, wrong)
