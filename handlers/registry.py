"""The command table: each command's typed parameters, help text and handler, read by every
adapter (Telegram's command list, Discord's slash commands, the terminal's help)."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from handlers.context import Ctx
from handlers.events import Command, Reply, UserError
from handlers.i18n import t
from handlers.permissions import CHAT_RIGHTS, MEMBER
from storage.tags import (
    MAX_TAG_CHARS,
    command_tags,
    is_usable_tag,
    one_command_tag,
    phrases_to_look_up,
    tag_key,
)

MAX_ARG_CHARS = 300
MAX_TOTAL_CHARS = 4000
MAX_ID = 2**53 - 1

# A plain function runs whole in the database thread (most handlers only read and write the
# store); an async one runs on the event loop and reaches the store through ctx.db.
Handler = Callable[[Ctx, Command], list[Reply]] | Callable[[Ctx, Command], Awaitable[list[Reply]]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter. kind: tags (one or more), tag (one, its words may be unquoted), id,
    option, words (the rest as text), language, user, reason, text."""

    name: str
    kind: str
    required: bool = True

    @property
    def variadic(self) -> bool:
        return self.kind in {"tags", "tag", "words", "reason"}

    def usage(self) -> str:
        """How help and usage lines name the parameter, in the current turn's language."""
        shown = t(f"usage.{self.name}")
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command. `who` is who may use it in a group or channel, `who_in_private` in a
    private chat when that differs (handlers.permissions levels): /help lists a command only
    for those, and the handler checks it again."""

    name: str
    handler: Handler
    params: tuple[Param, ...]
    help_key: str
    who: str = MEMBER
    who_in_private: str | None = None
    listed: bool = True  # shown in help and platform command menus
    takes_file: bool = False  # a file may come with it (Command.attachment): /feeds import

    @property
    def admin_only(self) -> bool:
        """For admins only (of the chat or of the bot) wherever it is used."""
        return self.who not in {MEMBER, CHAT_RIGHTS}

    def who_for(self, *, is_private: bool) -> str:
        return (self.who_in_private or self.who) if is_private else self.who

    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(p.usage() for p in self.params)])

    def takes_count(self, count: int) -> bool:
        """Whether this many arguments fit the parameters (a last variadic one takes the rest)."""
        required = sum(1 for p in self.params if p.required)
        variadic = bool(self.params) and self.params[-1].variadic
        return required <= count and (variadic or count <= len(self.params))

    @property
    def arg_limit(self) -> int:
        """The characters one argument may have: free text (words, a reason) as a whole
        message, anything else MAX_ARG_CHARS."""
        last = self.params[-1] if self.params else None
        free_text = last is not None and last.variadic and last.kind in {"words", "reason"}
        return MAX_TOTAL_CHARS if free_text else MAX_ARG_CHARS


COMMANDS: dict[str, CommandSpec] = {}


def command(
    name: str,
    *params: Param,
    help_key: str | None = None,
    who: str = MEMBER,
    who_in_private: str | None = None,
    listed: bool = True,
    takes_file: bool = False,
) -> Callable[[H], H]:
    def register(func: H) -> H:
        COMMANDS[name] = CommandSpec(
            name, func, params, help_key or f"help.{name}", who, who_in_private, listed, takes_file
        )
        return func

    return register


def clean_arg(value: str) -> str:
    """NFC, no control or zero-width characters: what people paste is often odd."""
    value = unicodedata.normalize("NFC", value)
    return "".join(
        ch for ch in value if unicodedata.category(ch) not in {"Cc", "Cf"} or ch in "\n\t"
    ).strip()


def clean_name(value: str) -> str:
    """A person's name as the bot may show it back, cleaned like an argument and on one line:
    platforms let people put direction overrides, zero-width and control characters (a bell)
    into their names."""
    return " ".join(clean_arg(value).split())


def check_args(spec: CommandSpec, args: tuple[str, ...]) -> tuple[str, ...]:
    """Clean arguments and check their count and size against the command's parameters."""
    if sum(len(a) for a in args) > MAX_TOTAL_CHARS:
        raise UserError("error.too_long", limit=MAX_TOTAL_CHARS)
    cleaned = tuple(c for c in (clean_arg(a) for a in args) if c)
    if not spec.takes_count(len(cleaned)):
        raise UserError("error.usage", usage=spec.usage())
    limit = spec.arg_limit
    if any(len(arg) > limit for arg in cleaned):
        raise UserError("error.too_long", limit=limit)
    return cleaned


def parse_id(value: str, *, not_an_id: str = "error.bad_id") -> int:
    """A record's number (#12 or 12); `not_an_id` is the message that names what was expected
    (an article number unless told otherwise)."""
    text = value.strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise UserError(not_an_id, value=value[:40])
    return int(text)


def checked_tag(tag: str, value: str) -> str:
    if not is_usable_tag(tag) or not tag_key(tag):
        raise UserError("error.bad_tag", value=value[:40], limit=MAX_TAG_CHARS)
    return tag


def parse_tag(args: tuple[str, ...]) -> str:
    """The one tag of /latest or /top, in any form it is shown in: `Künstliche Intelligenz`,
    `"Künstliche Intelligenz"`, `#Künstliche_Intelligenz`, `C++`."""
    return checked_tag(one_command_tag(args), " ".join(args))


def split_tags(ctx: Ctx, args: tuple[str, ...]) -> list[str]:
    """Tags from arguments: `xAI OpenAI`, `xAI, OpenAI`, `Microsoft + C++`, quoted ones
    ("…", „…“, «…»), hashtags; unquoted words that together name a known tag are that tag."""
    known = {tag_key(p) for p in phrases_to_look_up(args) if ctx.store.known_tag(p)}
    return [checked_tag(tag, tag) for tag in command_tags(args, known)]
