"""Articles from JSON: a list of objects, {"articles": [...]}, or one article object."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.article_input.fields import detect_language, language_code, parse_date, title_from_body
from bot.article_input.text import (
    LONE_SURROGATES,
    MAX_JSON_BYTES,
    UTF8_BOM,
    InputRejected,
    check_size,
    input_tags,
    normalise_text,
    one_line,
    paragraphs,
)
from bot.article_input.urls import normalise_guid, safe_link
from storage.models import NewArticle
from storage.tags import split_tag_line

log = logging.getLogger(__name__)

# --- JSON ---------------------------------------------------------------------------------


def _json_str(item: Mapping[str, object], keys: Sequence[str], index: int) -> str | None:
    for key in keys:
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InputRejected("json_shape", f"article {index}: {key!r} must be a string")
        return value
    return None


def _json_tags(value: object, index: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return input_tags(split_tag_line(value))
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return input_tags(value)
    raise InputRejected(
        "json_shape", f"article {index}: 'tags' must be a list of strings or a string"
    )


def _json_date(item: Mapping[str, object], index: int) -> datetime | None:
    for key in ("date", "published"):
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            parsed = parse_date(value)
            if parsed is None:
                log.info("article %d: ignoring an unrecognised date %r", index, value)
            return parsed
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                log.info("article %d: ignoring an out-of-range timestamp", index)
                return None
        raise InputRejected(
            "json_shape", f"article {index}: {key!r} must be a date string or number"
        )
    return None


def _json_guid(item: Mapping[str, object], index: int) -> str | None:
    for key in ("guid", "id"):
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InputRejected(
                "json_shape", f"article {index}: {key!r} must be a string or number"
            )
        return normalise_guid(str(value)) or None
    return None


def _json_items(document: object) -> list[object]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if "articles" in document:
            articles = document["articles"]
            if not isinstance(articles, list):
                raise InputRejected("json_shape", "'articles' must be a list")
            return articles
        if any(key in document for key in ("title", "body", "text", "content")):
            return [document]
    raise InputRejected("json_shape", "expected a list of articles or an object with 'articles'")


def load_json(data: bytes) -> object:
    """The decoded JSON document; InputRejected("bad_json") only for text that is not JSON."""
    check_size(data, MAX_JSON_BYTES)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        text = data.decode("utf-8", LONE_SURROGATES)
    except UnicodeDecodeError as exc:
        raise InputRejected("bad_encoding", f"JSON must be UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise InputRejected("empty", "the file has no text")
    try:
        return json.loads(text)
    except RecursionError:
        raise InputRejected("bad_json", "the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers past the digit limit
        raise InputRejected("bad_json", f"not valid JSON: {exc}") from None


def _json_article(item: object, index: int, source: str) -> NewArticle | None:
    if not isinstance(item, dict):
        raise InputRejected("json_shape", f"article {index} is not an object")
    title = one_line(_json_str(item, ("title",), index) or "")
    raw_body = _json_str(item, ("body", "text", "content"), index) or ""
    body = "\n\n".join(paragraphs(normalise_text(raw_body).strip().split("\n")))
    question = one_line(_json_str(item, ("question",), index) or "") or None
    raw_url = _json_str(item, ("url", "link"), index)
    tags = _json_tags(item.get("tags"), index)
    published = _json_date(item, index)
    guid = _json_guid(item, index)
    if not title and not body:
        log.info("article %d has neither title nor body; skipped", index)
        return None
    url = _json_link(raw_url, index)
    image = _json_link(_json_str(item, ("image",), index), index)
    return NewArticle(
        title=title or title_from_body(body),
        body=body,
        tags=tags,
        url=url,
        published=published,
        guid=guid,
        question=question,
        language=language_code(item.get("language")) or detect_language(f"{title}\n{body}"),
        source=source,
        image=image,
    )


def _json_link(raw_url: str | None, index: int) -> str | None:
    """The article's link when it is an http(s) link; any other is dropped, with a log line."""
    if not raw_url:
        return None
    url = safe_link(raw_url)
    if url is None:
        log.info("article %d: ignoring a URL that is not an http(s) link", index)
    return url


def json_articles(document: object, source: str) -> list[NewArticle]:
    articles: list[NewArticle] = []
    for index, item in enumerate(_json_items(document), start=1):
        article = _json_article(item, index, source)
        if article is not None:
            articles.append(article)
    return articles


def parse_json_articles(data: bytes, *, source: str = "json") -> list[NewArticle]:
    """Articles from a JSON list of objects (or {"articles": [...]}, or one article object)."""
    return json_articles(load_json(data), source)
