"""Telegram updates through the update inbox: stored before Telegram may forget them, handled
once, and handled after a crash if they were not finished (platform-facts.md, getUpdates)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import socket
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor, ExtBot
from telegram.request import HTTPXRequest

from bot.runtime import Runtime


class StoredUpdate(Protocol):
    """An update as the runtime hands it back from the inbox."""

    @property
    def update_id(self) -> int: ...

    @property
    def payload(self) -> str: ...


log = logging.getLogger(__name__)

MAX_LIMIT = 100  # the most updates one getUpdates returns


class InboxUnavailable(TelegramError):
    """The database could not store a fetched batch: it is not confirmed, so Telegram sends
    it again, and PTB's polling loop retries with growing pauses."""


class TelegramInbox:
    """One bot's updates in the runtime's inbox, as this process sees them.

    `worker` names who holds an update while it is handled, and stays the same across
    restarts, so that a restarted process takes back at once what it left unfinished: when
    polling that is the bot itself (Telegram allows one poller per bot, so it also takes over
    every other claim), with a webhook the host and the port it listens on."""

    def __init__(
        self,
        runtime: Runtime,
        bot_id: int,
        *,
        webhook_port: int | None,
        max_fetched: int = 80,
        fetch_at_least: int = 16,
    ) -> None:
        self.runtime = runtime
        self.source = f"telegram:{bot_id}"  # update ids count per bot
        self.polling = webhook_port is None
        host = socket.gethostname()
        self.worker = f"{host}:polling" if self.polling else f"{host}:{webhook_port}"
        # Backpressure: polling fetches only while fewer than `max_fetched` fetched updates
        # are unfinished, and only what fits. Telegram keeps the rest (for a day), so under
        # overload the process neither parses updates it cannot handle yet nor holds them.
        self.max_fetched = max_fetched
        self.fetch_at_least = min(fetch_at_least, max_fetched)
        self._fetched: set[int] = set()  # fetched by polling, not finished yet
        self._room = asyncio.Event()
        self._stopping = False

    # -- backpressure -----------------------------------------------------------------------

    async def room_to_fetch(self) -> int:
        """How many updates the next getUpdates may take, once at least `fetch_at_least` fit
        (waiting for handlers to finish until then). At stop, PTB's last getUpdates only
        confirms what was fetched: it waits for nothing and takes as little as it can."""
        while not self._stopping and self.max_fetched - len(self._fetched) < self.fetch_at_least:
            self._room.clear()
            await self._room.wait()
        if self._stopping:
            return 1
        return self.max_fetched - len(self._fetched)

    def fetched(self, updates: Sequence[Update]) -> None:
        self._fetched.update(u.update_id for u in updates)

    def finished(self, update_id: int) -> None:
        self._fetched.discard(update_id)
        if self.max_fetched - len(self._fetched) >= self.fetch_at_least:
            self._room.set()

    def stop_fetching(self) -> None:
        """Polling is about to stop: a fetch waiting for room returns at once."""
        self._stopping = True
        self._room.set()

    async def store(self, updates: Sequence[Update], raw: Sequence[object] | None = None) -> None:
        """Store updates in one transaction; InboxUnavailable when the database cannot. `raw`:
        the updates as Telegram sent them, stored as they are instead of serialising each
        Update again (which cost more loop time than anything else a press does)."""
        payloads = _as_sent(raw) if raw is not None else {}
        rows = [(u.update_id, payloads.get(u.update_id) or u.to_json()) for u in updates]
        try:
            await self.runtime.updates_received(self.source, rows)
        except Exception as err:
            # A database outage is told once, by the runtime; each try here only at DEBUG.
            level = logging.DEBUG if self.runtime.storage_health.is_fault(err) else logging.WARNING
            log.log(level, "cannot store %d Telegram updates: %s", len(updates), err)
            raise InboxUnavailable(f"cannot store updates: {type(err).__name__}") from err

    async def unfinished(self, bot: Bot) -> list[Update]:
        """Stored updates a crash left unfinished, parsed again, oldest first."""
        stored = await self.runtime.unfinished_updates(
            self.source, self.worker, take_over=self.polling
        )
        updates = await self._parsed(stored, bot)
        if updates:
            log.info("Telegram: handling %d updates left unfinished", len(updates))
        return updates

    async def orphans(self, bot: Bot) -> list[Update]:
        """Stored updates another worker died holding (webhook mode), parsed again."""
        updates = await self._parsed(await self.runtime.orphaned_updates(self.source), bot)
        if updates:
            log.info("Telegram: taking over %d updates of a worker that stopped", len(updates))
        return updates

    async def _parsed(self, stored: Sequence[StoredUpdate], bot: Bot) -> list[Update]:
        updates: list[Update] = []
        for row in stored:
            try:
                update = Update.de_json(json.loads(row.payload), bot)
            except (ValueError, TypeError, KeyError) as err:
                # It can never be handled: finished, so that it is not read on every start.
                log.error("stored Telegram update %s is unreadable: %s", row.update_id, err)
                await self.runtime.update_handled(self.source, row.update_id)
                continue
            updates.append(update)
        return updates


def _as_sent(raw: Sequence[object]) -> dict[int, str]:
    """Each update of a raw getUpdates result as JSON, by its id."""
    payloads: dict[int, str] = {}
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("update_id"), int):
            payloads[item["update_id"]] = json.dumps(item, ensure_ascii=False)
    return payloads


class RawUpdatesRequest(HTTPXRequest):
    """The connection getUpdates goes through: it keeps the last answer as Telegram sent it,
    parsed once (PTB's documented hook for parsing answers). PTB calls getUpdates one at a
    time, so the last answer is the batch just fetched; PTB copies what it reads from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last: Any = None

    def parse_json_payload(self, payload: bytes) -> Any:  # type: ignore[override]
        self._last = None
        self._last = HTTPXRequest.parse_json_payload(payload)
        return self._last

    @property
    def last_result(self) -> object:
        """The `result` of the last answer; None when it had none."""
        return self._last.get("result") if isinstance(self._last, dict) else None


class InboxBot(ExtBot[None]):
    """PTB's bot, storing each fetched batch before get_updates returns it. PTB confirms a
    batch with its next getUpdates, which starts before the handlers finish: by then the
    batch is in the database, so a crash loses none of it."""

    def __init__(
        self,
        *args: Any,
        inbox: TelegramInbox,
        raw_updates: RawUpdatesRequest | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._inbox = inbox
        self._raw_updates = raw_updates
        # Whether the last getUpdates was answered: polling's connection to Telegram.
        self._polls_answered = True

    @property
    def polls_answered(self) -> bool:
        return self._polls_answered

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        if not args:  # PTB's polling passes keywords; `limit` is the second argument
            room = await self._inbox.room_to_fetch()
            kwargs["limit"] = min(kwargs.get("limit") or MAX_LIMIT, room, MAX_LIMIT)
        try:
            updates = await super().get_updates(*args, **kwargs)
        except Exception:
            self._polls_answered = False
            raise
        self._polls_answered = True
        if updates:
            raw = self._raw_updates.last_result if self._raw_updates is not None else None
            await self._inbox.store(updates, raw if isinstance(raw, list) else None)
            self._inbox.fetched(updates)
        return updates


class InboxProcessor(BaseUpdateProcessor):
    """Runs each update's handlers at most `max_concurrent_updates` at a time, and only when
    the inbox gives the update to this process: a repeat, or an update handled already, is
    skipped. An update is finished when its handler's first write commits (the inbox does that
    in the same transaction) or when the handlers return, whichever comes first; a handler that
    raised has been answered and logged by the error handler, and is finished too."""

    def __init__(self, inbox: TelegramInbox, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._inbox = inbox

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        try:
            await self._process(update, coroutine)
        finally:
            self._inbox.finished(update.update_id)

    async def _process(self, update: Update, coroutine: Awaitable[Any]) -> None:
        runtime, source, update_id = self._inbox.runtime, self._inbox.source, update.update_id
        try:
            mine = await runtime.claim_update(source, update_id, self._inbox.worker)
        except Exception as err:
            # Handled without the inbox's guard rather than not at all.
            self._failed("cannot claim Telegram update %s", update_id, err)
            mine = True
        except BaseException:
            # Cancelled while the claim was on its way: the handler never starts.
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            raise
        if not mine:
            log.info("Telegram update %s was handled before; skipped", update_id)
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # never started: close it, or Python warns
            return
        message = update.message or update.channel_post  # sent now, unlike a pressed post
        runtime.metrics.telegram_update(message.date if message is not None else None)
        try:
            with runtime.handling_update(source, update_id) as handling:
                await coroutine
        except BaseException:
            # Cancelled at shutdown (handler errors never get here): a restart handles it.
            try:
                await runtime.update_released(source, update_id)
            except Exception as err:
                self._failed("cannot release Telegram update %s", update_id, err)
            raise
        try:
            await runtime.update_handled(source, update_id, handling)
        except Exception as err:
            self._failed("cannot mark Telegram update %s handled", update_id, err)

    def _failed(self, message: str, update_id: int, err: Exception) -> None:
        """The database failing (said once per outage by the runtime) is one DEBUG line;
        anything else is logged with its traceback."""
        if self._inbox.runtime.storage_health.is_fault(err):
            log.debug(message, update_id)
        else:
            log.error(message, update_id, exc_info=err)

    async def initialize(self) -> None:
        """Nothing to set up: the inbox lives in the database."""

    async def shutdown(self) -> None:
        """Nothing to free."""
