"""The button table: each button action's typed keys, who may press it, whether it acts on the
article of the post it sits on, and its handler. The codec, the checks on arrival and dispatch
all read it, as the command table (registry.py) drives commands: adding a button touches the one
module that declares and handles it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from handlers.context import Ctx
from handlers.events import Command, Press, Reply
from handlers.permissions import BOT_ADMIN, CHAT_ADMIN, MEMBER, OWNER
from storage.models import ChatSettings

KeyKind = Literal["article", "number"]
ROLES = (MEMBER, CHAT_ADMIN, BOT_ADMIN, OWNER)


@dataclass(frozen=True, slots=True)
class Key:
    """One key a button carries, always a whole number: an article's id, or a small number
    such as a poll option or a kind of confirmation."""

    name: str
    kind: KeyKind = "number"


@dataclass(frozen=True, slots=True)
class Pressed:
    """A press that passed the checks on arrival, as a button's handler gets it."""

    press: Press
    # The language the pressed message shows: a post keeps the one it was posted in, whoever
    # presses; only what is said to the presser alone is in their language.
    post_language: str
    # The pressed chat's settings as the press found them (a post is drawn again in its look):
    # read once per press, on the hottest path there is.
    chat_settings: ChatSettings | None = None

    @property
    def keys(self) -> tuple[int, ...]:
        return self.press.params

    def command(self) -> Command:
        """The press as the command it stands for, for permission checks and the audit log."""
        press = self.press
        return Command(
            chat=press.chat,
            user=press.user,
            name=press.action,
            locale=press.locale,
            is_chat_admin=press.is_chat_admin,
        )


# As for commands (registry.Handler): a plain function runs in the database thread.
ButtonHandler = (
    Callable[[Ctx, Pressed], list[Reply]] | Callable[[Ctx, Pressed], Awaitable[list[Reply]]]
)
B = TypeVar("B", bound=ButtonHandler)


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    name: str
    keys: tuple[Key, ...]
    handler: ButtonHandler
    who: str = MEMBER  # the least role that may press it (handlers/permissions.py)
    on_post: bool = False  # it acts on the article of the post it sits on (its first key)

    @property
    def asks_chat_admin(self) -> bool:
        """Whether checking the presser needs the platform to say if they administer the chat
        (a question that costs Telegram a request, asked only where it matters)."""
        return self.who == CHAT_ADMIN

    def article_key(self, values: tuple[int, ...]) -> int | None:
        """The article the press names, if it names one."""
        for key, value in zip(self.keys, values, strict=False):
            if key.kind == "article":
                return value
        return None


BUTTONS: dict[str, ButtonSpec] = {}


def button(name: str, *keys: Key, who: str = MEMBER, on_post: bool = False) -> Callable[[B], B]:
    """Declare the button `name` with its keys, handled by the decorated function."""
    if not re.fullmatch(r"[a-z_]{1,20}", name):
        raise ValueError(f"button {name!r}: a name is 1-20 letters a-z or _")
    if who not in ROLES:
        raise ValueError(f"button {name!r}: unknown role {who!r}")
    if on_post and (not keys or keys[0].kind != "article"):
        raise ValueError(f"button {name!r} acts on a post: its first key must be the article")

    def register(func: B) -> B:
        BUTTONS[name] = ButtonSpec(name, keys, func, who, on_post)
        return func

    return register


def asks_chat_admin(action: str) -> bool:
    """For adapters: whether a press of `action` needs to know if the presser is a chat
    admin; False for data the bot did not make."""
    spec = BUTTONS.get(action)
    return spec is not None and spec.asks_chat_admin
