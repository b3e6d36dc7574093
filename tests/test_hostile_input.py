"""Input that stopped or hung newsbot (issue 9): thousands of tags, one bad character, numbers
beyond 64 bits, host names no resolver takes, feeds nested absurdly deep."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.address_guard import AddressGuard
from bot.fetch_errors import FetchRefused
from bot.ingest import store_article
from handlers.context import CoreConfig, Ctx
from storage.models import ChatRef
from storage.store import MAX_TAG_CHARS, MAX_TAGS_PER_ARTICLE, Store
from tests.conftest import Chat, article
from tests.fakes.loopback import Serve
from tests.test_cli import Newsbot
from tests.test_feeds_http import added, fetch, make_poller, static
from tests.test_feeds_http import newsbot as newsbot_process

MANY = 100_000


@pytest.fixture
def newsbot(tmp_path: Path) -> Newsbot:
    return Newsbot(tmp_path)


def rss_items(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(guid: str, title: str, extra: str = "") -> str:
    return (
        f"<item><guid>{guid}</guid><title>{title}</title>"
        f"<description>Text zu {guid}. Mehr dazu im Artikel.</description>{extra}</item>"
    )


def stored_article_tags(path: Path, article_id: int = 1) -> tuple[str, ...]:
    store = Store(path)
    try:
        found = store.get_article(article_id)
        assert found is not None
        return found.tags
    finally:
        store.close()


# --- thousands of tags -----------------------------------------------------------------


async def test_a_feed_item_with_100000_tags_is_stored_with_50(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    # 2.9 MB, under the 5 MB cap: feedparser's tag list and the index trigger were both
    # quadratic in it, so this ran for many minutes with the write lock held.
    categories = "".join(f"<category>k{i:x}</category>" for i in range(MANY))
    base = await serve(static(rss_items(item("urn:many", "Viele Kategorien", categories))))
    feed = added(store, f"{base}/feed", tags=("Lokal",))

    outcome = await fetch(make_poller(store, config), feed.id)

    assert outcome.kind == "new"
    [stored] = outcome.report.new
    assert len(stored.tags) == MAX_TAGS_PER_ARTICLE
    # The feed's first categories, then the source's own tag, which routes it to subscribers.
    assert stored.tags[:3] == ("k0", "k1", "k2") and stored.tags[-1] == "Lokal"
    chat = Chat(Ctx(store=store, config=config))
    assert f"#{stored.id} " in await chat.text("/search k2f")


def test_a_text_file_with_100000_tags_is_ingested_with_50(newsbot: Newsbot, tmp_path: Path) -> None:
    tags = ", ".join(f"k{i:x}" for i in range(MANY))  # 690 KB, under the 1 MB text cap
    text = f"Titel: Viele Schlagwörter\n\nEin Artikel mit vielen Schlagwörtern.\n\nTags: {tags}\n"
    (tmp_path / "many.txt").write_text(text, encoding="utf-8")

    result = newsbot("ingest", "many.txt")

    assert "1 neu, 0 Duplikate, 0 abgelehnt" in result.stdout
    assert f"Schlagwörter nicht übernommen: höchstens {MAX_TAGS_PER_ARTICLE} je Artikel" in (
        result.stdout
    )
    kept = stored_article_tags(tmp_path / "newsbot.db")
    assert kept == tuple(f"k{i:x}" for i in range(MAX_TAGS_PER_ARTICLE))
    found = newsbot("chat", stdin="/search k31\n").stdout
    assert "Viele Schlagwörter" in found


async def test_a_tag_longer_than_the_limit_is_cut_at_a_word(ctx: Ctx, chat: Chat) -> None:
    sentence = "Förderprogramm für kommunale Wärmenetze und Speicher " * 5  # 265 characters
    report = store_article(ctx.store, ctx.config, article(tags=("KI", sentence)))

    [stored] = report.new
    kept = stored.tags[1]
    assert len(kept) <= MAX_TAG_CHARS
    assert sentence.startswith(kept) and sentence[len(kept)] == " "  # cut between words
    assert f"#{stored.id} " in await chat.text("/search Wärmenetze")
    assert f"#{stored.id} " in await chat.text("/search KI")


# --- one bad character -----------------------------------------------------------------


def test_a_lone_surrogate_in_a_json_title_does_not_stop_the_folder(
    newsbot: Newsbot, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for number in range(1, 6):
        (folder / f"{number}.txt").write_text(
            f"Titel: Meldung {number}\n\nDer Text der Meldung {number} ist kurz.\n",
            encoding="utf-8",
        )
    # Sorted first, as in the report: the traceback stopped the folder before anything else.
    (folder / "0.json").write_text(
        '[{"title": "\\ud800", "body": "Ein Zeichen, das UTF-8 nicht kennt."},'
        ' {"title": "Gut \\ud83d\\ude00", "body": "Ein gültiges Paar ergibt ein Emoji."}]',
        encoding="utf-8",
    )
    # The same lone surrogate written out as UTF-8 bytes.
    (folder / "6.txt").write_bytes(b"Titel: Roh \xed\xa0\x80\n\nEin Text mit rohen Bytes.\n")

    result = newsbot("ingest", "in", check=False)

    assert "Traceback" not in result.stderr
    assert result.returncode == 0
    assert "8 neu, 0 Duplikate, 0 abgelehnt" in result.stdout
    exported = json.loads(newsbot("export", "results", "--format", "json").stdout)
    titles = {row["title"] for row in exported}
    assert {"\ufffd", "Gut 😀", "Roh \ufffd", "Meldung 1", "Meldung 5"} <= titles


@pytest.mark.parametrize(
    "reference",
    ["&#xD800;", "&#55296;", "&#xDFFF;", "&#x110000;", "&#99999999999999999999999;", "&#1;"],
)
async def test_a_character_reference_to_no_character_spoils_only_its_text(
    serve: Serve, store: Store, config: CoreConfig, reference: str
) -> None:
    body = rss_items(
        item("urn:1", "Eins"),
        item("urn:2", f"Zwei {reference} und mehr", f"<category>Tag {reference}</category>"),
        item("urn:3", "Drei"),
    )
    base = await serve(static(body))
    feed = added(store, f"{base}/feed")
    poller = make_poller(store, config)

    first, second = await fetch(poller, feed.id), await fetch(poller, feed.id)

    assert first.kind == "new" and len(first.report.new) == 3
    assert second.kind == "unchanged"  # fetched again without failing, not parked
    titles = sorted(a.title for a in first.report.new)
    assert titles[0] == "Drei" and titles[1] == "Eins"
    assert titles[2].startswith("Zwei") and titles[2].endswith("und mehr")
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.failures == 0 and stored.state == "active"


# --- numbers beyond 64 bits --------------------------------------------------------------

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ("feeds", "remove", HUGE),
        ("feeds", "fetch", HUGE),
        ("feeds", "fetch", "1", HUGE),
        ("export", "results", "--article", HUGE),
        ("feeds", "remove", "zwei"),
    ],
)
def test_a_number_beyond_64_bits_is_one_line_and_exit_code_2(
    newsbot: Newsbot, args: tuple[str, ...]
) -> None:
    result = newsbot(*args, check=False)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Keine gültige Nummer: ")


@pytest.mark.parametrize(
    "line",
    [
        f"/article {HUGE}",
        f"/vote {HUGE} 1",
        f"/vote 1 {HUGE}",
        f"/results {HUGE}",
        f"/why {HUGE}",
        f"/feeds remove {HUGE}",
        f"/audit {HUGE}",
        f"/audit #{HUGE}",
        "/audit ²",  # a digit to str.isdigit(), not to int()
        "/vote ² 1",
    ],
)
async def test_a_huge_or_odd_number_in_a_chat_command_gets_a_clear_answer(
    ctx: Ctx, caplog: pytest.LogCaptureFixture, line: str
) -> None:
    chat = Chat(ctx, chat=ChatRef("telegram", "1"))  # telegram:1 is a bot admin
    store_article(ctx.store, ctx.config, article())
    caplog.set_level(logging.INFO)

    answer = await chat.text(line, "1", admin=True)

    assert answer and "etwas schiefgegangen" not in answer
    assert not [record for record in caplog.records if record.exc_info]


# --- host names no resolver takes --------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["a" * 64 + ".example.org", "feed." + "b" * 200 + ".example", "a..example.org", ".example.org"],
)
async def test_a_host_name_no_resolver_takes_is_a_bad_url(host: str) -> None:
    with pytest.raises(FetchRefused) as excinfo:
        await AddressGuard().check_url(f"https://{host}/feed.xml")
    assert excinfo.value.reason == "bad_url"


async def test_a_feed_with_a_host_label_over_63_characters_is_refused_as_a_bad_url(
    store: Store, config: CoreConfig, caplog: pytest.LogCaptureFixture
) -> None:
    feed = added(store, "https://" + "a" * 64 + ".example.org/feed.xml")

    outcome = await fetch(make_poller(store, config), feed.id)

    assert (outcome.kind, outcome.reason) == ("refused", "bad_url")  # was "internal"
    assert not [record for record in caplog.records if record.exc_info]


# --- nesting ---------------------------------------------------------------------------


def nested(depth: int, open_tag: str = "<a>", close_tag: str = "</a>") -> str:
    return open_tag * depth + "x" + close_tag * depth


@pytest.mark.parametrize(
    "markup",
    [
        nested(600_000),  # 4.2 MB, the feed of the report: 17 s and 321 MB in feedparser
        nested(1_000, '<a b="/>">'),  # a "/>" inside a quoted value closes nothing
        "<a>" * 1_000,  # never closed
        "<a><!-- </a> -->" * 1_000,  # an end tag inside a comment closes nothing
    ],
)
async def test_a_feed_nested_absurdly_deep_is_refused_before_parsing(
    serve: Serve, store: Store, config: CoreConfig, markup: str
) -> None:
    base = await serve(static(rss_items(item("urn:deep", "Tief", f"<x>{markup}</x>"))))
    feed = added(store, f"{base}/feed")

    outcome = await fetch(make_poller(store, config), feed.id)

    assert (outcome.kind, outcome.reason) == ("refused", "too_deep")
    assert store.count_articles() == 0


async def test_ordinary_nesting_and_many_flat_elements_are_read(
    serve: Serve, store: Store, config: CoreConfig
) -> None:
    xhtml = nested(40, "<div>", "</div>")
    links = '<link rel="related" href="https://example.org/"/>' * 500
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>A</title><id>urn:a</id><updated>2026-03-01T10:00:00Z</updated>"
        "<entry><id>urn:e</id><title>Tief, aber nicht zu tief</title>"
        "<updated>2026-03-01T10:00:00Z</updated>"
        f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">{xhtml}</div></content>'
        f"{links}</entry></feed>"
    ).encode()
    base = await serve(static(atom))
    feed = added(store, f"{base}/feed")

    outcome = await fetch(make_poller(store, config), feed.id)

    assert outcome.kind == "new"
    assert [a.title for a in outcome.report.new] == ["Tief, aber nicht zu tief"]


async def test_newsbot_feeds_fetch_names_the_nesting_as_the_reason(
    serve: Serve, tmp_path: Path
) -> None:
    base = await serve(static(rss_items(item("urn:deep", "Tief", nested(1_000)))))
    url = f"{base}/feed"
    assert (await newsbot_process(tmp_path, "feeds", "add", url))[0] == 0

    code, out = await newsbot_process(tmp_path, "feeds", "fetch", "1")

    assert code == 0 and f"Quelle 1 ({url}): abgelehnt: zu tief verschachtelt" in out
