"""Edits of posts with live counts, batched per message the same way on every platform.

Votes come in bursts, and every platform limits edits (Telegram about one per second per chat,
Discord five per five seconds per channel). So the edits of one message go one at a time; an
edit that a newer one waiting behind it makes pointless is dropped; an edit older than what the
message shows is dropped, so the counts never go backwards when a press and the refresh job
race; and an edit that would change nothing is never sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.adapter_contract import Sharing
from bot.platforms.keyed_locks import KeyedLocks
from bot.platforms.lru import Lru

# How a platform lays a message out (its rendered text and buttons), compared for equality.
Look = TypeVar("Look")


@dataclass(frozen=True, slots=True)
class Shown(Generic[Look]):
    """What a message of ours shows, as far as this process knows: the poll version its counts
    are from (None for a message without a poll) and its layout."""

    poll_version: int | None
    look: Look


class EditBatching(Generic[Look]):
    """The edits of one platform's messages, keyed by a string naming the message."""

    def __init__(self, size: int = 20_000, *, sharing: Sharing | None = None) -> None:
        # Bounded: a message forgotten here is edited once more than needed, nothing worse.
        self._shown: Lru[str, Shown[Look]] = Lru(size)
        self._wanted: Lru[str, int] = Lru(size)
        self._locks = KeyedLocks()
        self._sharing = sharing or Sharing()
        self._epoch = self._sharing.epoch

    def sent(self, key: str, shown: Shown[Look]) -> None:
        """A message was just sent showing `shown`."""
        self._shown.set(key, shown)

    def shown(self, key: str) -> Shown[Look] | None:
        """What the message shows as far as this process knows; None when it does not know,
        or when another worker may have edited it since (a shared store)."""
        if self._epoch != self._sharing.epoch:
            self._shown = Lru(self._shown.size)
            self._epoch = self._sharing.epoch
        if self._sharing.shared:
            return None
        return self._shown.get(key)

    def busy(self, key: str) -> bool:
        """An edit of the message is being sent or waits for its turn."""
        return self._locks.busy(key)

    async def edit(
        self,
        key: str,
        wanted: Shown[Look],
        send: Callable[[Shown[Look] | None], Awaitable[None]],
    ) -> bool:
        """Make message `key` show `wanted`, sending the edit with `send` (which gets what the
        message shows now, if known, to choose a lighter edit). False when this edit was
        dropped for a newer one still waiting; True when the message shows `wanted` or newer
        counts. What `send` raises propagates, and the message counts as unchanged."""
        version = wanted.poll_version
        if version is not None:
            before = self._wanted.get(key)
            self._wanted.set(key, version if before is None else max(before, version))
        async with self._locks.hold(key):
            shown = self.shown(key)
            settled = self._settled(key, version, shown)
            if settled is not None:
                return settled
            if shown is not None and shown.look == wanted.look:
                # Votes cast and taken back meanwhile: newer counts that look the same.
                self._shown.set(key, wanted)
                return True
            await send(shown)
            self._shown.set(key, wanted)
            return True

    def _settled(self, key: str, version: int | None, shown: Shown[Look] | None) -> bool | None:
        """Whether an edit to counts of `version` is needless before it is sent: False when a
        newer one waits behind it, True when the message shows newer counts already; None
        when it is still to be sent."""
        if version is None:
            return None
        newest = self._wanted.get(key)
        if newest is not None and newest > version:
            return False
        known = shown.poll_version if shown is not None else None
        if known is not None and known > version:
            return True
        return None
