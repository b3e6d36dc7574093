"""The `newsbot db` commands and the start of `newsbot run` on PostgreSQL, as a person sees
them: the same lines and exit codes as on SQLite, and a backup that points to pg_dump."""

from __future__ import annotations

import contextlib
from pathlib import Path

from storage.connection import known_migrations
from storage.db import Db
from storage.location import parse_location
from storage.store import Store
from tests.test_db_copy import newsbot

FUTURE = "m042_from_the_future"


def test_a_postgresql_store_from_a_newer_newsbot_is_refused_as_a_sqlite_one_is(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite = Store(tmp_path / "newsbot.db")
    sqlite.migrate()
    sqlite.db.conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('newsbot', ?, '2030-01-01')",
        (FUTURE,),
    )
    sqlite.close()
    with contextlib.closing(Db(postgres_url)) as pg:
        pg.migrate()
        pg.execute(
            "INSERT INTO newsbot_migrations (name, applied) VALUES (?, ?)", (FUTURE, "2030-01-01")
        )
    shown = parse_location(postgres_url).display
    for args in (["run"], ["db", "migrate"], ["db", "stats"]):
        on_sqlite = newsbot(tmp_path, *args)
        on_postgres = newsbot(tmp_path, *args, db=postgres_url)
        assert on_sqlite.returncode == on_postgres.returncode == 1, on_postgres.stderr
        [line] = on_postgres.stderr.strip().splitlines()
        assert line == on_sqlite.stderr.strip().replace(str(tmp_path / "newsbot.db"), shown, 1)
        assert line == (
            f"Database {shown} has schema {FUTURE} from a newer newsbot; this newsbot knows"
            f" schemas up to {known_migrations()[-1]}. Update newsbot."
        )
    with contextlib.closing(Db(postgres_url)) as pg:
        assert pg.scalar("SELECT count(*) FROM newsbot_migrations") == len(known_migrations()) + 1


def test_db_migrate_and_backup_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    shown = parse_location(postgres_url).display
    first = newsbot(tmp_path, "db", "migrate", db=postgres_url)
    assert first.returncode == 0, first.stderr
    count = len(known_migrations())
    assert first.stdout.strip() == f"Database {shown}: {count} migrations applied."
    again = newsbot(tmp_path, "db", "migrate", db=postgres_url)
    assert again.stdout.strip() == f"Database {shown}: 0 migrations applied."

    backup = newsbot(tmp_path, "db", "backup", "copy.db", db=postgres_url)
    assert backup.returncode == 2
    assert backup.stderr.strip().splitlines() == [
        f"Database {shown} is PostgreSQL: back it up with pg_dump, or copy it into a SQLite"
        " file with newsbot db copy URL file.db."
    ]
    assert not (tmp_path / "copy.db").exists()


def test_db_stats_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    assert newsbot(tmp_path, "db", "migrate").returncode == 0
    assert newsbot(tmp_path, "ingest", str(Path(__file__).parent / "data" / "sample_de.txt"))
    assert newsbot(tmp_path, "db", "copy", "newsbot.db", postgres_url).returncode == 0
    stats = newsbot(tmp_path, "db", "stats", db=postgres_url)
    assert stats.returncode == 0, stats.stderr
    figures = dict(line.split("\t") for line in stats.stdout.strip().splitlines())
    assert figures["articles"] == "1" and figures["tags"] == "3"
    assert int(figures["size_bytes"]) > 0
