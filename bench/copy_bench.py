"""`newsbot db copy` speed: a SQLite store of ARTICLES articles with VOTERS votes each (written
through the Store, so every kept figure and index is as the bot keeps it) copied into an empty
PostgreSQL database and back into a new SQLite file; rows per second each way.

    python -m bench.copy_bench [ARTICLES] [VOTERS]    (PostgreSQL from pgserver, in a temp dir)
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

from storage.copy import copy_store
from storage.location import parse_location
from storage.models import NewArticle, UserRef
from storage.store import Store

OPTIONS = [("Sehr gut", 5), ("Gut", 4), ("Befriedigend", 3), ("Ausreichend", 2), ("Mangelhaft", 1)]
WORDS = ["Rechenzentrum", "Strom", "Wärme", "Kühlung", "Modell", "Cloud", "Vertrag", "Chip"]


def build(path: Path, articles: int, voters: int) -> None:
    store = Store(path)
    store.migrate()
    people = [UserRef("telegram", str(1000 + n), f"P{n}", f"p{n}") for n in range(voters)]
    for n in range(articles):
        body = " ".join(WORDS[(n * k) % len(WORDS)] for k in range(1, 120))
        result = store.add_article(
            NewArticle(
                title=f"Artikel {n} über {WORDS[n % len(WORDS)]}",
                body=body,
                tags=("xAI", f"Thema {n % 40}"),
                language="de",
            ),
            dedupe_key=f"bench-{n}",
            url_key=None,
            question="Wie bewerten Sie den Schreibstil des Artikels?",
            options=OPTIONS,
            language="de",
            deliver=False,
        )
        assert result.article is not None
        for j, person in enumerate(people):
            store.cast_vote(result.article.id, person, 1 + (n + j) % 5)
    store.close()


def main() -> None:
    articles = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    voters = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory(prefix="nbcopy") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(Path(folder) / "pg", cleanup_mode="stop")
        server.psql("CREATE DATABASE bench;")
        url = server.get_uri("bench")
        source = Path(folder) / "source.db"
        started = time.perf_counter()
        build(source, articles, voters)
        print(f"built {articles} articles, {articles * voters} votes in", end=" ")
        print(f"{time.perf_counter() - started:.1f} s")
        there = copy_store(parse_location(str(source)), parse_location(url))
        back = copy_store(parse_location(url), parse_location(str(Path(folder) / "back.db")))
        for name, report in (("SQLite -> PostgreSQL", there), ("PostgreSQL -> SQLite", back)):
            print(
                f"{name}: {report.rows} rows in {report.seconds:.2f} s,"
                f" {report.rows / report.seconds:,.0f} rows/s"
                f" (search rebuilt, {report.checked.polls} polls checked)"
            )
        server.cleanup()


if __name__ == "__main__":
    main()
