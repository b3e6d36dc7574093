"""Progress of long command-line work, on a terminal only: piped output gets nothing extra."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def update(self, n: int = 1) -> object: ...


class _Silent:
    def update(self, n: int = 1) -> object:
        return None


@contextmanager
def progress(total: int | None, what: str) -> Iterator[Progress]:
    """A bar on stderr when stderr is a terminal (tqdm), else nothing at all. Imported only
    then: a script or a pipe never loads it."""
    if not sys.stderr.isatty():
        yield _Silent()
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=what, unit="", leave=False, file=sys.stderr) as bar:
        yield bar
