"""The PostgreSQL schema (storage/postgres_schema.py) is SQLite's after m012: the same
migration names, tables, columns, keys and indexes, and triggers that keep every count the
way SQLite's do, checked against a real PostgreSQL server (pgserver) and a fresh SQLite store."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.connection import known_migrations
from storage.postgres_schema import MIGRATIONS
from storage.store import Store
from tests.postgres_server import PostgresServer

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
pgserver = pytest.importorskip("pgserver", reason="pgserver is not installed")

# SQLite's full-text index (m003_search) is built differently on PostgreSQL, by the search
# part of the store: its triggers have no PostgreSQL twin here.
SEARCH_ONLY = re.compile(r"^article_fts")


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Iterator[Any]:
    """A connection (autocommit) to a fresh database with every migration applied."""
    name = f"schema_test_{next(_databases)}"
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    conn = psycopg.connect(postgres_server.url_for(name), autocommit=True)
    try:
        for _name, script in MIGRATIONS:
            with conn.transaction():
                conn.execute(script)
        yield conn
    finally:
        conn.close()
        with psycopg.connect(postgres_server.admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection (autocommit, foreign keys on, as the store opens it) to a fresh store."""
    store = Store(tmp_path / "x.db")
    store.migrate()
    store.close()
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    yield conn
    conn.close()


def test_migrations_have_sqlites_names_in_sqlites_order() -> None:
    assert [name for name, _script in MIGRATIONS] == known_migrations()


def test_scripts_survive_placeholder_translation() -> None:
    """No `?`, `%` or `:name` that the store's query translation would rewrite."""
    for name, script in MIGRATIONS:
        assert not re.search(r"[?%]|(?<!:):[A-Za-z_]", script), name


# ---- the shape: tables, columns, keys, indexes, triggers ---------------------------------

PG_TYPE = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision"}


def sqlite_tables(lite: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_sqlite%' ESCAPE '\\'"
            " AND name NOT LIKE 'article_fts%'"
        )
    ]


def sqlite_columns(lite: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """(name, type, not null, default, position in the primary key) of each column. A key
    column is never null on PostgreSQL (SQLite would take a null in a TEXT key, by an old quirk
    that no store code relies on)."""
    return [
        (name, PG_TYPE[decl], bool(notnull or pk), default, pk)
        for _cid, name, decl, notnull, default, pk in lite.execute(f"PRAGMA table_info({table})")
    ]


def pg_columns(pg: Any, table: str) -> list[tuple[object, ...]]:
    pk = dict(
        pg.execute(
            "SELECT a.attname, k.n FROM pg_constraint c"
            " CROSS JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
            " WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
            (table,),
        ).fetchall()
    )
    rows = pg.execute(
        "SELECT column_name, data_type, is_nullable = 'NO', column_default"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s"
        " ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [
        (
            name,
            kind,
            notnull,
            None if default is None else default.removesuffix("::text"),
            pk.get(name, 0),
        )
        for name, kind, notnull, default in rows
    ]


def test_every_sqlite_table_and_column_is_on_postgres(lite: sqlite3.Connection, pg: Any) -> None:
    tables = sqlite_tables(lite)
    assert "votes" in tables and "row_counts" in tables and "update_inbox" in tables
    pg_tables = {
        r[0]
        for r in pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert set(tables) <= pg_tables
    for table in tables:
        expected = sqlite_columns(lite, table)
        if table == "articles":
            # Added by m003 on PostgreSQL, so before the columns of later migrations.
            at = [column[0] for column in expected].index("removed_reason") + 1
            expected.insert(at, ("search_vector", "tsvector", True, "''::tsvector", 0))
        assert pg_columns(pg, table) == expected, table


def test_every_text_column_orders_by_bytes_as_sqlite_does(pg: Any) -> None:
    loose = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND data_type = 'text'"
        " AND collation_name IS DISTINCT FROM 'C'"
    ).fetchall()
    assert loose == []


def sqlite_indexes(lite: sqlite3.Connection) -> dict[str, tuple[object, ...]]:
    """Each index by name: (table, key columns, which descend, unique, partial). A NOCASE
    column is the lower() of it on PostgreSQL."""
    out = {}
    for table in sqlite_tables(lite):
        for _seq, name, unique, _origin, partial in lite.execute(f"PRAGMA index_list({table})"):
            keys = [r for r in lite.execute(f"PRAGMA index_xinfo({name})") if r[5]]
            columns = tuple(f"lower({r[2]})" if r[4] == "NOCASE" else r[2] for r in keys)
            descending = tuple(bool(r[3]) for r in keys)
            out[name] = (table, columns, descending, bool(unique), bool(partial))
    return out


def pg_indexes(pg: Any) -> dict[str, tuple[object, ...]]:
    rows = pg.execute(
        "SELECT i.relname, c.relname,"
        " ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)"
        "       FROM generate_series(1, x.indnkeyatts) k ORDER BY k),"
        " ARRAY(SELECT (x.indoption[k - 1] & 1) = 1"
        "       FROM generate_series(1, x.indnkeyatts) k ORDER BY k),"
        " x.indisunique, x.indpred IS NOT NULL"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public'"
    ).fetchall()
    # A column named by a keyword comes quoted ("position").
    return {r[0]: (r[1], tuple(c.strip('"') for c in r[2]), tuple(r[3]), r[4], r[5]) for r in rows}


def test_every_sqlite_index_has_a_postgres_twin(lite: sqlite3.Connection, pg: Any) -> None:
    on_sqlite, on_pg = sqlite_indexes(lite), pg_indexes(pg)
    assert on_sqlite["idx_people_username"][1] == ("platform", "lower(username)")
    for name, shape in on_sqlite.items():
        if name.startswith("sqlite_autoindex"):  # a key's index: PostgreSQL names it
            assert shape in on_pg.values(), (name, shape)
        else:
            assert on_pg.get(name) == shape, name
    assert on_pg["idx_articles_search"][0] == "articles"
    method = pg.execute(
        "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
        " WHERE c.relname = 'idx_articles_search'"
    ).fetchone()
    assert method == ("gin",)


def test_every_foreign_key_deletes_alike(lite: sqlite3.Connection, pg: Any) -> None:
    on_sqlite = set()
    for table in sqlite_tables(lite):
        keys: dict[int, list[Any]] = {}
        for fk_id, _seq, parent, src, dst, _upd, on_delete, _m in lite.execute(
            f"PRAGMA foreign_key_list({table})"
        ):
            keys.setdefault(fk_id, [table, parent, (), (), on_delete])
            keys[fk_id][2] += (src,)
            keys[fk_id][3] += (dst,)
        on_sqlite |= {tuple(k) for k in keys.values()}
    rules = {"a": "NO ACTION", "c": "CASCADE", "r": "RESTRICT", "n": "SET NULL", "d": "SET DEFAULT"}
    on_pg = {
        (child, parent, tuple(src), tuple(dst), rules[rule])
        for child, parent, src, dst, rule in pg.execute(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,"
            " ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)"
            "       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY i),"
            " ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)"
            "       JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY i),"
            " c.confdeltype FROM pg_constraint c WHERE c.contype = 'f'"
        )
    }
    assert ("votes", "polls", ("article_id",), ("article_id",), "CASCADE") in on_sqlite
    assert on_pg == on_sqlite


def test_every_sqlite_trigger_has_a_postgres_twin(lite: sqlite3.Connection, pg: Any) -> None:
    on_sqlite = {
        (r[0], r[1])
        for r in lite.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        if not SEARCH_ONLY.match(r[1])
    }
    on_pg = {
        (r[0], r[1])
        for r in pg.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
        )
    }
    assert len(on_sqlite) == 27
    assert on_sqlite <= on_pg
    assert on_pg - on_sqlite == {("audit_log", "audit_log_no_truncate")}


# ---- the behaviour: the counts a person sees ---------------------------------------------

NOW = "2025-01-01 00:00:00.000000"


def _article(i: int, removed: int = 0) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO articles (id, dedupe_key, content_hash, title, body, added, language,"
        " source, removed) VALUES (?, ?, ?, ?, ?, ?, 'de', 'test', ?)",
        (i, f"k{i}", f"h{i}", f"Titel {i}", f"Text {i}", NOW, removed),
    )


def _poll(i: int) -> list[tuple[str, tuple[object, ...]]]:
    return [
        ("INSERT INTO polls (article_id, question) VALUES (?, 'Wie gut')", (i,)),
        *(
            (
                "INSERT INTO poll_options (article_id, position, score, label) VALUES (?, ?, ?, ?)",
                (i, p, p, f"o{p}"),
            )
            for p in range(1, 6)
        ),
    ]


def _vote(article: int, user: str, position: int) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO votes (article_id, platform, user_id, position, voted_at)"
        " VALUES (?, 'telegram', ?, ?, ?)"
        " ON CONFLICT (article_id, platform, user_id) DO UPDATE SET position = excluded.position",
        (article, user, position, NOW),
    )


def _post(article: int, chat: str, version: int = 0) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO posts (article_id, platform, chat_id, message_id, rendered_version,"
        " posted_at) VALUES (?, 'telegram', ?, ?, ?, ?) ON CONFLICT (platform, chat_id,"
        " message_id) DO UPDATE SET rendered_version = excluded.rendered_version",
        (article, chat, f"m{article}", version, NOW),
    )


def _subscribe(chat: str, key: str, active: int = 1) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, active, created)"
        " VALUES ('telegram', ?, ?, ?, ?, ?) ON CONFLICT (platform, chat_id, tag_key)"
        " DO UPDATE SET active = excluded.active",
        (chat, key, key.upper(), active, NOW),
    )


def _sql(sql: str, *params: object) -> tuple[str, tuple[object, ...]]:
    return sql, params


RENDER_ALL = (
    "UPDATE posts SET rendered_version = (SELECT version FROM polls q"
    " WHERE q.article_id = posts.article_id) WHERE article_id = ?"
)

# Everything a community does to the rows the triggers watch, in plain SQL.
SCENARIO: list[tuple[str, tuple[object, ...]]] = [
    *(_article(i) for i in (1, 2, 3)),
    _article(4, removed=1),
    *(
        _sql("INSERT INTO tags (id, key, name) VALUES (?, ?, ?)", i, f"t{i}", f"T{i}")
        for i in (1, 2, 3, 4)
    ),
    *(
        _sql("INSERT INTO article_tags (article_id, tag_id, position) VALUES (?, ?, ?)", a, t, t)
        for a, t in ((1, 1), (1, 2), (2, 1), (3, 2), (3, 3), (4, 1))
    ),
    _sql("UPDATE article_tags SET tag_id = 3 WHERE article_id = 2 AND tag_id = 1"),
    _sql("UPDATE articles SET removed = 1 WHERE id = 3"),
    _sql("UPDATE articles SET removed = 0 WHERE id = 4"),
    _sql("UPDATE articles SET removed = removed, title = 'neu' WHERE id IN (1, 2)"),
    _sql("DELETE FROM tags WHERE id = 4"),
    _sql("UPDATE article_tags SET article_id = 4 WHERE article_id = 3 AND tag_id = 3"),
    *_poll(1),
    *_poll(2),
    *_poll(3),
    _sql(
        "INSERT INTO bans (platform, user_id, scope, banned_by, banned_at)"
        " VALUES ('telegram', 'banned', '*', 'admin', ?), ('telegram', 'u2', 'telegram:c1',"
        " 'admin', ?)",
        NOW,
        NOW,
    ),
    _post(1, "c1"),
    _post(1, "c2"),
    _post(2, "c1"),
    *(_vote(1, f"u{u}", u) for u in range(1, 6)),
    _vote(1, "banned", 5),
    _vote(2, "u1", 2),
    _vote(2, "u2", 4),
    _vote(3, "u1", 1),
    _vote(1, "u1", 4),  # a changed vote
    _vote(1, "u2", 2),  # the same vote again: no change
    _sql("UPDATE votes SET position = 3 WHERE user_id = 'banned'"),
    _sql("UPDATE posts SET rendered_version = 3 WHERE chat_id = 'c1' AND article_id = 1"),
    _sql(RENDER_ALL, 2),
    _post(3, "c3", version=1),  # a post already behind its poll
    _post(1, "c1", version=99),  # re-recorded: the upsert path
    _sql(RENDER_ALL, 1),
    _vote(1, "u6", 1),
    _sql("UPDATE votes SET position = 5 WHERE article_id = 1 AND user_id IN ('u3', 'u4')"),
    _sql("DELETE FROM votes WHERE user_id = 'u5'"),
    _subscribe("c1", "t1"),
    _subscribe("c1", "t2"),
    _subscribe("c2", "t1"),
    _subscribe("c3", "t3", active=0),
    _subscribe("c2", "t1", active=0),  # unsubscribed through the upsert
    _sql("UPDATE subscriptions SET active = 1 WHERE chat_id = 'c3'"),
    _sql(
        "UPDATE subscriptions SET tag_key = 't9', tag = 'T9' WHERE chat_id = 'c1'"
        " AND tag_key = 't2'"
    ),
    _sql("UPDATE subscriptions SET active = active WHERE chat_id = 'c1'"),
    _sql("DELETE FROM subscriptions WHERE chat_id = 'c2'"),
    _sql("DELETE FROM subscriptions WHERE chat_id = 'c3'"),
    *(
        _sql(
            "INSERT INTO feeds (id, location, kind, interval_seconds, added)"
            " VALUES (?, ?, 'rss', 600, ?)",
            i,
            f"https://example.org/{i}",
            NOW,
        )
        for i in (1, 2)
    ),
    _sql("DELETE FROM feeds WHERE id = 1"),
    _sql("DELETE FROM articles WHERE id = 2"),  # its tags, poll, votes and post go with it
    _sql("DELETE FROM polls WHERE article_id = 3"),
    _sql("UPDATE posts SET article_id = 1 WHERE chat_id = 'c3'"),
    _sql("DELETE FROM posts WHERE chat_id = 'c2'"),
    _vote(1, "u7", 2),
]

MAINTAINED = {
    "row_counts": "SELECT name, n FROM row_counts ORDER BY name",
    "tags": "SELECT id, key, articles FROM tags ORDER BY id",
    "tag_subscribers": "SELECT tag_key, tag, n FROM tag_subscribers ORDER BY tag_key",
    "poll_options": "SELECT article_id, position, votes FROM poll_options"
    " ORDER BY article_id, position",
    "polls": "SELECT article_id, version, votes, points, rating_at_base FROM polls"
    " ORDER BY article_id",
    "poll_totals": "SELECT id, votes, points, base_mean, base_weight FROM poll_totals",
    "stale_polls": "SELECT article_id FROM stale_polls ORDER BY article_id",
}


def maintained(run: Any) -> dict[str, list[tuple[object, ...]]]:
    return {name: [tuple(r) for r in run(sql)] for name, sql in MAINTAINED.items()}


def test_triggers_keep_the_same_counts_on_both(lite: sqlite3.Connection, pg: Any) -> None:
    """Compared after every statement, so that a later change cannot hide an earlier
    difference."""
    for sql, params in SCENARIO:
        lite.execute(sql, params)
        pg.execute(sql.replace("?", "%s"), params)
        on_sqlite = maintained(lambda sql: lite.execute(sql).fetchall())
        on_pg = maintained(lambda sql: pg.execute(sql).fetchall())
        assert on_pg == on_sqlite, (sql, params)
    # The scenario reaches every count: none of them is trivially equal.
    assert dict(on_sqlite["row_counts"]) == {
        "articles": 2,
        "feeds": 1,
        "posts": 2,
        "subscriptions": 2,
        "tags": 3,
        "votes": 7,
    }
    assert on_sqlite["tags"] == [(1, "t1", 2), (2, "t2", 1), (3, "t3", 1)]
    assert on_sqlite["stale_polls"] == [(1,)]
    assert on_sqlite["poll_totals"][0][1] == 6  # seven votes, one of them banned bot-wide


def test_audit_log_refuses_changes_on_both(lite: sqlite3.Connection, pg: Any) -> None:
    insert = (
        "INSERT INTO audit_log (at, platform, actor, action, outcome)"
        " VALUES ('2025-01-01', 'telegram', 'admin', 'ban', 'ok')"
    )
    lite.execute(insert)
    pg.execute(insert)
    for change in ("UPDATE audit_log SET outcome = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            lite.execute(change)
        with pytest.raises(psycopg.errors.IntegrityError, match="append-only"):
            pg.execute(change)
    with pytest.raises(psycopg.errors.IntegrityError, match="append-only"):
        pg.execute("TRUNCATE audit_log")
    assert pg.execute("SELECT action, outcome FROM audit_log").fetchall() == [("ban", "ok")]
    assert lite.execute("SELECT action, outcome FROM audit_log").fetchall() == [("ban", "ok")]
