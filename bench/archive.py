"""A realistic generated archive for benchmarks: German and English articles over a Zipf
vocabulary with compounds, 2,000 tags of Zipf popularity, votes from many people, chats with
subscriptions, posts, sources and audit entries, written through the real Store.

    build_archive(path, articles=10_000, votes=1_000_000, subscriptions=100_000, seed=1)

The database is built once per size and seed and kept under bench/.cache/ (gitignored); later
calls copy it. Run `python -m bench.archive --articles N` to build one and print its figures."""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.ingest import store_article
from bot.settings import load_settings
from storage import schema as schema_module
from storage.connection import known_migrations
from storage.db import to_ts
from storage.models import ChatRef, MessageRef, NewArticle
from storage.moderation import Moderation
from storage.store import Store

CACHE = Path(__file__).resolve().parent / ".cache"
# Bump when the generator changes what it writes: cached archives are rebuilt.
GENERATOR_VERSION = 1
VOCABULARY = 40_000  # generated words per language, besides the function words
TAGS = 2_000
PEOPLE = 200_000
START = datetime(2024, 1, 1, tzinfo=UTC)

_FUNCTION_WORDS = {
    "de": [
        "der",
        "die",
        "und",
        "in",
        "den",
        "von",
        "zu",
        "das",
        "mit",
        "sich",
        "des",
        "auf",
        "für",
        "ist",
        "im",
        "dem",
        "nicht",
        "ein",
        "eine",
        "als",
        "auch",
        "es",
        "an",
        "werden",
        "aus",
        "er",
        "hat",
        "dass",
        "sie",
        "nach",
        "wird",
        "bei",
        "einer",
        "um",
        "am",
        "sind",
        "noch",
        "wie",
        "einem",
        "über",
        "einen",
        "so",
        "zum",
        "war",
        "haben",
        "nur",
        "oder",
        "aber",
        "vor",
        "zur",
        "bis",
        "mehr",
        "durch",
        "man",
        "sein",
        "wurde",
        "sei",
    ],
    "en": [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "they",
        "you",
        "were",
        "her",
        "she",
        "there",
        "been",
        "one",
        "all",
        "we",
        "their",
        "has",
        "would",
        "when",
        "who",
        "will",
        "more",
        "no",
        "if",
        "out",
        "so",
        "said",
        "what",
        "up",
        "its",
        "about",
        "into",
        "than",
        "them",
        "can",
        "only",
        "other",
    ],
}
_SYLLABLES = {
    "de": (
        [
            "b",
            "d",
            "f",
            "g",
            "h",
            "k",
            "l",
            "m",
            "n",
            "p",
            "r",
            "s",
            "t",
            "w",
            "z",
            "sch",
            "st",
            "sp",
            "br",
            "gr",
            "kr",
            "tr",
            "pf",
            "fl",
            "bl",
            "schr",
            "str",
        ],
        ["a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au", "ie", "eu"],
        ["", "", "n", "r", "l", "s", "t", "ch", "ng", "nd", "rt", "st", "ck", "m", "ft"],
        ["", "", "", "en", "er", "ung", "keit", "lich", "isch", "heit", "en", "e"],
    ),
    "en": (
        [
            "b",
            "c",
            "d",
            "f",
            "g",
            "h",
            "j",
            "l",
            "m",
            "n",
            "p",
            "r",
            "s",
            "t",
            "v",
            "w",
            "br",
            "cr",
            "dr",
            "fl",
            "gr",
            "pl",
            "pr",
            "sh",
            "st",
            "str",
            "th",
            "tr",
        ],
        ["a", "e", "i", "o", "u", "ea", "oo", "ou", "ai", "ee"],
        ["", "", "n", "r", "t", "s", "ck", "ng", "nd", "st", "th", "ll", "m", "x"],
        ["", "", "", "ing", "ed", "s", "tion", "er", "ly", "ment", "ness", "al"],
    ),
}


@dataclass(frozen=True, slots=True)
class Zipf:
    """Draws items with probability proportional to 1 / rank^s."""

    items: Sequence[str]
    cumulative: Sequence[float]

    @classmethod
    def over(cls, items: Sequence[str], s: float = 1.07) -> Zipf:
        return cls(items, list(itertools.accumulate(1 / (r**s) for r in range(1, len(items) + 1))))

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.items, cum_weights=self.cumulative, k=k)

    def one(self, rng: random.Random) -> str:
        x = rng.random() * self.cumulative[-1]
        return self.items[bisect.bisect(self.cumulative, x)]


def _made_up_words(language: str, count: int, rng: random.Random) -> list[str]:
    onsets, nuclei, codas, endings = _SYLLABLES[language]
    words: dict[str, None] = {}
    while len(words) < count:
        syllables = rng.choices((1, 2, 3, 4), weights=(5, 6, 2, 0.5))[0]
        word = "".join(
            rng.choice(onsets) + rng.choice(nuclei) + rng.choice(codas) for _ in range(syllables)
        )
        word += rng.choice(endings)
        if len(word) > 2 and word not in _FUNCTION_WORDS[language]:
            words[word] = None
    return list(words)


class Writer:
    """Sentences in one language: function words and made-up words by Zipf rank; in German,
    capitalised nouns and compounds of two of them, as news writes them."""

    def __init__(self, language: str, rng: random.Random) -> None:
        self.language = language
        self.rng = rng
        made_up = _made_up_words(language, VOCABULARY, rng)
        rng.shuffle(made_up)
        self.content = Zipf.over(made_up)
        self.all = Zipf.over(_FUNCTION_WORDS[language][:20] + made_up, s=1.0)

    def word(self) -> str:
        word = self.all.one(self.rng)
        noun = self.language == "de" and word not in _FUNCTION_WORDS["de"]
        if noun and self.rng.random() < 0.35:
            if self.rng.random() < 0.3:  # a compound: Rechen+zentrum
                word = word + self.content.one(self.rng)
            word = word.capitalize()
        return word

    def sentence(self, low: int = 7, high: int = 22) -> str:
        words = [self.word() for _ in range(self.rng.randint(low, high))]
        if self.rng.random() < 0.2:
            words.insert(self.rng.randrange(len(words)), str(self.rng.randint(2, 2_000_000)))
        return words[0].capitalize() + " " + " ".join(words[1:]) + self.rng.choice(".....!?")

    def title(self) -> str:
        words = [self.content.one(self.rng) for _ in range(self.rng.randint(3, 8))]
        return " ".join(
            w.capitalize() if self.language == "de" or i == 0 else w for i, w in enumerate(words)
        )

    def body(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(4, 12)))


def _tag_names(writers: dict[str, Writer], rng: random.Random) -> list[str]:
    names: dict[str, None] = dict.fromkeys(["xAI", "OpenAI", "Microsoft", "Künstliche Intelligenz"])
    while len(names) < TAGS:
        writer = writers[rng.choice(("de", "de", "en"))]
        words = [writer.content.one(rng).capitalize() for _ in range(rng.choice((1, 1, 1, 2)))]
        names[" ".join(words)] = None
    return list(names)


def _articles(count: int, rng: random.Random) -> Iterator[NewArticle]:
    writers = {language: Writer(language, rng) for language in ("de", "en")}
    tags = Zipf.over(_tag_names(writers, rng), s=1.0)
    for number in range(count):
        language = "en" if number % 3 == 0 else "de"
        writer = writers[language]
        chosen = dict.fromkeys(
            tags.draw(rng, rng.choices(range(1, 9), (2, 5, 5, 3, 2, 1, 1, 1))[0])
        )
        yield NewArticle(
            title=writer.title(),
            body=writer.body(),
            tags=tuple(chosen),
            url=f"https://news.example/{language}/{number}",
            guid=f"archive-{number}",
            published=START + timedelta(minutes=10 * number),
            language=language,
            source="feed",
        )


class _Clock:
    """The store's clock during the build: ten minutes per article, so dates spread."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _person(number: int) -> tuple[str, str]:
    return (
        ("telegram", str(10_000 + number)) if number % 4 else ("discord", str(9 * 10**17 + number))
    )


def _write_articles(store: Store, count: int, rng: random.Random, clock: _Clock) -> list[int]:
    config = load_settings(demo=False).core_config()
    ids: list[int] = []
    batch = 2_000
    articles = _articles(count, rng)
    while len(ids) < count:
        with store.engine.write():
            for new in itertools.islice(articles, batch):
                clock.now = new.published or clock.now
                report = store_article(store, config, new, deliver=False)
                ids += [a.id for a in report.new]
    return ids


def _write_votes(store: Store, ids: list[int], votes: int, rng: random.Random) -> None:
    """Votes from many people: a Zipf share per article, each person once per article, the
    option around the article's own quality. Inserted in batches inside one write; the
    votes table's triggers (or the recount below) keep the counts."""
    order = ids[:]
    rng.shuffle(order)
    per_article = [0] * len(order)
    cumulative = list(itertools.accumulate(1 / (r**0.8) for r in range(1, len(order) + 1)))
    for index in rng.choices(range(len(order)), cum_weights=cumulative, k=votes):
        per_article[index] += 1
    options = 5
    stamp = to_ts(START)
    with store.engine.write():
        for article_id, n in zip(order, per_article, strict=True):
            if not n:
                continue
            quality = rng.uniform(1, options)
            rows = []
            for person in rng.sample(range(PEOPLE), min(n, PEOPLE)):
                platform, user_id = _person(person)
                position = min(options, max(1, round(rng.gauss(quality, 1.0))))
                rows.append((article_id, platform, user_id, position, stamp))
            store.engine.executemany(
                "INSERT INTO votes (article_id, platform, user_id, position, voted_at)"
                " VALUES (?,?,?,?,?)",
                rows,
            )
        store.polls_changed(ids)


def _write_subscriptions(store: Store, subscriptions: int, rng: random.Random) -> list[ChatRef]:
    names = [r[0] for r in store.engine.execute("SELECT name FROM tags ORDER BY id")]
    tags = Zipf.over(names, s=1.0)
    chats: list[ChatRef] = []
    written = 0
    with store.engine.write():
        while written < subscriptions:
            platform = "telegram" if len(chats) % 4 else "discord"
            chat = ChatRef(platform, str(-100_000_000 - len(chats)))
            wanted = ["*"] if rng.random() < 0.02 else tags.draw(rng, rng.randint(1, 5))
            result = store.subscribe(chat, wanted[: subscriptions - written], backlog=0)
            written += len(result.added)
            chats.append(chat)
    return chats


def _write_posts(store: Store, ids: list[int], chats: list[ChatRef], rng: random.Random) -> None:
    """One post per article, in a subscribed chat, showing its poll's current counts."""
    with store.engine.write():
        for number, article_id in enumerate(ids):
            chat = rng.choice(chats)
            poll = store.get_poll(article_id)
            store.record_post(
                article_id, MessageRef(chat, str(number + 1)), poll.version if poll else 0, "de"
            )


def _write_rest(store: Store, ids: list[int], chats: list[ChatRef], rng: random.Random) -> None:
    """Sources, audit entries and a few removed articles."""
    mod = Moderation(store)
    with store.engine.write():
        for number in range(100):
            store.add_feed(
                f"https://feeds{number % 25}.example/{number}.xml",
                "feed",
                interval_seconds=900,
                tags=("xAI",) if number % 5 == 0 else (),
            )
        for number in range(max(100, len(ids) // 10)):
            chat = rng.choice(chats)
            store.audit(
                platform=chat.platform,
                chat_id=chat.chat_id,
                actor=":".join(_person(rng.randrange(PEOPLE))),
                action=rng.choice(("ban", "warn", "mute", "remove", "subscribe")),
                target=f"#{rng.choice(ids)}",
                reason=f"reason {number}",
            )
        for article_id in rng.sample(ids, max(1, len(ids) // 100)):
            mod.set_removed(article_id, True, "bench")


def cache_path(articles: int, votes: int, subscriptions: int, seed: int) -> Path:
    # The migrations' names and source: an archive written by other triggers is rebuilt.
    source = Path(schema_module.__file__ or "").read_bytes()
    schema = hashlib.sha256(" ".join(known_migrations()).encode() + source).hexdigest()[:10]
    name = f"archive-a{articles}-v{votes}-s{subscriptions}-seed{seed}-g{GENERATOR_VERSION}-{schema}"
    return CACHE / f"{name}.db"


def build_archive(
    path: str | Path,
    *,
    articles: int = 10_000,
    votes: int = 1_000_000,
    subscriptions: int = 100_000,
    seed: int = 1,
) -> Path:
    """Write a generated archive of this size to `path` (a copy of the cached one when it
    exists) and return `path`. The same size and seed always give the same archive."""
    cached = cache_path(articles, votes, subscriptions, seed)
    if not cached.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        for leftover in CACHE.glob(partial.name + "*"):
            leftover.unlink()
        _generate(partial, articles, votes, subscriptions, seed)
        partial.rename(cached)
    target = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cached, target)
    return target


def _generate(path: Path, articles: int, votes: int, subscriptions: int, seed: int) -> None:
    rng = random.Random(seed)
    clock = _Clock()
    store = Store(path, clock=clock, synchronous="OFF")
    try:
        store.migrate()
        ids = _write_articles(store, articles, rng, clock)
        chats = _write_subscriptions(store, subscriptions, rng)
        _write_votes(store, ids, votes, rng)
        _write_posts(store, ids, chats, rng)
        _write_rest(store, ids, chats, rng)
        store.engine.execute("PRAGMA optimize")
        store.engine.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.engine.execute("PRAGMA journal_mode = DELETE")
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="/tmp/newsbot-archive.db")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path = build_archive(
        args.out,
        articles=args.articles,
        votes=args.votes,
        subscriptions=args.subscriptions,
        seed=args.seed,
    )
    took = time.perf_counter() - started
    conn = sqlite3.connect(path)
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in (
            "articles",
            "tags",
            "article_tags",
            "votes",
            "subscriptions",
            "posts",
            "audit_log",
            "feeds",
        )
    }
    words = conn.execute("SELECT count(*) FROM article_fts_terms").fetchone()[0]
    conn.close()
    print(
        f"{path} in {took:.1f} s ({path.stat().st_size / 1e6:.0f} MB): {counts},"
        f" {words} distinct indexed words"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
