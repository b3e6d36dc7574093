"""A full disk for one child process, without filling a real one: put this folder first on the
child's PYTHONPATH and set SQLITE_MAX_PAGES. Python imports this module at start, and every
SQLite connection the process opens is capped at that many pages, so growing the database
fails with SQLITE_FULL, the very error a full disk gives."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

_connect = sqlite3.connect


def _capped_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn = _connect(*args, **kwargs)
    conn.execute(f"PRAGMA max_page_count = {int(os.environ['SQLITE_MAX_PAGES'])}")
    return conn


if os.environ.get("SQLITE_MAX_PAGES"):
    sqlite3.connect = _capped_connect
