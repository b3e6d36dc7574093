"""The terminal chat at a real terminal (a pty): posts that arrive while the prompt waits
take its line and the prompt is drawn again, long lines break at words, and a closed poll
is said once however many copies of its article the terminal shows."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

WIDTH = 60


def screen_lines(seen: str) -> list[str]:
    """The lines as the terminal shows them: an erased line is gone, styles take no room."""
    shown = ""
    for part in re.sub(r"\x1b\[[0-9;]*m", "", seen).replace("\r\n", "\n").split("\r\x1b[K"):
        shown = shown[: shown.rfind("\n") + 1] + part if shown else part
    return shown.split("\n")


class Terminal:
    """`newsbot chat` with a pty of WIDTH columns as its keyboard and screen."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.main, screen = pty.openpty()
        fcntl.ioctl(screen, termios.TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
        environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        environ |= {
            "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
            "NEWSBOT_CONFIG": "",
            "TERM": "dumb",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat"],
            stdin=screen,
            stdout=screen,
            stderr=subprocess.PIPE,
            env=environ,
            cwd=tmp_path,
        )
        os.close(screen)
        self.seen = ""

    def type(self, line: str) -> None:
        os.write(self.main, line.encode() + b"\n")

    def wait_for(self, text: str, *, after: int = 0, within: float = 30) -> int:
        """Read the screen until `text` shows after position `after`; its position."""
        deadline = time.monotonic() + within
        while (found := self.seen.find(text, after)) < 0:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} did not show; the screen: {self.seen!r}"
            ready, _, _ = select.select([self.main], [], [], left)
            if ready:
                self.seen += os.read(self.main, 65536).decode("utf-8", "replace")
        return found

    def close(self) -> None:
        os.write(self.main, b"\x04")  # Ctrl-D: end of input
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            assert self.proc.stderr is not None
            self.proc.stderr.close()
            os.close(self.main)


def test_a_post_that_arrives_at_the_prompt_redraws_it(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, NEWSBOT_DEMO="true", NEWSBOT_DEMO_INTERVAL="0.5")
    try:
        # The first demo post, then the prompt; the next post comes while the prompt waits.
        prompt = terminal.wait_for("\n> ")
        second = terminal.wait_for("#2", after=prompt)
        # It took the prompt's line (carriage return, erase line) and the prompt came back.
        assert "\r\x1b[K" in terminal.seen[prompt:second]
        terminal.wait_for("> ", after=second)
        lines = screen_lines(terminal.seen)
        assert all(len(line) <= WIDTH for line in lines if "<http" not in line), lines
        # Broken at words: no line ends inside a word that the next line goes on with.
        assert any(len(line) > WIDTH - 15 for line in lines)
    finally:
        terminal.close()


def test_closing_a_poll_says_so_once_for_all_copies(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, NEWSBOT_DEMO="true", NEWSBOT_DEMO_INTERVAL="3600")
    try:
        first_post = terminal.wait_for("/vote 1 5")
        terminal.type("/article 1")  # a second copy of #1 in this terminal
        second_copy = terminal.wait_for("/vote 1 5", after=first_post + 1)
        terminal.type("/closepoll 1")
        closed = terminal.wait_for("↻ #1", after=second_copy)
        terminal.type("/help")
        terminal.wait_for("/subscribe", after=closed)
        assert terminal.seen.count("↻ #1") == 1
        assert terminal.seen.count("Der Softwarekonzern") <= 2 * 2  # title and body, twice
    finally:
        terminal.close()


def test_the_demo_banner_gives_a_short_interval_as_the_language_writes_it(tmp_path: Path) -> None:
    terminal = Terminal(
        tmp_path, NEWSBOT_DEMO="true", NEWSBOT_DEMO_INTERVAL="0.5", NEWSBOT_LANGUAGE="de"
    )
    try:
        terminal.wait_for("Beispielartikel")
        assert "alle 0,5 s kommt" in terminal.seen  # was "alle 0 s": the interval cut to int
    finally:
        terminal.close()
