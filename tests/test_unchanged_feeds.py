"""Feeds fetched again with the same content: a server that ignores conditional GET and sends
the same bytes costs no parsing and stores nothing twice; a changed body is read; a store that
fails halfway leaves the body to be read again; `newsbot ingest` of known entries stores none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.ingest import ingest_bytes, ingest_path
from handlers.context import CoreConfig
from storage.store import Store
from tests.fakes.loopback import Serve
from tests.test_feeds_http import added, fetch, make_poller, newsbot, rss

ITEMS = [("urn:x:3", "Drei", ""), ("urn:x:2", "Zwei", ""), ("urn:x:1", "Eins", "")]


def ignoring_etags(bodies: list[bytes], seen: list[web.Request]) -> web.Application:
    """A feed at /feed with neither ETag nor Last-Modified: every request gets a 200 with the
    current body (the last of `bodies`; a test appends to change it)."""

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(body=bodies[-1], content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", handler)
    return app


def titles(store: Store) -> list[str]:
    return sorted(a.title for a in store.latest_articles(limit=50))


async def test_the_same_bytes_again_are_not_parsed_and_nothing_is_stored_twice(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    seen: list[web.Request] = []
    base = await serve(ignoring_etags([rss(ITEMS)], seen))
    feed = added(store, f"{base}/feed")
    poller = make_poller(store, config)

    first = await fetch(poller, feed.id)
    later = store.now() + timedelta(hours=1)
    store.clock = lambda: later
    again = await fetch(poller, feed.id)

    assert first.kind == "new" and len(first.report.new) == 3
    # Answered as a 304 would be: nothing new, nothing counted as known, the fetch a success.
    assert again.kind == "unchanged" and again.reason == "same_body"
    assert again.report.new == [] and again.report.duplicates == 0
    assert len(seen) == 2 and titles(store) == ["Drei", "Eins", "Zwei"]
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.failures == 0 and stored.last_success == later
    assert stored.next_fetch and stored.next_fetch > later  # scheduled as after any success


async def test_a_changed_body_is_read_and_only_its_new_entries_are_stored(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    bodies = [rss(ITEMS)]
    base = await serve(ignoring_etags(bodies, []))
    feed = added(store, f"{base}/feed")
    poller = make_poller(store, config)
    assert (await fetch(poller, feed.id)).kind == "new"

    bodies.append(rss([("urn:x:4", "Vier", ""), *ITEMS]))
    changed = await fetch(poller, feed.id)
    same = await fetch(poller, feed.id)
    bodies.append(rss(ITEMS))  # back to the first body: read again, everything known
    back = await fetch(poller, feed.id)

    assert changed.kind == "new" and [a.title for a in changed.report.new] == ["Vier"]
    assert changed.report.duplicates == 3
    assert same.kind == "unchanged"
    assert back.kind == "new" and back.report.new == [] and back.report.duplicates == 3
    assert titles(store) == ["Drei", "Eins", "Vier", "Zwei"]


async def test_a_store_that_fails_halfway_leaves_the_body_to_be_read_again(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    base = await serve(ignoring_etags([rss(ITEMS)], []))
    feed = added(store, f"{base}/feed")
    poller = make_poller(store, config)
    # The database refuses the second article (oldest first: Eins, Zwei, Drei) this once.
    store.db.execute(
        "CREATE TRIGGER refuse_zwei BEFORE INSERT ON articles WHEN new.title = 'Zwei'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )

    broken = await fetch(poller, feed.id)
    assert broken.kind == "failed" and titles(store) == ["Eins"]
    store.db.execute("DROP TRIGGER refuse_zwei")
    healed = await fetch(poller, feed.id)
    after = await fetch(poller, feed.id)

    assert healed.kind == "new" and sorted(a.title for a in healed.report.new) == ["Drei", "Zwei"]
    assert healed.report.duplicates == 1
    assert titles(store) == ["Drei", "Eins", "Zwei"]
    assert after.kind == "unchanged"  # now that all of it is stored


@pytest.mark.parametrize(
    ("language", "words"),
    [("de", "unverändert (derselbe Inhalt"), ("en", "unchanged (the same content")],
)
async def test_feeds_fetch_says_a_feed_sent_the_same_content(
    serve: Serve, tmp_path: Path, language: str, words: str
) -> None:
    base = await serve(ignoring_etags([rss(ITEMS)], []))
    (tmp_path / "newsbot.toml").write_text(f'language = "{language}"\n', encoding="utf-8")

    code, _ = await newsbot(tmp_path, "feeds", "add", f"{base}/feed")
    assert code == 0
    code, first = await newsbot(tmp_path, "feeds", "fetch", "1")
    assert code == 0 and "3" in first
    code, again = await newsbot(tmp_path, "feeds", "fetch", "1")

    assert code == 0 and words in again and "304" not in again


def test_ingest_of_known_entries_stores_nothing_and_counts_them(
    store: Store, config: CoreConfig, tmp_path: Path
) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(rss(ITEMS))
    first = ingest_path(store, config, path)
    path.write_bytes(rss([("urn:x:4", "Vier", ""), *ITEMS]))

    again = ingest_path(store, config, path)

    assert len(first.new) == 3
    assert [a.title for a in again.new] == ["Vier"] and again.duplicates == 3
    assert titles(store) == ["Drei", "Eins", "Vier", "Zwei"]


def test_a_feed_whose_entries_have_no_text_is_still_rejected(
    store: Store, config: CoreConfig
) -> None:
    empty = (
        b'<rss version="2.0"><channel><title>x</title><item><guid>urn:e:1</guid>'
        b"<description>&lt;img src=x&gt;</description></item></channel></rss>"
    )
    report = ingest_bytes(store, config, empty, name="empty.xml")

    assert report.new == [] and report.rejected == [("empty.xml", "no_articles")]
