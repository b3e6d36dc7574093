"""A feed entry's lead image: its image enclosure, media:content/media:thumbnail, or the first
<img> of its HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from html import unescape
from typing import Any

from bot.article_input.urls import safe_link

# The first <img ... src="..."> of an entry's HTML (feedparser has sanitised it already).
_IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def _get(mapping: object, key: str) -> object:
    if isinstance(mapping, dict) and dict.__contains__(mapping, key):
        return dict.__getitem__(mapping, key)
    return None


def _listed(entry: Mapping[str, Any], key: str) -> Iterator[dict[str, Any]]:
    value = _get(entry, key)
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _looks_like_image(kind: object, medium: object, url: str) -> bool:
    if isinstance(kind, str) and kind:
        return kind.lower().startswith("image/")
    if isinstance(medium, str) and medium:
        return medium.lower() == "image"
    return url.lower().split("?", 1)[0].endswith(_IMAGE_SUFFIXES)


def _candidates(entry: Mapping[str, Any]) -> Iterator[tuple[object, object, object]]:
    """(url, type, medium) of every place an image may be named, in order of preference."""
    for link in _listed(entry, "links"):
        if _get(link, "rel") == "enclosure":
            yield _get(link, "href"), _get(link, "type"), None
    for enclosure in _listed(entry, "enclosures"):
        yield _get(enclosure, "href"), _get(enclosure, "type"), None
    for media in _listed(entry, "media_content"):
        yield _get(media, "url"), _get(media, "type"), _get(media, "medium")
    for thumbnail in _listed(entry, "media_thumbnail"):
        yield _get(thumbnail, "url"), "image/", None


def _first_img(entry: Mapping[str, Any]) -> Iterator[str]:
    parts = [_get(c, "value") for c in _listed(entry, "content")]
    parts.append(_get(entry, "summary"))
    for html in parts:
        if isinstance(html, str) and (match := _IMG_SRC.search(html)):
            yield unescape(next(g for g in match.groups() if g is not None))


def entry_image(entry: Mapping[str, Any], base_url: str | None = None) -> str | None:
    """The entry's lead image as an http(s) URL, or None."""
    for url, kind, medium in _candidates(entry):
        link = safe_link(url, base_url)
        if link is not None and _looks_like_image(kind, medium, link):
            return link
    for src in _first_img(entry):
        link = safe_link(src, base_url)
        if link is not None:
            return link
    return None
