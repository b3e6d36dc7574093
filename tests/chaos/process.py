"""The real `newsbot run` as a child process: started, killed, stopped, and its stderr kept."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
TELEGRAM_TOKEN = "4242:chaos-telegram-secret"
TRACEBACK = "Traceback (most recent call last)"
T = TypeVar("T")
# Linux capabilities that let root write where file modes say no (see capabilities(7)).
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
PR_CAPBSET_DROP = 24


def child_env(
    db: Path,
    *,
    telegram: FakeTelegram | None = None,
    discord: FakeDiscord | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a production start, pointed at the fakes; `settings` are NEWSBOT_*
    values by their lower-case names ({"telegram_rate_overall": "1000"})."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("NEWSBOT_") and not name.lower().endswith("_proxy")
    }
    env |= {
        # This worktree's code, not whatever the virtual environment was installed from.
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "PTB_TIMEDELTA": "true",
        "NEWSBOT_CONFIG": "",
        "NEWSBOT_DB": str(db),
        "NEWSBOT_DEMO": "false",
        "NEWSBOT_LOG_LEVEL": "WARNING",
        # No HTTP endpoint: several workers side by side would share its port.
        "NEWSBOT_HTTP_LISTEN": "",
    }
    if telegram is not None:
        env |= {
            "NEWSBOT_TELEGRAM_TOKEN": telegram.token,
            "NEWSBOT_TELEGRAM_API_URL": telegram.api_root,
        }
    if discord is not None:
        env |= {
            "NEWSBOT_DISCORD_TOKEN": discord.token,
            "NEWSBOT_DISCORD_GUILD_READY_TIMEOUT": "0.05",
            "NEWSBOT_DISCORD_READY_TIMEOUT": "20",
            # Read by tests/chaos/launch.py, which points discord.py at the fake.
            "CHAOS_DISCORD_API": discord.api_base,
            "CHAOS_DISCORD_GATEWAY": discord.gateway_url,
        }
    env |= {f"NEWSBOT_{name.upper()}": value for name, value in (settings or {}).items()}
    return env


def _drop_write_override() -> None:
    # Runs in the child before exec: root ignores file modes, so a read-only database file
    # would not be read-only to it. Without these capabilities root obeys them like anyone.
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


class BotProcess:
    """One `newsbot run`. Discord needs tests/chaos/launch.py, which does for the child what
    patch_discord does in-process; with Telegram alone it is exactly `python -m bot run`."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        discord: bool = False,
        obey_file_modes: bool = False,
    ) -> None:
        self.env = env
        self.log = log
        self.discord = discord
        self.obey_file_modes = obey_file_modes and os.geteuid() == 0
        self.proc: asyncio.subprocess.Process | None = None
        self.captured = bytearray()  # stdout and stderr as they came
        self.signalled: signal.Signals | None = None
        self._readers: list[asyncio.Task[None]] = []

    @property
    def argv(self) -> list[str]:
        module = "tests.chaos.launch" if self.discord else "bot"
        return [sys.executable, "-m", module, "run"]

    async def start(self) -> BotProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_drop_write_override if self.obey_file_modes else None,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # Pipes, not files: a file size limit set on the child must not cut its log short.
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout)),
            asyncio.create_task(self._read(self.proc.stderr)),
        ]
        return self

    async def _read(self, stream: asyncio.StreamReader) -> None:
        with self.log.open("ab") as out:
            while chunk := await stream.read(65536):
                self.captured += chunk
                out.write(chunk)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def output(self) -> str:
        return self.captured.decode(errors="replace")

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.splitlines()[-lines:]) or "(no output)"

    def limit_file_size(self, size: int | None) -> None:
        """Files the process writes cannot grow past `size` bytes (None: no limit), as on a
        full disk; other processes, the test's own included, are not affected."""
        soft = resource.RLIM_INFINITY if size is None else size
        _, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (soft, hard))

    async def _finished(self, within: float) -> bool:
        assert self.proc is not None
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._readers), 5)
        return True

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as when the machine or the OOM killer stops it."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.signalled = signal.SIGKILL
            self.proc.send_signal(signal.SIGKILL)
        await self._finished(30)

    async def terminate(self, within: float) -> float | None:
        """SIGTERM, as `docker stop` sends it; seconds until the process was gone, or None
        when it was still there after `within` seconds (it is killed then)."""
        assert self.proc is not None
        if self.proc.returncode is not None:
            return 0.0
        loop = asyncio.get_running_loop()
        self.signalled = signal.SIGTERM
        started = loop.time()
        self.proc.send_signal(signal.SIGTERM)
        if await self._finished(within):
            return loop.time() - started
        await self.kill()
        return None

    async def until(self, wait: Awaitable[T]) -> T:
        """The result of a wait on the fakes, unless the process dies first (then it fails
        with the end of its output instead of waiting the wait's whole bound)."""
        assert self.proc is not None
        waiting = asyncio.ensure_future(wait)
        died = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({waiting, died}, return_when=asyncio.FIRST_COMPLETED)
        if waiting in done:
            died.cancel()
            return waiting.result()
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, AssertionError):
            await waiting
        raise AssertionError(f"newsbot exited with {self.returncode}:\n{self.tail()}")

    async def settle(self, wait: Callable[[], Awaitable[object]]) -> bool:
        """True when `wait` finished, False when it timed out (a figure, not yet a failure)."""
        try:
            await self.until(wait())
        except AssertionError:
            if self.returncode is not None:
                raise
            return False
        return True

    def tracebacks(self) -> int:
        return self.output.count(TRACEBACK)


class Runs:
    """Every start of `newsbot run` in one scenario: their output goes to run-N.log in the
    work directory, and whatever is still running at the end is killed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.all: list[BotProcess] = []

    async def start(
        self, env: dict[str, str], *, discord: bool = False, obey_file_modes: bool = False
    ) -> BotProcess:
        log = self.workdir / f"run-{len(self.all) + 1}.log"
        bot = BotProcess(env, log, discord=discord, obey_file_modes=obey_file_modes)
        self.all.append(bot)
        return await bot.start()

    def tracebacks(self) -> int:
        return sum(bot.tracebacks() for bot in self.all)

    def ended_by_themselves(self) -> list[BotProcess]:
        """Runs that stopped without being told to (a crash, or a refusal to start)."""
        return [b for b in self.all if b.returncode is not None and b.signalled is None]

    async def kill_all(self) -> None:
        for bot in self.all:
            if bot.returncode is None:
                await bot.kill()
