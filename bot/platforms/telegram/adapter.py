"""Telegram: newsbot on python-telegram-bot 22, in private chats, groups, channels, inline mode.
This module starts and stops it; inbound, outbound, inline and moderation do the rest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ChosenInlineResultHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.adapter_contract import DeliveryError, PlatformStartError
from bot.platforms.log_redaction import GuardedLoggers, Redactor
from bot.platforms.telegram.commands import register_menus
from bot.platforms.telegram.identities import INLINE, PLATFORM
from bot.platforms.telegram.inbound import Context, Inbound
from bot.platforms.telegram.inbox import (
    InboxBot,
    InboxProcessor,
    InboxUnavailable,
    RawUpdatesRequest,
    TelegramInbox,
)
from bot.platforms.telegram.inline import Inline
from bot.platforms.telegram.moderation import MemberActions
from bot.platforms.telegram.outbound import AnyApp, Outbound
from bot.platforms.telegram.polling_lease import PollingLease
from bot.platforms.telegram.pooled_request import PooledRequest, bulk_send
from bot.platforms.telegram.render import MAX_BUTTONS, fits_one_message
from bot.platforms.telegram.webhook import WebhookServer
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.events import Outgoing, Reply
from storage.models import ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)

POLL_TIMEOUT = timedelta(seconds=10)  # long polling; stop() cancels a poll in flight
# Request timeouts in seconds: every call is bounded (connect + write + read + pool wait).
CONNECT_TIMEOUT, READ_TIMEOUT, WRITE_TIMEOUT, POOL_TIMEOUT = 5.0, 15.0, 15.0, 5.0
CONCURRENT_UPDATES = 64
# Connections to the Bot API for everything but getUpdates; requests beyond them wait their
# turn outside httpx (pooled_request: the pool's own bookkeeping grows with its square).
CONNECTIONS = 8
# Of them, never taken by deliveries alone nor by people's presses alone: a press is answered
# during a fan-out, and a fan-out goes on during a flood of presses.
KEPT_FREE = 2
# Polling fetches again once this many fetched updates are unfinished at most, and no more
# than fit under MAX_FETCHED: the handlers always have the next updates at hand, while what
# they cannot take yet stays with Telegram (inbox.TelegramInbox.room_to_fetch).
FETCH_AT_LEAST = 16
MAX_FETCHED = CONCURRENT_UPDATES + FETCH_AT_LEAST
ALLOWED_UPDATES = [
    "message",
    "channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
]
# Loggers that may see the token besides this package's own: PTB's, httpx's, and ours that
# log what a send failed with.
GUARDED_LOGGERS = ("telegram", "httpx", "httpcore", "bot.delivery", "bot.app", "bot.jobs")


class TelegramAdapter:
    """Telegram through a PTB Application: updates become Commands and Presses for the runtime;
    sends and edits are paced within Telegram's limits and their errors become DeliveryErrors."""

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.telegram_token is None:
            raise ValueError("NEWSBOT_TELEGRAM_TOKEN is not set")
        self.runtime = runtime
        self.settings = settings
        token = settings.telegram_token.get_secret_value()
        # The numeric part of a token is the bot's public id; only the part after ":" is secret.
        head, _, secret = token.partition(":")
        self.bot_id = int(head) if head.isdigit() else 0
        webhook_secret = settings.telegram_webhook_secret
        self._redactor = Redactor(
            [token, secret, webhook_secret.get_secret_value() if webhook_secret else ""]
        )
        self._logs = GuardedLoggers(self._redactor)
        self.outbound = Outbound(runtime, settings, self._redactor)
        self.pacer = self.outbound.pacer
        self.inbound = Inbound(runtime, self.outbound, self.bot_id, self._redactor)
        self.inline = Inline(runtime)
        self.members = MemberActions(self.outbound.bot, self._redactor)
        port = settings.telegram_webhook_port if settings.telegram_webhook_url else None
        self._inbox = TelegramInbox(
            runtime,
            self.bot_id,
            webhook_port=port,
            max_fetched=MAX_FETCHED,
            fetch_at_least=FETCH_AT_LEAST,
        )
        self._webhook: WebhookServer | None = None
        self._adopting: asyncio.Task[None] | None = None
        self._poller = PollingLease(runtime, self.bot_id, settings, self._polling_lost)

    @property
    def username(self) -> str:
        return self.inbound.username

    @property
    def connected(self) -> bool:
        """Webhook: while its server runs. Polling: while PTB polls and Telegram answered the
        last getUpdates (a failed one is retried by PTB, and this turns true again then)."""
        app = self.outbound.app
        if app is None:
            return False
        if self.settings.telegram_webhook_url:
            return self._webhook is not None
        polling = app.updater is not None and app.updater.running
        return polling and isinstance(app.bot, InboxBot) and app.bot.polls_answered

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        # Opt in to PTB 23's timedelta durations now; without it every RetryAfter warns.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        if not self.settings.telegram_webhook_url:
            await self._poller.take()
        self._guard_logs()
        app = self._build_app()
        try:
            await self._run(app)
        except (TelegramError, OSError) as err:
            await self._abort_start(app)
            await self._poller.release()
            # InvalidToken quotes the token: only a redacted message leaves this method.
            reason = self._redactor.redact(f"{type(err).__name__}: {err}")
            raise PlatformStartError(
                f"Telegram could not start: {reason}",
                key="platform.start_failed",
                platform="Telegram",
                reason=reason,
            ) from None
        except BaseException:
            await self._abort_start(app)
            await self._poller.release()
            raise
        mode = "webhook" if self.settings.telegram_webhook_url else "polling"
        log.info("Telegram: @%s running (%s)", self.username, mode)

    def _build_app(self) -> AnyApp:
        s = self.settings
        assert s.telegram_token is not None
        root = s.telegram_api_url.rstrip("/")
        polls = RawUpdatesRequest(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=CONNECT_TIMEOUT,  # added to the long-poll timeout
            pool_timeout=POOL_TIMEOUT,
        )
        bot = InboxBot(
            s.telegram_token.get_secret_value(),
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=PooledRequest(
                connection_pool_size=CONNECTIONS,
                kept_free=KEPT_FREE,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                write_timeout=WRITE_TIMEOUT,
                pool_timeout=POOL_TIMEOUT,
            ),
            get_updates_request=polls,
            inbox=self._inbox,
            raw_updates=polls,
        )
        builder = (
            ApplicationBuilder()
            .bot(bot)
            .job_queue(None)
            .concurrent_updates(InboxProcessor(self._inbox, CONCURRENT_UPDATES))
        )
        if s.telegram_webhook_url:
            builder = builder.updater(None)  # newsbot's own server takes the updates
        app: AnyApp = builder.build()
        self._add_handlers(app)
        return app

    async def _run(self, app: AnyApp) -> None:
        await app.initialize()
        self.inbound.username = app.bot.username
        await register_menus(app.bot, self.settings.language)
        await app.start()
        self.outbound.app = app  # handlers may run from here on
        # Updates a crash left unfinished go first; repeats of them are skipped.
        for update in await self._inbox.unfinished(app.bot):
            await app.update_queue.put(update)
        if self.settings.telegram_webhook_url:
            await self._start_webhook(app)
            return
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0,
            timeout=POLL_TIMEOUT,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
            error_callback=self._polling_failed,
        )

    async def _abort_start(self, app: AnyApp) -> None:
        self.outbound.app = None
        await self._stop_webhook()
        await self._close(app)
        self._logs.unguard()

    async def stop(self) -> None:
        """Stop fetching updates, let handlers in flight finish, close the connections."""
        app, self.outbound.app = self.outbound.app, None
        await self._stop_webhook()
        if app is not None:
            await self._close(app)
        await self._poller.release()
        self._logs.unguard()

    async def _start_webhook(self, app: AnyApp) -> None:
        """Serve the webhook, then tell Telegram to use it. An update is stored before it is
        answered with 200; until then Telegram keeps it and sends it again."""
        s = self.settings
        assert s.telegram_webhook_url is not None
        assert s.telegram_webhook_secret is not None
        secret = s.telegram_webhook_secret.get_secret_value()

        async def accept(update: Update) -> None:
            await self._inbox.store([update])
            app.update_queue.put_nowait(update)

        server = WebhookServer(
            app.bot,
            path=urlsplit(s.telegram_webhook_url).path,
            secret=secret,
            accept=accept,
        )
        await server.start(s.telegram_webhook_listen, s.telegram_webhook_port)
        self._webhook = server
        await app.bot.set_webhook(
            s.telegram_webhook_url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        self._adopting = asyncio.create_task(self._adopt_orphans(app), name="telegram-orphans")

    async def _adopt_orphans(self, app: AnyApp) -> None:
        """With a webhook, Telegram never sends an update again once a worker stored it: when
        that worker dies holding it, a live one takes it over after its claim ran out."""
        while True:
            await asyncio.sleep(self.settings.telegram_orphan_check)
            try:
                for update in await self._inbox.orphans(app.bot):
                    app.update_queue.put_nowait(update)
            except Exception as err:
                # The database being away is told once by the runtime; anything else here.
                if not self.runtime.storage_health.is_fault(err):
                    log.warning("Telegram: cannot look for orphaned updates: %s", err)

    async def _stop_webhook(self) -> None:
        adopting, self._adopting = self._adopting, None
        if adopting is not None:
            adopting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await adopting
        server, self._webhook = self._webhook, None
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await server.stop()

    async def _close(self, app: AnyApp) -> None:
        self._inbox.stop_fetching()
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
        finally:
            with contextlib.suppress(TelegramError, RuntimeError):
                await app.shutdown()
            # After a failed initialize() the Application counts as never started and leaves
            # the bot's HTTP connections open; this closes them (and is a no-op otherwise).
            with contextlib.suppress(TelegramError, RuntimeError):
                await app.bot.shutdown()

    def _guard_logs(self) -> None:
        # httpx logs every request URL at INFO, and the URL holds the token.
        for name in ("httpx", "httpcore"):
            logger = logging.getLogger(name)
            if logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)
        package = __name__.rpartition(".")[0]
        own = [f"{package}.{m}" for m in ("adapter", "inbound", "outbound", "inline")]
        own += [f"{package}.{m}" for m in ("commands", "moderation", "inbox", "webhook")]
        own += [f"{package}.identities"]
        libraries = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "telegram"]
        self._logs.guard([*libraries, *GUARDED_LOGGERS, *own])

    async def _polling_lost(self) -> None:
        """Another worker polls now (this one's lease ran out, the database being away): two
        pollers would take turns cancelling each other's getUpdates, so this one stops."""
        app = self.outbound.app
        if app is not None and app.updater is not None and app.updater.running:
            await app.updater.stop()

    def _polling_failed(self, err: TelegramError) -> None:
        if isinstance(err, InboxUnavailable):
            # The batch stays with Telegram and comes again; the inbox has said why.
            log.debug("Telegram polling paused: %s", err)
            return
        level = logging.ERROR if isinstance(err, Conflict | InvalidToken) else logging.WARNING
        log.log(level, "Telegram polling failed: %s", self._redactor.redact(str(err)))

    async def _on_error(self, update: object, context: Context) -> None:
        err = context.error
        where = update.update_id if isinstance(update, Update) else "-"
        reason = self._redactor.redact(repr(err))
        if err is not None and self.runtime.storage_health.is_fault(err):
            # A handler cut short by a database outage (said once by the runtime), after it
            # answered or before anything was written: one line, no traceback.
            log.warning("Telegram update %s cut short: %s", where, reason)
            return
        log.error("Telegram update %s failed: %s", where, reason, exc_info=err)

    def _add_handlers(self, app: AnyApp) -> None:
        inbound = self.inbound
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, inbound.on_migration))
        messages = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        app.add_handler(MessageHandler(messages & filters.COMMAND, inbound.on_command))
        # A file with a command as its caption (an OPML file sent with /feeds import).
        captioned = filters.UpdateType.MESSAGE & filters.Document.ALL & filters.CAPTION
        app.add_handler(MessageHandler(captioned, inbound.on_command))
        said = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
        app.add_handler(MessageHandler(said, inbound.on_text))
        app.add_handler(CallbackQueryHandler(inbound.on_press))
        app.add_handler(InlineQueryHandler(self.inline.on_query))
        app.add_handler(ChosenInlineResultHandler(self.inline.on_chosen))
        app.add_handler(ChatMemberHandler(inbound.on_my_membership))
        app.add_error_handler(self._on_error)

    # -- the Adapter protocol ---------------------------------------------------------------

    async def send(self, out: Outgoing) -> MessageRef:
        if out.chat.chat_id == INLINE:
            raise DeliveryError("inline messages have no chat to send to", permanent=True)
        with bulk_send():
            return await self.outbound.post(out.chat.chat_id, out.reply, topic=out.topic)

    def fits(self, reply: Reply) -> bool:
        buttons = sum(len(row) for row in reply.buttons)
        return buttons <= MAX_BUTTONS and fits_one_message(reply.text)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        await self.outbound.edit(message, reply)

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        await self.outbound.delete(message, instead)

    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return await self.members.ban(chat, user)

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return await self.members.unban(chat, user)

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        return await self.members.restrict(chat, user, until)
