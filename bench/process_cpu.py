"""CPU seconds used by processes, read from /proc (Linux): what a multi-process benchmark
needs to say where a machine's cores went."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The name in parentheses may hold spaces: the fields start after its closing ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User and system time of `pid`, all its threads; 0 once it is gone."""
    try:
        fields = _fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid`, of its children that ended (waited for) and of those still
    running: a server that forks a process per connection, counted whole."""
    try:
        own = _fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    total = sum(int(own[i]) for i in (11, 12, 13, 14)) / TICK
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _fields(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total
