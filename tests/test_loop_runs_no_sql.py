"""While the bot serves, no SQL runs on the event loop's thread: every statement of a command,
a question, a press, a delivery, a refresh, inline mode and tag completion goes through the
database thread. The real adapters run against FakeTelegram and FakeDiscord; SQLite itself
reports each statement's thread."""

from __future__ import annotations

import threading

from bot.app import App, open_store, platform_adapters
from bot.ingest import store_article
from bot.settings import load_settings
from storage.models import NewArticle
from tests.discord_helpers import ALICE, GUILD, MOD, NEWS, article, running_bot
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import labels

VOTE = "nb:vote:{}:{}"


class StatementThreads:
    """Every SQL statement on one connection, with the thread that ran it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def __call__(self, sql: str) -> None:
        with self._lock:
            self.seen.append((threading.get_ident(), sql))

    def on(self, thread: int) -> list[str]:
        with self._lock:
            return [sql for ident, sql in self.seen if ident == thread]

    def off(self, thread: int) -> int:
        with self._lock:
            return sum(1 for ident, _ in self.seen if ident != thread)

    def assert_none_on(self, thread: int) -> None:
        assert self.off(thread) > 0, "the recorder saw no statements at all"
        on_loop = self.on(thread)
        assert on_loop == [], f"{len(on_loop)} statements ran on the loop, first: {on_loop[:5]}"


async def test_serving_runs_no_sql_on_the_loop(tg: FakeTelegram) -> None:
    loop_thread = threading.get_ident()  # the test runs on the loop the bot serves from
    statements = StatementThreads()
    settings = load_settings()
    store = open_store(settings)
    # From here on, SQLite names the thread of every statement (the app's start included).
    store.engine.conn.set_trace_callback(statements)
    app = App(settings, store)
    [adapter] = platform_adapters(settings, app.runtime)
    app.add_adapter(adapter)
    alice = tg.user(42, "Alice", language_code="de")
    bob = tg.user(7, "Bob", language_code="en")
    try:
        await adapter.start()
        await app.start()

        # Commands.
        tg.send_text(alice, alice, "/subscribe xAI")
        tg.send_text(bob, bob, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        await tg.wait_for_message(bob, "Subscribed: xAI.")

        # A delivery: the article is stored off the loop, as a feed fetch stores it.
        def add() -> int:
            report = store_article(
                store,
                app.runtime.ctx.config,
                NewArticle(
                    title="xAI eröffnet ein Büro in Berlin",
                    body="xAI eröffnet ein Büro in Berlin. Dort arbeiten bald zwanzig Leute.",
                    tags=("xAI",),
                    language="de",
                ),
            )
            return report.new[0].id

        article = await app.db.run(add)
        app.runtime.wake()
        alice_post = await tg.wait_for_message(alice, "Büro in Berlin")
        bob_post = await tg.wait_for_message(bob, "Büro in Berlin")

        # A press edits the pressed post; the refresh job edits the other copy.
        tg.press(bob, bob, bob_post["message_id"], f"nb:vote:{article}:2")
        await tg.wait_for(
            lambda: labels(tg.message(alice, alice_post["message_id"]))[1] == "Gut · 1",
            what="Alice's copy refreshed",
        )

        # A question answered from the archive, and inline mode with a choice and a press.
        tg.send_text(alice, alice, "Was macht xAI in Berlin?")
        await tg.wait_for(lambda: len(tg.messages(alice)) >= 3, what="the answer")
        query = tg.inline_query(bob, "xai")
        answer = await tg.wait_for(lambda: tg.inline_answers.get(query), what="inline answer")
        [result] = answer["results"]
        tg.chosen_inline_result(bob, result["id"], "inline-1")
        tg.press(None, bob, None, f"nb:vote:{article}:1", inline_message_id="inline-1")
        await tg.wait_for(
            lambda: labels(tg.inline_messages.get("inline-1", {}))[:1] == ["Excellent · 1"],
            what="the inline message's counts",
        )
    finally:
        await app.shutdown()

    statements.assert_none_on(loop_thread)


async def test_serving_discord_runs_no_sql_on_the_loop(dc: FakeDiscord) -> None:
    loop_thread = threading.get_ident()
    statements = StatementThreads()
    async with running_bot(dc) as bot:
        bot.store.engine.conn.set_trace_callback(statements)
        answer = await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        assert "xAI" in (answer.content or "")
        iid = await dc.autocomplete(GUILD, NEWS, ALICE, "latest", {"tag": "x"}, focused="tag")
        await dc.wait_for_interaction_response(iid)
        # The article is stored off the loop, as a feed fetch stores it.
        article_id = await bot.app.db.run(
            lambda: store_article(bot.store, bot.app.runtime.ctx.config, article()).new[0].id
        )
        bot.app.runtime.wake()
        post = await bot.post_in(NEWS, article_id)
        _update, note = await bot.press(post, ALICE, VOTE.format(article_id, 2))
        assert note.content == "Deine Stimme: Gut"
        bot.store.engine.conn.set_trace_callback(None)
    statements.assert_none_on(loop_thread)
