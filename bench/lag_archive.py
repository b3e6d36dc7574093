"""A simple archive for the loop-lag and memory benchmarks: articles with a varied vocabulary,
votes and subscriptions, written through the Store (so every maintained count and index is
as the bot keeps it). A stand-in with the shape of bench/archive.py's `build_archive`, which
replaces it at the merge: the benchmarks import it from here only."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import ChatRef, NewArticle, UserRef
from storage.store import Store

FANOUT_TAG = "xAI"  # every subscription's tag: an article with it goes to every chat
SUBSCRIBER_BASE = 700_000_000  # Telegram chat ids of the subscribed chats
_SYLLABLES = [
    *[
        "ba",
        "be",
        "bi",
        "bo",
        "bu",
        "da",
        "de",
        "di",
        "do",
        "du",
        "ka",
        "ke",
        "ki",
        "ko",
        "ku",
        "la",
        "le",
        "li",
        "lo",
        "lu",
        "ma",
        "me",
        "mi",
        "mo",
        "mu",
    ],
    *[
        "na",
        "ne",
        "ni",
        "no",
        "nu",
        "ra",
        "re",
        "ri",
        "ro",
        "ru",
        "sa",
        "se",
        "si",
        "so",
        "su",
        "ta",
        "te",
        "ti",
        "to",
        "tu",
        "va",
        "ve",
        "vi",
        "vo",
        "vu",
    ],
    *[
        "za",
        "ze",
        "zi",
        "zo",
        "zu",
        "sch",
        "st",
        "tr",
        "pl",
        "kr",
        "gr",
        "br",
        "fl",
        "ch",
        "ein",
        "aus",
        "ung",
        "keit",
        "heit",
        "lich",
        "isch",
    ],
    *["er", "en", "an", "in", "on", "ar", "or", "ur", "ent", "ver"],
]


@dataclass(frozen=True)
class Archive:
    path: Path
    articles: int
    votes: int
    subscriptions: int
    subscriber_ids: range  # Telegram chat ids subscribed to FANOUT_TAG
    vocabulary: tuple[str, ...]  # words, most frequent first (for queries)


def _vocabulary(rng: random.Random, size: int) -> tuple[str, ...]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return tuple(sorted(words, key=lambda w: rng.random()))


def _zipf_pick(rng: random.Random, words: tuple[str, ...], count: int) -> list[str]:
    # A long tail: low ranks are common, most words rare, as in any archive.
    n = len(words)
    return [words[min(int(n * rng.random() ** 3), n - 1)] for _ in range(count)]


def build_archive(
    path: Path, *, articles: int, votes: int, subscriptions: int, seed: int = 11
) -> Archive:
    """A fresh database at `path` with `articles` articles (1-3 of 300 tags, German and
    English), `votes` votes spread over them, and `subscriptions` Telegram chats subscribed to
    FANOUT_TAG."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 20_000)
    tags = [w.capitalize() for w in words[:300]]
    config = load_settings(demo=False).core_config()
    store = Store(path)
    store.migrate()
    ids: list[int] = []
    with store.engine.write():
        for i in range(articles):
            title = " ".join(_zipf_pick(rng, words, rng.randint(4, 9))).capitalize()
            body = ". ".join(
                " ".join(_zipf_pick(rng, words, rng.randint(6, 14))).capitalize()
                for _ in range(rng.randint(3, 8))
            )
            article = NewArticle(
                title=f"{title} {i}",
                body=body + ".",
                tags=tuple(rng.sample(tags, rng.randint(1, 3))),
                url=f"https://news.example.com/{i}",
                language="de" if rng.random() < 0.66 else "en",
            )
            report = store_article(store, config, article, deliver=False)
            ids.extend(a.id for a in report.new)
        for v in range(votes):
            # Popular articles get most votes; one person votes on many.
            article_id = ids[min(int(len(ids) * rng.random() ** 2), len(ids) - 1)]
            person = UserRef("telegram", str(rng.randint(1, max(votes // 8, 1))))
            store.cast_vote(article_id, person, 1 + v % 5)
        subscribers = range(SUBSCRIBER_BASE, SUBSCRIBER_BASE + subscriptions)
        for chat_id in subscribers:
            store.subscribe(ChatRef("telegram", str(chat_id)), [FANOUT_TAG], backlog=0)
    store.close()
    return Archive(path, articles, votes, subscriptions, subscribers, words)
