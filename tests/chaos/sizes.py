"""How big the chaos runs are: bounded for `make test`, full for `make chaos` (CHAOS_SIZE=full)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

SIZE_ENV = "CHAOS_SIZE"
SEED_ENV = "CHAOS_SEED"
# Seconds to wait for a last run to catch up, instead of the size's own (e.g. past the 120 s
# lease of claims a killed process left, to see whether they arrive late or never).
SETTLE_ENV = "CHAOS_SETTLE"


@dataclass(frozen=True)
class Size:
    name: str
    fanout_chats: int  # scenario 1: private chats every article goes to
    fanout_kills: int
    burst_presses: int  # scenario 2: presses per burst, one burst per kill
    burst_kills: int
    backlog: int  # scenario 3: posts waiting when SIGTERM comes
    fault_telegram_chats: int  # scenario 4
    fault_discord_channels: int
    fault_presses: int
    disk_chats: int  # scenario 5
    disk_presses: int  # per phase
    settle: float  # seconds a run may take to catch up once nothing more is injected
    test_timeout: float  # pytest-timeout per test


BOUNDED = Size(
    name="bounded",
    fanout_chats=200,
    fanout_kills=3,
    burst_presses=100,
    burst_kills=2,
    backlog=300,
    fault_telegram_chats=60,
    fault_discord_channels=15,
    fault_presses=40,
    disk_chats=40,
    disk_presses=40,
    settle=20.0,
    test_timeout=170.0,
)
FULL = Size(
    name="full",
    fanout_chats=2000,
    fanout_kills=20,
    burst_presses=1000,
    burst_kills=20,
    backlog=2400,
    fault_telegram_chats=1000,
    fault_discord_channels=100,
    fault_presses=500,
    disk_chats=500,
    disk_presses=300,
    settle=60.0,
    test_timeout=1800.0,
)


def chosen() -> Size:
    name = os.environ.get(SIZE_ENV, "bounded").strip().lower()
    if name not in ("bounded", "full"):
        raise ValueError(f"{SIZE_ENV} is 'bounded' or 'full', not {name!r}")
    size = FULL if name == "full" else BOUNDED
    settle = os.environ.get(SETTLE_ENV)
    if settle:
        wait = float(settle)
        size = dataclasses.replace(size, settle=wait, test_timeout=size.test_timeout + 4 * wait)
    return size


def seed() -> int:
    """The seed of every random choice (kill moments, options pressed, injected faults)."""
    return int(os.environ.get(SEED_ENV, "9"))


SIZE = chosen()

# Fast enough that pacing is not what is measured (the e2e tests raise it the same way).
FAST_TELEGRAM = {
    "telegram_rate_overall": "1000",
    "telegram_rate_per_chat": "50",
    "telegram_rate_per_group_minute": "1200",
}
START = 60.0  # seconds a start may take before its first post or answer (a busy machine)
