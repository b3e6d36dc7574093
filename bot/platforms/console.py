"""The terminal chat: newsbot without any token, one person at a keyboard or a script on stdin."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import textwrap
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.runtime import Runtime
from handlers.events import MAX_ATTACHMENT_BYTES, Attachment, Command, Outgoing, Reply, Rich
from handlers.i18n import current_language, t
from handlers.registry import COMMANDS
from storage.models import ChatRef, MessageRef, UserRef

log = logging.getLogger(__name__)

PLATFORM = "console"


def terminal_chat(name: str) -> ChatRef:
    """The terminal chat of the person `name` (`--user NAME`): each person has a private chat
    of their own, as on Telegram, so that one person's /forgetme, /lang or /subscribe never
    changes another's."""
    return ChatRef(PLATFORM, name)


CHAT = terminal_chat("owner")  # the default person's (NEWSBOT_CONSOLE_USER unset)
# The one terminal chat every person shared before each had their own: the default person
# takes it over (bot.app), so that an existing database keeps the owner's subscriptions.
SHARED_CHAT = ChatRef(PLATFORM, "local")
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
PROMPT = "> "


def _terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError):
        return 80


def wrap(text: str, width: int) -> str:
    """Each line broken at words to fit `width` columns, its indentation kept; a word longer
    than a line (a link) stays whole."""
    out: list[str] = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(
            line,
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [""]
    return "\n".join(out)


def render(text: Rich, *, color: bool) -> str:
    out: list[str] = []
    for span in text.spans:
        if span.style == "link" and span.url:
            out.append(span.text if span.text == span.url else f"{span.text} <{span.url}>")
        elif span.style == "bold" and color:
            out.append(f"{_BOLD}{span.text}{_RESET}")
        elif span.style == "italic" and color:
            out.append(f"{_DIM}{span.text}{_RESET}")
        elif span.style == "code":
            out.append(span.text)
        else:
            out.append(span.text)
    return "".join(out)


def counts_line(reply: Reply) -> str:
    return " · ".join(b.label for row in reply.buttons for b in row)


def parse_line(line: str) -> tuple[str, tuple[str, ...]] | None:
    """'/vote 3 1' -> ('vote', ('3', '1')); quotes group words; None when not a command."""
    text = line.strip()
    if not text.startswith("/") or len(text) < 2:
        return None
    # Split on whitespace only, as Telegram's commands arrive: quotes stay for the core, which
    # reads "Künstliche Intelligenz" as one tag the same way on every platform.
    parts = text[1:].split()
    if not parts:
        return None
    return parts[0].split("@", 1)[0], tuple(parts[1:])


def attached_file(name: str, args: tuple[str, ...]) -> tuple[tuple[str, ...], Attachment | None]:
    """The terminal is on the operator's own machine: a command that takes a file names it
    by its path as its last argument (/feeds import feeds.opml). The arguments as typed (the
    path stays: the core decides what they mean), and the file, its bytes when small enough."""
    spec = COMMANDS.get(name.lower())
    if spec is None or not spec.takes_file or not args:
        return args, None
    path = Path(args[-1]).expanduser()
    try:
        if not path.is_file():
            return args, None
        with path.open("rb") as file:
            data = file.read(MAX_ATTACHMENT_BYTES + 1)
    except OSError as err:
        log.info("cannot read %s: %s", path, err)
        return args, Attachment(path.name, 0, None)
    if len(data) > MAX_ATTACHMENT_BYTES:
        return args, Attachment(path.name, len(data), None)
    return args, Attachment(path.name, len(data), data)


class ConsoleAdapter:
    """Reads commands from a stream, prints replies and posts. Buttons are shown with the
    command that presses them (/vote N K): the text twin works on every platform."""

    platform = PLATFORM
    connected = True  # the terminal is there as long as the process is

    def __init__(
        self,
        runtime: Runtime,
        user: UserRef,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.runtime = runtime
        self.user = user
        self.chat = terminal_chat(user.user_id)
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = self.stdin.isatty() if interactive is None else interactive
        self.color = self.interactive and self.stdout.isatty()
        # A terminal breaks long lines wherever its edge falls: lines are broken at words
        # for it (a script reads them unbroken).
        self.width = _terminal_width(self.stdout) if self.stdout.isatty() else None
        self._prompt_shown = False
        self._last_counts: dict[int, str] = {}
        self.finished = asyncio.Event()

    # -- Adapter ------------------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.finished.set()

    def fits(self, reply: Reply) -> bool:
        return True  # a terminal has no length limit

    async def send(self, out: Outgoing) -> MessageRef:
        message = MessageRef(self.chat, uuid.uuid4().hex[:12])
        self._print_reply(out.reply)
        return message

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        if reply.article_id is None:
            self.say(render(reply.text, color=self.color))
            return
        # A closed poll has no buttons: its post ends with the line that says so.
        counts = counts_line(reply) or render(reply.text, color=False).strip().split("\n")[-1]
        # Several posts of one article in this terminal: print each change of counts once.
        if self._last_counts.get(reply.article_id) == counts:
            return
        self._last_counts[reply.article_id] = counts
        # In the post's language, as the counts are: the refresh job has no turn of its own.
        updated = t("console.updated", reply.language or self._default_language())
        self.say(f"↻ #{reply.article_id} {updated}: {counts}")

    async def delete(self, message: MessageRef, instead: Reply) -> None:
        language = instead.language or self._default_language()
        self.say(t("console.deleted", language, id=message.message_id))

    def _default_language(self) -> str:
        return self.runtime.ctx.config.default_language

    # The terminal has no members to remove or silence: the bot's own ban and mute suffice.
    async def ban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return False

    async def unban_member(self, chat: ChatRef, user: UserRef) -> bool:
        return False

    async def restrict_member(self, chat: ChatRef, user: UserRef, until: datetime | None) -> bool:
        return False

    # -- the conversation ---------------------------------------------------------------

    def say(self, text: str) -> None:
        if self.width is not None:
            text = wrap(text, self.width)
        if self._prompt_shown:
            # A post arrived while the prompt waits: it takes the prompt's line, and the
            # prompt is drawn again below it (what was typed stays in the terminal's buffer).
            self.stdout.write("\r\033[K" + text + "\n" + PROMPT)
        else:
            self.stdout.write(text + "\n")
        self.stdout.flush()

    def _print_reply(self, reply: Reply) -> None:
        lines = [render(reply.text, color=self.color)]
        if reply.image is not None:
            # A terminal shows no picture: the line says where it is ("Bild: URL").
            lines.append(
                t("post.image", reply.language or self._default_language(), url=reply.image)
            )
        if reply.buttons:
            press = t("console.press", reply.language or self._default_language())
            for row in reply.buttons:
                for button in row:
                    twin = f"  ({press} {button.text_twin})" if button.text_twin else ""
                    lines.append(f"  [{button.label}]{twin}")
            if reply.article_id is not None:
                self._last_counts[reply.article_id] = counts_line(reply)
        self.say("\n".join(lines) + "\n")

    async def handle_line(self, line: str) -> None:
        parsed = parse_line(line)
        if parsed is None:
            if line.strip():
                await self.handle_text(line.strip())
            return
        name, args = parsed
        args, attachment = await asyncio.to_thread(attached_file, name, args)
        cmd = Command(
            chat=self.chat,
            user=self.user,
            name=name,
            args=args,
            is_chat_admin=self.user.key() in self.runtime.ctx.config.owners,
            is_private=True,
            attachment=attachment,
        )
        for reply in await self.runtime.on_command(cmd):
            message = await self.send(Outgoing(self.chat, reply))
            await self.runtime.posted(reply, message)
        await self.runtime.answered(self.chat)

    async def handle_text(self, text: str) -> None:
        """A line without '/': the terminal is a private chat, so a question is answered from
        the archive; anything else gets a hint."""
        replies = await self.runtime.on_text(
            self.chat, self.user, text, is_private=True, mentions_bot=False
        )
        if not replies:
            token = current_language.set(await self.runtime.language(self.chat))
            try:
                self.say(t("console.text_hint"))
            finally:
                current_language.reset(token)
        for reply in replies:
            message = await self.send(Outgoing(self.chat, reply))
            await self.runtime.posted(reply, message)

    async def converse(self, drain: Callable[[], Awaitable[None]]) -> None:
        """Read lines until end of input. In a script, each line's consequences (a backlog
        post, say) are shown before the next line is read, so the output reads in order."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read() -> None:
            # A thread, because a terminal's stdin cannot be read without blocking portably.
            try:
                for raw in self.stdin:
                    loop.call_soon_threadsafe(queue.put_nowait, raw)
            except (OSError, ValueError) as err:
                log.warning("stdin closed: %s", err)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        while True:
            if self.interactive:
                self.stdout.write(PROMPT)
                self.stdout.flush()
                self._prompt_shown = True
            line = await queue.get()
            self._prompt_shown = False
            if line is None:
                break
            await self.handle_line(line)
            if not self.interactive:
                await drain()
        await drain()
        self.finished.set()
