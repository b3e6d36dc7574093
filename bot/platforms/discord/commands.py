"""The core's command table as Discord slash commands: typed options named after each Param,
tag autocomplete, and German and English descriptions from the message catalogues."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from bot.platforms.discord.render import shorten
from handlers.i18n import catalogue, t
from handlers.registry import MAX_ARG_CHARS, MAX_ID, MAX_TOTAL_CHARS, CommandSpec, Param
from storage.tags import tag_key

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 100
MAX_CHOICES = 25
MAX_OPTIONS = 25
MAX_COMMANDS = 100
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
# Discord's locales that newsbot speaks; every other locale sees the default language.
LANGUAGE_OF_LOCALE = {
    discord.Locale.german: "de",
    discord.Locale.american_english: "en",
    discord.Locale.british_english: "en",
}

# What the adapter does with a slash command: its name, its arguments in Param order, and
# the file attached to its "file" option (commands that take one: CommandSpec.takes_file).
RunCommand = Callable[
    [discord.Interaction[Any], str, tuple[str, ...], discord.Attachment | None], Awaitable[None]
]
FILE_OPTION = "file"
# Known tags for a typed prefix, most used first.
KnownTags = Callable[[str, int], Awaitable[list[str]]]


class CatalogueTranslator(app_commands.Translator):
    """Descriptions in German and English from the catalogues. Names stay the same in every
    language: they are what people type, in the help and in the README."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        key = string.extras.get("key")
        language = LANGUAGE_OF_LOCALE.get(locale)
        if not isinstance(key, str) or language is None:
            return None
        return shorten(t(key, language), MAX_DESCRIPTION) or None


def described(key: str, language: str) -> app_commands.locale_str:
    """A description in the default language that the translator localises by its key."""
    return app_commands.locale_str(shorten(t(key, language), MAX_DESCRIPTION) or "…", key=key)


def option_key(param: Param) -> str:
    """The catalogue key describing an option: by its name, else by its kind."""
    known = catalogue("en")
    for key in (f"discord.option.{param.name}", f"discord.option.{param.kind}"):
        if key in known:
            return key
    return "discord.option.text"


def annotation(param: Param) -> Any:
    """The Discord option type of a parameter kind."""
    if param.kind == "id":
        return app_commands.Range[int, 1, MAX_ID]
    if param.kind == "option":
        return app_commands.Range[int, 1, 5]
    if param.kind == "user":
        return discord.User
    if param.kind in {"words", "reason"}:
        return app_commands.Range[str, 1, MAX_TOTAL_CHARS]
    return app_commands.Range[str, 1, MAX_ARG_CHARS]


def option_text(value: object) -> str:
    """An option's value as the core's argument: a person becomes their id."""
    if isinstance(value, discord.User | discord.Member):
        return str(value.id)
    return str(value)


@dataclass(frozen=True, slots=True)
class Typed:
    """What was typed into a tags option: the tags finished already, the one being typed, and
    the whole text when it may be the start of one tag with a space in it."""

    done: tuple[str, ...]
    last: str
    whole: str | None = None


def read_typed(current: str) -> Typed:
    """Several tags are split on commas (and '+') if there are any, else on spaces."""
    text = current.replace("+", ",")
    if "," in text:
        head, _, last = text.rpartition(",")
        return Typed(tuple(part.strip() for part in head.split(",") if part.strip()), last)
    parts = text.split()
    if text.endswith(" ") or not parts:
        return Typed(tuple(parts), "")
    # "Künstliche Int" may be the start of one tag with a space in it.
    return Typed(tuple(parts[:-1]), parts[-1], text.strip() if len(parts) > 1 else None)


def completed(typed: Typed, tag: str) -> tuple[str, str] | None:
    """(shown, value) for the typed tags with `tag` last; tags with spaces are kept whole by
    commas, which the core splits on first. None when Discord would not take the value."""
    chosen = [*typed.done, tag]
    if any(" " in c for c in chosen):
        shown = ", ".join(chosen)
        value = shown + ("," if len(chosen) == 1 else "")
    else:
        shown = value = " ".join(chosen)
    return (shown, value) if len(value) <= 100 else None


async def tag_choices(current: str, known: KnownTags, *, many: bool) -> list[tuple[str, str]]:
    """(shown, value) pairs completing what was typed; for several tags, the last one."""
    if not many:
        return [(tag, tag) for tag in await known(current, MAX_CHOICES)]
    typed = read_typed(current)
    pairs: list[tuple[str, str]] = []
    if typed.whole is not None:
        pairs += [(tag, tag + ",") for tag in await known(typed.whole, MAX_CHOICES)]
    have = {tag_key(d) for d in typed.done}
    for tag in await known(typed.last, MAX_CHOICES + len(typed.done)):
        pair = completed(typed, tag) if tag_key(tag) not in have else None
        if pair is not None:
            pairs.append(pair)
    return pairs[:MAX_CHOICES]


def _autocomplete(
    known: KnownTags, *, many: bool
) -> Callable[[discord.Interaction[Any], str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def complete(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=shown, value=value)
            for shown, value in await tag_choices(current, known, many=many)
        ]

    return complete


def _callback(params: tuple[Param, ...], run: RunCommand, name: str, takes_file: bool) -> Any:
    """The slash command's callback, with a signature discord.py reads its options from:
    interaction, then p0, p1, ... typed by each Param's kind (and an optional file)."""

    async def callback(interaction: discord.Interaction[Any], **values: Any) -> None:
        # The core's arguments are positional and told apart by their shape (an id, a
        # duration, a person): an omitted optional is skipped, the later ones still count.
        given = [values.get(f"p{index}") for index in range(len(params))]
        args = tuple(option_text(value) for value in given if value is not None)
        attached = values.get(FILE_OPTION)
        await run(
            interaction, name, args, attached if isinstance(attached, discord.Attachment) else None
        )

    signature = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    signature += [
        inspect.Parameter(
            f"p{index}",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=annotation(param),
            default=inspect.Parameter.empty if param.required else None,
        )
        for index, param in enumerate(params)
    ]
    if takes_file:
        signature.append(
            inspect.Parameter(
                FILE_OPTION,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=discord.Attachment,
                default=None,
            )
        )
    callback.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    return callback


def _with_options(
    function: Any, params: tuple[Param, ...], known: KnownTags, language: str, takes_file: bool
) -> Any:
    """The options' names and descriptions, language choices and tag autocomplete."""
    if not params:
        return function
    function = app_commands.rename(**{f"p{i}": p.name for i, p in enumerate(params)})(function)
    descriptions = {f"p{i}": described(option_key(p), language) for i, p in enumerate(params)}
    if takes_file:
        descriptions[FILE_OPTION] = described("discord.option.file", language)
    function = app_commands.describe(**descriptions)(function)
    languages = [
        app_commands.Choice(name=t(f"discord.language.{code}", language), value=code)
        for code in ("de", "en")
    ]
    choices = {f"p{i}": languages for i, p in enumerate(params) if p.kind == "language"}
    if choices:
        function = app_commands.choices(**choices)(function)
    return _with_completions(function, params, known)


def _with_completions(function: Any, params: tuple[Param, ...], known: KnownTags) -> Any:
    """Tag options complete from the known tags."""
    completions = {
        f"p{i}": _autocomplete(known, many=p.kind == "tags")
        for i, p in enumerate(params)
        if p.kind in {"tags", "tag"}
    }
    if completions:
        function = app_commands.autocomplete(**completions)(function)
    return function


def slash_command(
    spec: CommandSpec, run: RunCommand, known: KnownTags, language: str
) -> app_commands.Command[Any, ..., None]:
    """One slash command for one core command. The callback's signature is built from the
    Params (p0, p1, ... renamed to the Params' names), so discord.py types and checks the
    options; the callback turns them back into the core's positional arguments."""
    params = tuple(spec.params[: MAX_OPTIONS - spec.takes_file])
    callback = _callback(params, run, spec.name, spec.takes_file)
    function = _with_options(callback, params, known, language, spec.takes_file)
    return app_commands.Command(
        name=spec.name, description=described(spec.help_key, language), callback=function
    )


def slash_commands(
    specs: list[CommandSpec], run: RunCommand, known: KnownTags, language: str
) -> list[app_commands.Command[Any, ..., None]]:
    """Every listed command whose name Discord accepts (at most 100)."""
    commands: list[app_commands.Command[Any, ..., None]] = []
    for spec in specs:
        if not spec.listed:
            continue
        if not _NAME.match(spec.name) or not all(_NAME.match(p.name) for p in spec.params):
            log.warning("/%s cannot be a Discord slash command", spec.name)
            continue
        commands.append(slash_command(spec, run, known, language))
    if len(commands) > MAX_COMMANDS:
        log.warning("Discord takes %s commands; %s are left out", MAX_COMMANDS, len(commands) - 100)
    return commands[:MAX_COMMANDS]
