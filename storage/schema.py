"""The database schema as append-only sqlite-utils migrations. Never edit a released migration."""

from __future__ import annotations

import sqlite3
import unicodedata
from itertools import groupby

from sqlite_utils import Database, Migrations

migrations = Migrations("newsbot")


def _run(db: Database, script: str) -> None:
    """Run a script statement by statement: executescript would commit the migration's
    transaction halfway."""
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete statement in migration: {pending[:60]!r}")


@migrations()
def m001_core(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            dedupe_key TEXT NOT NULL UNIQUE,
            url_key TEXT,
            content_hash TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            url TEXT,
            published TEXT,
            added TEXT NOT NULL,
            language TEXT NOT NULL,
            source TEXT NOT NULL,
            removed INTEGER NOT NULL DEFAULT 0,
            removed_reason TEXT
        );
        CREATE INDEX idx_articles_url_key ON articles(url_key);
        CREATE INDEX idx_articles_content_hash ON articles(content_hash);

        CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL
        );
        CREATE TABLE article_tags (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            position INTEGER NOT NULL,
            PRIMARY KEY (article_id, tag_id)
        );
        CREATE INDEX idx_article_tags_tag ON article_tags(tag_id, article_id);

        CREATE TABLE polls (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
            question TEXT NOT NULL,
            closed INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE poll_options (
            article_id INTEGER NOT NULL REFERENCES polls(article_id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            score INTEGER NOT NULL,
            label TEXT NOT NULL,
            PRIMARY KEY (article_id, position)
        );
        CREATE TABLE votes (
            article_id INTEGER NOT NULL REFERENCES polls(article_id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            voted_at TEXT NOT NULL,
            PRIMARY KEY (article_id, platform, user_id)
        );
        CREATE INDEX idx_votes_user ON votes(platform, user_id);

        CREATE TABLE chats (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            language TEXT,
            subscribe_policy TEXT NOT NULL DEFAULT 'admins',
            threads INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (platform, chat_id)
        );
        CREATE TABLE subscriptions (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            tag_key TEXT NOT NULL,
            tag TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            reason TEXT,
            created TEXT NOT NULL,
            PRIMARY KEY (platform, chat_id, tag_key)
        );
        CREATE INDEX idx_subscriptions_tag ON subscriptions(tag_key, active);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try TEXT NOT NULL,
            lease_until TEXT,
            message_id TEXT,
            last_error TEXT,
            created TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (article_id, platform, chat_id)
        );
        CREATE INDEX idx_deliveries_due ON deliveries(status, platform, next_try);
        CREATE INDEX idx_deliveries_chat ON deliveries(platform, chat_id, status);

        CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            rendered_version INTEGER NOT NULL DEFAULT 0,
            language TEXT,
            posted_at TEXT NOT NULL,
            UNIQUE (platform, chat_id, message_id)
        );
        CREATE INDEX idx_posts_article ON posts(article_id);

        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            location TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            interval_seconds INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'active',
            last_success TEXT,
            last_error TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            next_fetch TEXT,
            etag TEXT,
            last_modified TEXT,
            fetched_once INTEGER NOT NULL DEFAULT 0,
            added TEXT NOT NULL
        );

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            platform TEXT NOT NULL,
            chat_id TEXT,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            reason TEXT,
            outcome TEXT NOT NULL
        );
        -- The audit log is append-only: the database itself refuses edits.
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

        CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    )


@migrations()
def m002_moderation(db: Database) -> None:
    _run(
        db,
        """
        -- Everyone the bot has seen, so that @username and ids resolve to a person.
        CREATE TABLE people (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            username TEXT,
            display_name TEXT,
            last_seen TEXT NOT NULL,
            PRIMARY KEY (platform, user_id)
        );
        CREATE INDEX idx_people_username ON people(platform, username COLLATE NOCASE);

        CREATE TABLE bot_admins (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            granted_by TEXT NOT NULL,
            granted_at TEXT NOT NULL,
            PRIMARY KEY (platform, user_id)
        );

        -- scope is '*' for bot-wide, else 'platform:chat_id'.
        CREATE TABLE bans (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            reason TEXT,
            banned_by TEXT NOT NULL,
            banned_at TEXT NOT NULL,
            PRIMARY KEY (platform, user_id, scope)
        );
        CREATE TABLE mutes (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            until TEXT NOT NULL,
            reason TEXT,
            muted_by TEXT NOT NULL,
            PRIMARY KEY (platform, user_id, scope)
        );
        CREATE TABLE warnings (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            reason TEXT,
            warned_by TEXT NOT NULL,
            warned_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX idx_warnings_user ON warnings(platform, user_id, scope, active);
        CREATE TABLE confirmations (
            token TEXT PRIMARY KEY,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            actor TEXT NOT NULL,
            expires TEXT NOT NULL
        );
        """,
    )


@migrations()
def m004_vote_counts(db: Database) -> None:
    # Counting a poll's votes on every press made voting O(votes) per press; the options now
    # carry their counts, kept by Store.cast_vote and recounted when a ban changes who counts.
    _run(
        db,
        """
        ALTER TABLE poll_options ADD COLUMN votes INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX idx_votes_option ON votes(article_id, position);
        UPDATE poll_options SET votes = (
            SELECT count(*) FROM votes v
            WHERE v.article_id = poll_options.article_id AND v.position = poll_options.position
            AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = v.platform
                            AND b.user_id = v.user_id AND b.scope = '*')
        );
        """,
    )


@migrations()
def m003_search(db: Database) -> None:
    # A self-contained FTS5 table rather than sqlite-utils' enable_fts on `articles`: the tags,
    # which live in article_tags/tags, are indexed too, and an external-content table would
    # need the exact old tags text to delete a row, which group_concat cannot promise. Triggers
    # keep it in sync from any writer, so the Store needs no search code. unicode61 with
    # remove_diacritics 2 folds case and accents (Rechenzentrum, "Wärme" = "warme"); German
    # inflections and compounds are matched by prefix queries built in handlers/answers/.
    _run(
        db,
        """
        CREATE VIRTUAL TABLE article_fts USING fts5(
            title, body, tags, tokenize = 'unicode61 remove_diacritics 2'
        );
        -- Document frequencies of terms, for weighting query words by how rare they are.
        CREATE VIRTUAL TABLE article_fts_terms USING fts5vocab(article_fts, 'row');

        CREATE TRIGGER article_fts_insert AFTER INSERT ON articles BEGIN
            INSERT INTO article_fts (rowid, title, body, tags)
            VALUES (new.id, new.title, new.body, '');
        END;
        CREATE TRIGGER article_fts_update AFTER UPDATE OF title, body ON articles BEGIN
            UPDATE article_fts SET title = new.title, body = new.body WHERE rowid = new.id;
        END;
        CREATE TRIGGER article_fts_delete AFTER DELETE ON articles BEGIN
            DELETE FROM article_fts WHERE rowid = old.id;
        END;
        -- Tags arrive after their article, in the same transaction: its row is rewritten.
        CREATE TRIGGER article_fts_tag_insert AFTER INSERT ON article_tags BEGIN
            UPDATE article_fts SET tags = coalesce((
                SELECT group_concat(t.name, ' ') FROM article_tags at
                JOIN tags t ON t.id = at.tag_id WHERE at.article_id = new.article_id
            ), '') WHERE rowid = new.article_id;
        END;
        CREATE TRIGGER article_fts_tag_delete AFTER DELETE ON article_tags BEGIN
            UPDATE article_fts SET tags = coalesce((
                SELECT group_concat(t.name, ' ') FROM article_tags at
                JOIN tags t ON t.id = at.tag_id WHERE at.article_id = old.article_id
            ), '') WHERE rowid = old.article_id;
        END;
        CREATE TRIGGER article_fts_tag_rename AFTER UPDATE OF name ON tags BEGIN
            UPDATE article_fts SET tags = coalesce((
                SELECT group_concat(t.name, ' ') FROM article_tags at
                JOIN tags t ON t.id = at.tag_id WHERE at.article_id = article_fts.rowid
            ), '') WHERE rowid IN (SELECT article_id FROM article_tags WHERE tag_id = new.id);
        END;

        INSERT INTO article_fts (rowid, title, body, tags)
        SELECT a.id, a.title, a.body, coalesce((
            SELECT group_concat(t.name, ' ') FROM article_tags at
            JOIN tags t ON t.id = at.tag_id WHERE at.article_id = a.id
        ), '') FROM articles a;
        """,
    )


@migrations()
def m005_detected_language(db: Database) -> None:
    # The language a person's app reports, remembered per private chat, so that deliveries
    # there speak it too when the chat never chose one with /lang.
    _run(db, "ALTER TABLE chats ADD COLUMN detected_language TEXT;")


@migrations()
def m006_tags_indexed_once(db: Database) -> None:
    # The tag trigger rewrote an article's whole index row for every tag inserted, so storing
    # n tags cost n² (100,000 tags ran for more than 10 minutes, holding the write lock).
    # Store.add_article now writes the index row once, after the article's tags; updates,
    # deletions and tag renames stay with the triggers of m003_search.
    _run(
        db,
        """
        DROP TRIGGER article_fts_tag_insert;
        DROP TRIGGER article_fts_insert;
        """,
    )


@migrations()
def m007_update_inbox(db: Database) -> None:
    # Every platform update is stored before the platform may forget it (the next getUpdates
    # confirms a batch), and counts as handled only once its effect is committed: one row per
    # update id, so repeats and out-of-order deliveries are recognised whichever worker gets
    # them. `source` names the bot (update ids count per bot); a claim is a worker's lease.
    _run(
        db,
        """
        CREATE TABLE update_inbox (
            source TEXT NOT NULL,
            update_id INTEGER NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            received TEXT NOT NULL,
            claimed_by TEXT,
            claimed_until TEXT,
            done_at TEXT,
            PRIMARY KEY (source, update_id)
        );
        CREATE INDEX idx_update_inbox_state ON update_inbox(source, state, update_id);
        CREATE INDEX idx_update_inbox_done ON update_inbox(state, done_at);
        -- The newest update id the Telegram adapter used to remember instead.
        DELETE FROM state WHERE key LIKE 'telegram:%:last_update';
        """,
    )


@migrations()
def m008_delivery_claims(db: Database) -> None:
    # Which worker holds a delivery it is sending (NEWSBOT_WORKER_ID), so that a worker that
    # restarts after a crash takes back its own claims at once instead of waiting out the lease.
    _run(
        db,
        """
        ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
        CREATE INDEX idx_deliveries_claimed ON deliveries(claimed_by) WHERE status = 'sending';
        """,
    )


# The tag key as m009 writes it, frozen here: a migration must do the same thing whenever it
# runs, even after storage/tags.py changes again (that change then brings its own migration).
def _m009_is_name_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch in "+#" or category[0] in "LMN" or category in {"So", "Sc", "Sk"}


def _m009_tag_key(tag: str) -> str:
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tag).casefold())
    text = "".join(ch for ch in text.strip().lstrip("#") if unicodedata.category(ch) != "Cf")
    if text.strip() == "*":
        return "*"
    return " ".join("".join(run) for keep, run in groupby(text, _m009_is_name_char) if keep)


def _m009_merge_tags(db: Database) -> None:
    """Tags whose new keys agree become one: the oldest row stays, articles move to it."""
    groups: dict[str, list[int]] = {}
    for tag_id, old_key in db.execute("SELECT id, key FROM tags ORDER BY id").fetchall():
        groups.setdefault(_m009_tag_key(old_key), []).append(tag_id)
    for key, (keep, *merged) in groups.items():
        for tag_id in merged:
            db.execute(
                "UPDATE article_tags SET tag_id = ? WHERE tag_id = ? AND article_id NOT IN"
                " (SELECT article_id FROM article_tags WHERE tag_id = ?)",
                (keep, tag_id, keep),
            )
            db.execute("DELETE FROM article_tags WHERE tag_id = ?", (tag_id,))
            db.execute("DELETE FROM tags WHERE id = ?", (tag_id,))
        # Through a placeholder first, so no UNIQUE check sees two rows with one key midway.
        db.execute("UPDATE tags SET key = ? WHERE id = ?", (f"\x00{keep}", keep))
        groups[key] = [keep]
    for key, (keep,) in groups.items():
        db.execute("UPDATE tags SET key = ? WHERE id = ?", (key, keep))


def _m009_merge_subscriptions(db: Database) -> None:
    """A chat's subscriptions whose new keys agree become one, active if any of them was."""
    rows = db.execute(
        "SELECT rowid, platform, chat_id, tag_key, active FROM subscriptions"
        " ORDER BY active DESC, created, rowid"
    ).fetchall()
    kept: dict[tuple[str, str, str], int] = {}
    for rowid, platform, chat_id, old_key, _active in rows:
        key = (platform, chat_id, _m009_tag_key(old_key))
        if key in kept:
            db.execute("DELETE FROM subscriptions WHERE rowid = ?", (rowid,))
        else:
            kept[key] = rowid
            db.execute(
                "UPDATE subscriptions SET tag_key = ? WHERE rowid = ?", (f"\x00{rowid}", rowid)
            )
    for (_platform, _chat, new_key), rowid in kept.items():
        db.execute("UPDATE subscriptions SET tag_key = ? WHERE rowid = ?", (new_key, rowid))


@migrations()
def m009_tag_keys_match_hashtags(db: Database) -> None:
    # A tag's key now folds every space and punctuation mark but + and # into one space, so
    # the hashtag #E_Autos, "E-Autos" and "e autos" are one tag, and C++ stays apart from C.
    # Stored keys are recomputed; tags and subscriptions that now coincide are merged.
    _m009_merge_tags(db)
    _m009_merge_subscriptions(db)


@migrations()
def m010_post_refresh_backoff(db: Database) -> None:
    # A post whose live-count edit failed in an unexpected way waits before its next try,
    # doubling, so that it neither blocks the posts after it nor is tried every second; its
    # last error is kept for /why.
    _run(
        db,
        """
        ALTER TABLE posts ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE posts ADD COLUMN refresh_after TEXT;
        ALTER TABLE posts ADD COLUMN last_error TEXT;
        """,
    )


@migrations()
def m011_maintained_counts(db: Database) -> None:
    # Listing and counting commands read every row they count: /tags joined every tag row to
    # its article, /stats counted a million votes, /top summed every poll's options, and the
    # refresh job compared every post with its poll. Triggers now keep those figures beside
    # the rows they describe, from any writer, and the queries read them through indexes.
    _run(
        db,
        """
        -- Articles per tag, removed articles not counted.
        ALTER TABLE tags ADD COLUMN articles INTEGER NOT NULL DEFAULT 0;
        UPDATE tags SET articles = (
            SELECT count(*) FROM article_tags at JOIN articles a ON a.id = at.article_id
            WHERE at.tag_id = tags.id AND a.removed = 0
        );
        CREATE INDEX idx_tags_articles ON tags(articles DESC, key);
        CREATE TRIGGER tag_count_insert AFTER INSERT ON article_tags BEGIN
            UPDATE tags SET articles = articles + 1 WHERE id = new.tag_id
            AND EXISTS (SELECT 1 FROM articles WHERE id = new.article_id AND removed = 0);
        END;
        CREATE TRIGGER tag_count_delete AFTER DELETE ON article_tags BEGIN
            UPDATE tags SET articles = articles - 1 WHERE id = old.tag_id
            AND EXISTS (SELECT 1 FROM articles WHERE id = old.article_id AND removed = 0);
        END;
        CREATE TRIGGER tag_count_move AFTER UPDATE OF tag_id, article_id ON article_tags BEGIN
            UPDATE tags SET articles = articles - 1 WHERE id = old.tag_id
            AND EXISTS (SELECT 1 FROM articles WHERE id = old.article_id AND removed = 0);
            UPDATE tags SET articles = articles + 1 WHERE id = new.tag_id
            AND EXISTS (SELECT 1 FROM articles WHERE id = new.article_id AND removed = 0);
        END;
        CREATE TRIGGER tag_count_removed AFTER UPDATE OF removed ON articles
        WHEN (old.removed = 0) != (new.removed = 0) BEGIN
            UPDATE tags SET articles = articles + CASE WHEN new.removed = 0 THEN 1 ELSE -1 END
            WHERE id IN (SELECT tag_id FROM article_tags WHERE article_id = new.id);
        END;
        -- An article's tag rows go before it, while it can still say whether it counted.
        CREATE TRIGGER article_tags_before_delete BEFORE DELETE ON articles BEGIN
            DELETE FROM article_tags WHERE article_id = old.id;
        END;

        -- Figures for /stats: one row per kind of thing counted.
        CREATE TABLE row_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO row_counts (name, n) VALUES
            ('articles', (SELECT count(*) FROM articles WHERE removed = 0)),
            ('tags', (SELECT count(*) FROM tags)),
            ('subscriptions', (SELECT count(*) FROM subscriptions WHERE active = 1)),
            ('votes', (SELECT count(*) FROM votes)),
            ('posts', (SELECT count(*) FROM posts)),
            ('feeds', (SELECT count(*) FROM feeds));
        CREATE TRIGGER count_article_insert AFTER INSERT ON articles WHEN new.removed = 0 BEGIN
            UPDATE row_counts SET n = n + 1 WHERE name = 'articles';
        END;
        CREATE TRIGGER count_article_delete AFTER DELETE ON articles WHEN old.removed = 0 BEGIN
            UPDATE row_counts SET n = n - 1 WHERE name = 'articles';
        END;
        CREATE TRIGGER count_article_removed AFTER UPDATE OF removed ON articles
        WHEN (old.removed = 0) != (new.removed = 0) BEGIN
            UPDATE row_counts SET n = n + CASE WHEN new.removed = 0 THEN 1 ELSE -1 END
            WHERE name = 'articles';
        END;
        CREATE TRIGGER count_tag_insert AFTER INSERT ON tags BEGIN
            UPDATE row_counts SET n = n + 1 WHERE name = 'tags';
        END;
        CREATE TRIGGER count_tag_delete AFTER DELETE ON tags BEGIN
            UPDATE row_counts SET n = n - 1 WHERE name = 'tags';
        END;
        CREATE TRIGGER count_post_insert AFTER INSERT ON posts BEGIN
            UPDATE row_counts SET n = n + 1 WHERE name = 'posts';
        END;
        CREATE TRIGGER count_post_delete AFTER DELETE ON posts BEGIN
            UPDATE row_counts SET n = n - 1 WHERE name = 'posts';
        END;
        CREATE TRIGGER count_feed_insert AFTER INSERT ON feeds BEGIN
            UPDATE row_counts SET n = n + 1 WHERE name = 'feeds';
        END;
        CREATE TRIGGER count_feed_delete AFTER DELETE ON feeds BEGIN
            UPDATE row_counts SET n = n - 1 WHERE name = 'feeds';
        END;

        -- Active subscriptions, in all and per tag key (Store.migrate_chat deletes a clash
        -- before it moves rows: a REPLACE would delete them without firing these triggers).
        CREATE TABLE tag_subscribers (
            tag_key TEXT PRIMARY KEY,
            tag TEXT NOT NULL,
            n INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO tag_subscribers (tag_key, tag, n)
        SELECT tag_key, tag, count(*) FROM subscriptions WHERE active = 1 GROUP BY tag_key;
        CREATE INDEX idx_tag_subscribers_n ON tag_subscribers(n DESC, tag_key);
        CREATE TRIGGER subscribers_insert AFTER INSERT ON subscriptions WHEN new.active = 1 BEGIN
            UPDATE row_counts SET n = n + 1 WHERE name = 'subscriptions';
            INSERT INTO tag_subscribers (tag_key, tag, n) VALUES (new.tag_key, new.tag, 1)
            ON CONFLICT(tag_key) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER subscribers_delete AFTER DELETE ON subscriptions WHEN old.active = 1 BEGIN
            UPDATE row_counts SET n = n - 1 WHERE name = 'subscriptions';
            UPDATE tag_subscribers SET n = n - 1 WHERE tag_key = old.tag_key;
        END;
        CREATE TRIGGER subscribers_update AFTER UPDATE OF active, tag_key ON subscriptions
        WHEN old.active != new.active OR old.tag_key != new.tag_key BEGIN
            UPDATE row_counts SET n = n + new.active - old.active WHERE name = 'subscriptions';
            UPDATE tag_subscribers SET n = n - 1 WHERE tag_key = old.tag_key AND old.active = 1;
            INSERT INTO tag_subscribers (tag_key, tag, n)
            SELECT new.tag_key, new.tag, 1 WHERE new.active = 1
            ON CONFLICT(tag_key) DO UPDATE SET n = n + 1;
        END;

        -- Votes: an option's count, its poll's version, the poll's totals, all from the
        -- votes table itself. A vote counts unless its voter is banned bot-wide.
        CREATE INDEX idx_votes_voted_at ON votes(voted_at);
        CREATE TRIGGER vote_insert AFTER INSERT ON votes BEGIN
            UPDATE row_counts SET n = n + 1 WHERE name = 'votes';
            UPDATE poll_options SET votes = votes + 1
            WHERE article_id = new.article_id AND position = new.position
            AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = new.platform
                            AND b.user_id = new.user_id AND b.scope = '*');
            UPDATE polls SET version = version + 1 WHERE article_id = new.article_id;
        END;
        CREATE TRIGGER vote_delete AFTER DELETE ON votes BEGIN
            UPDATE row_counts SET n = n - 1 WHERE name = 'votes';
            UPDATE poll_options SET votes = votes - 1
            WHERE article_id = old.article_id AND position = old.position
            AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = old.platform
                            AND b.user_id = old.user_id AND b.scope = '*');
            UPDATE polls SET version = version + 1 WHERE article_id = old.article_id;
        END;
        CREATE TRIGGER vote_move AFTER UPDATE OF position ON votes
        WHEN old.position != new.position BEGIN
            UPDATE poll_options
            SET votes = votes + CASE position WHEN new.position THEN 1 ELSE -1 END
            WHERE article_id = new.article_id AND position IN (old.position, new.position)
            AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.platform = new.platform
                            AND b.user_id = new.user_id AND b.scope = '*');
            UPDATE polls SET version = version + 1 WHERE article_id = new.article_id;
        END;

        -- Each poll's counted votes and points (score times votes), and the totals over all
        -- polls, whose mean is the prior of the ratings of /top. `rating_at_base` is a poll's
        -- rating with the prior taken at `base_mean` and `base_weight`: the true rating is
        -- within |mean - base_mean| of it, so an index on it finds the best-rated polls.
        ALTER TABLE polls ADD COLUMN votes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE polls ADD COLUMN points INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE polls ADD COLUMN rating_at_base REAL;
        CREATE TABLE poll_totals (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            votes INTEGER NOT NULL,
            points INTEGER NOT NULL,
            base_mean REAL NOT NULL,
            base_weight REAL NOT NULL
        );
        UPDATE polls SET
            votes = (SELECT coalesce(sum(votes), 0) FROM poll_options o
                     WHERE o.article_id = polls.article_id),
            points = (SELECT coalesce(sum(score * votes), 0) FROM poll_options o
                      WHERE o.article_id = polls.article_id);
        INSERT INTO poll_totals (id, votes, points, base_mean, base_weight)
        SELECT 1, coalesce(sum(votes), 0), coalesce(sum(points), 0),
               coalesce(1.0 * sum(points) / nullif(sum(votes), 0), 3.0), 5.0 FROM polls;
        UPDATE polls SET rating_at_base = (
            SELECT (base_weight * base_mean + polls.points) / (base_weight + polls.votes)
            FROM poll_totals) WHERE votes > 0;
        CREATE INDEX idx_polls_rating ON polls(rating_at_base DESC) WHERE votes > 0;
        CREATE TRIGGER poll_option_counted AFTER UPDATE OF votes ON poll_options
        WHEN new.votes != old.votes BEGIN
            UPDATE polls SET
                votes = votes + new.votes - old.votes,
                points = points + new.score * (new.votes - old.votes),
                rating_at_base = (
                    SELECT (base_weight * base_mean + polls.points
                            + new.score * (new.votes - old.votes))
                           / nullif(base_weight + polls.votes + new.votes - old.votes, 0)
                    FROM poll_totals)
            WHERE article_id = new.article_id;
            UPDATE poll_totals SET votes = votes + new.votes - old.votes,
                points = points + new.score * (new.votes - old.votes);
        END;
        CREATE TRIGGER poll_option_delete AFTER DELETE ON poll_options WHEN old.votes != 0 BEGIN
            UPDATE poll_totals
            SET votes = votes - old.votes, points = points - old.score * old.votes;
        END;

        -- Polls whose posts show older counts: the refresh job reads this queue instead of
        -- comparing every post with its poll. An entry leaves when its last stale post is
        -- rendered. (No INSERT OR IGNORE in these triggers: an upsert that fires them, such
        -- as recording a post, overrides a trigger's conflict clause with its own ABORT.)
        DROP INDEX idx_posts_article;
        CREATE INDEX idx_posts_article_version ON posts(article_id, rendered_version);
        CREATE TABLE stale_polls (
            article_id INTEGER PRIMARY KEY REFERENCES polls(article_id) ON DELETE CASCADE
        );
        INSERT INTO stale_polls (article_id)
        SELECT DISTINCT p.article_id FROM posts p JOIN polls q ON q.article_id = p.article_id
        WHERE p.rendered_version < q.version;
        CREATE TRIGGER stale_on_poll_change AFTER UPDATE OF version ON polls
        WHEN new.version > old.version
        AND EXISTS (SELECT 1 FROM posts WHERE article_id = new.article_id) BEGIN
            INSERT INTO stale_polls (article_id) SELECT new.article_id
            WHERE NOT EXISTS (SELECT 1 FROM stale_polls WHERE article_id = new.article_id);
        END;
        CREATE TRIGGER stale_on_post_insert AFTER INSERT ON posts
        WHEN new.rendered_version < (SELECT version FROM polls WHERE article_id = new.article_id)
        BEGIN
            INSERT INTO stale_polls (article_id) SELECT new.article_id
            WHERE NOT EXISTS (SELECT 1 FROM stale_polls WHERE article_id = new.article_id);
        END;
        CREATE TRIGGER stale_on_post_update AFTER UPDATE OF rendered_version, article_id ON posts
        BEGIN
            INSERT INTO stale_polls (article_id)
            SELECT new.article_id WHERE new.rendered_version
                < (SELECT version FROM polls WHERE article_id = new.article_id)
            AND NOT EXISTS (SELECT 1 FROM stale_polls WHERE article_id = new.article_id);
            DELETE FROM stale_polls WHERE article_id IN (old.article_id, new.article_id)
            AND NOT EXISTS (
                SELECT 1 FROM posts p JOIN polls q ON q.article_id = p.article_id
                WHERE p.article_id = stale_polls.article_id AND p.rendered_version < q.version
            );
        END;
        """,
    )


@migrations()
def m012_feed_body_hash(db: Database) -> None:
    # The digest of the last body of a feed that was parsed and stored in full: a server
    # that ignores conditional GET sends the same bytes again, and those need no parsing.
    db.execute("ALTER TABLE feeds ADD COLUMN body_hash TEXT")


@migrations()
def m013_worker_leases(db: Database) -> None:
    # Several workers share one store: a lease names the one worker that may do a thing until
    # it expires (poll Telegram, run a singleton job, be alive as a worker), and each source is
    # claimed by the worker fetching it, so that a worker that dies leaves nothing held for
    # longer than its lease.
    _run(
        db,
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires TEXT NOT NULL
        );
        ALTER TABLE feeds ADD COLUMN claimed_by TEXT;
        ALTER TABLE feeds ADD COLUMN claimed_until TEXT;
        """,
    )


@migrations()
def m014_post_refresh_claims(db: Database) -> None:
    # Every worker refreshes live counts: a stale post is claimed by the worker editing it
    # until its edit is recorded or the short claim runs out (a worker that died), so that no
    # two workers edit one post at once. The partial index finds one worker's claims (their
    # renewal, their release at a stop or a restart) without reading every post.
    _run(
        db,
        """
        ALTER TABLE posts ADD COLUMN refresh_claimed_by TEXT;
        ALTER TABLE posts ADD COLUMN refresh_claimed_until TEXT;
        CREATE INDEX idx_posts_refresh_claimed ON posts(refresh_claimed_by)
        WHERE refresh_claimed_by IS NOT NULL;
        """,
    )


@migrations()
def m015_chat_filters(db: Database) -> None:
    # Keyword filters per chat (/filter): includes and excludes, words or re2 patterns, in the
    # order they were added (their number in /filter list). Fan-out reads each subscribed
    # chat's count and last id from the index by chat, and its filters only when those moved:
    # AUTOINCREMENT, because a reused id would hide a change.
    _run(
        db,
        """
        CREATE TABLE chat_filters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE INDEX idx_chat_filters_chat ON chat_filters(platform, chat_id);
        """,
    )


@migrations()
def m016_chat_schedules(db: Database) -> None:
    # A chat's time zone, digest and quiet hours (storage/schedules.py). `digest_due` is the
    # next digest time in UTC, kept with the settings, so that the digest job finds the chats
    # due by an index; `last_digest` is when the last digest was taken. `quiet_from` and
    # `quiet_until` are the current or next quiet hours in UTC, so that the delivery worker's
    # claim holds back the rows of quiet chats in one statement. Times of day are
    # minutes after midnight on the chat's own clock. Outbox rows that wait for a digest have
    # the status 'digest' (the delivery worker takes only 'pending' ones).
    _run(
        db,
        """
        CREATE TABLE chat_schedules (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            timezone TEXT,
            digest TEXT,
            digest_weekday INTEGER,
            digest_minute INTEGER,
            digest_due TEXT,
            last_digest TEXT,
            quiet_start INTEGER,
            quiet_end INTEGER,
            quiet_from TEXT,
            quiet_until TEXT,
            PRIMARY KEY (platform, chat_id)
        );
        CREATE INDEX idx_chat_schedules_due ON chat_schedules(digest_due)
        WHERE digest_due IS NOT NULL;
        CREATE INDEX idx_chat_schedules_quiet_from ON chat_schedules(quiet_from)
        WHERE quiet_from IS NOT NULL;
        CREATE INDEX idx_chat_schedules_quiet_until ON chat_schedules(quiet_until)
        WHERE quiet_until IS NOT NULL;
        """,
    )


@migrations()
def m017_forum_topics_and_opml(db: Database) -> None:
    # A subscription made inside a topic of a Telegram forum posts into that topic: its thread
    # id is kept with it ('' for none). A delivery names its thread too, and is unique per
    # article, chat and thread, so that an article matching subscriptions in two topics of one
    # chat reaches both. SQLite cannot change a table's UNIQUE constraint: the deliveries table
    # is rebuilt (nothing refers to it).
    _run(
        db,
        """
        ALTER TABLE subscriptions ADD COLUMN thread_id TEXT NOT NULL DEFAULT '';
        CREATE TABLE deliveries_m017 (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try TEXT NOT NULL,
            lease_until TEXT,
            message_id TEXT,
            last_error TEXT,
            created TEXT NOT NULL,
            sent_at TEXT,
            claimed_by TEXT,
            thread_id TEXT NOT NULL DEFAULT '',
            UNIQUE (article_id, platform, chat_id, thread_id)
        );
        INSERT INTO deliveries_m017 (id, article_id, platform, chat_id, status, attempts,
            next_try, lease_until, message_id, last_error, created, sent_at, claimed_by)
        SELECT id, article_id, platform, chat_id, status, attempts, next_try, lease_until,
            message_id, last_error, created, sent_at, claimed_by FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_m017 RENAME TO deliveries;
        CREATE INDEX idx_deliveries_due ON deliveries(status, platform, next_try);
        CREATE INDEX idx_deliveries_chat ON deliveries(platform, chat_id, status);
        CREATE INDEX idx_deliveries_claimed ON deliveries(claimed_by) WHERE status = 'sending';
        """,
    )


@migrations()
def m018_linked_people(db: Database) -> None:
    # One person may use several platforms: accounts linked with /link share a person id,
    # and their votes carry it as their voter, so that the person has one vote per article
    # (the unique index covers only linked voters: an unlinked vote is one by its key and
    # costs the index nothing). A link code is kept only as its hash, and every code asked
    # for and every wrong code tried is counted, for the hourly limit.
    _run(
        db,
        """
        ALTER TABLE people ADD COLUMN person TEXT;
        CREATE INDEX idx_people_person ON people(person) WHERE person IS NOT NULL;
        ALTER TABLE votes ADD COLUMN voter TEXT;
        CREATE UNIQUE INDEX idx_votes_voter ON votes(article_id, voter) WHERE voter IS NOT NULL;
        CREATE TABLE link_codes (
            code_hash TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            expires TEXT NOT NULL,
            used_at TEXT
        );
        CREATE INDEX idx_link_codes_user ON link_codes(platform, user_id);
        CREATE TABLE link_attempts (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX idx_link_attempts_user ON link_attempts(platform, user_id, at);
        """,
    )


@migrations()
def m019_article_images_and_post_style(db: Database) -> None:
    # An article's lead image and the verdict of its one check before posting ("ok", or why
    # it is not shown), so that a fan-out to many chats checks it once; whether a post is a
    # photo (Telegram edits a photo's caption, not its text); and how a chat's posts look.
    _run(
        db,
        """
        ALTER TABLE articles ADD COLUMN image_url TEXT;
        ALTER TABLE articles ADD COLUMN image_verdict TEXT;
        ALTER TABLE posts ADD COLUMN photo INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE chats ADD COLUMN images INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE chats ADD COLUMN post_style TEXT;
        ALTER TABLE chats ADD COLUMN post_template TEXT;
        """,
    )


@migrations()
def m020_fulltext_and_translations(db: Database) -> None:
    # Full text (issue #15): a source may fetch each new article's page; its main text then
    # becomes the body (searched, asked, shown by /article) and the feed's own text moves to
    # `summary`, which posts keep showing. A chat may have posts translated into its language;
    # a translation is stored once per article and language, so fan-out asks the model once.
    # The FTS5 row follows the body through the m003 update trigger.
    _run(
        db,
        """
        ALTER TABLE articles ADD COLUMN summary TEXT;
        ALTER TABLE feeds ADD COLUMN fulltext INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE chats ADD COLUMN translate INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE translations (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            language TEXT NOT NULL,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            added TEXT NOT NULL,
            PRIMARY KEY (article_id, language)
        );
        """,
    )
