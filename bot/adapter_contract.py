"""The contract every platform adapter fulfils, and the errors a send can end in; beside the
runtime that uses it, so that the core imports nothing from bot.platforms."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from handlers.events import Outgoing, Reply
from handlers.i18n import t
from storage.models import ChatRef, MessageRef, UserRef


class DeliveryError(Exception):
    """A send or edit failed. The delivery worker decides from these fields what happens next.

    permanent: the chat can no longer be reached (blocked, kicked, not found): pause it.
    retry_after: the platform asked us to wait this many seconds before trying again.
    migrated_to: the chat moved (Telegram group -> supergroup); send there instead.
    topic_gone: the forum topic it went into is closed or deleted: pause what goes there.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        migrated_to: ChatRef | None = None,
        topic_gone: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.topic_gone = topic_gone
        self.permanent = permanent
        self.retry_after = retry_after
        self.migrated_to = migrated_to


class PlatformStartError(RuntimeError):
    """A platform could not start (a wrong token, no connection). The message is safe to show:
    it never holds the token. `exit_code`: 1 for a failure, 2 for a setting that cannot work
    (README, exit codes)."""

    def __init__(
        self, message: str, *, exit_code: int = 1, key: str = "", **params: object
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.key, self.params = key, params

    def line(self) -> str:
        """What the person is told: the message `key` in the current language when there is
        one, else the message as given."""
        return t(self.key, **self.params) if self.key else str(self)


class Adapter(Protocol):
    """One platform. It turns platform events into Commands and Presses for the Runtime, and
    sends, edits and deletes what the core asks it to."""

    platform: str

    @property
    def connected(self) -> bool:
        """Whether the platform's connection is up now, as its library reports it (for
        /healthz and /metrics): a translation of the library's own state, never a probe."""

    async def start(self) -> None:
        """Connect and begin feeding events to the runtime; return once running."""

    async def stop(self) -> None:
        """Stop taking events; let in-flight sends finish."""

    async def send(self, out: Outgoing) -> MessageRef:
        """Post a message; raise DeliveryError when it cannot be posted."""

    def fits(self, reply: Reply) -> bool:
        """Whether `reply` goes out as one message, uncut (its text and its buttons): a
        digest is split on whole entries where it would not."""

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace a posted message's text and buttons; nothing when it is unchanged."""

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        """Delete a posted message; where the platform cannot, make it show `instead`."""

    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        """Remove the person from the group or server; False when the bot lacks the right."""

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        """Let a banned person back in; False when the bot lacks the right."""

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        """Mute the person in the chat until `until` (None lifts it); False without the right."""


class Sharing:
    """Whether other workers share the store, and so edit the same messages: then what this
    process remembers a message shows may be out of date, and is not trusted. `epoch` counts
    the changes, so that memory from before a change is forgotten."""

    def __init__(self, shared: bool = False) -> None:
        self.shared = shared
        self.epoch = 0

    def set(self, shared: bool) -> None:
        if shared != self.shared:
            self.shared = shared
            self.epoch += 1
