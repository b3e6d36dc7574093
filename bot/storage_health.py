"""Whether the running bot can reach its database, said once per outage: one line when the
first part of the bot finds it failing, one when the last failing part gets through again."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from storage.faults import StorageError, storage_fault

log = logging.getLogger(__name__)
T = TypeVar("T")


class StorageHealth:
    """Shared by the scheduler's jobs and the platforms' update inboxes of one process. Each
    part reports its own outcome; an outage lasts while any part still fails, so a database
    that fails every part at once (a PostgreSQL server gone away) is one outage, and one that
    fails only the writers (a full disk) does not flap with every read that succeeds."""

    def __init__(self) -> None:
        self._failing: dict[str, int] = {}  # part -> failed tries in a row
        self._since = 0.0

    @property
    def outage(self) -> bool:
        return bool(self._failing)

    def failed(self, part: str, fault: StorageError, pause: float | None = None) -> None:
        """`part` could not use the database; it tries again after `pause` seconds."""
        tries = self._failing.get(part, 0) + 1
        first = not self._failing
        self._failing[part] = tries
        if first:
            self._since = time.monotonic()
            level = logging.WARNING if fault.transient else logging.ERROR
            log.log(level, "%s: the database failed (%s); retrying with backoff", part, fault)
        elif pause is not None:
            log.debug("%s: the database still fails; next try in %g s", part, pause)
        else:
            log.debug("%s: the database still fails (try %s)", part, tries)

    def works(self, part: str) -> None:
        """`part` used the database successfully."""
        tries = self._failing.pop(part, 0)
        if tries and not self._failing:
            log.warning(
                "%s: the database works again after %s tries (%.0f s)",
                part,
                tries,
                time.monotonic() - self._since,
            )

    async def reporting(self, part: str, call: Awaitable[T]) -> T:
        """Await a database call of `part`, reporting whether the database failed it."""
        try:
            result = await call
        except Exception as err:
            fault = storage_fault(err)
            if fault is not None:
                self.failed(part, fault)
            raise
        self.works(part)
        return result

    @staticmethod
    def is_fault(err: BaseException) -> bool:
        """Whether `err` is the database failing (a server gone away, a full disk), which is
        told once per outage, rather than a bug worth a traceback."""
        return storage_fault(err) is not None
