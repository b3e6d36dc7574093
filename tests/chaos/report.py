"""The chaos suite's figures: one row per scenario, printed as a table at the end of the run and
written as JSON to $CHAOS_REPORT, ready for docs/reliability.md."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_ENV = "CHAOS_REPORT"


@dataclass
class Figures:
    """What one scenario injected and what came of it. None: not measured in this scenario."""

    scenario: str
    size: str
    seed: int
    command: str
    kills: int = 0
    posts_expected: int | None = None
    posts_received: int | None = None
    posts_doubled: int | None = None
    posts_lost: int | None = None
    in_flight_at_kills: int | None = None  # posts the platform had, the outbox did not know
    stuck_claims: int | None = None  # rows still claimed by a process that is gone
    presses_sent: int | None = None
    presses_counted: int | None = None
    presses_lost: int | None = None  # not counted, no answer
    presses_refused: int | None = None  # not counted, the person was told
    sigterm_exit_s: float | None = None
    sent_after_sigterm: int | None = None
    faults_injected: int | None = None
    faults_after_accept: int | None = None  # the platform had done it, then the answer failed
    counters_ok: bool | None = None
    integrity: str | None = None
    tracebacks_to_people: int | None = None
    tracebacks_in_stderr: int | None = None
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


COLLECTED: list[Figures] = []

# Column title, field name; the table shows these, the JSON everything.
COLUMNS = (
    ("scenario", "scenario"),
    ("kills", "kills"),
    ("posts exp", "posts_expected"),
    ("recv", "posts_received"),
    ("dbl", "posts_doubled"),
    ("lost", "posts_lost"),
    ("inflight", "in_flight_at_kills"),
    ("stuck", "stuck_claims"),
    ("presses", "presses_sent"),
    ("counted", "presses_counted"),
    ("p.lost", "presses_lost"),
    ("refused", "presses_refused"),
    ("TERM s", "sigterm_exit_s"),
    ("after TERM", "sent_after_sigterm"),
    ("faults", "faults_injected"),
    ("accepted", "faults_after_accept"),
    ("tb people", "tracebacks_to_people"),
    ("tb stderr", "tracebacks_in_stderr"),
)


def record(figures: Figures) -> Figures:
    COLLECTED.append(figures)
    return figures


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(rows: list[Figures]) -> str:
    rows = sorted(rows, key=lambda row: row.scenario)
    cells = [[_cell(getattr(row, name)) for _, name in COLUMNS] for row in rows]
    heads = [title for title, _ in COLUMNS]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(heads)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    for row in rows:
        extra = f"integrity {row.integrity}, counters {'ok' if row.counters_ok else 'WRONG'}"
        if row.counters_ok is None:
            extra = f"integrity {row.integrity}"
        lines.append(f"{row.scenario} ({row.size}, seed {row.seed}): {extra}")
        lines += [f"    {note}" for note in row.notes]
        lines.append(f"    reproduce: {row.command}")
    return "\n".join(lines)


def write_json(rows: list[Figures]) -> Path | None:
    target = os.environ.get(REPORT_ENV)
    if not target:
        return None
    path = Path(target)
    path.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2) + "\n")
    return path
