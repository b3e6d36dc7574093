"""The digest job: each chat in digest mode whose digest time has passed gets one message (or
as few as its platform's limits allow) with what arrived since its last digest."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.adapter_contract import Adapter, DeliveryError
from bot.runtime import Runtime
from handlers.digest_render import DigestEntry, digest_entries, digest_parts
from handlers.dispatch import chat_language
from handlers.events import Outgoing, Reply
from handlers.i18n import speaking
from storage.models import ChatRef
from storage.schedules import TakenDigest

log = logging.getLogger(__name__)

DIGEST_EVERY = 60.0  # seconds between looks for digests that are due
RETRY_AFTER = 300.0  # seconds before a digest that could not be sent is tried again
RETRY_UNREACHABLE = 3600.0  # the same when the chat cannot be reached at all


class DigestSender:
    """Sends the digests that are due, each taken from the outbox in one write (so that it
    goes out once, however long it was overdue) and given back if it cannot be sent."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store  # used in the database thread only
        self.db = runtime.db

    async def send_due(self) -> int:
        """Send every digest that is due now; returns how many chats got one."""
        platforms, only_chats = list(self.runtime.adapters), dict(self.runtime.only_chats)
        due = await self.db.run(self.store.schedules.due_digests, platforms, only_chats)
        sent = 0
        for chat in due:
            adapter = self.runtime.adapters.get(chat.platform)
            if adapter is not None and await self._send(chat, adapter):
                sent += 1
        return sent

    def _entries(self, taken: TakenDigest) -> tuple[list[DigestEntry], str]:
        """In the database thread: the digest's lines in the chat's language."""
        language = chat_language(self.runtime.ctx, taken.chat)
        with speaking(language):
            return digest_entries(self.runtime.ctx, taken), language

    async def _send(self, chat: ChatRef, adapter: Adapter) -> bool:
        taken = await self.db.run(self.store.schedules.take_digest, chat)
        if taken is None or not taken.delivery_ids:
            return False
        parts: list[Reply] = []
        try:
            entries, language = await self.db.run(self._entries, taken)
            parts = digest_parts(entries, language, adapter.fits)
            for index, reply in enumerate(parts):
                await self._send_part(chat, adapter, reply, taken, parts, index)
        except _PartFailed:
            return False
        except Exception:
            log.exception("the digest of %s could not be built", chat.key())
            await self._give_back(taken, taken.delivery_ids, RETRY_AFTER)
            return False
        return bool(parts)

    async def _send_part(
        self,
        chat: ChatRef,
        adapter: Adapter,
        reply: Reply,
        taken: TakenDigest,
        parts: list[Reply],
        index: int,
    ) -> None:
        try:
            await adapter.send(Outgoing(chat, reply))
        except Exception as err:
            unreachable = isinstance(err, DeliveryError) and err.permanent
            if not isinstance(err, DeliveryError):
                log.exception("a digest part to %s failed", chat.key())
            else:
                log.warning("a digest part to %s failed: %s", chat.key(), err.reason)
            retry = RETRY_UNREACHABLE if unreachable else RETRY_AFTER
            await self._give_back(taken, _unsent_rows(taken, parts, index), retry)
            if unreachable and isinstance(err, DeliveryError):
                await self.runtime.chat_unreachable(chat, err.reason)
            raise _PartFailed from err

    async def _give_back(self, taken: TakenDigest, ids: Sequence[int], retry: float) -> None:
        try:
            await self.db.run(self.store.schedules.give_back, taken, ids, retry)
        except Exception as err:
            log.warning("cannot give the digest of %s back: %s", taken.chat.key(), err)


class _PartFailed(Exception):
    """A part of a digest could not be sent; what it and the later parts held was given back."""


def _unsent_rows(taken: TakenDigest, parts: list[Reply], failed: int) -> list[int]:
    """The rows of the articles that no part before `failed` showed: all of them when the
    first part failed, else those of the parts from `failed` on."""
    if failed == 0:
        return list(taken.delivery_ids)
    shown = {int(b.params[0]) for reply in parts[:failed] for row in reply.buttons for b in row}
    return [d for d, a in zip(taken.delivery_ids, taken.article_ids, strict=True) if a not in shown]
