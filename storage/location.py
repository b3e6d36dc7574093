"""Where the store lives, as `NEWSBOT_DB` names it: a SQLite file (a path or `sqlite:///path`)
or a PostgreSQL server (`postgresql://user:password@host:5432/newsbot`). Only the redacted
form (`display`) may reach a log line or a message: the URL's password never does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

Dialect = Literal["sqlite", "postgresql"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_SQLITE_PREFIX = "sqlite://"


class BadLocation(ValueError):
    """NEWSBOT_DB names no store newsbot can open: one line saying why, without the password."""


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed NEWSBOT_DB. `target` is what the driver opens: the file's path, or the full
    URL (with its password); `display` is safe to show."""

    dialect: Dialect
    target: str
    display: str

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def path(self) -> Path:
        """The SQLite file (only for a SQLite location)."""
        if self.is_postgres:
            raise TypeError("a PostgreSQL store has no file")
        return Path(self.target)

    def __str__(self) -> str:
        return self.display


def parse_location(value: str | Path) -> Location:
    """The store NEWSBOT_DB names. Raises BadLocation for an empty value, an unknown scheme or
    a PostgreSQL URL without a host or database name."""
    text = str(value).strip()
    if not text:
        raise BadLocation("empty")
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    if scheme in _POSTGRES_SCHEMES:
        return _postgres(text)
    if scheme == "sqlite":
        path = text[len(_SQLITE_PREFIX) :]
        # sqlite:///relative/x.db is relative, sqlite:////abs/x.db absolute (SQLAlchemy's form).
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise BadLocation("sqlite:// without a path")
        return Location("sqlite", path, path)
    if scheme:
        raise BadLocation(f"unknown scheme {scheme}://")
    return Location("sqlite", text, text)


def _postgres(text: str) -> Location:
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError as err:
        raise BadLocation(f"not a valid PostgreSQL URL ({redact(text)}): {err}") from None
    has_host = bool(parts.hostname) or "host=" in parts.query
    database = parts.path.lstrip("/")
    if not has_host:
        raise BadLocation(f"no host in {redact(text)}")
    if not database:
        raise BadLocation(f"no database name in {redact(text)}")
    del port
    return Location("postgresql", text, redact(text))


def redact(url: str) -> str:
    """The URL with its password (and any password= parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        name = user.split(":", 1)[0]
        netloc = f"{name}:***@{host}"
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={val}" if sep else key
        for key, sep, val in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))
