"""Rows whose time is over, swept by one worker at a time: finished updates, ended mutes,
expired confirmations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from storage.db import to_ts
from storage.inbox import Inbox
from storage.store import Store


@dataclass(frozen=True, slots=True)
class Swept:
    """How many rows of each kind one sweep removed."""

    updates: int
    mutes: int
    confirmations: int


def sweep(store: Store, inbox: Inbox, keep_updates: timedelta) -> Swept:
    """Forget finished updates older than `keep_updates`, mutes that have ended and
    confirmations nobody gave in time. (Reads already ignore them: this only keeps the
    tables small.)"""
    now = to_ts(store.now())
    updates = inbox.prune(keep_updates)
    mutes = store.engine.changes("DELETE FROM mutes WHERE until <= ?", (now,))
    confirmations = store.engine.changes("DELETE FROM confirmations WHERE expires <= ?", (now,))
    return Swept(updates, mutes, confirmations)
