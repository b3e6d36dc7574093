"""`newsbot db copy`: a whole store from SQLite to PostgreSQL and back, row for row, its kept
figures and search working on the target; a target with rows, or one that does not read back
as its source, is refused in one line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from storage.copy import Checked, copy_plan, copy_store
from storage.db import Db
from storage.location import parse_location
from storage.models import ChatRef, MessageRef, NewArticle, UserRef
from storage.moderation import BOT_WIDE, Moderation
from storage.search import Concept, Search, Word
from storage.store import Store
from tests.postgres_server import PostgresServer

VOTERS = 12


def fill(store: Store, articles: int = 30, voters: int = VOTERS) -> None:
    """A store with something in every table: articles with tags, polls and votes (one voter
    banned bot-wide, so that counted and stored votes differ), a removed article, posts with
    stale counts, deliveries, subscriptions paused and active, feeds, moderation and its audit
    log, the update inbox and key-value state."""
    chats = [ChatRef("telegram", str(-100 - n)) for n in range(3)]
    store.subscribe(chats[0], ["xAI", "OpenAI"])
    store.subscribe(chats[1], ["Microsoft"])
    store.subscribe(chats[2], ["xAI"])
    store.unsubscribe(chats[2], ["xAI"])
    ids = []
    for n in range(articles):
        tags = [("xAI", "OpenAI", "Microsoft")[n % 3], f"Thema {n % 7}", "Rechenzentrum"]
        result = store.add_article(
            NewArticle(
                title=f"Artikel {n}: Rechenzentrum Nummer {n} im Norden",
                body=f"Text {n} über Wärme, Strom und Kühlung. " * 3,
                tags=tuple(tags[: 1 + n % 3]),
                language="de" if n % 2 else "en",
            ),
            dedupe_key=f"key-{n}",
            url_key=f"https://example.org/{n}" if n % 4 else None,
            question="Wie bewerten Sie den Schreibstil des Artikels?",
            options=[("Sehr gut", 5), ("Gut", 4), ("Mittel", 3), ("Schwach", 2), ("Schlecht", 1)],
            language="de",
        )
        assert result.article is not None
        ids.append(result.article.id)
    moderation = Moderation(store)
    people = [
        UserRef("telegram", str(1000 + n), f"Person {n}", f"person{n}") for n in range(voters)
    ]
    for person in people:
        moderation.seen(person)
    for i, article_id in enumerate(ids):
        for j, person in enumerate(people):
            if (i + j) % 3:
                store.cast_vote(article_id, person, 1 + (i * j) % 5)
    for i, article_id in enumerate(ids[:5]):
        store.record_post(article_id, MessageRef(chats[0], f"m{i}"), 0, "de")
    moderation.ban(people[0], BOT_WIDE, "spam", "telegram:1")
    moderation.mute(people[1], "telegram:-100", store.now() + timedelta(hours=1), None, "x")
    moderation.warn(people[2], "telegram:-100", "ton", "telegram:1")
    moderation.grant_admin(people[3], "telegram:1")
    moderation.set_removed(ids[-1], True, "falsch")
    moderation.ask_confirmation("reset", str(ids[0]), "telegram:1")
    for n in range(5):
        store.audit(platform="telegram", chat_id="-100", actor="telegram:1", action=f"a{n}")
    store.add_feed("https://example.org/feed.xml", "url", interval_seconds=900, tags=["xAI"])
    store.set_state("copy-test", "kept")
    from storage.inbox import Inbox

    Inbox(store).receive("telegram:bot", [(1, '{"update_id": 1}'), (2, '{"update_id": 2}')])
    store.update_chat_settings(chats[0], language="en")


def dump(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    """Every copied table, row for row, in key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in copy_plan():
        sql = f"SELECT {', '.join(table.columns)} FROM {table.name}"  # noqa: S608 (names)
        sql += f" ORDER BY {', '.join(table.key)}" if table.key else ""
        tables[table.name] = [tuple(row) for row in db.rows(sql)]
    return tables


@pytest.fixture
def source(tmp_path: Path) -> Store:
    store = Store(tmp_path / "source.db")
    store.migrate()
    fill(store)
    return store


def test_the_plan_copies_every_table_after_those_it_refers_to() -> None:
    plan = copy_plan()
    position = {table.name: n for n, table in enumerate(plan)}
    assert {"articles", "votes", "audit_log", "row_counts", "stale_polls"} <= set(position)
    assert not [name for name in position if "fts" in name or "migrations" in name]
    assert position["articles"] < position["polls"] < position["poll_options"]
    assert position["polls"] < position["votes"] and position["polls"] < position["stale_polls"]
    assert position["tags"] < position["article_tags"]
    assert [t.name for t in plan if t.seeded] == ["poll_totals", "row_counts"]


def search_rows(db: Db) -> list[tuple[Any, ...]]:
    return [
        tuple(r) for r in db.rows("SELECT rowid, title, body, tags FROM article_fts ORDER BY 1")
    ]


def test_a_store_goes_to_postgresql_and_back_unchanged(
    source: Store, postgres_url: str, tmp_path: Path
) -> None:
    before = dump(source.engine)
    index = search_rows(source.engine)
    stats = source.stats()
    source.close()
    seen: list[tuple[str, int]] = []
    there = copy_store(
        parse_location(str(tmp_path / "source.db")),
        parse_location(postgres_url),
        on_table=lambda table, rows: seen.append((table, rows)),
    )
    assert seen == [(copied.table, copied.rows) for copied in there.tables]
    assert dict(seen)["votes"] == len(before["votes"]) > 0
    assert there.checked == Checked(polls=30, audit_entries=5) and len(before["audit_log"]) == 5

    back = copy_store(parse_location(postgres_url), parse_location(str(tmp_path / "back.db")))
    assert back.tables == there.tables
    with contextlib.closing(Db(postgres_url)) as pg:
        assert dump(pg) == before
    home = Store(tmp_path / "back.db")
    try:
        assert dump(home.engine) == before
        # The figures the triggers keep came over as they were, and the search index was
        # built again as the store writes it: the copy answers as the original did.
        assert replace(home.stats(), size_bytes=0) == replace(stats, size_bytes=0)
        assert search_rows(home.engine) == index
        [hit] = Search(home).find([Concept.of(Word("17"))])
        assert hit.article.title.startswith("Artikel 17:")
    finally:
        home.close()


# -- the command line ------------------------------------------------------------------------

SAMPLE = Path(__file__).parent / "data" / "sample_de.txt"


def newsbot(
    tmp_path: Path, *args: str, db: str = "", stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")} | {
        "NEWSBOT_DB": db or str(tmp_path / "newsbot.db"),
        "NEWSBOT_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSBOT_LANGUAGE": "en",
        "NEWSBOT_DEMO": "false",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def with_password(url: str) -> str:
    """The URL with a password in it (the tests' server trusts its socket and ignores it)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:s3cret@{host}"))


def test_db_copy_there_and_back_prints_each_table_and_refuses_a_full_target(
    tmp_path: Path, postgres_url: str
) -> None:
    url = with_password(postgres_url)
    assert "s3cret" in url
    assert newsbot(tmp_path, "ingest", str(SAMPLE)).returncode == 0

    there = newsbot(tmp_path, "db", "copy", "newsbot.db", url)
    assert there.returncode == 0, there.stderr
    *tables, summary = there.stdout.strip().splitlines()
    counts = dict(line.split("\t") for line in tables)
    assert counts["articles"] == "1" and counts["poll_options"] == "5"
    assert summary.startswith(f"Copied {sum(map(int, counts.values()))} rows from newsbot.db to ")
    assert "postgres:***@" in summary
    assert "s3cret" not in there.stdout + there.stderr

    again = newsbot(tmp_path, "db", "copy", "newsbot.db", url)
    assert again.returncode == 2
    assert again.stdout == ""
    assert again.stderr.strip().splitlines() == [
        f"Not copied: the target {parse_location(url).display} already holds rows (table"
        " articles); db copy only fills an empty database."
    ]

    back = newsbot(tmp_path, "db", "copy", url, "sqlite:///back.db")
    assert back.returncode == 0, back.stderr
    assert back.stdout.splitlines()[:-1] == tables
    stats = newsbot(tmp_path, "db", "stats", db=str(tmp_path / "back.db"))
    assert "articles\t1" in stats.stdout.splitlines()
    # The bot finds the article on either copy by its words: the search index was rebuilt.
    for copy in (url, str(tmp_path / "back.db")):
        found = newsbot(tmp_path, "chat", stdin="/search Marktplatz\n", db=copy)
        assert "Microsoft" in found.stdout, found.stdout + found.stderr


def articles_in(url: str) -> int:
    with contextlib.closing(Db(url)) as db:
        return int(db.scalar("SELECT count(*) FROM articles"))


def test_a_target_that_does_not_read_back_as_its_source_is_not_committed(
    source: Store, tmp_path: Path, postgres_url: str
) -> None:
    source.close()
    # A target whose audit log keeps times as timestamps, not as the text it was given:
    # every row goes in, and the entries read back differently.
    with contextlib.closing(Db(postgres_url)) as target:
        target.migrate()
        target.execute("ALTER TABLE audit_log ALTER COLUMN at TYPE timestamp USING at::timestamp")
    proc = newsbot(tmp_path, "db", "copy", "source.db", postgres_url)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Not copied: audit log entry 1 differs between source.db and"
        f" {parse_location(postgres_url).display}; the target is unchanged."
    ]
    assert articles_in(postgres_url) == 0


def test_text_postgresql_cannot_hold_is_one_line_and_the_target_stays_empty(
    source: Store, tmp_path: Path, postgres_url: str
) -> None:
    source.engine.execute("UPDATE articles SET body = body || char(0) WHERE id = 3")
    source.close()
    proc = newsbot(tmp_path, "db", "copy", "source.db", postgres_url)
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(
        f"Not copied: {parse_location(postgres_url).display} refused a row of table articles ("
    )
    assert line.endswith("); the target is unchanged.")
    assert articles_in(postgres_url) == 0


def test_a_source_that_needs_migrating_first_is_refused(tmp_path: Path) -> None:
    old = Store(tmp_path / "old.db")
    from storage.schema import migrations

    migrations.apply(old.db, stop_before="m012_feed_body_hash")
    old.close()
    proc = newsbot(tmp_path, "db", "copy", "old.db", "new.db")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Not copied: old.db still needs migration m012_feed_body_hash; run newsbot db migrate"
        " with NEWSBOT_DB=old.db first."
    ]
    assert not (tmp_path / "new.db").exists()


def test_every_refusal_and_mismatch_has_its_line_in_both_languages() -> None:
    from handlers.i18n import catalogue

    keys = [f"cli.db.copy.{k}" for k in ("same_store", "no_source", "not_empty", "source_behind")]
    keys += [f"cli.db.copy.mismatch_{what}" for what in ("rows", "votes", "audit")]
    for language in ("de", "en"):
        assert [key for key in keys if key not in catalogue(language)] == []


def test_a_copy_on_postgresql_goes_on_as_the_original_would(
    source: Store, postgres_url: str, tmp_path: Path
) -> None:
    """Ids continue after the copied ones, the triggers count again, search finds the
    copied articles: a bot can run on the target at once."""
    newest = max(row[0] for row in dump(source.engine)["articles"])
    polls_before = {poll.article.id: poll for poll in source.polls_for_export()}
    source.close()
    copy_store(parse_location(str(tmp_path / "source.db")), parse_location(postgres_url))
    target = Store(postgres_url)
    try:
        added = target.add_article(
            NewArticle(title="Nach dem Umzug", body="Ein neuer Text.", tags=("xAI",)),
            dedupe_key="after-the-move",
            url_key=None,
            question="Wie bewerten Sie den Schreibstil des Artikels?",
            options=[("Gut", 2), ("Schlecht", 1)],
            language="de",
        )
        assert added.article is not None and added.article.id == newest + 1
        voter = UserRef("telegram", "4242", "Neu", "neu")
        target.cast_vote(1, voter, 2)
        poll = target.get_poll(1)
        assert poll is not None and poll.total == polls_before[1].poll.total + 1
        assert poll.version == polls_before[1].poll.version + 1
        assert target.stats().articles == len(polls_before)  # one removed, one added
    finally:
        target.close()


def test_a_store_copies_into_the_same_engine_too(
    source: Store, tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    before = dump(source.engine)
    source.close()
    copy_store(parse_location(str(tmp_path / "source.db")), parse_location(str(tmp_path / "b.db")))
    with contextlib.closing(Db(tmp_path / "b.db")) as copied:
        assert dump(copied) == before
    copy_store(parse_location(str(tmp_path / "b.db")), parse_location(postgres_url))
    second = postgres_server.create_database()
    try:
        other = postgres_server.url_for(second)
        copy_store(parse_location(postgres_url), parse_location(other))
        with contextlib.closing(Db(other)) as copied:
            assert dump(copied) == before
    finally:
        postgres_server.drop_database(second)
