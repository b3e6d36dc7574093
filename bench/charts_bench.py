"""What a chart costs: drawing the /results and /top charts, finding one in the cache, and,
as the baseline, laying out the text answer that comes with it.

Run: python -m bench.charts_bench [--repeat 200]
Goals (issue #16): under 50 ms to draw, under 1 ms when cached."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from handlers.charts import BarChart, ChartCache, draw
from handlers.i18n import current_language
from handlers.poll_charts import results_chart, top_chart
from handlers.render import results_text
from storage.models import Article, Poll, PollOption, RatedArticle

LABELS = ("Sehr gut", "Gut", "Befriedigend", "Ausreichend", "Mangelhaft")


def sample() -> tuple[Article, Poll, list[RatedArticle]]:
    article = Article(
        id=4711,
        title="Microsoft bietet Sprachmodelle von xAI über seine Cloud an: Größere Rechenzentren",
        body="",
        tags=("Microsoft", "xAI"),
        url=None,
        published=None,
        added=datetime(2026, 11, 30, tzinfo=UTC),
        language="de",
        source="bench",
    )
    options = tuple(
        PollOption(position=i + 1, score=5 - i, label=label, votes=votes)
        for i, (label, votes) in enumerate(zip(LABELS, (41, 77, 23, 9, 4), strict=True))
    )
    poll = Poll(4711, "Wie bewerten Sie den Schreibstil des Artikels?", options, False, 154)
    rated = [RatedArticle(article, 20 + n, 4.2, 4.6 - n * 0.3) for n in range(10)]
    return article, poll, rated


def per_call_ms(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The medians of `repeat` timed calls in milliseconds: wall clock, and this process's
    CPU time (which other processes on a shared machine inflate less)."""
    work()  # fonts loaded, caches warm
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    current_language.set("de")
    article, poll, rated = sample()
    results = results_chart(article, poll)
    top: BarChart = top_chart("Am besten geschrieben zu xAI:", rated)
    cache = ChartCache()
    cache.png(results)
    text_ms, text_cpu = per_call_ms(lambda: results_text(article, poll), args.repeat)
    rows = [
        ("text answer of /results (baseline)", (text_ms, text_cpu)),
        ("/results chart, drawn", per_call_ms(lambda: draw(results), args.repeat)),
        ("/top chart (10 rows), drawn", per_call_ms(lambda: draw(top), args.repeat)),
        ("/results chart, cached", per_call_ms(lambda: cache.png(results), args.repeat)),
    ]
    print(f"median of {args.repeat} calls each; PNG {len(draw(results))} bytes (/results)")
    print(f"{'what':<38} {'wall ms':>9} {'cpu ms':>9} {'x text':>8}")
    for what, (ms, cpu) in rows:
        print(f"{what:<38} {ms:>9.3f} {cpu:>9.3f} {ms / text_ms:>8.1f}")


if __name__ == "__main__":
    main()
