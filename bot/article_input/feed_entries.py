"""Feed entries read but not yet made into articles: their GUID, link and date are cheap to read,
their text is not, so entries the store already holds need never be cleaned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.article_input.feed_xml import (
    entry_article,
    entry_date,
    entry_guid,
    entry_link,
    feed_entries,
    sniff_encoding,
)
from bot.article_input.sniffing import parse_any
from bot.article_input.text import InputRejected
from storage.models import NewArticle


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a parsed feed; `article()` does the costly part (HTML to text, language)."""

    guid: str | None
    url: str | None
    published: datetime | None
    entry: Mapping[str, Any]
    feed_language: str | None
    source: str
    base_url: str | None

    def article(self) -> NewArticle | None:
        """The entry as `parse_feed` gives it, or None when it has neither title nor text."""
        return entry_article(
            self.entry, self.feed_language, source=self.source, base_url=self.base_url
        )


def read_feed_entries(
    data: bytes, *, source: str = "feed", base_url: str | None = None
) -> list[FeedEntry]:
    """A feed's entries as `parse_feed` reads them (screened, at most MAX_FEED_ENTRIES), with
    only their keys and dates taken out."""
    entries, feed_language = feed_entries(data)
    return [
        FeedEntry(
            guid=entry_guid(entry),
            url=entry_link(entry, base_url),
            published=entry_date(entry),
            entry=entry,
            feed_language=feed_language,
            source=source,
            base_url=base_url,
        )
        for entry in entries
    ]


_FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")
_OTHER_SUFFIXES = (".json", ".txt", ".md", ".text")


def reads_as_feed(data: bytes, name: str) -> bool:
    """Whether `parse_any` reads these bytes as a feed: by the file name, else by a first '<'."""
    suffix = name.lower().rsplit("/", 1)[-1]
    if suffix.endswith(_FEED_SUFFIXES):
        return True
    if suffix.endswith(_OTHER_SUFFIXES):
        return False
    encoding, skip = sniff_encoding(data[:64])
    text = data[skip : skip + 256].decode(encoding or "utf-8", errors="ignore")
    return text.lstrip()[:1] == "<"


def parse_any_lazily(
    data: bytes, *, name: str = "", source: str | None = None
) -> list[NewArticle | FeedEntry]:
    """What `parse_any` gives, except that a feed's entries come unbuilt. A feed without any
    entry is rejected here as there; one whose entries all lack text is for the caller to
    reject once it has built them."""
    if not reads_as_feed(data, name):
        return list(parse_any(data, name=name, source=source))
    entries = read_feed_entries(data, source=source or "feed")
    if not entries:
        raise InputRejected("no_articles", "no article with a title or text was found")
    return list(entries)
