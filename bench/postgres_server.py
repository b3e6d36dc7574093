"""A PostgreSQL 16 for the benchmarks: pgserver starts it from pip in a temporary folder, on its
unix socket only (nothing listens on the network), with an empty database per measurement."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class BenchPostgres:
    """The running server; `database(name)` creates an empty database and returns its URL."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    @property
    def pid(self) -> int:
        """The postmaster's process id (its children are the server's other processes)."""
        pid: int = self.handle.get_pid()
        return pid

    def url(self, name: str) -> str:
        url: str = self.handle.get_uri(name)
        return url

    def database(self, name: str) -> str:
        """A new empty database `name`; its URL."""
        self.handle.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)

    def drop(self, name: str) -> None:
        """Drop database `name` if it is there (a kept server's half-made copy)."""
        self.handle.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')


@contextlib.contextmanager
def bench_postgres(kept: Path | None = None) -> Iterator[BenchPostgres]:
    """A server for the length of the block, stopped afterwards. Its data lives in a new
    temporary folder, removed afterwards, or in `kept`, which stays for the next run."""
    # A short path: the unix socket lives in the folder and must fit in 107 bytes.
    folder = kept or Path(tempfile.mkdtemp(prefix="nbpgb"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers): not ours to fix.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            handle = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
        try:
            yield BenchPostgres(handle)
        finally:
            handle.cleanup()
    finally:
        if kept is None:
            shutil.rmtree(folder, ignore_errors=True)
