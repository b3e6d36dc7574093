"""Periodic coroutines of one worker: kicked, run again when kicked mid-run, and patient
with a database that fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.storage_health import StorageHealth
from storage.faults import StorageError, storage_fault

log = logging.getLogger(__name__)


class _SkippedRunFilter(logging.Filter):
    """APScheduler warns whenever a job's interval comes round while its last run still goes
    on. That is what max_instances=1 is for (a due run is coalesced, or kicked again by Job),
    and a database outage, which makes runs wait, would turn it into one line per tick."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkippedRunFilter())


class Job:
    """A periodic coroutine that can also be kicked. A kick while it runs makes it run once
    more right after, instead of being dropped, so nothing waits for the next interval. When
    the database fails (full, read-only, locked) it waits, doubling the pause, and says so once
    per outage instead of once per try."""

    MAX_PAUSE = 60.0

    def __init__(
        self,
        name: str,
        func: Callable[[], Awaitable[object]],
        health: StorageHealth | None = None,
    ) -> None:
        self.name = name
        self.func = func
        # Shared by the jobs of one process: one line per outage, not one per job.
        self.health = health or StorageHealth()
        self.running = False
        self.again = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._current: asyncio.Task[Any] | None = None
        self._cancelled = False
        self._faults = 0  # storage faults in a row
        self._resume_at = 0.0

    async def run(self) -> None:
        if self.running:
            self.again = True
            return
        if self._cancelled or asyncio.get_running_loop().time() < self._resume_at:
            return
        self.running = True
        self._idle.clear()
        self._current = asyncio.current_task()
        try:
            while True:
                self.again = False
                try:
                    await self.func()
                except asyncio.CancelledError:
                    if not self._cancelled or self._current is None:
                        raise
                    # Our own stop (cancel()): nothing to report.
                    self._current.uncancel()
                    break
                except Exception as err:
                    fault = storage_fault(err)
                    if fault is None:
                        log.exception("job %s failed", self.name)
                    else:
                        self._storage_failed(fault)
                        break
                else:
                    self._storage_works()
                if not self.again:
                    break
        finally:
            self.running = False
            self._current = None
            self._idle.set()

    def _storage_failed(self, fault: StorageError) -> None:
        self._faults += 1
        pause = min(2.0 ** (self._faults - 1), self.MAX_PAUSE)
        self._resume_at = asyncio.get_running_loop().time() + pause
        self.health.failed(f"job {self.name}", fault, pause)

    def _storage_works(self) -> None:
        if self._faults:
            self.health.works(f"job {self.name}")
        self._faults = 0
        self._resume_at = 0.0

    async def run_now(self) -> None:
        """Run it and wait until a run that started after this call has finished."""
        if self.running:
            self.again = True
            await self._idle.wait()
        else:
            await self.run()

    def kick(self) -> None:
        task = asyncio.get_running_loop().create_task(self.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        """Stop it: a run in progress is cancelled (for work that is safe to drop midway, such
        as a fetch) and no run starts any more."""
        self._cancelled = True
        if self._current is not None:
            self._current.cancel()

    async def idle(self) -> None:
        """Wait until no run is in progress, kicked or scheduled."""
        while self._tasks or self.running:
            if self._tasks:
                await asyncio.gather(*list(self._tasks))
            await self._idle.wait()
