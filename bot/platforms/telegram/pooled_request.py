"""PTB's HTTP connection with no more requests handed to httpx than it has connections.

httpcore's pool looks at every connection for every connection each time a request comes or
goes (httpcore 1.0 `_assign_requests_to_connections`), and at every queued request too:
its cost grows with the square of the pool, and more when requests queue inside it. So the
pool stays small, and requests beyond it wait here, in an asyncio semaphore, at no cost.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from telegram.error import TimedOut
from telegram.request import HTTPXRequest


class PooledRequest(HTTPXRequest):
    """HTTPXRequest whose requests wait for a free connection before httpx sees them. The
    wait is bounded by the pool timeout and fails as httpx's own pool timeout does (nothing
    was sent)."""

    def __init__(self, *, connection_pool_size: int, pool_timeout: float, **kwargs: Any) -> None:
        super().__init__(
            connection_pool_size=connection_pool_size, pool_timeout=pool_timeout, **kwargs
        )
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._wait = pool_timeout

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError:
                raise TimedOut("Pool timeout: no connection became free") from httpx.PoolTimeout(
                    "no connection became free"
                )
        else:
            await self._slots.acquire()
        try:
            return await super().do_request(*args, **kwargs)
        finally:
            self._slots.release()
