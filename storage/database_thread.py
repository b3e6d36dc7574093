"""The store's async boundary: one thread owns the database connection, and the event loop
awaits calls into it, so a slow query never stalls the chats the loop serves."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# The asyncio task on whose behalf the database thread runs a call: code in the thread asks
# "which handler is this?" (the update inbox does), and asyncio cannot answer outside the loop.
_calling_task: contextvars.ContextVar[asyncio.Task[object] | None] = contextvars.ContextVar(
    "newsbot_calling_task", default=None
)


def calling_task() -> object:
    """The task running this code: on the loop the current one, in the database thread the
    one that awaits the call; None outside both."""
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return _calling_task.get()


class DatabaseThread:
    """One worker thread through which the running bot reaches the store. A single thread
    keeps SQLite's one connection used by one thread at a time, in order, with no lock of
    ours; calls queue behind each other as they would on the connection anyway.

    `await db.run(store.get_article, 7)` runs the call in the thread with the caller's
    context variables (the language, the update being handled), like asyncio.to_thread.
    Several calls can share one hop: `await db.run(lambda: (s.get_article(7), s.get_poll(7)))`.
    """

    def __init__(self, name: str = "newsbot-db") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._closed = False

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in the database thread. A caller cancelled meanwhile still
        waits for the call to end: it cannot be stopped halfway, and whatever it committed is
        then known to have happened before the cancellation reaches the caller."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        task = asyncio.current_task()

        def call() -> T:
            _calling_task.set(task)
            return fn(*args, **kwargs)

        future = loop.run_in_executor(self._executor, context.run, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                # Waiting out a call that is already running; its outcome no longer matters.
                await asyncio.wait([future])
                if not future.cancelled() and future.exception() is not None:
                    log.debug("a cancelled caller's database call failed", exc_info=True)
            raise

    def close(self) -> None:
        """Wait for the calls already queued, then end the thread. Idempotent."""
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True)
