"""Telegram: newsbot on python-telegram-bot 22, in private chats, groups, channels, inline mode."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    Chat,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberRestricted,
    ChatPermissions,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    ChosenInlineResultHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.adapter_contract import DeliveryError, PlatformStartError
from bot.pacing import Limit, Pacer
from bot.platforms.edit_batching import EditBatching, Shown
from bot.platforms.keyed_locks import KeyedLocks
from bot.platforms.lru import Lru
from bot.platforms.telegram.inbox import InboxBot, InboxProcessor, TelegramInbox
from bot.platforms.telegram.render import (
    fit,
    keyboard,
    markup_key,
    render_html,
    shorten,
)
from bot.platforms.telegram.webhook import WebhookServer
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.buttons import asks_chat_admin
from handlers.codec import read
from handlers.events import Command, Outgoing, Press, Reply, Rich
from handlers.i18n import t
from handlers.registry import COMMANDS, CommandSpec
from storage.models import INLINE_CHAT_ID, ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)

PLATFORM = "telegram"
INLINE = INLINE_CHAT_ID  # messages sent through inline mode have no chat of their own
MAX_NOTICE = 200  # callback answer text
MAX_DESCRIPTION = 256  # a command's description in the menu
INLINE_PAGE = 50  # results per inline answer
INLINE_MAX = 200  # results over all pages of one inline query
INLINE_CACHE_SECONDS = 5  # counts change: let Telegram cache inline answers only briefly
POLL_TIMEOUT = timedelta(seconds=10)  # long polling; stop() cancels a poll in flight
# Request timeouts in seconds: every call is bounded (connect + write + read + pool wait).
CONNECT_TIMEOUT, READ_TIMEOUT, WRITE_TIMEOUT, POOL_TIMEOUT = 5.0, 15.0, 15.0, 5.0
CONCURRENT_UPDATES = 64
ADMIN_CACHE_SECONDS = 30.0
ALLOWED_UPDATES = [
    "message",
    "channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
]
# Commands an admin may give for a channel from a private chat: '/subscribe @channel xAI'.
CHANNEL_COMMANDS = frozenset({"subscribe", "unsubscribe", "subscriptions", "lang", "why"})
ADMINS = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
GONE = frozenset({ChatMemberStatus.LEFT, ChatMemberStatus.BANNED})
# BadRequest descriptions that mean the chat cannot be written to at all.
UNREACHABLE = (
    "chat not found",
    "user is deactivated",
    "peer_id_invalid",
    "not enough rights to send",
    "need administrator rights",
    "have no rights to send",
    "chat_write_forbidden",
    "bot is not a member",
)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_RESULT_ID = re.compile(r"^([0-9]{1,12})v([0-9]{1,12})$")

AnyApp = Application[Any, Any, Any, Any, Any, Any]
Context = CallbackContext[Any, Any, Any, Any]


class Redactor(logging.Filter):
    """Replaces secrets (the bot token, the webhook secret) in log records. PTB logs its API
    URL, which holds the token, and InvalidToken quotes the token."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        return text

    def _has_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        if self._has_secret(message):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            if self._has_secret(trace):
                record.exc_info, record.exc_text = None, self.redact(trace)
        return True


def per_second(rate: float) -> Limit:
    """A rate in messages per second as a sliding-window limit."""
    if rate >= 1 and float(rate).is_integer():
        return Limit(int(rate), 1.0)
    return Limit(1, 1.0 / rate)


@dataclasses.dataclass(frozen=True, slots=True)
class Look:
    """A message as Telegram shows it: its HTML text and its keyboard."""

    text: str
    markup: str


# -- the adapter ---------------------------------------------------------------------------


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
        per_chat = per_second(settings.telegram_rate_per_chat)
        per_group = Limit(settings.telegram_rate_per_group_minute, 60.0)

        def limits(key: str) -> list[Limit]:
            if key.startswith("edit:"):
                return [per_chat]
            return [per_group, per_chat] if key.startswith("-") else [per_chat]

        self.pacer = Pacer(per_second(settings.telegram_rate_overall), limits)
        self.username = ""
        self._app: AnyApp | None = None
        self._logged: list[logging.Logger] = []
        self._chat_locks = KeyedLocks()
        self._edits: EditBatching[Look] = EditBatching()
        self._admins: Lru[tuple[int, int], tuple[bool, float]] = Lru(10_000)
        port = settings.telegram_webhook_port if settings.telegram_webhook_url else None
        self._inbox = TelegramInbox(runtime, self.bot_id, webhook_port=port)
        self._webhook: WebhookServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        assert s.telegram_token is not None
        # Opt in to PTB 23's timedelta durations now; without it every RetryAfter warns.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._guard_logs()
        root = s.telegram_api_url.rstrip("/")
        webhook = bool(s.telegram_webhook_url)
        bot = InboxBot(
            s.telegram_token.get_secret_value(),
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=HTTPXRequest(
                connection_pool_size=CONCURRENT_UPDATES,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                write_timeout=WRITE_TIMEOUT,
                pool_timeout=POOL_TIMEOUT,
            ),
            get_updates_request=HTTPXRequest(
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=CONNECT_TIMEOUT,  # added to the long-poll timeout
                pool_timeout=POOL_TIMEOUT,
            ),
            inbox=self._inbox,
        )
        builder = (
            ApplicationBuilder()
            .bot(bot)
            .job_queue(None)
            .concurrent_updates(InboxProcessor(self._inbox, CONCURRENT_UPDATES))
        )
        if webhook:
            builder = builder.updater(None)  # newsbot's own server takes the updates
        app: AnyApp = builder.build()
        self._add_handlers(app)
        try:
            await app.initialize()
            self.username = app.bot.username
            await self._register_commands(app.bot)
            await app.start()
            self._app = app  # handlers may run from here on
            # Updates a crash left unfinished go first; repeats of them are skipped.
            for update in self._inbox.unfinished(bot):
                await app.update_queue.put(update)
            if webhook:
                await self._start_webhook(app)
            else:
                assert app.updater is not None
                await app.updater.start_polling(
                    poll_interval=0,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=False,
                    error_callback=self._polling_failed,
                )
        except (TelegramError, OSError) as err:
            await self._abort_start(app)
            # InvalidToken quotes the token: only a redacted message leaves this method.
            reason = self._redactor.redact(f"{type(err).__name__}: {err}")
            raise PlatformStartError(f"Telegram could not start: {reason}") from None
        except BaseException:
            await self._abort_start(app)
            raise
        mode = "webhook" if s.telegram_webhook_url else "polling"
        log.info("Telegram: @%s running (%s)", self.username, mode)

    async def _abort_start(self, app: AnyApp) -> None:
        self._app = None
        await self._stop_webhook()
        await self._close(app)
        self._unguard_logs()

    async def stop(self) -> None:
        """Stop fetching updates, let handlers in flight finish, close the connections."""
        app, self._app = self._app, None
        await self._stop_webhook()
        if app is not None:
            await self._close(app)
        self._unguard_logs()

    async def _start_webhook(self, app: AnyApp) -> None:
        """Serve the webhook, then tell Telegram to use it. An update is stored before it is
        answered with 200; until then Telegram keeps it and sends it again."""
        s = self.settings
        assert s.telegram_webhook_url is not None
        assert s.telegram_webhook_secret is not None
        secret = s.telegram_webhook_secret.get_secret_value()

        def accept(update: Update) -> None:
            self._inbox.store([update])
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

    async def _stop_webhook(self) -> None:
        server, self._webhook = self._webhook, None
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await server.stop()

    async def _close(self, app: AnyApp) -> None:
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
        # A filter acts only on records made by its own logger, so it goes on each of them.
        names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "telegram"]
        names += ["telegram", "httpx", "httpcore", __name__, "bot.delivery", "bot.app"]
        names += ["bot.platforms.telegram.inbox", "bot.platforms.telegram.webhook"]
        for name in dict.fromkeys(names):
            logger = logging.getLogger(name)
            logger.addFilter(self._redactor)
            self._logged.append(logger)

    def _unguard_logs(self) -> None:
        for logger in self._logged:
            logger.removeFilter(self._redactor)
        self._logged.clear()

    def _polling_failed(self, err: TelegramError) -> None:
        level = logging.ERROR if isinstance(err, Conflict | InvalidToken) else logging.WARNING
        log.log(level, "Telegram polling failed: %s", self._redactor.redact(str(err)))

    async def _on_error(self, update: object, context: Context) -> None:
        err = context.error
        where = update.update_id if isinstance(update, Update) else "-"
        reason = self._redactor.redact(repr(err))
        log.error("Telegram update %s failed: %s", where, reason, exc_info=err)

    def _add_handlers(self, app: AnyApp) -> None:
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migration))
        messages = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        app.add_handler(MessageHandler(messages & filters.COMMAND, self._on_command))
        said = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
        app.add_handler(MessageHandler(said, self._on_text))
        app.add_handler(CallbackQueryHandler(self._on_press))
        app.add_handler(InlineQueryHandler(self._on_inline_query))
        app.add_handler(ChosenInlineResultHandler(self._on_chosen_result))
        app.add_handler(ChatMemberHandler(self._on_my_membership))
        app.add_error_handler(self._on_error)

    async def _register_commands(self, bot: Bot) -> None:
        """The command menu per language (de, en, and the default for everyone else); admins
        of a group also see the admin commands."""
        listed = [spec for spec in COMMANDS.values() if spec.listed and _menu_name(spec)]
        for code in (None, "de", "en"):
            language = code or self.settings.language
            everyone = [_menu_entry(s, language) for s in listed if not s.admin_only]
            admins = [_menu_entry(s, language) for s in listed]
            try:
                await bot.set_my_commands(everyone, language_code=code)
                if len(admins) > len(everyone):
                    scope = BotCommandScopeAllChatAdministrators()
                    await bot.set_my_commands(admins, scope=scope, language_code=code)
            except TelegramError as err:
                log.warning("cannot set the command list (%s): %s", code or "default", err)

    # -- the Adapter protocol ---------------------------------------------------------------

    async def send(self, out: Outgoing) -> MessageRef:
        if out.chat.chat_id == INLINE:
            raise DeliveryError("inline messages have no chat to send to", permanent=True)
        return await self._post(out.chat.chat_id, out.reply)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        await self._edit(message, reply)

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        bot = self._bot()
        if message.chat.chat_id != INLINE:
            try:
                await bot.delete_message(_chat_id(message.chat.chat_id), int(message.message_id))
                return
            except BadRequest as err:
                text = err.message.lower()
                if "not found" in text:
                    return  # gone already
                if "can't be deleted" not in text and "cannot be deleted" not in text:
                    raise self._delivery_error(err, message.chat.chat_id) from err
            except TelegramError as err:
                raise self._delivery_error(err, message.chat.chat_id) from err
        # Inline messages cannot be deleted, nor old ones in groups: they show `instead`.
        await self._edit(message, instead)

    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        target = _moderation_target(chat, user)
        if target is None:
            return False
        chat_id, user_id = target
        if user_id < 0:  # someone writing as a channel: ban that channel from the chat
            return await self._moderate("ban", lambda b: b.ban_chat_sender_chat(chat_id, user_id))
        return await self._moderate("ban", lambda b: b.ban_chat_member(chat_id, user_id))

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        target = _moderation_target(chat, user)
        if target is None:
            return False
        chat_id, user_id = target
        if user_id < 0:
            return await self._moderate(
                "unban", lambda b: b.unban_chat_sender_chat(chat_id, user_id)
            )
        return await self._moderate(
            "unban", lambda b: b.unban_chat_member(chat_id, user_id, only_if_banned=True)
        )

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        target = _moderation_target(chat, user)
        if target is None or target[1] < 0:
            return False
        chat_id, user_id = target
        if until is None:
            # Telegram: True for every permission lifts the restriction.
            rights = ChatPermissions.all_permissions()
            return await self._moderate(
                "unmute", lambda b: b.restrict_chat_member(chat_id, user_id, rights)
            )
        muted = ChatPermissions.no_permissions()
        return await self._moderate(
            "mute", lambda b: b.restrict_chat_member(chat_id, user_id, muted, until_date=until)
        )

    async def _moderate(self, action: str, call: Callable[[Bot], Awaitable[bool]]) -> bool:
        """True when Telegram did it; False without the right, or when it failed."""
        try:
            return bool(await call(self._bot()))
        except (Forbidden, BadRequest) as err:
            log.info("Telegram refused %s: %s", action, err.message)
        except TelegramError as err:
            log.warning("Telegram %s failed: %s", action, self._redactor.redact(str(err)))
        except DeliveryError as err:  # not running
            log.warning("Telegram %s failed: %s", action, err.reason)
        return False

    # -- sending and editing ----------------------------------------------------------------

    def _bot(self) -> Bot:
        if self._app is None:
            raise DeliveryError("Telegram is not running")
        bot: Bot = self._app.bot
        return bot

    async def _post(self, chat_id: str, reply: Reply, *, reply_to: int | None = None) -> MessageRef:
        """Send one reply as a new message, paced; DeliveryError when it cannot be sent."""
        bot = self._bot()
        target = _chat_id(chat_id)
        text = render_html(fit(reply.text))
        if not text.strip():
            raise DeliveryError("empty message")
        markup = keyboard(reply.buttons)
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await self.pacer.acquire(chat_id)
        try:
            message = await bot.send_message(
                target,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
                reply_parameters=quote,
            )
        except TelegramError as err:
            raise self._delivery_error(err, chat_id) from err
        ref = MessageRef(ChatRef(PLATFORM, chat_id), str(message.message_id))
        look = Look(text, markup_key(markup))
        self._edits.sent(_message_key(ref), Shown(reply.poll_version, look))
        return ref

    async def _edit(self, message: MessageRef, reply: Reply) -> bool:
        """Make the message show `reply`, batched with the other edits of the message (see
        edit_batching): False when it was dropped for a newer edit."""
        key = _message_key(message)
        # Edits are paced per chat (apart from its new messages); an inline message has none.
        inline = message.chat.chat_id == INLINE
        pace = f"edit:{key}" if inline else f"edit:{message.chat.chat_id}"
        text = render_html(fit(reply.text))
        markup = keyboard(reply.buttons)
        where: dict[str, Any] = (
            {"inline_message_id": message.message_id}
            if inline
            else {"chat_id": _chat_id(message.chat.chat_id), "message_id": int(message.message_id)}
        )

        async def send(shown: Shown[Look] | None) -> None:
            await self.pacer.acquire(pace)
            bot = self._bot()
            try:
                if shown is not None and shown.look.text == text:
                    # Only the counts changed: the keyboard alone is a lighter edit.
                    await bot.edit_message_reply_markup(reply_markup=markup, **where)
                else:
                    await bot.edit_message_text(
                        text,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                        link_preview_options=NO_PREVIEW,
                        **where,
                    )
            except BadRequest as err:
                if "not modified" not in err.message.lower():
                    raise self._delivery_error(err, pace) from err
            except TelegramError as err:
                raise self._delivery_error(err, pace) from err

        wanted = Shown(reply.poll_version, Look(text, markup_key(markup)))
        return await self._edits.edit(key, wanted, send)

    def _delivery_error(self, err: TelegramError, pace_key: str) -> DeliveryError:
        """What a PTB error means for the outbox: wait, move, give up on the chat, or retry."""
        if isinstance(err, RetryAfter):
            wait = err.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            self.pacer.back_off(pace_key, seconds)
            return DeliveryError(f"flood control: retry after {seconds:g} s", retry_after=seconds)
        if isinstance(err, ChatMigrated):
            new = ChatRef(PLATFORM, str(err.new_chat_id))
            return DeliveryError("the group became a supergroup", migrated_to=new)
        reason = self._redactor.redact(err.message).removeprefix("Forbidden: ")
        if isinstance(err, Forbidden):
            return DeliveryError(reason, permanent=True)
        if isinstance(err, BadRequest):
            lowered = reason.lower()
            return DeliveryError(reason, permanent=any(p in lowered for p in UNREACHABLE))
        if isinstance(err, TimedOut):
            # Connect and pool timeouts sent nothing; after a read or write timeout Telegram
            # may have done it. The outbox retries either way (at least once, see README).
            cause = type(err.__cause__).__name__ if err.__cause__ else "timeout"
            if not isinstance(err.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
                log.warning("Telegram timed out (%s): it may have been done anyway", cause)
            return DeliveryError(f"timed out ({cause})")
        return DeliveryError(f"{type(err).__name__}: {reason}")

    async def _answer(self, chat_id: str, reply: Reply, *, reply_to: int | None = None) -> None:
        """Send a reply to something a person did: best effort, one wait for a short flood
        pause, and a group that became a supergroup is followed."""
        if not reply.text.plain().strip():
            return
        for _ in range(2):
            try:
                message = await self._post(chat_id, reply, reply_to=reply_to)
            except DeliveryError as err:
                if err.migrated_to is not None:
                    await self.runtime.migrated(ChatRef(PLATFORM, chat_id), err.migrated_to)
                    chat_id, reply_to = err.migrated_to.chat_id, None
                    continue
                if err.retry_after is not None and err.retry_after <= 10:
                    continue  # the pacer holds this chat back until then
                log.info("cannot answer in telegram:%s: %s", chat_id, err.reason)
                return
            if reply.article_id is not None:
                await self.runtime.posted(reply, message)
            return

    # -- updates ------------------------------------------------------------------------------

    async def _on_migration(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        log.info("Telegram group %s is now supergroup %s", old, new)
        await self.runtime.migrated(ChatRef(PLATFORM, str(old)), ChatRef(PLATFORM, str(new)))

    async def _on_my_membership(self, update: Update, context: Context) -> None:
        change = update.my_chat_member
        if change is None or change.new_chat_member.status not in GONE:
            return
        chat = change.chat
        if chat.type == ChatType.PRIVATE:
            reason = "bot was blocked by the user"
        elif change.new_chat_member.status == ChatMemberStatus.BANNED:
            reason = f"bot was kicked from the {chat.type} chat"
        else:
            reason = f"bot left the {chat.type} chat"
        log.info("Telegram chat %s unreachable: %s", chat.id, reason)
        await self.runtime.chat_unreachable(ChatRef(PLATFORM, str(chat.id)), reason)

    async def _on_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or message.is_automatic_forward:
            # A linked channel's post copied into its discussion group is not said to us.
            return
        parsed = self._parse_command(message)
        if parsed is None:
            return
        name, args = parsed
        # One command at a time per chat keeps replies in the order they were asked.
        async with self._chat_locks.hold(str(message.chat.id)):
            await self._run_command(message, name, args)

    def _parse_command(self, message: Message) -> tuple[str, tuple[str, ...]] | None:
        """'/cmd@ThisBot a b' -> ('cmd', ('a', 'b')); None when it is not for this bot."""
        text = message.text or ""
        entity = next(
            (e for e in message.entities if e.type == "bot_command" and e.offset == 0), None
        )
        if entity is None:
            return None
        word = message.parse_entity(entity)
        name, _, addressee = word[1:].partition("@")
        if addressee and addressee.lower() != self.username.lower():
            return None
        if not name:
            return None
        private = message.chat.type == ChatType.PRIVATE
        if name.lower() not in COMMANDS and not private and not addressee:
            return None  # '/foo' in a group may be meant for another bot
        return name, tuple(text[len(word) :].split())

    async def _run_command(self, message: Message, name: str, args: tuple[str, ...]) -> None:
        chat = message.chat
        sender = await self._sender(message)
        if sender is None:
            return
        user, is_admin = sender
        private = chat.type == ChatType.PRIVATE
        locale = message.from_user.language_code if message.from_user else None
        reply_to = None if private else message.message_id
        if private and name.lower() in CHANNEL_COMMANDS and args and args[0].startswith("@"):
            replies = await self._channel_command(chat, user, name, args, locale)
        else:
            cmd = Command(
                chat=ChatRef(PLATFORM, str(chat.id)),
                user=user,
                name=name,
                args=args,
                locale=locale,
                is_chat_admin=is_admin,
                is_private=private,
                reply_to_user=_replied_to(message),
            )
            replies = await self.runtime.on_command(cmd)
        for reply in replies:
            await self._answer(str(chat.id), reply, reply_to=reply_to)

    async def _sender(self, message: Message) -> tuple[UserRef, bool] | None:
        """Who sent it, and whether they are an admin of the chat (platform-facts.md): a
        message on behalf of the chat itself (an anonymous admin, or a channel's own post)
        is an admin's; one on behalf of any other chat (a linked channel, someone writing as a
        channel) is not; otherwise Telegram says. The service account 1087968824 behind
        anonymous admins is never trusted by itself."""
        chat = message.chat
        user = _author(message)
        if user is None:
            return None
        if message.sender_chat is not None:
            return user, message.sender_chat.id == chat.id
        if chat.type == ChatType.PRIVATE or message.from_user is None:
            # The person decides about their own chat (is_private); they administer nothing.
            return user, False
        return user, await self._is_admin(chat.id, message.from_user.id)

    async def _on_text(self, update: Update, context: Context) -> None:
        """A plain message: a question in a private chat, or one that mentions the bot (or
        answers one of its messages) in a group, is answered from the archive."""
        message = update.message
        if message is None or not message.text or message.is_automatic_forward:
            return
        chat = message.chat
        private = chat.type == ChatType.PRIVATE
        mentioned = self._mentions_me(message)
        user = _author(message)
        if user is None or not (private or mentioned):
            return
        locale = message.from_user.language_code if message.from_user else None
        async with self._chat_locks.hold(str(chat.id)):
            replies = await self.runtime.on_text(
                ChatRef(PLATFORM, str(chat.id)),
                user,
                message.text,
                is_private=private,
                mentions_bot=mentioned,
                locale=locale,
            )
            for reply in replies:
                await self._answer(
                    str(chat.id), reply, reply_to=None if private else message.message_id
                )

    def _mentions_me(self, message: Message) -> bool:
        replied = message.reply_to_message
        if replied is not None and replied.from_user and replied.from_user.id == self.bot_id:
            return True
        if not self.username:
            return False
        pattern = rf"(?<![\w@])@{re.escape(self.username)}(?!\w)"
        return re.search(pattern, message.text or "", re.IGNORECASE) is not None

    async def _is_admin(self, chat_id: int, user_id: int) -> bool:
        key = (chat_id, user_id)
        cached = self._admins.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            member = await self._bot().get_chat_member(chat_id, user_id)
        except (TelegramError, DeliveryError) as err:
            log.info("cannot check admin rights in %s: %s", chat_id, err)
            return False
        admin = member.status in ADMINS
        self._admins.set(key, (admin, now + ADMIN_CACHE_SECONDS))
        return admin

    async def _channel_command(
        self,
        chat: Chat,
        user: UserRef,
        name: str,
        args: tuple[str, ...],
        locale: str | None,
    ) -> list[Reply]:
        """'/subscribe @channel xAI' in a private chat: done for the channel once Telegram
        confirms that the person is an admin there and the bot can post there."""
        handle = args[0][:64]
        language = await self.runtime.language(ChatRef(PLATFORM, str(chat.id)), locale)

        def refuse(key: str) -> list[Reply]:
            text = t(key, language, channel=handle)
            return [Reply(text=Rich.of(text), notice=text, private=True)]

        bot = self._bot()
        try:
            target = await bot.get_chat(handle)
        except (BadRequest, Forbidden):
            return refuse("telegram.channel_unknown")
        except TelegramError as err:
            log.warning("cannot look up %s: %s", handle, self._redactor.redact(str(err)))
            return refuse("error.internal")
        if target.type == ChatType.PRIVATE:
            return refuse("telegram.channel_unknown")
        try:
            member = await bot.get_chat_member(target.id, int(user.user_id))
            me = await bot.get_chat_member(target.id, bot.id)
        except (BadRequest, Forbidden):
            return refuse("telegram.channel_not_admin")
        except TelegramError as err:
            log.warning("cannot check %s: %s", handle, self._redactor.redact(str(err)))
            return refuse("error.internal")
        if member.status not in ADMINS:
            return refuse("telegram.channel_not_admin")
        if not _can_post(me, target.type):
            return refuse("telegram.channel_bot_cannot_post")
        cmd = Command(
            chat=ChatRef(PLATFORM, str(target.id)),
            user=user,
            name=name,
            args=args[1:],
            locale=locale,
            is_chat_admin=True,
            is_private=False,
        )
        return await self.runtime.on_command(cmd)

    async def _on_press(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        person = query.from_user
        user = _user_ref(person)
        own_chat = ChatRef(PLATFORM, str(person.id))
        action, params = read(query.data or "")
        admin = False
        if query.message is not None:
            chat = ChatRef(PLATFORM, str(query.message.chat.id))
            ref: MessageRef | None = MessageRef(chat, str(query.message.message_id))
            if query.message.chat.type != ChatType.PRIVATE and asks_chat_admin(action):
                admin = await self._is_admin(query.message.chat.id, person.id)
        elif query.inline_message_id:
            # Inline messages live in chats the bot may not be in: the presser's own chat
            # decides the language, the message is addressed by its inline id.
            chat, ref = own_chat, MessageRef(ChatRef(PLATFORM, INLINE), query.inline_message_id)
        else:
            chat, ref = own_chat, None
        press = Press(
            chat=chat,
            user=user,
            message=ref,
            action=action,
            params=params,
            locale=person.language_code,
            is_chat_admin=admin,
        )
        try:
            replies = await self.runtime.on_press(press)
        except Exception:
            # Still stop the spinner; the error handler logs what went wrong.
            with contextlib.suppress(TelegramError):
                language = await self.runtime.language(chat, person.language_code)
                apology = t("error.internal", language)
                await query.answer(shorten(apology, MAX_NOTICE))
            raise
        notice = next((r.notice for r in replies if r.notice), None)
        # Answer at once: the person's spinner stops, whatever the edits below take.
        try:
            await query.answer(shorten(notice, MAX_NOTICE) if notice else None)
        except TelegramError as err:
            log.info("cannot answer callback query: %s", err)
        for reply in replies:
            if reply.edit:
                if ref is not None:
                    await self._show_press(ref, reply)
            elif reply.private:
                if not reply.notice:
                    await self._answer(own_chat.chat_id, reply)
            else:
                await self._answer(chat.chat_id, reply)

    async def _show_press(self, ref: MessageRef, reply: Reply) -> None:
        """Edit the pressed message as the core rendered it (in the post's own language); the
        core has recorded it as shown already."""
        try:
            await self._edit(ref, reply)
        except DeliveryError as err:
            log.info("cannot edit pressed message: %s", err.reason)
            await self.runtime.edit_failed(ref)

    async def _on_inline_query(self, update: Update, context: Context) -> None:
        query = update.inline_query
        if query is None:
            return
        person = query.from_user
        try:
            offset = min(max(int(query.offset or 0), 0), INLINE_MAX)
        except ValueError:
            offset = 0
        found = await self.runtime.find_posts(
            query.query,
            ChatRef(PLATFORM, str(person.id)),
            person.language_code,
            limit=offset + INLINE_PAGE,
        )
        posts = found[offset:]
        results = [r for r in (_inline_result(p) for p in posts) if r is not None]
        more = len(posts) >= INLINE_PAGE and offset + INLINE_PAGE < INLINE_MAX
        try:
            await query.answer(
                results,
                cache_time=INLINE_CACHE_SECONDS,
                is_personal=True,
                next_offset=str(offset + INLINE_PAGE) if more else "",
            )
        except TelegramError as err:
            log.info("cannot answer inline query: %s", err)

    async def _on_chosen_result(self, update: Update, context: Context) -> None:
        """Someone sent one of our inline results: remember the message, with the counts it
        was rendered with (they are in the result id), so the refresh job keeps it live."""
        chosen = update.chosen_inline_result
        if chosen is None or not chosen.inline_message_id:
            return
        match = _RESULT_ID.match(chosen.result_id)
        if match is None:
            return
        article_id, version = int(match[1]), int(match[2])
        if await self.runtime.post_for(article_id, ChatRef(PLATFORM, INLINE)) is None:
            return
        message = MessageRef(ChatRef(PLATFORM, INLINE), chosen.inline_message_id)
        # It shows the language the sender's results were in, whoever presses it later.
        person = chosen.from_user
        language = await self.runtime.language(
            ChatRef(PLATFORM, str(person.id)), person.language_code
        )
        shown = Reply(article_id=article_id, poll_version=version, language=language)
        await self.runtime.posted(shown, message)


# -- helpers -----------------------------------------------------------------------------------


def _chat_id(chat_id: str) -> int:
    try:
        return int(chat_id)
    except ValueError:
        raise DeliveryError(f"not a Telegram chat id: {chat_id[:40]!r}", permanent=True) from None


def _message_key(message: MessageRef) -> str:
    return f"{message.chat.chat_id}/{message.message_id}"


def _user_ref(user: User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.full_name, user.username or "")


def _chat_as_user(chat: Chat) -> UserRef:
    """A chat speaking for itself (an anonymous admin, a channel) as the person it stands for:
    never the shared service account Telegram puts into `from`."""
    name = chat.title or chat.full_name or chat.username or str(chat.id)
    return UserRef(PLATFORM, str(chat.id), name, chat.username or "")


def _author(message: Message) -> UserRef | None:
    """The person a message counts as from: the chat it was sent on behalf of, if any."""
    if message.sender_chat is not None:
        return _chat_as_user(message.sender_chat)
    return _user_ref(message.from_user) if message.from_user else None


def _replied_to(message: Message) -> UserRef | None:
    target = message.reply_to_message
    if target is None:
        return None
    if target.sender_chat is not None:
        return _chat_as_user(target.sender_chat)
    return _user_ref(target.from_user) if target.from_user else None


def _can_post(me: ChatMember, chat_type: str) -> bool:
    if me.status == ChatMemberStatus.OWNER:
        return True
    if chat_type == ChatType.CHANNEL:
        return isinstance(me, ChatMemberAdministrator) and me.can_post_messages is not False
    if isinstance(me, ChatMemberRestricted):
        return me.can_send_messages
    return me.status in {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}


def _moderation_target(chat: ChatRef, user: UserRef) -> tuple[int, int] | None:
    """(chat id, user id) for a group or channel; None for private chats and inline."""
    try:
        chat_id, user_id = int(chat.chat_id), int(user.user_id)
    except ValueError:
        return None
    return (chat_id, user_id) if chat_id < 0 else None


def _menu_name(spec: CommandSpec) -> bool:
    return re.fullmatch(r"[a-z0-9_]{1,32}", spec.name) is not None


def _menu_entry(spec: CommandSpec, language: str) -> BotCommand:
    description = shorten(t(spec.help_key, language).strip() or spec.name, MAX_DESCRIPTION)
    return BotCommand(spec.name, description)


def _inline_result(post: Reply) -> InlineQueryResultArticle | None:
    if post.article_id is None:
        return None
    card = post.card
    title = card.title if card else post.text.plain().split("\n", 1)[0]
    description = card.summary if card else ""
    return InlineQueryResultArticle(
        id=f"{post.article_id}v{post.poll_version or 0}",
        title=shorten(title, 100) or f"#{post.article_id}",
        description=shorten(description, 150) or None,
        input_message_content=InputTextMessageContent(
            render_html(fit(post.text)),
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
        ),
        reply_markup=keyboard(post.buttons),
    )
