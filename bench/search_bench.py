"""Benchmark of /search and /ask at 1k, 10k and 100k articles, through the real handlers, beside
a raw FTS5 bm25 top-k query over the same index measured in the same run.

Run: python -m bench.search_bench [--sizes 1000,10000,100000] [--repeat 3]

Each query runs `--repeat` times; a query's figure is the median of its CPU times (process
time, so that other work on a shared machine counts less), and p50/p99 are taken over queries.
The baseline is what the index alone costs for the same words: `SELECT rowid, bm25(...) FROM
article_fts WHERE article_fts MATCH <the command's own expression> ORDER BY bm25 LIMIT k` (k=10
with every word for /search, k=20 with any word for /ask), no join, no snippet, no ranking."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.article_input import parse_any
from bot.ingest import store_article
from bot.settings import load_settings
from handlers import dispatch
from handlers.answers.compounds import with_compound_parts
from handlers.answers.retrieval import CANDIDATES
from handlers.answers.words import query_words
from handlers.context import CoreConfig, Ctx
from handlers.events import Command
from storage.models import ChatRef, NewArticle, UserRef
from storage.search import fts_query
from storage.store import Store

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CHAT = ChatRef("console", "bench")
USER = UserRef("console", "bench", "bench")
CACHE = Path(tempfile.gettempdir()) / "newsbot-bench"
_WORD = re.compile(r"[^\W\d_]{2,}")
_SYLLABLES = [
    "ka",
    "to",
    "ri",
    "mo",
    "se",
    "la",
    "ven",
    "dor",
    "ber",
    "gen",
    "stein",
    "wald",
    "feld",
    "haus",
    "mark",
    "lin",
    "ter",
    "ion",
    "tech",
    "net",
    "sol",
    "vin",
    "ko",
    "ra",
    "pel",
    "uri",
    "an",
    "ex",
    "tra",
    "mun",
    "dis",
    "pro",
    "ver",
    "ste",
    "bau",
    "kraft",
    "werk",
    "zeit",
    "lich",
    "ung",
]


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Words and Zipf weights: the test archive's words spread over the ranks (so that some are
    common and most are rare, as in news), among 60,000 made-up words."""
    counts: dict[str, int] = {}
    for path in sorted((DATA / "archive").glob("*.txt")):
        for word in _WORD.findall(path.read_text(encoding="utf-8")):
            counts[word] = counts.get(word, 0) + 1
    real = sorted(counts, key=lambda w: -counts[w])
    made: set[str] = set()
    while len(made) < 60_000:
        made.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    words = sorted(made)
    rng.shuffle(words)
    for position, word in enumerate(real):
        # Frequent archive words (stop words) stay frequent; the rest spread out.
        words.insert(min(len(words), position * 12 + rng.randint(0, 11)), word)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    return words, weights


def _sentence(rng: random.Random, words: list[str], cum: list[float]) -> str:
    picked = rng.choices(words, cum_weights=cum, k=rng.randint(7, 18))
    return picked[0].capitalize() + " " + " ".join(picked[1:]) + "."


def build_archive(
    path: Path, *, articles: int, votes: int = 0, subscriptions: int = 0, seed: int = 7
) -> None:
    """A store at `path` with `articles` articles of varied vocabulary: the 32 test articles
    (so that the test questions have their answers) and generated ones. Stands in for
    bench/archive.py (same call shape); votes and subscriptions are not needed here."""
    del votes, subscriptions
    rng = random.Random(seed)
    words, weights = _vocabulary(rng)
    cum = list(_accumulate(weights))
    tags = sorted({w.capitalize() for w in rng.sample(words[50:5000], 300)})
    config = load_settings(demo=False).core_config()
    store = Store(path)
    store.migrate()
    try:
        real = [
            parse_any(p.read_bytes(), name=p.name)[0]
            for p in sorted((DATA / "archive").glob("*.txt"))
        ]
        spots = {rng.randrange(articles): item for item in real}
        for start in range(0, articles, 2000):
            with store.engine.write():
                for number in range(start, min(articles, start + 2000)):
                    new = spots.get(number) or NewArticle(
                        title=_sentence(rng, words, cum)[:-1],
                        body=" ".join(
                            _sentence(rng, words, cum) for _ in range(rng.randint(8, 20))
                        ),
                        tags=tuple(rng.sample(tags, rng.randint(1, 3))),
                        guid=f"bench-{number}",
                        language="de" if number % 3 else "en",
                    )
                    store_article(store, config, new, deliver=False)
    finally:
        store.close()


def _accumulate(values: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for value in values:
        total += value
        out.append(total)
    return out


def archive(articles: int) -> Path:
    """The generated archive of this size, built once and kept in the temp folder."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"search-{articles}.db"
    if not path.exists():
        scratch = path.with_suffix(".tmp")
        scratch.unlink(missing_ok=True)
        build_archive(scratch, articles=articles)
        scratch.rename(path)
    return path


def queries(rng: random.Random) -> tuple[list[str], list[str]]:
    """Searches (two words) and questions: those of tests/data/questions.json, their first two
    content words, and as many again made of archive words, common and rare."""
    questions = [q["question"] for q in json.loads((DATA / "questions.json").read_text())]
    searches = [" ".join(w.shown for w in query_words(q)[:2]) for q in questions]
    words, _ = _vocabulary(random.Random(7))
    real = [w for w in words[:20_000] if query_words(w)]
    for _ in range(len(questions)):
        picked = [real[min(len(real) - 1, int(rng.paretovariate(0.6)) * 3)] for _ in range(4)]
        searches.append(" ".join(picked[:2]))
        questions.append("Wie viele " + " ".join(picked) + "?")
    return searches, questions


def cpu_times(call: Callable[[], object], repeat: int) -> float:
    """The median CPU time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return statistics.median(times)


def command_call(ctx: Ctx, name: str, text: str) -> Callable[[], object]:
    """`/name text` through dispatch, the way an adapter runs it, as a plain call."""
    cmd = Command(chat=CHAT, user=USER, name=name, args=tuple(text.split()))
    loop = asyncio.new_event_loop()

    def call() -> object:
        replies = loop.run_until_complete(dispatch.handle_command(ctx, cmd))
        if not replies or "schiefgegangen" in replies[0].text.plain():
            raise RuntimeError(f"/{name} {text} failed")
        return replies

    return call


def raw_call(store: Store, expression: str, limit: int) -> Callable[[], object]:
    sql = (
        "SELECT rowid, bm25(article_fts, 4.0, 1.0, 2.0) AS score FROM article_fts"
        " WHERE article_fts MATCH ? ORDER BY score LIMIT ?"
    )
    return lambda: store.engine.rows(sql, (expression, limit))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def measure(
    ctx: Ctx, config: CoreConfig, texts: list[str], name: str, repeat: int
) -> tuple[list[float], list[float]]:
    ours, base = [], []
    for text in texts:
        words = with_compound_parts(ctx, query_words(text))
        if not words:
            continue
        concepts = [w.concept for w in words]
        if name == "search":
            expression, limit = fts_query(concepts, match_all=True), config.list_limit
        else:
            expression, limit = fts_query(concepts, match_all=False), CANDIDATES
        base.append(cpu_times(raw_call(ctx.store, expression, limit), repeat))
        ours.append(cpu_times(command_call(ctx, name, text), repeat))
    return ours, base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    config = load_settings(demo=False).core_config()
    searches, questions = queries(random.Random(11))
    print(f"{len(searches)} searches, {len(questions)} questions; CPU ms per call")
    print(
        f"{'articles':>8} {'command':<8} {'p50':>7} {'p99':>7} | {'raw p50':>7} {'raw p99':>7}"
        f" | {'p99 ratio':>9}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        store = Store(archive(size))
        ctx = Ctx(store=store, config=config)
        try:
            for name, texts in (("search", searches), ("ask", questions)):
                ours, base = measure(ctx, config, texts, name, args.repeat)
                p50, p99 = percentile(ours, 0.5) * 1e3, percentile(ours, 0.99) * 1e3
                b50, b99 = percentile(base, 0.5) * 1e3, percentile(base, 0.99) * 1e3
                print(
                    f"{size:>8} /{name:<7} {p50:7.2f} {p99:7.2f} | {b50:7.2f} {b99:7.2f}"
                    f" | {p99 / b99:8.2f}x"
                )
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
