"""The one rule for a feed URL that a person adds, by /feeds add or in an OPML file."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from handlers.events import UserError
from storage.models import FeedAdded
from storage.store import Store


def feed_url_problem(location: str) -> str | None:
    """What keeps `location` from being a feed address, as a catalogue key (None: nothing).
    Only http and https addresses with a host; where they point is checked at each fetch."""
    try:
        parts = urlsplit(location)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "feeds.bad_port"
    if parts.scheme.lower() not in ("http", "https"):
        return "feeds.bad_url"
    if not parts.hostname:
        return "feeds.no_host"
    return None


def is_feed_url(location: str) -> bool:
    return feed_url_problem(location) is None


def add_feed_url(
    store: Store, location: str, tags: Sequence[str], interval: int, *, fulltext: bool = False
) -> FeedAdded:
    """Add a feed URL from a chat or an OPML file: an http(s) address with a host (where it
    points is checked at every fetch, bot/address_guard.py), else UserError; a known address
    is returned unchanged (FeedAdded.created False)."""
    problem = feed_url_problem(location)
    if problem is not None:
        raise UserError(problem, url=location[:100])
    return store.add_feed(location, "url", interval_seconds=interval, tags=tags, fulltext=fulltext)
