"""One getUpdates consumer per bot across all workers: a lease in the database, renewed while
polling. A second worker refuses to start; a dead poller's lease expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.adapter_contract import PlatformStartError
from bot.runtime import Runtime
from bot.settings import Settings

log = logging.getLogger(__name__)


class PollingLease:
    """The lease `telegram:<bot id>:polling`, held by this worker (NEWSBOT_WORKER_ID, so that
    a restart after a crash takes its own lease back at once) while it polls."""

    def __init__(
        self,
        runtime: Runtime,
        bot_id: int,
        settings: Settings,
        lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.runtime = runtime
        self.name = f"telegram:{bot_id}:polling"
        self.holder = settings.worker()
        self.seconds = settings.telegram_poll_lease
        self.lost = lost
        self._renewal: asyncio.Task[None] | None = None

    async def take(self) -> None:
        """Take the lease and keep renewing it; PlatformStartError (exit 2) when another
        worker polls this bot."""
        other = await self.runtime.take_lease(self.name, self.holder, self.seconds)
        if other is not None:
            raise PlatformStartError(
                f"Telegram: worker {other.holder} polls this bot already; several workers"
                " take updates by webhook (NEWSBOT_TELEGRAM_WEBHOOK_URL, see README"
                " 'Scaling out')",
                exit_code=2,
            )
        self._renewal = asyncio.create_task(self._renew(), name="telegram-polling-lease")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                other = await self.runtime.take_lease(self.name, self.holder, self.seconds)
            except Exception as err:
                # The database is away (or worse): polling goes on, and the lease runs out
                # only if it stays away; a worker that takes it over then stops this one.
                log.warning("Telegram: cannot renew the polling lease: %r", err)
                continue
            if other is not None:
                log.error("Telegram: worker %s polls this bot now; this one stops", other.holder)
                await self.lost()
                return

    async def release(self) -> None:
        """Stop renewing and give the lease back (at a stop, or a failed start)."""
        renewal, self._renewal = self._renewal, None
        if renewal is None:
            return
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        try:
            await self.runtime.release_lease(self.name, self.holder)
        except Exception as err:
            # It runs out by itself.
            log.warning("Telegram: cannot give back the polling lease: %r", err)
