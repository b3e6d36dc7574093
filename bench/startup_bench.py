"""Benchmark of start-up: `newsbot --help`, and `newsbot chat` until its first prompt, beside
`python -c pass` and beside `python -c "import <what the command truly needs>"`.

Run: python -m bench.startup_bench [--runs 7]

Each figure is the median wall time of `--runs` fresh processes (after one warm-up run, so
that the file cache is warm for every one). `chat` runs on a terminal (a pty), with the demo
and a database in a temporary folder, and is timed until it prints its prompt "> "."""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What each command cannot do without: parsing its arguments; for the terminal chat also the
# settings (pydantic-settings), the store (sqlite-utils), the catalogues and dates (Babel),
# the scheduler that posts the demo's articles (APScheduler) and the event loop.
NEEDS = {
    "--help": "import argparse",
    "chat": "import argparse, asyncio, pydantic_settings, sqlite_utils, babel.dates, "
    "babel.numbers, babel.messages.pofile, apscheduler.schedulers.asyncio",
}
PROMPT_BOUND = 30.0  # seconds a chat may take to show its prompt before the run fails


def environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "NEWSBOT_DB": str(folder / "newsbot.db"),
        "NEWSBOT_CONFIG": "",
    }
    return env


def run_to_exit(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def chat_to_prompt(args: list[str], env: dict[str, str]) -> float:
    """Seconds from starting `newsbot chat` on a terminal until it shows its prompt."""
    controller, terminal = pty.openpty()
    started = time.perf_counter()
    process = subprocess.Popen(
        args, env=env, stdin=terminal, stdout=terminal, stderr=subprocess.DEVNULL
    )
    os.close(terminal)
    seen = b""
    try:
        while b"> " not in seen:
            ready, _, _ = select.select([controller], [], [], PROMPT_BOUND)
            if not ready:
                raise RuntimeError("newsbot chat showed no prompt")
            seen += os.read(controller, 4096)
        elapsed = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=PROMPT_BOUND)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(controller)
    return elapsed


def median_of(
    runs: int, measure: Callable[[list[str], dict[str, str]], float], *call: Any
) -> float:
    measure(*call)  # warm-up
    return statistics.median(measure(*call) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        env = environment(Path(folder))
        bare = median_of(args.runs, run_to_exit, [python, "-c", "pass"], env)
        print(f"python -c pass: {bare * 1000:.0f} ms (median of {args.runs})")
        print(f"{'command':<8} {'newsbot':>9} {'needs':>9} {'ratio':>7}   needs = python -c")
        for name in NEEDS:
            needs = median_of(args.runs, run_to_exit, [python, "-c", NEEDS[name]], env)
            command = [python, "-m", "bot", name]
            if name == "chat":
                ours = median_of(args.runs, chat_to_prompt, command, env)
            else:
                ours = median_of(args.runs, run_to_exit, command, env)
            print(
                f"{name:<8} {ours * 1000:7.0f}ms {needs * 1000:7.0f}ms {ours / needs:6.2f}x"
                f"   {NEEDS[name]!r}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
