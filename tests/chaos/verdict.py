"""The checks every chaos run ends with; each fills in its figures before anything may fail, so
that a failing run still reports what it measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.ledger import (
    PostCheck,
    PressCheck,
    counter_mismatches,
    integrity,
    outbox,
    tracebacks_shown,
)
from tests.chaos.process import Runs
from tests.chaos.report import Figures, record
from tests.chaos.sizes import SIZE, SIZE_ENV, seed
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram

ISSUE = "issue #9 target"


def figures_for(request: pytest.FixtureRequest, scenario: str) -> Figures:
    command = (
        f"{SIZE_ENV}={SIZE.name} CHAOS_SEED={seed()} PYTHONPATH=$PWD "
        f".venv/bin/python -m pytest -s -p no:cacheprovider '{request.node.nodeid}'"
    )
    return record(Figures(scenario=scenario, size=SIZE.name, seed=seed(), command=command))


def database(figures: Figures, db: Path) -> list[str]:
    problems: list[str] = []
    wrong = counter_mismatches(db)
    figures.counters_ok = not wrong
    if wrong:
        problems.append(f"poll counters differ from the votes: {wrong[:5]}")
    figures.integrity = integrity(db)
    if figures.integrity != "ok":
        problems.append(f"PRAGMA integrity_check: {figures.integrity[:300]}")
    figures.stuck_claims = outbox(db).claimed
    if figures.stuck_claims:
        problems.append(
            f"{figures.stuck_claims} deliveries are still claimed after the last process "
            "stopped (a claim must be released on SIGTERM and taken back at once after a crash)"
        )
    return problems


def people(
    figures: Figures, runs: Runs, tg: FakeTelegram | None = None, dc: FakeDiscord | None = None
) -> list[str]:
    """No traceback reached a person. Tracebacks in the process's own output are counted and
    reported; a run that stopped by itself must have said why in one line, with exit code 1."""
    problems: list[str] = []
    shown = tracebacks_shown(tg, dc)
    figures.tracebacks_to_people = len(shown)
    if shown:
        problems.append(f"{len(shown)} tracebacks reached people, e.g. {shown[0]!r}")
    figures.tracebacks_in_stderr = runs.tracebacks()
    for bot in runs.ended_by_themselves():
        if bot.returncode != 1 or bot.tracebacks():
            problems.append(
                f"{ISSUE} (defect 8): a run ended by itself with exit code {bot.returncode} "
                f"and {bot.tracebacks()} tracebacks instead of one line and exit code 1:\n"
                f"{bot.tail(12)}"
            )
    return problems


def posts(figures: Figures, check: PostCheck) -> list[str]:
    figures.posts_expected = check.expected
    figures.posts_received = check.received
    figures.posts_doubled = check.doubled
    figures.posts_lost = check.lost
    if not check.lost:
        return []
    sample = sorted(check.lost_pairs)[:3]
    return [f"{ISSUE} 0 posts lost: {check.lost} of {check.expected} never arrived, e.g. {sample}"]


def presses(figures: Figures, check: PressCheck) -> list[str]:
    figures.presses_sent = check.sent
    figures.presses_counted = check.counted
    figures.presses_lost = check.lost
    figures.presses_refused = check.refused
    problems: list[str] = []
    if check.lost:
        problems.append(
            f"{ISSUE} 0 presses lost: {check.lost} of {check.sent} presses were never counted "
            "and the people got no answer"
        )
    if check.wrong:
        problems.append(f"{check.wrong} presses were counted for another option")
    return problems


def judge(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)
