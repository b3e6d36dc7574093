"""Progress of long command-line work, on a terminal only: piped output gets nothing extra."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    total: float | None  # set when the amount becomes known after the bar started

    def update(self, n: int = 1) -> object: ...

    def refresh(self) -> object: ...


class _Silent:
    total: float | None = None

    def update(self, n: int = 1) -> object:
        return None

    def refresh(self) -> object:
        return None


@contextmanager
def progress(total: int | None, what: str) -> Iterator[Progress]:
    """A bar on stderr when stderr is a terminal (tqdm), else nothing at all. Imported only
    then: a script or a pipe never loads it."""
    if not sys.stderr.isatty():
        yield _Silent()
        return
    from tqdm import tqdm

    columns, lines = _size()
    with tqdm(
        total=total, desc=what, unit="", leave=False, file=sys.stderr, ncols=columns, nrows=lines
    ) as bar:
        yield bar


def _size() -> tuple[int, int]:
    # A terminal that has not been given a size (a fresh pty, `script`) says 0 by 0, and
    # tqdm would then draw nothing.
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except OSError:
        return 80, 24
    return size.columns or 80, size.lines or 24
