"""Wiring in one place: the store, the runtime, the adapters and the scheduler in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.adapter_contract import Adapter, PlatformStartError
from bot.delivery import Deliverer
from bot.digests import DIGEST_EVERY, DigestSender
from bot.image_check import ImageChecks
from bot.jobs import Job
from bot.llm import answer_writer
from bot.platforms.console import SHARED_CHAT, ConsoleAdapter
from bot.report_job import WeeklyReport
from bot.runtime import KEEP_HANDLED, Runtime
from bot.settings import Settings
from bot.sources import SourcePoller, demo_wanted, ingest_next_demo
from bot.translation import post_translator
from bot.workers import PRESENCE_LEASE, Presence, Singleton
from handlers.i18n import format_amount, t
from storage.connection import writable
from storage.database_thread import DatabaseThread
from storage.faults import Fault, StorageError, storage_fault
from storage.housekeeping import sweep
from storage.models import ChatRef, ChatSettings, UserRef
from storage.store import ALL_TAGS, Store

if TYPE_CHECKING:
    from bot.http_endpoint import HttpEndpoint

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 3600.0  # seconds
# Besides Monday 08:00 itself: a worker that was down then (or whose database was) sends the
# week's report within this many seconds of coming back.
REPORT_CATCH_UP_EVERY = 3600.0


async def _nothing() -> None:
    """The job of a process that does not run it."""


def open_store(settings: Settings, *, read_only_ok: bool = False) -> Store:
    """The store with its schema up to date. A command that only reads (`read_only_ok`) opens
    a file it cannot write read-only instead of failing."""
    location = settings.store
    read_only = not location.is_postgres and not writable(location.path)
    if read_only and not read_only_ok:
        # SQLite would open it and fail at the first write; say so before anything starts.
        raise StorageError(Fault.READ_ONLY, path=location.display)
    store = Store(location, synchronous=settings.db_synchronous, read_only=read_only)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


class App:
    """One process of newsbot: the adapters that have tokens (or the terminal), the scheduler
    with its jobs, all on one asyncio loop."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        worker: str | None = None,
        singletons: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store  # while the app runs, used in the database thread `db` only
        self.db = DatabaseThread()
        self.worker = worker or settings.worker()
        # The clock of chats that set no /timezone (their digests and quiet hours).
        store.schedules.default_zone = settings.timezone
        self.runtime = Runtime(store, settings.core_config(), self.db)
        self.deliverer = Deliverer(
            self.runtime,
            max_attempts=settings.max_attempts,
            worker=self.worker,
            lease=settings.delivery_lease,
            refresh_lease=settings.job_lease,
            images=ImageChecks.from_settings(store, self.db, settings),
        )
        self.poller = SourcePoller.from_settings(
            store, self.runtime.ctx.config, settings, db=self.db, worker=self.worker
        )
        self.poller.metrics = self.runtime.metrics
        self.runtime.ctx.answers = answer_writer(settings)
        self.digests = DigestSender(self.runtime)
        self.weekly = WeeklyReport(self.runtime, settings)
        self.runtime.translator = post_translator(settings, self.runtime.ctx, worker=self.worker)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        # Jobs that one worker at a time runs, whichever it is (bot/workers.py). A terminal
        # session serves its own chat only: it runs them for itself, never for the workers.
        self.singletons = {
            name: Singleton(
                name, func, store=store, db=self.db, holder=self.worker, seconds=settings.job_lease
            )
            for name, func in (
                ("demo", self._next_demo),
                ("housekeeping", self._housekeeping),
                ("digest", self.digests.send_due),
                ("report", self.weekly.run),
            )
            if singletons
        }
        self.presence = Presence(store, self.db, self.worker)
        jobs, health = self.singletons, self.runtime.storage_health
        self.deliver_job = Job("deliver", self.deliverer.deliver_due, health)
        # Every worker refreshes live counts: each claims its own share of the stale posts.
        self.refresh_job = Job("refresh", self.deliverer.refresh_stale, health)
        self.sources_job = Job("sources", self._poll_sources, health)
        self.demo_job = Job("demo", jobs.get("demo", self._next_demo), health)
        self.housekeeping_job = Job(
            "housekeeping", jobs.get("housekeeping", self._housekeeping), health
        )
        self.presence_job = Job("presence", self._beat, health)
        self.digest_job = Job("digest", jobs.get("digest", self.digests.send_due), health)
        # Only a worker that serves the platforms sends the report, never a terminal session.
        self.report_job = Job("report", jobs.get("report", _nothing), health)
        self.demo = False
        self.runtime.on_wake(self.deliver_job.kick)
        self.runtime.on_stale_posts(self.refresh_job.kick)
        self.stopping = asyncio.Event()

    async def _poll_sources(self) -> None:
        report = await self.poller.poll_due()
        if report.new:
            self.runtime.wake()

    async def _beat(self) -> None:
        others = await self.presence.renew()
        # On PostgreSQL the store is there to be shared: another worker may start any time.
        self.runtime.sharing.set(bool(others) or self.store.engine.dialect == "postgresql")

    async def _housekeeping(self) -> None:
        swept = await self.db.run(sweep, self.store, self.runtime.inbox, KEEP_HANDLED)
        if swept.updates or swept.mutes or swept.confirmations:
            log.info("housekeeping: %s", swept)

    async def _next_demo(self) -> None:
        report = await self.db.run(ingest_next_demo, self.store, self.runtime.ctx.config)
        if report.new:
            self.runtime.wake()

    def add_adapter(self, adapter: Adapter, *, only_chats: frozenset[str] | None = None) -> None:
        self.runtime.add_adapter(adapter, only_chats=only_chats)

    async def start(self) -> None:
        """Start the scheduler's jobs."""
        s = self.settings
        every = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        # Before any job or adapter acts: whether other workers share the store.
        await self.presence_job.run_now()
        beat = PRESENCE_LEASE / 3
        self.scheduler.add_job(self.presence_job.run, "interval", seconds=beat, **every)
        self.scheduler.add_job(
            self.housekeeping_job.run, "interval", seconds=HOUSEKEEPING_EVERY, **every
        )
        self.scheduler.add_job(self.deliver_job.run, "interval", seconds=s.deliver_every, **every)
        self.scheduler.add_job(self.refresh_job.run, "interval", seconds=s.refresh_every, **every)
        self.scheduler.add_job(self.sources_job.run, "interval", seconds=s.sources_every, **every)
        self.scheduler.add_job(self.digest_job.run, "interval", seconds=DIGEST_EVERY, **every)
        if s.weekly_report and "report" in self.singletons:
            monday = {"day_of_week": "mon", "hour": 8, "timezone": s.zone()}
            self.scheduler.add_job(self.report_job.run, "cron", **monday, **every)
            catch_up = REPORT_CATCH_UP_EVERY
            self.scheduler.add_job(self.report_job.run, "interval", seconds=catch_up, **every)
        self.demo = await self.db.run(demo_wanted, self.store, s.demo)
        if self.demo:
            self.scheduler.add_job(self.demo_job.run, "interval", seconds=s.demo_interval, **every)
        self.scheduler.start()
        # The first look at the sources and the demo's first article happen before start()
        # returns, so that what is there is there when people (or a script) start talking.
        await self.sources_job.run_now()
        if self.demo:
            await self.demo_job.run_now()
        # What start-up built (modules, libraries, settings) lives as long as the process:
        # kept out of the collector's full passes, which otherwise stall the loop for 25-30 ms
        # each time one runs (docs/benchmarks.md). Garbage is collected first, not kept.
        gc.collect()
        gc.freeze()

    async def drain(self, chat_filter: Callable[[], int], bound: float = 20.0) -> None:
        """Wait (bounded) until `chat_filter()` (a store query, run in the database thread)
        reports nothing due, kicking the worker."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound
        while (
            await self.db.run(chat_filter)
            and loop.time() < deadline
            and not self.deliverer.stopping.is_set()
        ):
            await self.deliver_job.run_now()
        await self.refresh_job.run_now()

    async def shutdown(self) -> None:
        """Stop quickly without losing or doubling anything: take no more outbox rows, call off
        the sends still waiting for their turn, let those already on their way finish and be
        recorded, give every claimed row back, then stop the adapters."""
        self.deliverer.stop()
        if self.scheduler.running:
            self.scheduler.pause()
        # A fetch in progress is safe to drop: the source stays due and is fetched next time.
        self.sources_job.cancel()
        self.demo_job.cancel()
        self.housekeeping_job.cancel()
        jobs = (
            self.deliver_job,
            self.refresh_job,
            self.sources_job,
            self.demo_job,
            self.digest_job,
        )
        for job in (*jobs, self.housekeeping_job, self.presence_job, self.report_job):
            await job.idle()
        if self.scheduler.running:
            # Nothing runs any more: the executor has nothing to cancel.
            self.scheduler.shutdown(wait=False)
        for adapter in list(self.runtime.adapters.values()):
            with contextlib.suppress(Exception):
                await adapter.stop()
        if self.runtime.translator is not None:
            await self.runtime.translator.close()
        await self._release_claims()
        await self._hand_over()
        # Calls still queued finish before the connection closes under them.
        self.db.close()
        self.store.close()

    async def _hand_over(self) -> None:
        """Leave the singleton jobs to the other workers now, not when the leases run out."""
        try:
            for singleton in self.singletons.values():
                await singleton.release()
            await self.presence.leave()
        except Exception as err:
            if storage_fault(err) is None:
                raise
            log.warning("cannot hand the jobs over at stop: %s", storage_fault(err))

    async def _release_claims(self) -> None:
        """Rows this process still holds go back to pending, their attempt not counted. (The
        worker releases them itself; this covers a send that failed in an unexpected way.)"""
        try:
            released = await self.db.run(
                lambda: self.store.release_claims(self.worker, count_attempt=False)
            )
            # Stale posts it was to edit: the other workers' refresh jobs take them at once.
            await self.db.run(self.store.release_refresh_claims, self.worker)
        except Exception as err:
            fault = storage_fault(err)
            if fault is None:
                raise
            # They come back when their lease runs out, or at once when this worker restarts.
            log.warning("cannot give back claimed deliveries at stop: %s", fault)
            return
        if released:
            log.info("gave back %s claimed deliveries", released)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_console(settings: Settings, user_name: str | None = None) -> int:
    """The terminal chat with the scheduler: deliveries to the terminal arrive while you type;
    at the end of piped input, what is due for this chat is shown, then it exits."""
    store = open_store(settings)
    # A terminal session is not a worker that restarts: its own id, never another's claims.
    app = App(
        settings, store, worker=f"{settings.worker()}:console:{os.getpid()}", singletons=False
    )
    name = user_name or settings.console_user
    console = ConsoleAdapter(app.runtime, UserRef("console", name, name, name))
    # Only this terminal's chat: another process's terminal shows its own deliveries.
    app.add_adapter(console, only_chats=frozenset({console.chat.chat_id}))
    install_signal_handlers(app.stopping)
    if name == settings.console_user:
        await app.db.run(_take_over_shared_chat, store, console.chat)
    lang = await app.runtime.language(console.chat)
    if console.interactive:
        console.say(t("console.banner", lang, user=name))
    # The demo posts into this terminal: subscribe it to everything unless it chose already.
    subscribed = await app.db.run(_subscribe_demo, store, console.chat, settings)
    if subscribed and console.interactive:
        console.say(t("console.demo", lang, seconds=format_amount(settings.demo_interval, lang)))
    await app.start()
    try:
        talk = asyncio.create_task(
            console.converse(lambda: app.drain(lambda: store.due_count(console.chat)))
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


def _take_over_shared_chat(store: Store, chat: ChatRef) -> None:
    """The shared terminal chat of older versions becomes the default person's own, once: its
    subscriptions, settings and pending posts move to `chat`."""
    shared = store.subscriptions(SHARED_CHAT) or store.chat_settings(SHARED_CHAT) != ChatSettings(
        chat=SHARED_CHAT
    )
    if shared and chat != SHARED_CHAT:
        store.migrate_chat(SHARED_CHAT, chat)
        log.info("the shared terminal chat is now %s's own", chat.chat_id)


def _subscribe_demo(store: Store, chat: ChatRef, settings: Settings) -> bool:
    """Subscribe a terminal to everything when the demo runs and it chose nothing yet."""
    if demo_wanted(store, settings.demo) and not store.subscriptions(chat):
        store.subscribe(chat, [ALL_TAGS], backlog=settings.backlog)
        return True
    return False


def platform_adapters(settings: Settings, runtime: Runtime) -> list[Adapter]:
    """The adapters of every platform that has a token."""
    adapters: list[Adapter] = []
    if settings.telegram_token is not None:
        # Imported here: without a token, python-telegram-bot is never loaded.
        from bot.platforms.telegram import TelegramAdapter

        adapters.append(TelegramAdapter(runtime, settings))
    if settings.discord_token is not None:
        # Imported here: without a token, discord.py is never loaded.
        from bot.platforms.discord import DiscordAdapter

        adapters.append(DiscordAdapter(runtime, settings))
    return adapters


async def run_platforms(settings: Settings) -> int:
    """`newsbot run` with tokens: every platform and the scheduler until SIGINT or SIGTERM.
    Stopping lets in-flight sends finish; what is still pending stays in the outbox."""
    store = open_store(settings)
    app = App(settings, store)
    adapters = platform_adapters(settings, app.runtime)
    if not adapters:
        app.db.close()
        store.close()
        raise SystemExit("no platform adapter is available for the configured tokens")
    # After a crash, what this worker held is taken back now rather than when its lease ends.
    taken_back = await app.db.run(lambda: store.release_claims(app.worker, count_attempt=True))
    await app.db.run(store.release_refresh_claims, app.worker)
    if taken_back:
        log.info("took back %s deliveries this worker held when it stopped", taken_back)
    install_signal_handlers(app.stopping)
    endpoint = http_endpoint(settings, app)
    try:
        for adapter in adapters:
            app.add_adapter(adapter)
            await adapter.start()
        await app.start()
        if endpoint is not None:
            await endpoint.start()
        await app.stopping.wait()
    except PlatformStartError as err:
        sys.stderr.write(err.line() + "\n")
        return err.exit_code
    finally:
        if endpoint is not None:
            await endpoint.stop()
        await app.shutdown()
    return 0


def http_endpoint(settings: Settings, app: App) -> HttpEndpoint | None:
    """/healthz, /metrics and the dashboard (README "Health and metrics"), unless switched
    off with an empty NEWSBOT_HTTP_LISTEN. The terminal chat serves none: it is one person's
    session, not a worker to watch."""
    if not settings.http_listen:
        return None
    from bot.http_endpoint import HttpEndpoint

    return HttpEndpoint(app.runtime, app.scheduler, settings)
