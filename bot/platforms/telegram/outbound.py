"""Telegram sends and edits: rendered, paced within Telegram's limits, batched per message,
and their errors mapped to what the outbox does next."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot, InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from bot.adapter_contract import DeliveryError
from bot.pacing import Limit, Pacer
from bot.platforms.edit_batching import EditBatching, Shown
from bot.platforms.log_redaction import Redactor
from bot.platforms.message_parts import reply_parts
from bot.platforms.telegram.identities import INLINE, PLATFORM, api_chat_id, message_key
from bot.platforms.telegram.render import (
    MAX_CAPTION,
    MAX_TEXT,
    fit,
    fits_caption,
    fits_one_message,
    keyboard_json,
    render_html,
)
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.events import Reply
from storage.models import ChatRef, MessageRef

log = logging.getLogger(__name__)

AnyApp = Application[Any, Any, Any, Any, Any, Any]
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
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
# BadRequest descriptions that mean a forum topic cannot be written to (closed or deleted):
# only what goes into that topic stops.
TOPIC_GONE = ("topic_closed", "topic_deleted", "message thread not found", "topic_id_invalid")


def per_second(rate: float) -> Limit:
    """A rate in messages per second as a sliding-window limit."""
    if rate >= 1 and float(rate).is_integer():
        return Limit(int(rate), 1.0)
    return Limit(1, 1.0 / rate)


def pacer_for(settings: Settings) -> Pacer:
    """Telegram's limits: overall, per chat, and per group per minute; edits per chat."""
    per_chat = per_second(settings.telegram_rate_per_chat)
    per_group = Limit(settings.telegram_rate_per_group_minute, 60.0)

    def limits(key: str) -> list[Limit]:
        if key.startswith("edit:"):
            return [per_chat]
        return [per_group, per_chat] if key.startswith("-") else [per_chat]

    return Pacer(per_second(settings.telegram_rate_overall), limits)


@dataclasses.dataclass(frozen=True, slots=True)
class Look:
    """A message as Telegram shows it: its HTML text and its keyboard."""

    text: str
    markup: str


def preview(image: str | None) -> LinkPreviewOptions:
    """A post's lead image as a large preview above its text; no preview without one (a
    post's links would otherwise preview whatever page they lead to)."""
    if image is None:
        return NO_PREVIEW
    return LinkPreviewOptions(url=image, prefer_large_media=True, show_above_text=True)


def edit_target(message: MessageRef) -> dict[str, Any]:
    """How the Bot API names a message to edit: an inline message by its own id."""
    if message.chat.chat_id == INLINE:
        return {"inline_message_id": message.message_id}
    return {"chat_id": api_chat_id(message.chat.chat_id), "message_id": int(message.message_id)}


class Outbound:
    """Everything that leaves for Telegram. `app` is set while the adapter runs."""

    def __init__(self, runtime: Runtime, settings: Settings, redactor: Redactor) -> None:
        self.runtime = runtime
        self.redactor = redactor
        self.pacer = pacer_for(settings)
        self.app: AnyApp | None = None
        self._edits: EditBatching[Look] = EditBatching(sharing=runtime.sharing)
        # Images Telegram refused: the other chats of a fan-out get the text post at once,
        # without a photo call that fails the same way (each worker learns it on its own).
        self._refused_images: set[str] = set()

    def bot(self) -> Bot:
        if self.app is None:
            raise DeliveryError("Telegram is not running")
        bot: Bot = self.app.bot
        return bot

    async def post(
        self, chat_id: str, reply: Reply, *, reply_to: int | None = None, topic: str = ""
    ) -> MessageRef:
        """Send one reply as a new message (into forum topic `topic`, if any), paced;
        DeliveryError when it cannot be sent. A post with a lead image is a photo with the post
        as its caption when that fits, else a text with the image as a large preview above it;
        an image Telegram refuses leaves the text post. A chart (Reply.chart) is uploaded as a
        photo with the text as its caption."""
        target = api_chat_id(chat_id)
        text = render_html(fit(reply.text))
        if not text.strip() and reply.chart is None:
            raise DeliveryError("empty message")
        markup = keyboard_json(reply.buttons)
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await self.pacer.acquire(chat_id)
        try:
            message, photo = await self._send(target, reply, text, markup, quote, topic)
        except TelegramError as err:
            raise self.delivery_error(err, chat_id) from err
        ref = MessageRef(ChatRef(PLATFORM, chat_id), str(message.message_id), photo=photo)
        look = Look(render_html(reply.text) if photo else text, markup)
        self._edits.sent(message_key(ref), Shown(reply.poll_version, look))
        return ref

    async def _send(
        self,
        target: int | str,
        reply: Reply,
        text: str,
        markup: str,
        quote: ReplyParameters | None,
        topic: str,
    ) -> tuple[Message, bool]:
        """The message, and whether it is a photo carrying the post as its caption."""
        image = reply.image if reply.image not in self._refused_images else None
        photo = image is not None and fits_caption(reply.text)
        thread = int(topic) if topic else None
        if reply.chart is not None:
            return await self._send_chart(target, reply, text, markup, quote, thread), False
        if photo:
            message = await self._send_photo(target, reply, markup, quote, thread)
            if message is not None:
                return message, True
            image = None  # refused: no preview of it either
        message = await self.bot().send_message(
            target,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=preview(image),
            reply_parameters=quote,
            message_thread_id=thread,
            api_kwargs=_with_markup(markup),
        )
        return message, False

    async def _send_photo(
        self,
        target: int | str,
        reply: Reply,
        markup: str,
        quote: ReplyParameters | None,
        thread: int | None,
    ) -> Message | None:
        """The post as a photo with its caption; None when Telegram refuses the image (gone,
        too big, not a picture it takes): the text post goes instead, and why is logged."""
        try:
            return await self.bot().send_photo(
                target,
                str(reply.image),
                caption=render_html(reply.text),
                parse_mode=ParseMode.HTML,
                reply_parameters=quote,
                message_thread_id=thread,
                api_kwargs=_with_markup(markup),
            )
        except BadRequest as err:
            reason = self.redactor.redact(err.message)
            if any(p in reason.lower() for p in UNREACHABLE):
                raise
            log.warning("Telegram refused the image of article %s: %s", reply.article_id, reason)
            if len(self._refused_images) >= 1000:
                self._refused_images.clear()
            self._refused_images.add(str(reply.image))
            return None

    async def _send_chart(
        self,
        target: int | str,
        reply: Reply,
        text: str,
        markup: str,
        quote: ReplyParameters | None,
        thread: int | None,
    ) -> Message:
        """A chart uploaded as a photo whose caption is the text (it fits: see photo_parts)."""
        assert reply.chart is not None
        photo = InputFile(reply.chart.png, filename=reply.chart.filename)
        return await self.bot().send_photo(
            target,
            photo,
            caption=text or None,
            parse_mode=ParseMode.HTML,
            reply_parameters=quote,
            message_thread_id=thread,
            api_kwargs=_with_markup(markup),
        )

    async def edit(self, message: MessageRef, reply: Reply) -> bool:
        """Make the message show `reply`, batched with the other edits of the message (see
        edit_batching): False when it was dropped for a newer edit. A photo's caption is
        edited, not a text."""
        key = message_key(message)
        # Edits are paced per chat (apart from its new messages); an inline message has none.
        pace = f"edit:{key}" if message.chat.chat_id == INLINE else f"edit:{message.chat.chat_id}"
        text = render_html(fit(reply.text, MAX_CAPTION if message.photo else MAX_TEXT))
        markup = keyboard_json(reply.buttons)
        where = edit_target(message)

        async def send(shown: Shown[Look] | None) -> None:
            await self.pacer.acquire(pace)
            # Only the counts changed: the keyboard alone is a lighter edit.
            only_buttons = shown is not None and shown.look.text == text
            try:
                if only_buttons:
                    await self.bot().edit_message_reply_markup(
                        api_kwargs=_with_markup(markup), **where
                    )
                elif message.photo:
                    await self.bot().edit_message_caption(
                        caption=text,
                        parse_mode=ParseMode.HTML,
                        api_kwargs=_with_markup(markup),
                        **where,
                    )
                else:
                    await self.bot().edit_message_text(
                        text,
                        parse_mode=ParseMode.HTML,
                        link_preview_options=preview(reply.image),
                        api_kwargs=_with_markup(markup),
                        **where,
                    )
            except TelegramError as err:
                if not _not_modified(err):
                    raise self.delivery_error(err, pace) from err

        wanted = Shown(reply.poll_version, Look(text, markup))
        return await self._edits.edit(key, wanted, send)

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        if message.chat.chat_id != INLINE and await self._deleted(message):
            return
        # Inline messages cannot be deleted, nor old ones in groups: they show `instead`.
        await self.edit(message, instead)

    async def _deleted(self, message: MessageRef) -> bool:
        """True when the message is gone; False when Telegram cannot delete it."""
        chat = message.chat.chat_id
        try:
            await self.bot().delete_message(api_chat_id(chat), int(message.message_id))
        except BadRequest as err:
            text = err.message.lower()
            if "not found" in text:
                return True  # gone already
            if "can't be deleted" not in text and "cannot be deleted" not in text:
                raise self.delivery_error(err, chat) from err
            return False
        except TelegramError as err:
            raise self.delivery_error(err, chat) from err
        return True

    def delivery_error(self, err: TelegramError, pace_key: str) -> DeliveryError:
        """What a PTB error means for the outbox: wait, move, give up on the chat, or retry."""
        if isinstance(err, RetryAfter):
            wait = err.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            self.pacer.back_off(pace_key, seconds)
            return DeliveryError(f"flood control: retry after {seconds:g} s", retry_after=seconds)
        if isinstance(err, ChatMigrated):
            new = ChatRef(PLATFORM, str(err.new_chat_id))
            return DeliveryError("the group became a supergroup", migrated_to=new)
        reason = self.redactor.redact(err.message).removeprefix("Forbidden: ")
        if isinstance(err, Forbidden):
            return DeliveryError(reason, permanent=True)
        if isinstance(err, BadRequest):
            lowered = reason.lower()
            if any(p in lowered for p in TOPIC_GONE):
                # Said the same whatever Telegram's wording: /subscriptions shows it.
                gone = "forum topic closed" if "closed" in lowered else "forum topic deleted"
                return DeliveryError(gone, topic_gone=True)
            return DeliveryError(reason, permanent=any(p in lowered for p in UNREACHABLE))
        if isinstance(err, TimedOut):
            return _timed_out(err)
        return DeliveryError(f"{type(err).__name__}: {reason}")

    async def answer(
        self, chat_id: str, reply: Reply, *, reply_to: int | None = None, topic: str = ""
    ) -> None:
        """Send a reply to something a person did (into the forum topic it was said in):
        best effort, one wait for a short flood pause, and a group that became a supergroup
        is followed."""
        if not reply.text.plain().strip():
            return
        # A chart with the text as its caption, or after it; too long for one message (a long
        # /help): several, split between whole lines.
        for part in photo_parts(reply):
            chat_id, reply_to = await self._answer_one(chat_id, part, reply_to, topic)

    async def _answer_one(
        self, chat_id: str, reply: Reply, reply_to: int | None, topic: str
    ) -> tuple[str, int | None]:
        """One message of an answer; the chat (and what to quote) for the next one."""
        for _ in range(2):
            try:
                message = await self.post(chat_id, reply, reply_to=reply_to, topic=topic)
            except DeliveryError as err:
                if err.migrated_to is not None:
                    await self.runtime.migrated(ChatRef(PLATFORM, chat_id), err.migrated_to)
                    chat_id, reply_to = err.migrated_to.chat_id, None
                    continue
                if err.retry_after is not None:
                    self.runtime.metrics.rate_limited(PLATFORM, err.retry_after)
                if err.retry_after is not None and err.retry_after <= 10:
                    continue  # the pacer holds this chat back until then
                log.info("cannot answer in telegram:%s: %s", chat_id, err.reason)
                return chat_id, reply_to
            if reply.article_id is not None:
                await self.runtime.posted(reply, message)
            return chat_id, reply_to
        return chat_id, reply_to


def photo_parts(reply: Reply) -> list[Reply]:
    """The messages of an answer. A picture carries the text as its caption when it fits
    (1024 characters); else the text goes first and the picture after it, on its own. Text
    too long for one message (a long /help) is several, split between whole lines."""
    if reply.chart is not None and fits_caption(reply.text):
        return [reply]
    parts = reply_parts(dataclasses.replace(reply, chart=None), fits_one_message)
    if reply.chart is not None:
        parts.append(Reply(chart=reply.chart, private=reply.private))
    return parts


def _with_markup(markup: str) -> dict[str, Any] | None:
    """The keyboard as JSON already (render.keyboard_json), passed as the Bot API takes it."""
    return {"reply_markup": markup} if markup else None


def _not_modified(err: TelegramError) -> bool:
    return isinstance(err, BadRequest) and "not modified" in err.message.lower()


def _timed_out(err: TimedOut) -> DeliveryError:
    # Connect and pool timeouts sent nothing; after a read or write timeout Telegram may have
    # done it. The outbox retries either way (at least once, see README).
    cause = type(err.__cause__).__name__ if err.__cause__ else "timeout"
    if not isinstance(err.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
        log.warning("Telegram timed out (%s): it may have been done anyway", cause)
    return DeliveryError(f"timed out ({cause})")
