"""PTB's HTTP connection with no more requests handed to httpx than it has connections.

httpcore's pool looks at every connection for every connection each time a request comes or
goes (httpcore 1.0 `_assign_requests_to_connections`), and at every queued request too:
its cost grows with the square of the pool, and more when requests queue inside it. So the
pool stays small, and requests beyond it wait here, in an asyncio semaphore, at no cost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import httpx
from telegram.error import TimedOut
from telegram.request import HTTPXRequest

_bulk: ContextVar[bool] = ContextVar("newsbot_telegram_bulk_send", default=False)


@contextlib.contextmanager
def bulk_send() -> Iterator[None]:
    """Around a delivery: its requests leave connections free for people's presses."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


class PooledRequest(HTTPXRequest):
    """HTTPXRequest whose requests wait for a free connection before httpx sees them. The
    wait is bounded by the pool timeout and fails as httpx's own pool timeout does (nothing
    was sent). Deliveries (bulk_send) and everything else (people's presses and commands)
    each take at most all but `kept_free` connections: the answer to a press never queues
    behind a whole fan-out, and a flood of presses does not stop the fan-out either."""

    def __init__(
        self, *, connection_pool_size: int, pool_timeout: float, kept_free: int, **kwargs: Any
    ) -> None:
        super().__init__(
            connection_pool_size=connection_pool_size, pool_timeout=pool_timeout, **kwargs
        )
        self._slots = asyncio.Semaphore(connection_pool_size)
        lane = max(1, connection_pool_size - kept_free)
        self._lanes = {True: asyncio.Semaphore(lane), False: asyncio.Semaphore(lane)}
        self._wait = pool_timeout

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        lane = self._lanes[_bulk.get()]
        await _take(lane, self._wait)
        try:
            return await self._in_slot(self._slots, args, kwargs)
        finally:
            lane.release()

    async def _in_slot(
        self, slots: asyncio.Semaphore, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[int, bytes]:
        await _take(slots, self._wait)
        try:
            return await super().do_request(*args, **kwargs)
        finally:
            slots.release()


async def _take(slots: asyncio.Semaphore, wait: float) -> None:
    """Acquire a slot within `wait` seconds, or fail as a pool timeout (nothing was sent)."""
    if not slots.locked():
        await slots.acquire()
        return
    try:
        async with asyncio.timeout(wait):
            await slots.acquire()
    except TimeoutError:
        raise TimedOut("Pool timeout: no connection became free") from httpx.PoolTimeout(
            "no connection became free"
        )
