"""The real `newsbot` program in a child process, for tests that signal, kill or race it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import TOKEN

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def base_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a production start on a fresh database in `tmp_path`: none of the
    developer's NEWSBOT_* settings or proxies, and `settings` (NAME=value, without prefix)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSBOT_") and k.upper() not in PROXY_VARS
    }
    env |= {
        "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
        "NEWSBOT_CONFIG": "",
        "NEWSBOT_DEMO": "false",
        # The command line speaks English unless told; these tests read its German lines.
        "NEWSBOT_LANGUAGE": "de",
        "PTB_TIMEDELTA": "true",
        # No HTTP endpoint unless a test asks: processes side by side would share a port.
        "NEWSBOT_HTTP_LISTEN": "",
    }
    env |= {f"NEWSBOT_{name.upper()}": value for name, value in settings.items()}
    return env


def telegram_env(tmp_path: Path, tg: FakeTelegram, **settings: str) -> dict[str, str]:
    return base_env(tmp_path, telegram_token=TOKEN, telegram_api_url=tg.api_root, **settings)


@dataclass
class Finished:
    code: int
    out: str
    err: str


class NewsbotProcess:
    """`python -m bot ARGS` started in the background; the test's loop keeps serving fakes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(
        cls, env: Mapping[str, str], *args: str, cwd: Path, stdin: bytes | None = None
    ) -> NewsbotProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        return cls(proc)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def finished(self, within: float = 60.0) -> Finished:
        """Wait (bounded) for the exit; a process still running then is killed."""
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), within)
        except TimeoutError:
            self.proc.kill()
            out, err = await self.proc.communicate()
            raise AssertionError(
                f"newsbot did not exit within {within} s; stderr:\n{err.decode()[-3000:]}"
            ) from None
        return Finished(int(self.proc.returncode or 0), out.decode(), err.decode())

    async def ensure_stopped(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.communicate()
