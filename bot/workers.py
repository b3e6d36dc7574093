"""Work shared with other `newsbot run` workers on one store: singleton jobs under a lease,
and the presence of each worker, so that a worker knows whether it is alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.database_thread import DatabaseThread
from storage.faults import storage_fault
from storage.store import Store

log = logging.getLogger(__name__)

PRESENCE = "worker:"  # lease name prefix of each running worker
PRESENCE_LEASE = 15.0  # seconds; renewed every third of it


class Singleton:
    """A job that runs on one worker at a time. The worker that takes the lease keeps it by
    renewing it while it runs and at each run; when it dies, another worker takes the job over
    once the lease has expired (at most `seconds` later)."""

    def __init__(
        self,
        name: str,
        func: Callable[[], Awaitable[object]],
        *,
        store: Store,
        db: DatabaseThread,
        holder: str,
        seconds: float,
    ) -> None:
        self.lease = f"job:{name}"
        self.func = func
        self.store = store  # used in the database thread only
        self.db = db
        self.holder = holder
        self.seconds = seconds
        self.held = False

    async def __call__(self) -> None:
        self.held = await self.db.run(self.store.leases.take, self.lease, self.holder, self.seconds)
        if not self.held:
            return  # another worker runs it
        renewal = asyncio.create_task(self._renew())
        try:
            await self.func()
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                self.held = await self.db.run(
                    self.store.leases.take, self.lease, self.holder, self.seconds
                )
            except Exception as err:
                if storage_fault(err) is None:
                    raise
                continue  # the job itself meets the fault and waits it out
            if not self.held:
                log.warning("%s: another worker took the lease over", self.lease)

    async def release(self) -> None:
        """Give the job to another worker at once (a clean stop)."""
        if self.held:
            await self.db.run(self.store.leases.release, self.lease, self.holder)
            self.held = False


class Presence:
    """This worker's lease `worker:<id>`, renewed while it runs: the other workers see it, and
    it sees theirs (a store shared with others means that no process may trust its memory of
    what a message shows)."""

    def __init__(self, store: Store, db: DatabaseThread, worker: str) -> None:
        self.store = store  # used in the database thread only
        self.db = db
        self.worker = worker
        self.others: list[str] = []

    def beat(self) -> list[str]:
        """In the database thread: renew this worker's presence; the other workers alive."""
        self.store.leases.take(PRESENCE + self.worker, self.worker, PRESENCE_LEASE)
        alive = self.store.leases.running(PRESENCE)
        return [lease.holder for lease in alive if lease.holder != self.worker]

    async def renew(self) -> list[str]:
        self.others = await self.db.run(self.beat)
        return self.others

    async def leave(self) -> None:
        await self.db.run(self.store.leases.release, PRESENCE + self.worker, self.worker)
