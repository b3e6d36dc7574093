"""Keyword filters at fan-out: the cost of a chat with 50 includes and 50 excludes per new
article, beside the same fan-out with no filters at all (ratio); and the pattern `(a+)+$` on
re2 (10,000 characters) beside Python's backtracking re (short texts, stopped once one run
passes a second). Run: python -m bench.filters_bench [--articles N] [--chats N] [--filtered N]
[--postgres]."""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from bot.ingest import store_article
from bot.settings import load_settings
from handlers.context import CoreConfig
from storage.filter_rules import ArticleText, ChatFilter, checked, judge, matches
from storage.models import NewArticle
from storage.store import Store

# Words that news articles carry, none of them in the benchmark's articles: every include and
# every exclude is tried on every article (the most work a filter set can cost).
WORDS = """Bundesliga Fußball Wetter Horoskop Lotto Rezept Promi Schlager Tatort Dschungelcamp
Handball Formel Tennis Golf Reiten Segeln Angeln Jagd Garten Kochen Backen Mode Schmuck
Uhren Autos Motorrad Wohnmobil Kreuzfahrt Urlaub Strand Skifahren Wandern Camping Zoo
Tierpark Zirkus Karneval Fasching Oktoberfest Weihnachtsmarkt Ostern Pfingsten Silvester
Geburtstag Hochzeit Scheidung Erbschaft Testament Lottozahlen Jackpot Casino Poker Wetten
Sportwetten Esport Gaming Konsole Streaming Serie Kinofilm Oscar Grammy Eurovision
Castingshow Reality Talkshow Quiz Rätsel Kreuzworträtsel Sudoku Schach Skat Bridge Dart
Bowling Billard Minigolf Paddel Surfen Tauchen Klettern Bouldern Yoga Pilates Fitness Diät
Abnehmen Vegan Vegetarisch Grillen Bier Wein Sekt Cocktail Kaffee Tee Kakao Limonade Saft
Wasser""".split()  # noqa: SIM905 (a list of 100 words reads worse)
PHRASES = ["künstliche Intelligenz im Fußball", "Wetter am Wochenende", "neue Staffel"]
BODY = (
    "Der Softwarekonzern Microsoft will künftig auch Sprachmodelle des Start-ups xAI anbieten. "
    "Die Modelle sollen über die Cloud verfügbar sein und Unternehmen in Europa erreichen. "
    "Analysten erwarten, dass der Schritt den Wettbewerb um Rechenzentren weiter verschärft. "
    "OpenAI hatte zuvor neue Preise für seine Schnittstellen angekündigt, die vor allem "
    "kleinere Entwickler entlasten sollen. Datenschützer prüfen die Angebote noch. "
) * 3


def filter_set() -> list[ChatFilter]:
    """50 includes and 50 excludes: words and a few phrases."""
    texts = [*PHRASES, *WORDS][:100]
    return [
        ChatFilter(
            id=n,
            number=n,
            mode="include" if n % 2 else "exclude",
            kind="words",
            text=checked("words", text),
        )
        for n, text in enumerate(texts, 1)
    ]


def fresh_store(location: str, chats: int, filtered: int) -> Store:
    """`chats` chats subscribed to xAI; the first `filtered` of them with the filter set."""
    store = Store(location)
    store.migrate()
    rules = filter_set()
    with store.engine.write():
        store.engine.executemany(
            "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, created)"
            " VALUES ('telegram', ?, 'xai', 'xAI', '2026-01-01 00:00:00.000000')",
            [(str(i),) for i in range(chats)],
        )
        store.engine.executemany(
            "INSERT INTO chat_filters (platform, chat_id, mode, kind, text, created)"
            " VALUES ('telegram', ?, ?, ?, ?, '2026-01-01 00:00:00.000000')",
            [(str(i), r.mode, r.kind, r.text) for i in range(filtered) for r in rules],
        )
    return store


def one_article(store: Store, config: CoreConfig, n: int) -> float:
    """Seconds to store a new article (its poll and its outbox rows, in one write)."""
    new = NewArticle(
        title=f"Microsoft bietet Modelle von xAI an ({n})",
        body=f"{n}. {BODY}",
        tags=("Microsoft", "xAI", "OpenAI"),
        language="de",
    )
    start = time.perf_counter()
    report = store_article(store, config, new)
    took = time.perf_counter() - start
    assert report.new
    return took


def bench_fanout(locations: tuple[str, str], articles: int, chats: int, filtered: int) -> None:
    config = load_settings(demo=False).core_config()
    plain = fresh_store(locations[0], chats, 0)
    with_filters = fresh_store(locations[1], chats, filtered)
    base, ours = [], []
    # Turn about, so that whatever else the machine does weighs on both alike; the first few
    # warm the caches (statements, folding) and are not counted.
    for n in range(articles + 5):
        base.append(one_article(plain, config, n))
        ours.append(one_article(with_filters, config, n))
    base_ms, ours_ms = statistics.median(base[5:]) * 1000, statistics.median(ours[5:]) * 1000
    rows = with_filters.engine.scalar(
        "SELECT count(*) FROM deliveries WHERE chat_id IN (SELECT chat_id FROM chat_filters)"
    )
    assert rows == 0, "no article matches an include: no filtered chat may get a row"

    # What filters add to the fan-out of one article, alone: the query for subscribed chats
    # with filters, folding the article once, judging it by each such chat's filters.
    runs = 200
    start = time.perf_counter()
    for n in range(runs):
        admitted = with_filters.filters.admitted(
            ["microsoft", "openai", "xai", "*"], f"Microsoft ({n})", f"{n}. {BODY}", ["xAI"]
        )
        assert admitted == []
    screening_ms = (time.perf_counter() - start) / runs * 1000
    start = time.perf_counter()
    for _ in range(runs):
        with_filters.engine.scalar("SELECT 1")
    round_trip_ms = (time.perf_counter() - start) / runs * 1000

    rules = filter_set()
    start = time.perf_counter()
    for n in range(runs * 5):
        text = ArticleText.of(f"Microsoft und xAI ({n})", f"{n}. {BODY}", ["Microsoft", "xAI"])
        assert not judge(rules, text).passes
    judge_us = (time.perf_counter() - start) / (runs * 5) * 1e6
    plain.close()
    with_filters.close()

    engine = with_filters.engine.dialect
    print(f"{engine}: fan-out of one article to {chats:,} subscribed chats, median of {articles}:")
    print(f"  no chat with filters:                 {base_ms:8.2f} ms")
    ratio = ours_ms / base_ms
    print(f"  {filtered:,} of them with 50+50 filters:    {ours_ms:8.2f} ms  ({ratio:.2f}x)")
    print(f"  the filters' part alone (query, fold, judge): {screening_ms:8.3f} ms per article")
    print(f"  fold + judge by one 50+50 set, no database:   {judge_us:8.1f} µs per article")
    print(f"  one query's round trip (SELECT 1), for scale: {round_trip_ms:8.3f} ms")


def bench_patterns(max_seconds: float) -> None:
    rule = ChatFilter(1, 1, "exclude", "regex", checked("regex", "(a+)+$"))
    for length in (10_000, 100_000):
        for tail in ("", "!"):
            text = ArticleText(stems="", raw="a" * length + tail)
            start = time.perf_counter()
            found = matches(rule, text)
            took = time.perf_counter() - start
            print(
                f"re2 (a+)+$ on {length:,} a's{tail or '':1}: {took * 1000:8.3f} ms"
                f" (match: {found})"
            )
    slow = re.compile("(a+)+$")
    length = 14
    while True:
        start = time.perf_counter()
        slow.search("a" * length + "!")
        took = time.perf_counter() - start
        print(f"Python re (a+)+$ on {length} a's!: {took * 1000:10.3f} ms")
        if took > max_seconds or length >= 40:
            break
        length += 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--filtered", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1.0)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (pgserver)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = (str(Path(folder) / "plain.db"), str(Path(folder) / "filtered.db"))
        bench_fanout(paths, args.articles, args.chats, args.filtered)
    if args.postgres:
        from bench.postgres_server import bench_postgres

        with bench_postgres() as pg:
            urls = (pg.database("plain"), pg.database("filtered"))
            bench_fanout(urls, args.articles, args.chats, args.filtered)
    bench_patterns(args.max_seconds)


if __name__ == "__main__":
    main()
