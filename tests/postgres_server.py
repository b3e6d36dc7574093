"""A real PostgreSQL for the tests: the `pgserver` package starts PostgreSQL 16 from pip in a
temporary folder (about a second, no root, only a unix socket: nothing listens on the network),
or NEWSBOT_TEST_POSTGRES_URL names a server of your own. Each test gets an empty database of
its own, dropped afterwards. Without either, PostgreSQL tests skip with the reason; under CI
(CI=true) a skipped test fails the run (tests/conftest.py)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

URL_VARIABLE = "NEWSBOT_TEST_POSTGRES_URL"
# Read at import, before tests/conftest.py clears every NEWSBOT_ variable.
_OWN_SERVER = os.environ.get(URL_VARIABLE, "")
_numbers = itertools.count(1)


@dataclass(frozen=True)
class PostgresServer:
    """A running server: `admin_url` reaches its maintenance database; `pg_hba` is its
    authentication file when the tests started it (None for a server of your own)."""

    admin_url: str
    pg_hba: Path | None

    def url_for(self, database: str, *, user: str | None = None, password: str = "") -> str:
        parts = urlsplit(self.admin_url)
        netloc = parts.netloc
        if user is not None:
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:{password}@{host}" if password else f"{user}@{host}"
        return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))

    def create_database(self) -> str:
        """A new empty database; its name."""
        import psycopg

        name = f"newsbot_test_{os.getpid()}_{next(_numbers)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(folder: Path) -> tuple[PostgresServer, Any]:
    """The server the tests use and pgserver's handle on it (None for a server of your own),
    or pytest.skip with the reason there is none."""
    if _OWN_SERVER:
        return PostgresServer(_OWN_SERVER, None), None
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): not ours to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError as err:
            pytest.skip(f"PostgreSQL tests need pgserver or {URL_VARIABLE}: {err}")
        try:
            server = pgserver.get_server(folder, cleanup_mode="stop")
        except Exception as err:  # pgserver raises whatever initdb or pg_ctl reported
            pytest.skip(f"pgserver could not start PostgreSQL here: {err}")
    return PostgresServer(server.get_uri(), folder / "pg_hba.conf"), server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # A folder of its own, not under pytest's numbered temp folders (another pytest session
    # starting meanwhile prunes old ones, data folder and all), with a short path: the unix
    # socket lives in it and its path must fit in 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="nbpg"))
    try:
        server, handle = start_server(folder)
        yield server
        if handle is not None:
            handle.cleanup()  # stops the server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of an empty database of this test's own."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url_for(name)
    finally:
        postgres_server.drop_database(name)
