"""Answers that mean what they say, in one language per surface (issue 13), as a person reads
them in the terminal chat and from the command line."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.console import SHARED_CHAT, ConsoleAdapter
from bot.settings import load_settings
from handlers.context import CoreConfig
from storage.models import UserRef, VoteTally
from storage.moderation import BOT_WIDE, Moderation
from storage.store import Store
from tests.conftest import article
from tests.test_cli import SAMPLE, Newsbot


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(db=tmp_path / "bot.db", demo=False)
    app = App(settings, open_store(settings))
    store_article(app.store, settings.core_config(), article())
    yield app
    await app.shutdown()


async def terminal(app: App, user: str, *lines: str) -> str:
    """What `newsbot chat --user USER` prints for these lines."""
    screen = io.StringIO()
    console = ConsoleAdapter(
        app.runtime,
        UserRef("console", user, user, user),
        stdin=io.StringIO(""),
        stdout=screen,
        interactive=False,
    )
    for line in lines:
        await console.handle_line(line)
    return screen.getvalue()


# -- /forgetme -----------------------------------------------------------------------------


def test_forgetme_in_the_terminal_deletes_only_that_persons_data(newsbot: Newsbot) -> None:
    """Each --user has a terminal chat of their own: alice forgetting herself leaves the
    owner's subscriptions and language alone."""
    newsbot("ingest", str(SAMPLE))
    newsbot("chat", stdin="/subscribe xAI\n/lang en\n")
    gone = newsbot("chat", "--user", "alice", stdin="/vote 1 2\n/forgetme\n").stdout
    assert "Erledigt: deine 1 Stimme und die Abos" in gone
    kept = newsbot("chat", stdin="/subscriptions\n").stdout
    assert "This chat's subscriptions:" in kept and "• xAI" in kept
    # Alice's own chat was hers alone: its settings went with her.
    assert "keine Abos" in newsbot("chat", "--user", "alice", stdin="/subscriptions\n").stdout


def test_the_owner_keeps_the_shared_terminal_chat_of_older_versions(
    newsbot: Newsbot, tmp_path: Path
) -> None:
    newsbot("ingest", str(SAMPLE))
    store = Store(tmp_path / "newsbot.db")
    try:
        store.subscribe(SHARED_CHAT, ["OpenAI"], backlog=0)
        store.update_chat_settings(SHARED_CHAT, language="en")
    finally:
        store.close()
    assert "• OpenAI" in newsbot("chat", stdin="/subscriptions\n").stdout
    assert "keine Abos" in newsbot("chat", "--user", "alice", stdin="/subscriptions\n").stdout


@pytest.fixture
def newsbot(tmp_path: Path) -> Newsbot:
    return Newsbot(tmp_path)


# -- /resetvotes ---------------------------------------------------------------------------


async def test_resetvotes_counts_agree_and_say_what_they_count(app: App) -> None:
    await terminal(app, "alice", "/vote 1 1")
    await terminal(app, "bob", "/vote 1 2")
    await terminal(app, "owner", "/ban @bob spam")
    ask = await terminal(app, "owner", "/resetvotes 1")
    split = "In den Ergebnissen gezählt: 1; von gesperrten Personen, nicht gezählt: 1."
    assert "Wirklich alle 2 Stimmen zu #1 löschen?" in ask and split in ask
    done = await terminal(app, "owner", "/resetvotes 1 confirm")
    assert "2 Stimmen zu #1 gelöscht." in done and split in done
    assert "Stimmen insgesamt: 0" in await terminal(app, "owner", "/results 1")


def test_vote_tally_and_reset_on_both_engines(any_store: Store, config: CoreConfig) -> None:
    [new] = store_article(any_store, config, article()).new
    mod = Moderation(any_store)
    for name, option in (("a", 1), ("b", 2), ("c", 2)):
        any_store.cast_vote(new.id, UserRef("telegram", name), option)
    mod.ban(UserRef("telegram", "b"), BOT_WIDE, "spam", "telegram:1")
    assert mod.vote_tally(new.id) == VoteTally(counted=2, uncounted=1)
    assert mod.reset_votes(new.id) == VoteTally(counted=2, uncounted=1)
    assert mod.vote_tally(new.id) == VoteTally(counted=0, uncounted=0)


# -- plurals -------------------------------------------------------------------------------


async def test_counts_read_as_real_plurals(app: App) -> None:
    await terminal(app, "owner", "/closepoll 1")
    audit = await terminal(app, "owner", "/audit 1")
    assert "Prüfprotokoll, der neueste Eintrag:" in audit and "die neuesten 1" not in audit
    await terminal(app, "owner", "/reopenpoll 1")
    assert "die neuesten 2 Einträge" in await terminal(app, "owner", "/audit 2")
    assert "deine 1 Stimme und" in await terminal(app, "alice", "/vote 1 1", "/forgetme")
    await terminal(app, "bob", "/start")
    await terminal(app, "owner", "/warn @bob Ton")
    assert "1 Verwarnung von @bob zurückgesetzt" in await terminal(
        app, "owner", "/resetwarnings @bob"
    )
    english = await terminal(app, "carol", "/lang en", "/vote 1 2", "/top")
    assert "from 1 vote" in english and "1 votes" not in english


# -- error texts that name the right thing -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "says", "never"),
    [
        ("/feeds pause abc", "„abc“ ist keine Quellennummer", "Artikelnummer"),
        ("/admin add bob", "„bob“ bezeichnet keine Person. Schreib @bob", "/admin @name"),
        ("/admin add", "Wen meinst du? /admin add @Name", "antworte"),
        ("/mute @ghost 10m", "„@ghost“ kenne ich nicht: niemand dieses Namens", "Antworte"),
        ("/audit -5", "„-5“ ist keine Anzahl von Einträgen: nimm eine ganze Zahl von 1 bis 50", ""),
    ],
)
async def test_errors_name_what_was_expected(app: App, line: str, says: str, never: str) -> None:
    await terminal(app, "bob", "/start")  # somebody the owner could mean
    out = await terminal(app, "owner", line)
    assert says in out
    if never:
        assert never not in out


# -- one language per surface --------------------------------------------------------------


def test_an_english_terminal_reads_english_poll_labels_and_updates(newsbot: Newsbot) -> None:
    newsbot("ingest", str(SAMPLE))
    out = newsbot("chat", stdin="/lang en\n/subscribe xai\n/vote 1 3\n").stdout
    assert "How would you rate the writing style of this article?" in out
    assert "[Excellent · 0]" in out and "Your vote: Fair" in out
    assert "↻ #1 updated: Excellent · 0 · Good · 0 · Fair · 1" in out
    for german in ("aktualisiert", "Befriedigend", "Schreibstil", "drücken mit"):
        assert german not in out
    # The same poll, the same stored option, in a German chat.
    german = newsbot("chat", "--user", "dora", stdin="/results 1\n").stdout
    assert "3. Befriedigend (3)" in german


async def test_german_help_names_its_placeholders_in_german(app: App) -> None:
    german = await terminal(app, "owner", "/help")
    # (/start and /help are the help itself: it does not list them.)
    for usage in ("/search WÖRTER", "/subscribe SCHLAGWORT..."):
        assert usage in german
    assert "/ban [PERSON] [GRUND]" in german
    for english in ("WORDS", "USER", "PAYLOAD", "REASON"):
        assert english not in german
    assert "/search WORDS" in await terminal(app, "erin", "/lang en", "/help")


def test_a_wrong_setting_is_said_in_plain_words(tmp_path: Path) -> None:
    wrong = Newsbot(tmp_path, NEWSBOT_LANGUAGE="fr")("db", "stats", check=False)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    # In the language the command line speaks (the German default today, or English).
    assert (
        "NEWSBOT_LANGUAGE muss de oder en sein, nicht fr." in wrong.stderr
        or "NEWSBOT_LANGUAGE must be de or en, not fr." in wrong.stderr
    )
    assert "pattern" not in wrong.stderr and "String should" not in wrong.stderr
    secret = Newsbot(
        tmp_path,
        NEWSBOT_TELEGRAM_TOKEN="123:SECRET",
        NEWSBOT_TELEGRAM_WEBHOOK_URL="https://bot.example.org/hook",
        NEWSBOT_TELEGRAM_WEBHOOK_SECRET="hunter2 with spaces",
    )("db", "stats", check=False)
    assert secret.returncode == 2
    assert "NEWSBOT_TELEGRAM_WEBHOOK_SECRET" in secret.stderr and "A-Z" in secret.stderr
    assert "hunter2" not in secret.stderr and "SECRET" not in secret.stderr.replace(
        "NEWSBOT_TELEGRAM_WEBHOOK_SECRET", ""
    )
    number = Newsbot(tmp_path, NEWSBOT_BACKLOG="lots")("db", "stats", check=False)
    assert "NEWSBOT_BACKLOG" in number.stderr and "0" in number.stderr and "20" in number.stderr
    assert "lots" in number.stderr  # not a secret: the wrong value is shown


def test_the_language_setting_is_read_as_lang_reads_it(tmp_path: Path) -> None:
    assert (
        "Unknown command /nope"
        in Newsbot(tmp_path, NEWSBOT_LANGUAGE="EN")("chat", stdin="/nope\n").stdout
    )


# -- unbounded subscriptions ---------------------------------------------------------------


async def test_subscribe_takes_at_most_twenty_tags_at_once(app: App) -> None:
    many = " ".join(f"Thema{n}" for n in range(21))
    out = await terminal(app, "owner", f"/subscribe {many}", "/subscriptions")
    assert "Das sind 21 Schlagwörter auf einmal; /subscribe nimmt höchstens 20." in out
    assert "Nichts wurde abonniert" in out and "keine Abos" in out
    twenty = " ".join(f"Thema{n}" for n in range(20))
    assert "Abonniert: Thema0" in await terminal(app, "owner", f"/subscribe {twenty}")
