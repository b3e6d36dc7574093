"""Telegram updates survive crashes: the real `newsbot run` is killed during a burst of presses
and restarted, and every press counts exactly once; the webhook stores before it answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.ingest import store_article
from bot.settings import load_settings
from storage.inbox import Inbox
from storage.models import ChatRef, NewArticle
from storage.store import Store
from tests.fakes.telegram_api import FakeTelegram, TgChat
from tests.telegram_helpers import (
    TOKEN,
    WEBHOOK_SECRET,
    configure,
    labels,
    running,
    texts,
    webhook_env,
)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PRESSES = 200  # one press each by this many different people
OPTIONS = 5
TITLE = "Rechenzentrum im Norden"


class NewsbotProcess:
    """`newsbot run` as a person starts it: its own process, environment and database file."""

    def __init__(self, tmp_path: Path, tg: FakeTelegram) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "newsbot.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            self.env.pop(var, None)
            self.env.pop(var.lower(), None)
        self.env |= {
            "NEWSBOT_DB": str(self.db),
            "NEWSBOT_CONFIG": "",
            "NEWSBOT_DEMO": "false",
            "NEWSBOT_TELEGRAM_TOKEN": TOKEN,
            "NEWSBOT_TELEGRAM_API_URL": tg.api_root,
            "NEWSBOT_TELEGRAM_RATE_PER_CHAT": "50",
            "PTB_TIMEDELTA": "true",
            "NEWSBOT_LOG_LEVEL": "INFO",
        }
        self.runs: list[subprocess.Popen[bytes]] = []

    def use_webhook(self) -> str:
        """Take updates by webhook on a free loopback port; returns the webhook URL."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/telegram/hook"
        self.env |= {
            "NEWSBOT_TELEGRAM_WEBHOOK_URL": url,
            "NEWSBOT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "NEWSBOT_TELEGRAM_WEBHOOK_PORT": str(port),
        }
        return url

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"run{len(self.runs) + 1}.log", "wb")  # noqa: SIM115
        with log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                env=self.env,
                cwd=self.tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.runs.append(proc)
        return proc

    async def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        proc.send_signal(sig)
        return await asyncio.to_thread(proc.wait, 30)

    def output(self) -> str:
        logs = sorted(self.tmp_path.glob("run*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in logs)

    def kill_all(self) -> None:
        for proc in self.runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def newsbot(tmp_path: Path, tg: FakeTelegram) -> Iterator[NewsbotProcess]:
    runner = NewsbotProcess(tmp_path, tg)
    yield runner
    runner.kill_all()


def counts(record: dict[str, object]) -> list[int]:
    """The vote counts a post's buttons show ("Gut · 12" -> 12)."""
    return [int(label.rsplit("·", 1)[1]) for label in labels(record)]


def votes(newsbot: NewsbotProcess) -> int:
    store = Store(newsbot.db)
    try:
        return store.stats().votes
    finally:
        store.close()


def prepare(newsbot: NewsbotProcess, monkeypatch: pytest.MonkeyPatch, group: TgChat) -> int:
    """A database with a group subscribed to xAI and an article waiting to be posted there."""
    monkeypatch.setenv("NEWSBOT_CONFIG", newsbot.env["NEWSBOT_CONFIG"])
    config = load_settings().core_config()
    store = Store(newsbot.db)
    try:
        store.migrate()
        store.subscribe(ChatRef("telegram", str(group.id)), ["xAI"])
        body = "Ein neues Rechenzentrum. Es braucht viel Strom."
        new = NewArticle(title=TITLE, body=body, tags=("xAI",), language="de")
        return store_article(store, config, new).new[0].id
    finally:
        store.close()


async def test_a_crash_during_a_burst_of_presses_loses_none_and_counts_none_twice(
    tg: FakeTelegram, newsbot: NewsbotProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = tg.chat(-1001234, "supergroup", title="Forum")
    article = prepare(newsbot, monkeypatch, group)
    first = newsbot.start()
    post = await tg.wait_for_message(group, TITLE, timeout=30)
    mid = post["message_id"]

    people = [tg.user(10_000 + n, f"Person {n}") for n in range(PRESSES)]
    for n, person in enumerate(people):
        tg.press(group, person, mid, f"nb:vote:{article}:{n % OPTIONS + 1}")
    # A moment into the burst: the first presses are answered, most are fetched or in flight.
    await tg.wait_for(lambda: len(tg.callback_answers) >= 10, timeout=30, what="10 answers")
    first.kill()
    assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL
    before = votes(newsbot)
    assert before < PRESSES, "the kill came after the burst: nothing was tested"

    second = newsbot.start()
    expected = [PRESSES // OPTIONS] * OPTIONS
    try:
        await tg.wait_for(
            lambda: counts(tg.message(group, mid)) == expected,
            timeout=60,
            what=f"the post to show {expected}",
        )
    except AssertionError:
        shown = counts(tg.message(group, mid))
        raise AssertionError(f"the post shows {shown} (sum {sum(shown)} of {PRESSES})") from None
    assert await newsbot.stop(second) == 0, newsbot.output()

    # The database agrees: 200 votes by 200 different people (one vote per person and
    # article is the table's key), each on the option pressed.
    store = Store(newsbot.db)
    try:
        poll = store.get_poll(article)
        assert poll is not None
        assert [o.votes for o in poll.options] == expected
        assert store.stats().votes == PRESSES
    finally:
        store.close()
    assert "Traceback" not in newsbot.output()


# -- the webhook ---------------------------------------------------------------------------


async def status_before_body(url: str, headers: dict[str, str]) -> int:
    """Send only the headers of a POST (with whatever Content-Length they claim) and a byte of
    the body; the status the server answers without waiting for the rest."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n{").encode())
        await writer.drain()
        try:
            status = await asyncio.wait_for(reader.readline(), timeout=10)
        except TimeoutError:
            raise AssertionError("no answer: the server waits for the body") from None
        return int(status.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_webhook_refuses_by_the_headers_before_reading_a_body(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tg: FakeTelegram
) -> None:
    configure(monkeypatch, tmp_path, tg)
    url = webhook_env(monkeypatch)
    alice = tg.user(42, "Alice")
    huge = {"Content-Type": "application/json", "Content-Length": str(100 * 2**20)}
    async with running(tg) as bot:
        # Without the secret, or with a wrong one: 403 at once, whatever size is announced.
        assert await status_before_body(url, huge) == 403
        assert await status_before_body(url, huge | {SECRET_HEADER: "wrong"}) == 403
        assert await status_before_body(url, huge | {SECRET_HEADER: WEBHOOK_SECRET[:-1]}) == 403
        # With it, a body over 1 MB is refused as too large, also at once.
        signed = {SECRET_HEADER: WEBHOOK_SECRET}
        assert await status_before_body(url, huge | signed) == 413
        too_big = huge | signed | {"Content-Length": str(2**20 + 1)}
        assert await status_before_body(url, too_big) == 413

        # A real update of normal size gets through; nothing refused was done.
        good = tg.send_text(alice, alice, "/subscribe xAI")
        assert await tg.post_update_to(url, good, secret_token=WEBHOOK_SECRET) == 200
        await tg.wait_for_message(alice, "Abonniert: xAI.")
        assert [s.tag for s in bot.store.subscriptions(ChatRef("telegram", "42"))] == ["xAI"]
        assert len(texts(tg, alice)) == 1


async def test_webhook_answers_200_only_once_the_update_is_stored(
    tg: FakeTelegram, newsbot: NewsbotProcess
) -> None:
    """An update Telegram got its 200 for is done even when the process dies right after."""
    url = newsbot.use_webhook()
    group = tg.chat(-1005678, "supergroup", title="Redaktion")
    alice = tg.user(42, "Alice")
    tg.set_member(group, alice, "administrator")
    first = newsbot.start()
    await tg.wait_for(lambda: tg.webhook["url"] == url, timeout=30, what="setWebhook")

    # Checking Alice's rights hangs: the update is being handled when the process is killed.
    tg.fail_next("getChatMember", kind="timeout", delay=60)
    update = tg.take_update(tg.send_text(group, alice, "/subscribe xAI"))
    assert await tg.post_update_to(url, update, secret_token=WEBHOOK_SECRET) == 200
    await tg.wait_for_request("getChatMember", timeout=30)
    first.kill()
    assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL

    tg.clear_failures()
    second = newsbot.start()
    await tg.wait_for_request("setWebhook", timeout=30, count=2)  # it listens by then
    done = await tg.wait_for_message(group, "Abonniert: xAI.", timeout=30)
    # Sent again by Telegram (as after a lost answer), it is not handled twice.
    assert await tg.post_update_to(url, update, secret_token=WEBHOOK_SECRET) == 200
    barrier = tg.send_text(group, alice, "/subscriptions")
    assert await tg.post_update_to(url, barrier, secret_token=WEBHOOK_SECRET) == 200
    await tg.wait_for_message(group, "xAI", after_message_id=done["message_id"])
    assert await newsbot.stop(second) == 0, newsbot.output()
    assert len(texts(tg, group)) == 2, texts(tg, group)
    assert "Traceback" not in newsbot.output()


async def test_a_webhook_worker_takes_over_what_a_dead_worker_held(
    tg: FakeTelegram, newsbot: NewsbotProcess
) -> None:
    """Telegram had its 200 for an update another worker stored and then died holding: it
    never sends it again. A running webhook worker takes it over once that claim ran out."""
    url = newsbot.use_webhook()
    newsbot.env["NEWSBOT_TELEGRAM_ORPHAN_CHECK"] = "0.2"
    group = tg.chat(-1005679, "supergroup", title="Redaktion")
    alice = tg.user(42, "Alice")
    tg.set_member(group, alice, "administrator")
    running = newsbot.start()
    await tg.wait_for(lambda: tg.webhook["url"] == url, timeout=30, what="setWebhook")

    # Another worker stored Alice's command ten minutes ago, claimed it, and died.
    update = tg.take_update(tg.send_text(group, alice, "/subscribe xAI"))
    store = Store(newsbot.db)
    try:
        then = datetime.now(UTC) - timedelta(minutes=10)
        store.clock = lambda: then
        inbox, source = Inbox(store), f"telegram:{TOKEN.split(':')[0]}"
        inbox.receive(source, [(update["update_id"], json.dumps(update))])
        assert inbox.claim(source, update["update_id"], "a-worker-that-died")
    finally:
        store.close()

    await tg.wait_for_message(group, "Abonniert: xAI.", timeout=30)
    assert await newsbot.stop(running) == 0, newsbot.output()
    assert len(texts(tg, group)) == 1, texts(tg, group)  # handled once
    assert "Traceback" not in newsbot.output()
