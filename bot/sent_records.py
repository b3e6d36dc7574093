"""Records of sent posts, written to the store together rather than one call each."""

from __future__ import annotations

import asyncio

from bot.runtime import Runtime
from storage.models import MessageRef

Sent = tuple[int, MessageRef, int, str | None]  # delivery id, message, poll version, language


class SentRecords:
    """Records of sent posts, each awaited by its sender as before, but written together: the
    first sender to come back writes its record at once, and the records of the posts that
    come back meanwhile go in its next database call (each row still in its own transaction),
    instead of one call into the database thread per post."""

    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.store
        self.db = runtime.db
        self._waiting: list[tuple[Sent, asyncio.Future[None]]] = []
        self._writing = False
        self._handover: asyncio.Task[None] | None = None

    async def record(self, sent: Sent) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((sent, future))
        if not self._writing:
            self._writing = True
            try:
                await self._write()
            finally:
                self._writing = False
                if self._waiting:  # this sender was stopped: the others still get theirs
                    self._writing = True
                    self._handover = asyncio.create_task(self._write_then_idle())
        # A sender stopped meanwhile does not stop the write: its post was sent.
        await asyncio.shield(future)

    async def _write_then_idle(self) -> None:
        try:
            await self._write()
        finally:
            self._writing = False

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                errors = await self.db.run(self._write_all, [sent for sent, _ in batch])
            except Exception as err:
                errors = [err] * len(batch)
            except BaseException:
                for _, future in batch:
                    future.cancel()
                raise
            for (_, future), error in zip(batch, errors, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _write_all(self, batch: list[Sent]) -> list[BaseException | None]:
        """In the database thread: each row as delivery_sent writes it; what each one raised."""
        errors: list[BaseException | None] = []
        for delivery_id, message, version, language in batch:
            try:
                self.store.delivery_sent(delivery_id, message, version, language)
            except Exception as err:
                errors.append(err)
            else:
                errors.append(None)
        return errors
