"""Wiring in one place: the store, the runtime, the adapters and the scheduler in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery import Deliverer
from bot.llm import answer_writer
from bot.platforms.base import Adapter, PlatformStartError
from bot.platforms.console import CHAT as CONSOLE_CHAT
from bot.platforms.console import ConsoleAdapter
from bot.runtime import Runtime
from bot.settings import Settings
from bot.sources import SourcePoller, demo_wanted, ingest_next_demo
from handlers.i18n import t
from storage.models import UserRef
from storage.store import ALL_TAGS, Store

log = logging.getLogger(__name__)


class Job:
    """A periodic coroutine that can also be kicked. A kick while it runs makes it run once
    more right after, instead of being dropped, so nothing waits for the next interval."""

    def __init__(self, name: str, func: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.func = func
        self.running = False
        self.again = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        self._idle.clear()
        try:
            while True:
                self.again = False
                try:
                    await self.func()
                except Exception:
                    log.exception("job %s failed", self.name)
                if not self.again:
                    break
        finally:
            self.running = False
            self._idle.set()

    async def run_now(self) -> None:
        """Run it and wait until a run that started after this call has finished."""
        if self.running:
            self.again = True
            await self._idle.wait()
        else:
            await self.run()

    def kick(self) -> None:
        task = asyncio.get_running_loop().create_task(self.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no run is in progress, kicked or scheduled."""
        while self._tasks or self.running:
            if self._tasks:
                await asyncio.gather(*list(self._tasks))
            await self._idle.wait()


def open_store(settings: Settings) -> Store:
    store = Store(settings.db, synchronous=settings.db_synchronous)
    store.migrate()
    return store


class App:
    """One process of newsbot: the adapters that have tokens (or the terminal), the scheduler
    with its jobs, all on one asyncio loop."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.runtime = Runtime(store, settings.core_config())
        self.deliverer = Deliverer(self.runtime, max_attempts=settings.max_attempts)
        self.poller = SourcePoller.from_settings(store, self.runtime.ctx.config, settings)
        self.runtime.ctx.answers = answer_writer(settings)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.deliver_job = Job("deliver", self.deliverer.deliver_due)
        self.refresh_job = Job("refresh", self.deliverer.refresh_stale)
        self.sources_job = Job("sources", self._poll_sources)
        self.demo_job = Job("demo", self._next_demo)
        self.demo = False
        self.runtime.on_wake(self.deliver_job.kick)
        self.runtime.on_wake(self.refresh_job.kick)
        self.stopping = asyncio.Event()

    async def _poll_sources(self) -> None:
        report = await self.poller.poll_due()
        if report.new:
            self.runtime.wake()

    async def _next_demo(self) -> None:
        report = ingest_next_demo(self.store, self.runtime.ctx.config)
        if report.new:
            self.runtime.wake()

    def add_adapter(self, adapter: Adapter) -> None:
        self.runtime.add_adapter(adapter)

    async def start(self) -> None:
        """Start the scheduler's jobs."""
        s = self.settings
        every = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        self.scheduler.add_job(self.deliver_job.run, "interval", seconds=s.deliver_every, **every)
        self.scheduler.add_job(self.refresh_job.run, "interval", seconds=s.refresh_every, **every)
        self.scheduler.add_job(self.sources_job.run, "interval", seconds=s.sources_every, **every)
        self.demo = demo_wanted(self.store, s.demo)
        if self.demo:
            self.scheduler.add_job(self.demo_job.run, "interval", seconds=s.demo_interval, **every)
        self.scheduler.start()
        # The first look at the sources and the demo's first article happen before start()
        # returns, so that what is there is there when people (or a script) start talking.
        await self.sources_job.run_now()
        if self.demo:
            await self.demo_job.run_now()

    async def drain(self, chat_filter: Callable[[], int], bound: float = 20.0) -> None:
        """Wait (bounded) until `chat_filter()` reports nothing due, kicking the worker."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound
        while chat_filter() and loop.time() < deadline:
            await self.deliver_job.run_now()
        await self.refresh_job.run_now()

    async def shutdown(self) -> None:
        """Stop starting jobs, let running ones finish (a send that went out gets recorded, so
        it is not sent again after a restart), then stop the adapters."""
        if self.scheduler.running:
            self.scheduler.pause()
        for job in (self.deliver_job, self.refresh_job, self.sources_job, self.demo_job):
            await job.idle()
        if self.scheduler.running:
            # Nothing runs any more: the executor has nothing to cancel.
            self.scheduler.shutdown(wait=False)
        for adapter in list(self.runtime.adapters.values()):
            with contextlib.suppress(Exception):
                await adapter.stop()
        self.store.close()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_console(settings: Settings, user_name: str | None = None) -> int:
    """The terminal chat with the scheduler: deliveries to the terminal arrive while you type;
    at the end of piped input, what is due for this chat is shown, then it exits."""
    store = open_store(settings)
    app = App(settings, store)
    name = user_name or settings.console_user
    console = ConsoleAdapter(app.runtime, UserRef("console", name, name, name))
    app.add_adapter(console)
    install_signal_handlers(app.stopping)
    lang = app.runtime.language(CONSOLE_CHAT)
    if console.interactive:
        console.say(t("console.banner", lang, user=name))
    # The demo posts into this terminal: subscribe it to everything unless it chose already.
    if demo_wanted(store, settings.demo) and not store.subscriptions(CONSOLE_CHAT):
        store.subscribe(CONSOLE_CHAT, [ALL_TAGS], backlog=settings.backlog)
        if console.interactive:
            console.say(t("console.demo", lang, seconds=int(settings.demo_interval)))
    await app.start()
    try:
        talk = asyncio.create_task(
            console.converse(lambda: app.drain(lambda: store.due_count(CONSOLE_CHAT)))
        )
        stop = asyncio.create_task(app.stopping.wait())
        await asyncio.wait({talk, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not talk.done():
            talk.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talk
    finally:
        await app.shutdown()
    return 0


def platform_adapters(settings: Settings, runtime: Runtime) -> list[Adapter]:
    """The adapters of every platform that has a token."""
    adapters: list[Adapter] = []
    if settings.telegram_token is not None:
        # Imported here: without a token, python-telegram-bot is never loaded.
        from bot.platforms.telegram_adapter import TelegramAdapter

        adapters.append(TelegramAdapter(runtime, settings))
    if settings.discord_token is not None:
        # Imported here: without a token, discord.py is never loaded.
        from bot.platforms.discord_adapter import DiscordAdapter

        adapters.append(DiscordAdapter(runtime, settings))
    return adapters


async def run_platforms(settings: Settings) -> int:
    """`newsbot run` with tokens: every platform and the scheduler until SIGINT or SIGTERM.
    Stopping lets in-flight sends finish; what is still pending stays in the outbox."""
    store = open_store(settings)
    app = App(settings, store)
    adapters = platform_adapters(settings, app.runtime)
    if not adapters:
        store.close()
        raise SystemExit("no platform adapter is available for the configured tokens")
    install_signal_handlers(app.stopping)
    try:
        for adapter in adapters:
            app.add_adapter(adapter)
            await adapter.start()
        await app.start()
        await app.stopping.wait()
    except PlatformStartError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    finally:
        await app.shutdown()
    return 0
