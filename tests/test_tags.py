"""Tags end to end: every form a tag is shown in is accepted back, quoting works in chats, and
C++ is never C. Through the real handlers, the terminal chat and the command line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.platforms.discord.commands import tag_choices
from handlers import dispatch
from handlers.context import Ctx
from handlers.events import Command
from storage.models import ChatRef
from storage.schema import migrations
from storage.store import Store
from tests.conftest import Chat, add, article, vote_data
from tests.test_cli import Newsbot

MIXED = ("E-Autos", "Künstliche Intelligenz", "R&D", "Test<Tag>")


def queued(ctx: Ctx, chat: Chat) -> list[int]:
    return [d.article_id for d in ctx.store.deliveries_for_chat(chat.chat)]


async def test_subscribe_cpp_gets_cpp_articles_and_not_c(any_chat: Chat, any_ctx: Ctx) -> None:
    add(any_ctx, article(title="Über C", body="Ein Text über die Sprache C.", tags=("C",)))
    assert "Abonniert: C++." in await any_chat.text("/subscribe C++")
    assert [s.tag for s in any_ctx.store.subscriptions(any_chat.chat)] == ["C++"]
    cpp = add(
        any_ctx, article(title="Über C++", body="Ein Text über C++ und Templates.", tags=("C++",))
    )
    assert queued(any_ctx, any_chat) == [cpp]


async def test_a_post_shows_hashtags_that_subscribe_to_its_tags(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    first = add(any_ctx, article(tags=MIXED))
    post = await any_chat.text(f"/article {first}")
    assert "#E_Autos #Künstliche_Intelligenz #R_D #Test_Tag" in post
    reply = await any_chat.text("/subscribe E_Autos #Künstliche_Intelligenz #R_D Test_Tag")
    assert "Abonniert: E-Autos, Künstliche Intelligenz, R&D, Test<Tag>." in reply
    assert "Noch kein Artikel" not in reply  # all four were recognised as known tags
    assert queued(any_ctx, any_chat) == [first]
    assert "Schon abonniert: E-Autos" in await any_chat.text("/subscribe e-autos")
    assert "Abo beendet: E-Autos" in await any_chat.text("/unsubscribe #E_Autos")
    assert "Nicht abonniert" not in await any_chat.text("/unsubscribe #Test_Tag R_D")
    assert [s.tag for s in any_ctx.store.subscriptions(any_chat.chat)] == ["Künstliche Intelligenz"]


@pytest.mark.parametrize(
    "typed",
    [
        '"Künstliche Intelligenz"',
        "„Künstliche Intelligenz“",
        "«Künstliche Intelligenz»",
        "“Künstliche Intelligenz”",
        "Künstliche Intelligenz",  # unquoted, but the words together name a known tag
        "#Künstliche_Intelligenz",
        "künstliche-intelligenz",
    ],
)
async def test_every_spelling_of_a_tag_with_a_space_is_one_subscription(
    any_chat: Chat, any_ctx: Ctx, typed: str
) -> None:
    add(any_ctx, article(tags=MIXED))
    reply = await any_chat.text(f"/subscribe {typed} xAI")
    assert "Abonniert: Künstliche Intelligenz, xAI." in reply
    assert [s.tag for s in any_ctx.store.subscriptions(any_chat.chat)] == [
        "Künstliche Intelligenz",
        "xAI",
    ]
    assert "Neueste Artikel zu Künstliche Intelligenz:" in await any_chat.text(f"/latest {typed}")


async def test_a_quoted_new_tag_is_one_tag_without_its_quotes(any_chat: Chat, any_ctx: Ctx) -> None:
    reply = await any_chat.text('/subscribe "Quanten Computing" „Open Source“')
    assert "Abonniert: Quanten Computing, Open Source." in reply
    assert [s.tag for s in any_ctx.store.subscriptions(any_chat.chat)] == [
        "Open Source",
        "Quanten Computing",
    ]


async def test_top_and_latest_take_the_hashtag_form(any_chat: Chat, any_ctx: Ctx) -> None:
    rated = add(any_ctx, article(tags=("R&D",)))
    await any_chat.press(vote_data(rated, 1), on=any_chat.post(rated))
    assert "Am besten geschrieben zu R&D:" in await any_chat.text("/top #R_D")
    assert "Neueste Artikel zu R&D:" in await any_chat.text("/latest R_D")
    assert "Neueste Artikel zu C++:" not in await any_chat.text("/latest C++")


async def test_a_discord_completion_is_accepted_back(any_chat: Chat, any_ctx: Ctx) -> None:
    add(any_ctx, article(tags=MIXED))

    async def known(prefix: str, limit: int) -> list[str]:
        return any_ctx.store.tags_matching(prefix, limit)

    choices = await tag_choices("Künstliche Int", known, many=True)
    value = choices[0][1]
    assert value.startswith("Künstliche Intelligenz")
    # Discord hands an option over whole, as one argument.
    cmd = Command(
        chat=any_chat.chat, user=any_chat.person("alice"), name="subscribe", args=(value,)
    )
    replies = await dispatch.handle_command(any_ctx, cmd)
    assert "Abonniert: Künstliche Intelligenz." in replies[0].text.plain()


def test_the_terminal_subscribes_to_the_forms_a_post_shows(tmp_path: Path) -> None:
    newsbot = Newsbot(tmp_path)
    (tmp_path / "c.txt").write_text(
        "Ein Artikel über die Sprache C und ihre Zeiger.\nSchlagwörter: C\n", encoding="utf-8"
    )
    (tmp_path / "mixed.txt").write_text(
        "Titel: Autos und KI\nEin Artikel über Autos, die selbst fahren.\n"
        "Schlagwörter: E-Autos + Künstliche Intelligenz + C++\n",
        encoding="utf-8",
    )
    newsbot("ingest", str(tmp_path / "c.txt"), str(tmp_path / "mixed.txt"))
    out = newsbot("chat", stdin="/subscribe C++\n").stdout
    assert "Abonniert: C++." in out and "#E_Autos #Künstliche_Intelligenz #C++" in out
    assert "Zeiger" not in out
    out = newsbot(
        "chat", stdin='/unsubscribe all\n/subscribe #Künstliche_Intelligenz "E Autos"\n'
    ).stdout
    assert "Abonniert: Künstliche Intelligenz, E-Autos." in out
    # A quoted tag no article carries yet is one tag in the terminal too.
    out = newsbot("chat", stdin='/subscribe "Quanten Computing"\n').stdout
    assert "Abonniert: Quanten Computing." in out


def test_feeds_add_tags_in_the_hashtag_form(tmp_path: Path) -> None:
    newsbot = Newsbot(tmp_path)
    (tmp_path / "known.txt").write_text(
        "Ein Artikel über E-Autos.\nSchlagwörter: E-Autos\n", encoding="utf-8"
    )
    newsbot("ingest", str(tmp_path / "known.txt"))
    newsbot("chat", stdin="/subscribe E-Autos\n")
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "new.txt").write_text(
        "Titel: Ladesäulen\nDie Stadt baut neue Ladesäulen am Bahnhof.\n", encoding="utf-8"
    )
    newsbot("feeds", "add", str(folder), "--tags", "#E_Autos + C++")
    assert "\tE-Autos,C++\t" in newsbot("feeds", "list").stdout
    newsbot("feeds", "fetch")
    out = newsbot("chat", stdin="/latest E-Autos\n").stdout
    assert "Ladesäulen" in out


# SQLite only: m009 rewrote stored SQLite data; PostgreSQL stores start after it (m001_core).
def test_m009_rekeys_and_merges_stored_tags_and_subscriptions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m009_tag_keys_match_hashtags")
    for article_id in (1, 2):
        db.execute(
            "INSERT INTO articles (id, dedupe_key, url_key, content_hash, title, body, added,"
            " language, source) VALUES (?, ?, NULL, ?, 'T', 'B', '2024-01-01 00:00:00.000000',"
            " 'de', 'test')",
            (article_id, f"k{article_id}", f"h{article_id}"),
        )
    # Keys as the old rule made them: E-Autos and E_Autos were two tags, C++ was its own.
    db.execute(
        "INSERT INTO tags (id, key, name) VALUES (1, 'e-autos', 'E-Autos'),"
        " (2, 'e_autos', 'E_Autos'), (3, 'c++', 'C++')"
    )
    db.execute(
        "INSERT INTO article_tags (article_id, tag_id, position) VALUES (1, 1, 0), (1, 2, 1),"
        " (2, 2, 0), (2, 3, 1)"
    )
    db.execute(
        "INSERT INTO subscriptions (platform, chat_id, tag_key, tag, active, created) VALUES"
        " ('console', 'a', 'e_autos', 'E_Autos', 0, '1'), ('console', 'a', 'e-autos', 'E-Autos',"
        " 1, '2'), ('console', 'a', 'r&d', 'R&D', 1, '3')"
    )
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    try:
        # m009 runs first; later migrations follow it.
        assert store.migrate()[0] == "m009_tag_keys_match_hashtags"
        first, second = store.get_article(1), store.get_article(2)
        assert first is not None and second is not None
        assert first.tags == ("E-Autos",) and second.tags == ("E-Autos", "C++")
        subs = store.subscriptions(ChatRef("console", "a"))
        assert [(s.tag, s.active) for s in subs] == [("E-Autos", True), ("R&D", True)]
        assert [a.id for a in store.latest_articles("#R_D")] == []
        assert [a.id for a in store.latest_articles("#E_Autos")] == [2, 1]
    finally:
        store.close()
