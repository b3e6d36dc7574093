"""The HTTP endpoint of `newsbot run` (issue 16): /healthz says which part fails, /metrics
counts what happened, and only a token holder reaches an endpoint other machines could reach.
Everything binds 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App, open_store
from bot.http_access import AccessGuard, is_loopback, parse_listen
from bot.http_endpoint import HttpEndpoint
from bot.platforms.console import CHAT, ConsoleAdapter
from bot.settings import Settings, load_settings
from storage.models import UserRef
from tests.fakes.telegram_api import FakeTelegram
from tests.newsbot_process import NewsbotProcess, base_env
from tests.telegram_helpers import TOKEN, configure, running
from tests.test_app import Screen
from tests.test_storage_outage import SQLITE_MAX_PAGES

JSON = dict[str, object]


@asynccontextmanager
async def serving(app: App, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The endpoint of `app` on a free loopback port, and a client for it."""
    endpoint = HttpEndpoint(app.runtime, app.scheduler, settings)
    await endpoint.start()
    try:
        async with httpx.AsyncClient(
            base_url=endpoint.base_url, trust_env=False, timeout=10
        ) as client:
            yield client
    finally:
        await endpoint.stop()


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    """Wait (bounded) until `check()` holds, asking again after each answer."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                # An HTTP answer has no event to wait on: ask again shortly (no timed assertion).
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None


async def health(client: httpx.AsyncClient) -> tuple[int, JSON]:
    response = await client.get("/healthz")
    return response.status_code, response.json()


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_HTTP_LISTEN", "127.0.0.1:0")
        yield fake


# -- /healthz --------------------------------------------------------------------------------


async def test_healthz_turns_503_while_telegram_is_unreachable(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice", language_code="de")
    settings = load_settings()
    async with running(tg, settings) as bot, serving(bot.app, settings) as client:
        status, body = await health(client)
        assert status == 200, body
        assert body["status"] == "ok" and body["failed"] == []
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert set(checks) == {"database", "scheduler", "platform:telegram", "deliveries"}

        # Telegram's connection drops: every getUpdates is cut off without an answer. A
        # message ends the long poll in flight, so the next one meets the failure.
        tg.fail_next("getUpdates", times=None, kind="drop_unprocessed")
        tg.send_text(alice, alice, "/help")

        async def failing() -> bool:
            return (await health(client))[0] == 503

        await until(failing, "/healthz says 503 while Telegram cannot be reached")
        status, body = await health(client)
        assert body["status"] == "failing"
        assert body["failed"] == ["platform:telegram"]
        assert body["checks"]["platform:telegram"] == {"state": "not_connected"}  # type: ignore[index]

        tg.clear_failures()

        async def back() -> bool:
            return (await health(client))[0] == 200

        await until(back, "/healthz is 200 again once Telegram answers")


async def test_healthz_turns_503_while_the_database_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in tests/test_storage_outage.py: a database with no room to grow (a full disk)."""
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(
        db=tmp_path / "bot.db", demo=False, sources_every=0.2, http_listen="127.0.0.1:0"
    )
    folder = tmp_path / "inbox"
    folder.mkdir()
    body = " ".join(f"Satz {n} über Rechenzentren im Norden." for n in range(1000))
    (folder / "a.txt").write_text(
        f"Titel: Neues Rechenzentrum\n\n{body}\n\nSchlagwörter: xAI\n", encoding="utf-8"
    )
    store = open_store(settings)
    store.subscribe(CHAT, ["xAI"])
    app = App(settings, store)
    console = ConsoleAdapter(
        app.runtime, UserRef("console", "owner"), stdin=io.StringIO(""), stdout=Screen()
    )
    app.add_adapter(console)
    try:
        await app.start()
        async with serving(app, settings) as client:
            assert (await health(client))[0] == 200
            pages = await app.db.run(
                lambda: int(store.db.conn.execute("PRAGMA page_count").fetchone()[0])
            )
            await app.db.run(store.db.conn.execute, f"PRAGMA max_page_count = {pages}")
            await app.db.run(store.add_feed, str(folder), "path", interval_seconds=60)

            async def failing() -> bool:
                return (await health(client))[0] == 503

            await until(failing, "/healthz says 503 while the database fails")
            _, answer = await health(client)
            assert answer["failed"] == ["database"]
            assert answer["checks"]["database"] == {"state": "failing"}  # type: ignore[index]

            await app.db.run(store.db.conn.execute, f"PRAGMA max_page_count = {SQLITE_MAX_PAGES}")

            async def back() -> bool:
                return (await health(client))[0] == 200

            await until(back, "/healthz is 200 again once the database works")
    finally:
        await app.shutdown()


# -- /metrics --------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by name and labels, parsed with prometheus-client's parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_what_happened(tg: FakeTelegram, tmp_path: Path) -> None:
    alice = tg.user(42, "Alice", language_code="de")
    bob = tg.user(43, "Bob", language_code="de")
    carol = tg.user(44, "Carol", language_code="de")
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Titel: Aus der Quelle\n\nEin Text aus einer Quelle.\n\nSchlagwörter: Quelle\n",
        encoding="utf-8",
    )
    settings = load_settings()
    setup = open_store(settings)
    setup.add_feed(str(folder), "path", interval_seconds=3600)
    setup.close()
    async with running(tg, settings) as bot, serving(bot.app, settings) as client:
        tg.send_text(alice, alice, "/subscribe xAI")
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        first = await bot.add_article("Erster Artikel über xAI")
        await bot.add_article("Zweiter Artikel über xAI")
        await tg.wait_for_message(alice, "Zweiter Artikel über xAI")
        post = await tg.wait_for_message(alice, "Erster Artikel über xAI")
        tg.press(alice, alice, post["message_id"], f"nb:vote:{first}:1")
        for person in (bob, carol):  # the text twin of the buttons, in their own chats
            tg.send_text(person, person, f"/vote {first} 2")
            await tg.wait_for_message(person, "Gut")

        scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

        async def counted() -> bool:
            nonlocal scraped
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            scraped = samples(response.text)
            return scraped.get(("newsbot_votes", ())) == 3

        await until(counted, "three votes counted")
        telegram = (("platform", "telegram"),)
        assert scraped[("newsbot_deliveries_sent_total", telegram)] == 2
        assert scraped.get(("newsbot_deliveries_failed_total", telegram), 0) == 0
        assert scraped[("newsbot_articles", ())] == 3  # two and the feed's one
        assert scraped[("newsbot_feed_fetches_total", (("outcome", "new"),))] == 1
        assert scraped[("newsbot_handler_seconds_count", (("command", "subscribe"),))] == 1
        assert scraped[("newsbot_telegram_update_lag_seconds_count", ())] >= 1
        assert scraped[("newsbot_platform_connected", telegram)] == 1
        assert scraped[("newsbot_database_size_bytes", ())] > 0
        assert scraped[("newsbot_oldest_due_feed_seconds", ())] == 0

        # A 429 on a send is counted with the wait Telegram asked for.
        tg.fail_next("sendMessage", kind="flood", retry_after=1)
        await bot.add_article("Dritter Artikel über xAI")
        await tg.wait_for_message(alice, "Dritter Artikel über xAI")
        scraped = samples((await client.get("/metrics")).text)
        assert scraped[("newsbot_rate_limited_total", telegram)] == 1
        assert scraped[("newsbot_retry_after_seconds_sum", telegram)] == 1
        assert scraped[("newsbot_deliveries_sent_total", telegram)] == 3
        assert scraped[("newsbot_deliveries_failed_total", telegram)] == 1


# -- access ----------------------------------------------------------------------------------


def test_listen_addresses_and_which_are_local() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9") == ("::1", 9)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    for wrong in ("8080", "::1:8080", "host:", "host:http", "a b:1", "[::1]8080", ":8080"):
        with pytest.raises(ValueError, match=r".*"):
            parse_listen(wrong)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.9.10")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1")
    assert not is_loopback("bot.example.org")


def test_the_guard_refuses_a_non_local_endpoint_without_its_token() -> None:
    secret = "a-long-dashboard-token-4711"
    public = AccessGuard.for_listen("0.0.0.0:8080", secret)
    assert not public.listen_is_local
    nothing = {"authorization": None, "cookie": None, "query_token": None}
    assert not public.allows(**nothing)
    assert not public.allows(authorization="Bearer wrong-token", cookie=None, query_token=None)
    assert not public.allows(authorization=secret, cookie=None, query_token=None)  # no scheme
    assert public.allows(authorization=f"Bearer {secret}", cookie=None, query_token=None)
    assert public.allows(authorization=None, cookie=secret, query_token=None)
    assert public.allows(authorization=None, cookie=None, query_token=secret)
    assert public.owner_view
    # Settings never let a non-local endpoint start without a token; were one to, nobody
    # would get in.
    assert not AccessGuard.for_listen("0.0.0.0:8080", None).allows(**nothing)
    # On loopback without a token, whoever reaches it reads it, but is no owner.
    local = AccessGuard.for_listen("127.0.0.1:8080", None)
    assert local.allows(**nothing) and not local.owner_view


async def test_a_request_without_the_token_is_refused(tg: FakeTelegram) -> None:
    """A server that holds its configured address to be non-local (bound on 127.0.0.1 here,
    never anywhere else) answers nothing without the token, and everything with it."""
    secret = "a-long-dashboard-token-4711"
    settings = load_settings(http_token=secret)
    async with running(tg, settings) as bot:
        endpoint = HttpEndpoint(
            bot.app.runtime,
            bot.app.scheduler,
            settings,
            guard=AccessGuard(secret, listen_is_local=False),
        )
        await endpoint.start()
        try:
            async with httpx.AsyncClient(base_url=endpoint.base_url, trust_env=False) as client:
                for path in ("/healthz", "/metrics", "/", "/feeds", "/paused", "/audit"):
                    refused = await client.get(path)
                    assert refused.status_code == 401, path
                    assert "newsbot_" not in refused.text and "status" not in refused.text
                wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
                assert wrong.status_code == 401
                bearer = {"Authorization": f"Bearer {secret}"}
                assert (await client.get("/healthz", headers=bearer)).status_code == 200
                assert (await client.get("/metrics", headers=bearer)).status_code == 200
                # No writes: anything but GET and HEAD is refused, token or not.
                posted = await client.post("/", headers=bearer)
                assert posted.status_code == 405
                assert (await client.head("/feeds", headers=bearer)).status_code == 200
                # ?token= becomes a cookie, and the browser goes back to a path on this server.
                moved = await client.get(endpoint.base_url + f"//evil.example/x?q=1&token={secret}")
                assert moved.status_code == 303
                assert moved.headers["location"] == "/evil.example/x?q=1"
                cookie = moved.headers["set-cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                # A wrong ?token= of someone let in by the header is not kept as the cookie.
                moved = await client.get("/?token=not-the-token-at-all", headers=bearer)
                assert moved.status_code == 303 and "set-cookie" not in moved.headers
        finally:
            await endpoint.stop()


async def test_a_public_listen_address_without_a_token_stops_newsbot_at_start(
    tmp_path: Path,
) -> None:
    """The settings refuse it before anything binds: one line, exit code 2."""
    env = base_env(tmp_path, telegram_token=TOKEN, http_listen="0.0.0.0:8080", language="en")
    bot = await NewsbotProcess.start(env, "run", cwd=tmp_path)
    finished = await bot.finished(within=60)
    assert finished.code == 2
    lines = finished.err.strip().splitlines()
    assert len(lines) == 1, finished.err
    assert "NEWSBOT_HTTP_TOKEN" in lines[0] and "NEWSBOT_HTTP_LISTEN" in lines[0]
    assert "Traceback" not in finished.err

    env = base_env(tmp_path, http_listen="localhost", language="en")
    bad = await NewsbotProcess.start(env, "run", cwd=tmp_path)
    finished = await bad.finished(within=60)
    assert finished.code == 2
    assert "NEWSBOT_HTTP_LISTEN" in finished.err and "127.0.0.1:8080" in finished.err


async def test_healthz_turns_503_when_discord_closes_the_gateway(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Discord ends the session for good (4004: the token was revoked): discord.py stops."""
    from tests.discord_helpers import configure as configure_discord
    from tests.discord_helpers import running_bot, setup_server
    from tests.fakes.discord_api import FakeDiscord

    async with FakeDiscord() as dc:
        setup_server(dc)
        configure_discord(monkeypatch, tmp_path, dc)
        monkeypatch.setenv("NEWSBOT_HTTP_LISTEN", "127.0.0.1:0")
        async with running_bot(dc) as bot, serving(bot.app, bot.settings) as client:
            status, body = await health(client)
            assert status == 200, body
            assert body["checks"]["platform:discord"] == {"state": "ok"}  # type: ignore[index]
            await dc.disconnect(code=4004)

            async def failing() -> bool:
                return (await health(client))[0] == 503

            await until(failing, "/healthz says 503 once Discord closed the gateway")
            _, body = await health(client)
            assert body["failed"] == ["platform:discord"]


async def test_a_port_in_use_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from bot.adapter_contract import PlatformStartError

    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(
            db=tmp_path / "bot.db", demo=False, http_listen=f"127.0.0.1:{port}", language="en"
        )
        app = App(settings, open_store(settings))
        try:
            with pytest.raises(PlatformStartError) as refused:
                await HttpEndpoint(app.runtime, app.scheduler, settings).start()
        finally:
            await app.shutdown()
    line = refused.value.line()
    assert f"127.0.0.1:{port}" in line and "NEWSBOT_HTTP_LISTEN" in line
    assert refused.value.exit_code == 1
