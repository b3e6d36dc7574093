"""What the platform benchmarks share: newsbot started as `newsbot run` wires it, against the
fakes of tests/fakes on 127.0.0.1, with the pacing limits lifted (pacing is no subject here),
and a median-of-runs figure printed beside its baseline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.app import App, open_store, platform_adapters
from bot.settings import Settings, load_settings

TELEGRAM_TOKEN = "123456:BENCH-telegram-token_4711"
# Telegram's and Discord's limits, lifted past what a loopback fake can take, so that the
# figures measure the code and not the pacer (the settings' own caps are production's).
LIFTED = {
    "telegram_rate_overall": 1e6,
    "telegram_rate_per_chat": 1e6,
    "discord_rate_overall": 10**6,
}
LIFTED |= {"discord_rate_per_channel": 10**6, "telegram_rate_per_group_minute": 10**6}


@contextlib.contextmanager
def bot_environment(folder: Path, **env: str) -> Iterator[None]:
    """The environment of a production start, pointed at a fresh database in `folder`."""
    values = {
        "NEWSBOT_CONFIG": "",
        "NEWSBOT_DB": str(folder / "newsbot.db"),
        "NEWSBOT_DEMO": "false",
        "PTB_TIMEDELTA": "true",
        **env,
    }
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        values.setdefault(var, "")
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def bench_settings() -> Settings:
    """The settings from the environment, with the platforms' pacing lifted."""
    return load_settings().model_copy(update=LIFTED)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[App]:
    """newsbot as `newsbot run` builds it: every adapter that has a token, then the scheduler."""
    store = open_store(settings)
    app = App(settings, store)
    try:
        for adapter in platform_adapters(settings, app.runtime):
            app.add_adapter(adapter)
            await adapter.start()
        await app.start()
        yield app
    finally:
        await app.shutdown()


async def wait_until(check: Callable[[], bool], bound: float, what: str) -> None:
    """Poll `check` every millisecond, at most `bound` seconds."""
    deadline = time.perf_counter() + bound
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"waited {bound:g} s for {what}")
        await asyncio.sleep(0.001)


@dataclass
class Timed:
    """A round's throughput by the clock, and by the process's CPU time (every thread): the
    second is steadier on a shared machine, the first says what people see."""

    rate: float
    cpu_ms: float


async def timed(n: int, work: Callable[[], Awaitable[None]]) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Timed(n / wall, cpu * 1000 / n)


def ratio_lines(what: str, ours: list[Timed], base: list[Timed], unit: str, goal: float) -> str:
    """A figure by the clock and by CPU time: medians of ours and the baseline, their ratio
    (above 1: newsbot is faster), and the goal."""
    rate, base_rate = (
        statistics.median(t.rate for t in ours),
        statistics.median(t.rate for t in base),
    )
    cpu, base_cpu = (
        statistics.median(t.cpu_ms for t in ours),
        statistics.median(t.cpu_ms for t in base),
    )
    ratio, cpu_ratio = rate / base_rate, base_cpu / cpu
    verdict = "met" if ratio >= goal else f"missed by {goal - ratio:.2f}"
    runs = ", ".join(f"{t.rate:,.0f}" for t in ours)
    base_runs = ", ".join(f"{t.rate:,.0f}" for t in base)
    return (
        f"{what}: newsbot {rate:,.0f} {unit} (runs {runs}), baseline {base_rate:,.0f} {unit}"
        f" (runs {base_runs}), ratio {ratio:.2f}x, goal >= {goal}x: {verdict}\n"
        f"  CPU per item (all threads, fakes included): newsbot {cpu:.2f} ms, baseline"
        f" {base_cpu:.2f} ms, ratio {cpu_ratio:.2f}x"
    )
