"""/healthz: whether this worker does its job right now: the database answers, the scheduler
runs, every platform it serves is connected, and no delivery waits far past its time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler

from bot.runtime import Runtime
from storage.oversight import OpsFigures

# A database that takes longer than this for three small reads does not count as answering.
DB_ANSWER_WITHIN = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    """One part of the answer. `state` is a short code for machines (ok, failing, no_answer,
    stopped, not_connected, overdue), not a sentence."""

    part: str
    state: str
    seconds: float | None = None  # the oldest due delivery's wait, for "deliveries"

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True, slots=True)
class Health:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def body(self) -> dict[str, object]:
        """The JSON answer: overall status, the parts that failed, and every part's state."""
        checks: dict[str, object] = {}
        for check in self.checks:
            entry: dict[str, object] = {"state": check.state}
            if check.seconds is not None:
                entry["oldest_due_seconds"] = round(check.seconds, 1)
            checks[check.part] = entry
        return {
            "status": "ok" if self.ok else "failing",
            "failed": [check.part for check in self.checks if not check.ok],
            "checks": checks,
        }


class HealthProbe:
    """Reads the figures (in the database thread, bounded) and judges them with what this
    process knows: its scheduler and its adapters."""

    def __init__(self, runtime: Runtime, scheduler: BaseScheduler, pending_bound: float) -> None:
        self.runtime = runtime
        self.scheduler = scheduler
        self.pending_bound = pending_bound

    async def figures(self, within: float = DB_ANSWER_WITHIN) -> OpsFigures:
        """The store's figures; TimeoutError when the database thread does not answer in time
        (the call goes on in the background, and nothing waits for it)."""
        store = self.runtime.store
        task = asyncio.ensure_future(self.runtime.db.run(store.oversight.figures))
        done, _ = await asyncio.wait({task}, timeout=within)
        if not done:
            task.add_done_callback(_consume)
            raise TimeoutError
        return task.result()

    def connected(self) -> dict[str, bool]:
        return {name: a.connected for name, a in sorted(self.runtime.adapters.items())}

    async def check(self) -> Health:
        checks: list[Check] = []
        figures: OpsFigures | None = None
        try:
            figures = await self.figures()
        except TimeoutError:
            checks.append(Check("database", "no_answer"))
        except Exception:
            checks.append(Check("database", "failing"))
        else:
            # Reads may work while writes fail (a full disk): the jobs say so.
            outage = self.runtime.storage_health.outage
            checks.append(Check("database", "failing" if outage else "ok"))
        running = self.scheduler.running and self.scheduler.state == STATE_RUNNING
        checks.append(Check("scheduler", "ok" if running else "stopped"))
        for name, connected in self.connected().items():
            checks.append(Check(f"platform:{name}", "ok" if connected else "not_connected"))
        if figures is not None:
            checks.append(self._deliveries(figures))
        return Health(tuple(checks))

    def _deliveries(self, figures: OpsFigures) -> Check:
        # Only platforms this process sends to: a terminal's rows wait for that terminal.
        waits = [
            (figures.now - row.oldest_due).total_seconds()
            for row in figures.backlog
            if row.platform in self.runtime.adapters and row.oldest_due is not None
        ]
        oldest = max([0.0, *waits])
        return Check("deliveries", "overdue" if oldest > self.pending_bound else "ok", oldest)


def _consume(task: asyncio.Future[OpsFigures]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure is no "never retrieved" warning
