"""Proactive send pacing: stay under a platform's limits instead of provoking its 429s."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class CalledOff(Exception):
    """A send that was still waiting for its turn was called off: nothing went out."""


# The outbox worker sets this around its sends. Once the event is set (newsbot is stopping), a
# send still waiting for its turn raises CalledOff instead of going out; a send past the pacer
# is on its way and finishes. Replies to people do not set it: they are never called off.
call_off: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar(
    "call_off", default=None
)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` sends per `per` seconds."""

    count: int
    per: float


class SlidingWindow:
    """Remembers send times in a window; tells how long until one more send fits."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self.times: collections.deque[float] = collections.deque()

    def wait_time(self, now: float) -> float:
        while self.times and now - self.times[0] >= self.limit.per:
            self.times.popleft()
        if len(self.times) < self.limit.count:
            return 0.0
        return self.times[0] + self.limit.per - now

    def record(self, now: float) -> None:
        self.times.append(now)


class Pacer:
    """Paces sends overall and per chat. A chat's limit comes from `limit_for(key)` (a private
    chat and a group may differ). A chat that was told to back off (429) waits without holding
    up the others."""

    def __init__(
        self,
        overall: Limit,
        limit_for: Callable[[str], list[Limit]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.overall = SlidingWindow(overall)
        self.limit_for = limit_for
        self.clock = clock
        self.sleep = sleep
        self.windows: dict[str, list[SlidingWindow]] = {}
        self.blocked_until: dict[str, float] = {}
        self.locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self.overall_lock = asyncio.Lock()

    def back_off(self, key: str, seconds: float) -> None:
        self.blocked_until[key] = max(self.blocked_until.get(key, 0.0), self.clock() + seconds)

    async def acquire(self, key: str) -> None:
        """Wait until one more send to `key` fits every limit, then count it. Raises CalledOff
        when the caller's `call_off` event is set before that."""
        stop = call_off.get()
        _check(stop)
        async with self.locks[key]:
            _check(stop)
            windows = self.windows.get(key)
            if windows is None:
                windows = self.windows[key] = [SlidingWindow(lim) for lim in self.limit_for(key)]
            while True:
                now = self.clock()
                wait = max(
                    [self.blocked_until.get(key, 0.0) - now, *(w.wait_time(now) for w in windows)]
                )
                if wait <= 0:
                    break
                # Waiting for time to pass is the point here; no event marks it.
                await self._wait(wait, stop)
            async with self.overall_lock:
                _check(stop)
                wait = self.overall.wait_time(self.clock())
                while wait > 0:
                    await self._wait(wait, stop)
                    wait = self.overall.wait_time(self.clock())
                now = self.clock()
                self.overall.record(now)
            for window in windows:
                window.record(now)
        # Idle chats' windows would otherwise pile up over weeks of running.
        if len(self.windows) > 10_000:
            self._forget_idle()

    async def _wait(self, seconds: float, stop: asyncio.Event | None) -> None:
        if stop is None:
            await self.sleep(seconds)
            return
        sleeping = asyncio.ensure_future(self.sleep(seconds))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeping, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            stopped.cancel()
        _check(stop)

    def _forget_idle(self) -> None:
        now = self.clock()
        for key in [k for k, ws in self.windows.items() if all(w.wait_time(now) == 0 for w in ws)]:
            if not self.locks[key].locked():
                self.windows.pop(key, None)
                self.locks.pop(key, None)
                self.blocked_until.pop(key, None)


def _check(stop: asyncio.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise CalledOff
