"""The update inbox as adapters reach it through the runtime: updates stored before the
platform forgets them, claimed by one worker, marked done in the transaction of their
handler's own first write (storage/inbox.py holds the rules)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import TypeVar

from bot.storage_health import StorageHealth
from storage.database_thread import DatabaseThread, calling_task
from storage.inbox import Inbox, InboxUpdate

T = TypeVar("T")

# Finished updates are remembered this long: Telegram repeats an unconfirmed update for at
# most a day, so a repeat always finds its row. (The housekeeping job forgets older ones.)
KEEP_HANDLED = timedelta(days=2)


@dataclasses.dataclass(slots=True)
class Handling:
    """An update being handled. `written`: one of its handler's own write transactions has
    come to its commit, which marks the update done in that transaction (storage/inbox.py),
    so nothing is left to mark afterwards."""

    task: object
    written: bool = False


_handling: ContextVar[Handling | None] = ContextVar("newsbot_runtime_handling", default=None)


class UpdateInboxCalls:
    """The update inbox's part of the Runtime (its base class): what adapters call around
    each platform update. Runtime sets `db`, `inbox` and `storage_health`."""

    db: DatabaseThread
    inbox: Inbox
    storage_health: StorageHealth

    async def _inbox_call(self, source: str, call: Callable[[], T]) -> T:
        """A call into the update inbox; the database failing it is told to storage_health
        (the platform keeps what could not be stored and hands it over again)."""
        return await self.storage_health.reporting(f"inbox {source}", self.db.run(call))

    async def updates_received(self, source: str, updates: Sequence[tuple[int, str]]) -> None:
        """Store a batch of (update id, JSON) in one transaction, before it is confirmed."""
        await self._inbox_call(source, lambda: self.inbox.receive(source, updates))

    async def unfinished_updates(
        self, source: str, worker: str, *, take_over: bool
    ) -> list[InboxUpdate]:
        """Stored updates that were never finished (a crash, a kill), to handle now."""
        return await self._inbox_call(
            source, lambda: self.inbox.unfinished(source, worker, take_over=take_over)
        )

    async def orphaned_updates(self, source: str) -> list[InboxUpdate]:
        """Stored updates whose worker died holding them (or before taking them)."""
        return await self._inbox_call(source, lambda: self.inbox.orphaned(source))

    async def claim_update(self, source: str, update_id: int, worker: str) -> bool:
        """True when `worker` is to handle the update: not finished, and nobody (this worker
        included) is handling it already."""
        return await self._inbox_call(source, lambda: self.inbox.claim(source, update_id, worker))

    @contextlib.contextmanager
    def handling_update(self, source: str, update_id: int) -> Iterator[Handling]:
        """Around a handler: what it commits marks the update done in the same transaction;
        the Handling says whether that happened (then update_handled is not needed)."""
        handling = Handling(task=calling_task())
        token = _handling.set(handling)
        try:
            with self.inbox.handling(source, update_id):
                yield handling
        finally:
            _handling.reset(token)

    def _note_write(self, conn: object) -> None:
        # In the database thread, inside a write about to commit: the inbox marks the update
        # done in it when the write is the handler's own (the same test as storage/inbox.py).
        handling = _handling.get()
        if handling is not None and handling.task is calling_task():
            handling.written = True

    async def update_handled(
        self, source: str, update_id: int, handling: Handling | None = None
    ) -> None:
        """Mark the update done, unless its handler's own write did (`handling`), which
        spares a database call per vote. (The housekeeping job forgets old rows.)"""
        if handling is not None and handling.written:
            return
        await self._inbox_call(source, lambda: self.inbox.done(source, update_id))

    async def update_released(self, source: str, update_id: int) -> None:
        """A handler was cancelled before it finished: a restart handles the update."""
        await self._inbox_call(source, lambda: self.inbox.release(source, update_id))
