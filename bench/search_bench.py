"""Benchmark of /search and /ask over a generated archive of a few thousand articles, through
the real handlers, beside a baseline measured in the same run: a LIKE scan over title and body
(what a search without the FTS5 index would do). Also the cost of the index on ingest.

Run: python -m bench.search_bench [--articles N] [--queries N]"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.article_input import parse_any
from bot.ingest import store_article
from bot.settings import load_settings
from handlers import dispatch
from handlers.answers.words import query_words
from handlers.context import CoreConfig, Ctx
from handlers.events import Command
from storage.models import ChatRef, NewArticle, UserRef
from storage.store import Store

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CHAT = ChatRef("console", "bench")
USER = UserRef("console", "bench", "bench")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ])")


def generated_articles(count: int, rng: random.Random) -> list[NewArticle]:
    """Articles mixed from the sentences of the test archive, each with a name of its own, so
    that the vocabulary and the word frequencies look like news, in German and English."""
    pool: dict[str, list[str]] = {"de": [], "en": []}
    titles: dict[str, list[str]] = {"de": [], "en": []}
    for path in sorted((DATA / "archive").glob("*.txt")):
        [source] = parse_any(path.read_bytes(), name=path.name)
        language = source.language or "de"
        pool[language] += _SENTENCE.split(" ".join(source.body.split()))
        titles[language].append(source.title)
    out = []
    for number in range(count):
        language = "de" if number % 3 else "en"
        name = f"Projekt{number}"
        body = " ".join(rng.sample(pool[language], 6)) + f" Beteiligt ist {name}."
        out.append(
            NewArticle(
                title=f"{rng.choice(titles[language])} ({name})",
                body=body,
                tags=(rng.choice(["KI", "Energie", "Netz", "Robotik", "Cloud"]),),
                guid=f"bench-{number}",
                language=language,
            )
        )
    return out


def ingest(
    folder: Path, name: str, config: CoreConfig, articles: list[NewArticle], *, fts: bool
) -> tuple[Store, float]:
    store = Store(folder / f"{name}.db")
    store.migrate()
    if not fts:
        # The store writes each article's index row itself (m006): for the baseline, the index
        # becomes a plain table that takes the same row without indexing it.
        for trigger in ("update", "delete", "tag_delete", "tag_rename"):
            store.db.conn.execute(f"DROP TRIGGER article_fts_{trigger}")
        store.db.conn.execute("DROP TABLE article_fts_terms")
        store.db.conn.execute("DROP TABLE article_fts")
        store.db.conn.execute("CREATE TABLE article_fts (title, body, tags)")
    started = time.perf_counter()
    for article in articles:
        store_article(store, config, article, deliver=False)
    return store, time.perf_counter() - started


def like_search(store: Store, text: str, *, any_word: bool, limit: int = 10) -> list[int]:
    """The baseline: every word (or any word) as a substring of title or body, newest first."""
    words = [w.shown for w in query_words(text)] or text.split()
    clause = "(a.title LIKE ? OR a.body LIKE ?)"
    where = (" OR " if any_word else " AND ").join([clause] * len(words))
    params: list[object] = []
    for word in words:
        params += [f"%{word}%", f"%{word}%"]
    rows = store.engine.rows(
        f"SELECT a.id, a.title, a.body FROM articles a WHERE a.removed = 0 AND ({where})"
        " ORDER BY a.id DESC",
        params,
    )
    if any_word:
        # Rank like /ask would have to without an index: by how many words each one holds.
        scored = sorted(
            rows,
            key=lambda r: -sum(w.lower() in (r["title"] + r["body"]).lower() for w in words),
        )
        rows = scored
    return [int(r["id"]) for r in rows[:limit]]


def timed(func: Callable[[str], object], texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        started = time.perf_counter()
        func(text)
        times.append(time.perf_counter() - started)
    return times


async def timed_command(ctx: Ctx, name: str, texts: list[str]) -> list[float]:
    """Each text as /name through dispatch, the way an adapter runs it."""
    times = []
    for text in texts:
        cmd = Command(chat=CHAT, user=USER, name=name, args=tuple(text.split()))
        started = time.perf_counter()
        replies = await dispatch.handle_command(ctx, cmd)
        times.append(time.perf_counter() - started)
        if not replies or "schiefgegangen" in replies[0].text.plain():
            raise RuntimeError(f"/{name} {text} failed")
    return times


def line(label: str, ours: list[float], base: list[float]) -> str:
    mean, base_mean = statistics.mean(ours), statistics.mean(base)
    p95 = sorted(ours)[int(len(ours) * 0.95) - 1]
    return (
        f"{label:<8} {mean * 1000:8.2f} ms mean {p95 * 1000:8.2f} ms p95 | LIKE scan "
        f"{base_mean * 1000:8.2f} ms | {base_mean / mean:6.1f}x faster"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=68)
    args = parser.parse_args(argv)
    rng = random.Random(7)
    config = load_settings(demo=False).core_config()
    articles = generated_articles(args.articles, rng)
    questions = [q["question"] for q in json.loads((DATA / "questions.json").read_text())]
    questions = (questions * (args.queries // len(questions) + 1))[: args.queries]
    searches = [" ".join(w.shown for w in query_words(q)[:2]) for q in questions]
    with tempfile.TemporaryDirectory() as folder:
        plain, plain_time = ingest(Path(folder), "plain", config, articles, fts=False)
        plain.close()
        store, fts_time = ingest(Path(folder), "fts", config, articles, fts=True)
        ctx = Ctx(store=store, config=config)
        try:
            search = asyncio.run(timed_command(ctx, "search", searches))
            search_base = timed(lambda s: like_search(store, s, any_word=False), searches)
            ask = asyncio.run(timed_command(ctx, "ask", questions))
            ask_base = timed(lambda q: like_search(store, q, any_word=True), questions)
        finally:
            store.close()
    print(f"archive: {args.articles} generated articles (de/en), {len(questions)} queries each")
    print(
        f"ingest   {plain_time:.2f} s without the index, {fts_time:.2f} s with it"
        f" ({(fts_time / plain_time - 1) * 100:+.0f} %)"
    )
    print(line("/search", search, search_base))
    print(line("/ask", ask, ask_base))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
