"""The command table: each command's typed parameters, help text and handler, read by every
adapter (Telegram's command list, Discord's slash commands, the terminal's help)."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from handlers.context import Ctx
from handlers.events import Command, Reply, UserError
from storage.store import MAX_TAG_CHARS as MAX_STORED_TAG_CHARS

MAX_ARG_CHARS = 300
MAX_TOTAL_CHARS = 4000
MAX_TAG_CHARS = MAX_STORED_TAG_CHARS  # what the store keeps of a tag
MAX_ID = 2**53 - 1

# A plain function runs whole in the database thread (most handlers only read and write the
# store); an async one runs on the event loop and reaches the store through ctx.db.
Handler = Callable[[Ctx, Command], list[Reply]] | Callable[[Ctx, Command], Awaitable[list[Reply]]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter. kind: tags (one or more), tag, id, option, words (the rest as text),
    language, user, reason, text."""

    name: str
    kind: str
    required: bool = True

    @property
    def variadic(self) -> bool:
        return self.kind in {"tags", "words", "reason"}

    def usage(self) -> str:
        shown = {"tags": "TAG...", "id": "N", "option": "K"}.get(self.kind, self.name.upper())
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    handler: Handler
    params: tuple[Param, ...]
    help_key: str
    admin_only: bool = False
    listed: bool = True  # shown in help and platform command menus

    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(p.usage() for p in self.params)])


COMMANDS: dict[str, CommandSpec] = {}


def command(
    name: str,
    *params: Param,
    help_key: str | None = None,
    admin_only: bool = False,
    listed: bool = True,
) -> Callable[[H], H]:
    def register(func: H) -> H:
        COMMANDS[name] = CommandSpec(
            name, func, params, help_key or f"help.{name}", admin_only, listed
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
    variadic = bool(spec.params) and spec.params[-1].variadic
    required = sum(1 for p in spec.params if p.required)
    if len(cleaned) < required or (not variadic and len(cleaned) > len(spec.params)):
        raise UserError("error.usage", usage=spec.usage())
    limit = (
        MAX_TOTAL_CHARS
        if variadic and spec.params[-1].kind in {"words", "reason"}
        else MAX_ARG_CHARS
    )
    for arg in cleaned:
        if len(arg) > limit:
            raise UserError("error.too_long", limit=limit)
    return cleaned


def parse_id(value: str) -> int:
    text = value.strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise UserError("error.bad_id", value=value[:40])
    return int(text)


def parse_tag(value: str) -> str:
    tag = " ".join(value.strip().lstrip("#").split())
    if not tag or len(tag) > MAX_TAG_CHARS or not any(ch.isalnum() or ch == "*" for ch in tag):
        raise UserError("error.bad_tag", value=value[:40], limit=MAX_TAG_CHARS)
    return tag


def split_tags(args: tuple[str, ...]) -> list[str]:
    """Tags from arguments: `xAI OpenAI`, `xAI, OpenAI`, `Microsoft + xAI`."""
    raw = " ".join(args).replace("+", ",").replace(";", ",")
    parts = (
        [p for chunk in raw.split(",") for p in chunk.split()]
        if "," not in raw
        else [p for p in raw.split(",")]
    )
    tags: list[str] = []
    for part in parts:
        if part.strip():
            tag = parse_tag(part)
            if tag.casefold() not in {x.casefold() for x in tags}:
                tags.append(tag)
    return tags
