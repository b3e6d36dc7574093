"""Turn uploaded or fetched bytes (plain-text articles, RSS/Atom/RDF, JSON) into NewArticles."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from bot.feed_limits import (
    MAX_XML_DEPTH,
    TAGS_DROPPED,
    nested_too_deeply,
    repair_character_references,
)
from handlers.events import UserError
from handlers.sentences import sentences
from storage.models import NewArticle

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 1_000_000
# Same cap as the fetcher's default body limit, so anything it hands over can be parsed.
MAX_FEED_BYTES = 5_000_000
MAX_JSON_BYTES = 5_000_000
# A feed with thousands of entries is an accident or an attack; nobody wants that many posts.
MAX_FEED_ENTRIES = 1_000
TITLE_LIMIT = 120
# Telegram polls allow 300 characters for the question; a longer "question" is body text.
QUESTION_LIMIT = 300
# Header lines (Titel:, URL:, Datum:) are only looked for this close to the top, so a body
# paragraph that happens to start with "Link:" further down stays body text.
HEADER_SCAN_LINES = 8

LANGUAGES = ("de", "en")


class InputRejected(UserError):
    """Input that cannot become an article; reason_key picks the message shown to the person."""

    def __init__(self, reason_key: str, detail: str) -> None:
        super().__init__(f"input.{reason_key}", detail=detail)
        self.reason_key = reason_key
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason_key}: {self.detail}"


# --- Unicode hygiene ----------------------------------------------------------------------

_NEWLINES = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# Every C0/C1 control except tab and newline (the other line breaks were mapped to \n before),
# plus stray byte-order marks, which editors leave in the middle of pasted text.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
# Invisible characters that make two equal-looking tags or titles differ, or flip text
# direction in a chat (bidi overrides): removed from one-line fields, kept in the body where
# joiners can be part of emoji.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\uffa0]"
)


# Lone surrogates come from JSON escapes ("\ud800") and a few codecs (UTF-7); UTF-8 cannot
# encode them, so the database refuses them and, unreplaced, one stopped a whole ingest.
_SURROGATES = re.compile("[\ud800-\udfff]")


# Decoding lets them through as well (bytes ED A0 80 are "\ud800" written out as if it were a
# character): they are then replaced like escaped ones, instead of failing the whole file or,
# in a feed, turning all its text into Windows-1252 mojibake.
_LONE_SURROGATES = "surrogatepass"


def without_surrogates(text: str) -> str:
    """Lone surrogates replaced by U+FFFD, the replacement character."""
    return _SURROGATES.sub("\ufffd", text)


def normalise_text(text: str) -> str:
    """NFC, one kind of line break, no control characters except newline and tab, no lone
    surrogates."""
    text = without_surrogates(_NEWLINES.sub("\n", text))
    text = _CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", text)


def _one_line(text: str) -> str:
    """A field shown on one line: invisible characters removed, all whitespace collapsed."""
    text = _INVISIBLE.sub("", normalise_text(text))
    return unicodedata.normalize("NFC", " ".join(text.split()))


# --- tags, dates, language ----------------------------------------------------------------

# "+" separates tags, but a run of pluses belongs to a name like "C++" or "Notepad++".
_TAG_SEPARATORS = re.compile(r"[,;]|(?<!\+)\+(?!\+)")


def split_tags(value: str) -> list[str]:
    """Split a tag line value ("A + B, C; D") into raw parts."""
    return _TAG_SEPARATORS.split(value)


def clean_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Tidy tags: no leading '#', single spaces, first spelling wins case-insensitively."""
    seen: set[str] = set()
    tags: list[str] = []
    for item in raw:
        tag = _one_line(item).lstrip("#").strip()
        if not tag:
            continue
        key = tag.casefold()
        if key not in seen:
            seen.add(key)
            tags.append(tag)
    return tuple(tags)


_DOTTED_DATE = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*Uhr)?)?",
    re.IGNORECASE,
)


def parse_date(value: str) -> datetime | None:
    """ISO 8601, RFC 2822 or DD.MM.YYYY [HH:MM] as aware UTC; naive values count as UTC."""
    value = value.strip()
    if not value:
        return None
    parsed: datetime | None = None
    dotted = _DOTTED_DATE.fullmatch(value)
    if dotted:
        day, month, year, hour, minute, second = dotted.groups()
        try:
            parsed = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError:
            return None
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            try:
                parsed = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# Words frequent in one language and rare in the other; words both share ("in", "an", "so",
# "also", "die" is kept: as an English word it is rare in news) are left out.
_GERMAN_WORDS = frozenset(
    {
        "der", "die", "das", "und", "nicht", "ist", "mit", "den", "dem", "des", "ein", "eine",
        "einen", "einem", "einer", "sich", "auf", "für", "von", "zu", "im", "auch", "es",
        "sie", "wir", "ich", "nach", "bei", "aus", "wie", "noch", "wird", "werden", "wurde",
        "sind", "hat", "haben", "oder", "aber", "dass", "als", "um", "über", "nur", "vor",
        "durch", "zum", "zur", "dieser", "diese", "dieses", "wenn", "kein", "keine", "mehr",
        "schon",
    }
)  # fmt: skip
_ENGLISH_WORDS = frozenset(
    {
        "the", "and", "is", "of", "with", "to", "a", "that", "this", "for", "are", "was",
        "were", "be", "been", "has", "have", "not", "it", "on", "by", "from", "at", "which",
        "will", "would", "they", "their", "its", "or", "but", "can", "could", "more", "than",
        "into", "about", "after", "over", "there", "what", "who", "when", "should",
        "these", "those", "our", "we", "you",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-zäöüß]+")


def detect_language(text: str) -> str | None:
    """'de' or 'en' by counting common function words; None when neither clearly wins."""
    german = english = 0
    for count, match in enumerate(_WORD.finditer(text.lower())):
        if count >= 3_000:  # plenty for a verdict; keeps huge bodies cheap
            break
        word = match.group()
        if word in _GERMAN_WORDS:
            german += 1
        elif word in _ENGLISH_WORDS:
            english += 1
    if german >= 2 and german > english:
        return "de"
    if english >= 2 and english > german:
        return "en"
    return None


def _language_code(value: object) -> str | None:
    """'de-DE' -> 'de'; anything but German or English -> None."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


# --- titles -------------------------------------------------------------------------------


# Abbreviations whose full stop does not end a sentence.
def first_sentence(text: str) -> str:
    """The first sentence of a paragraph."""
    found = sentences(text)
    return found[0] if found else " ".join(text.split())


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """At most limit characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def title_from_body(body: str) -> str:
    """A title made from the body's first sentence, as used when none was given."""
    first_paragraph = body.strip().split("\n\n", 1)[0]
    sentence = first_sentence(first_paragraph)
    # A headline does not end in a full stop, but keep '?', '!' and a real ellipsis.
    if sentence.endswith(".") and not sentence.endswith(".."):
        sentence = sentence[:-1]
    return shorten(_one_line(sentence))


# --- URLs and GUIDs -----------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "ref", "ref_src", "igshid"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def safe_link(value: object, base: str | None = None) -> str | None:
    """An http(s) URL fit to show as a link, or None (javascript:, data:, mailto: are dropped)."""
    if not isinstance(value, str):
        return None
    # Feeds do put raw spaces in links; encoded, they still lead to the page.
    link = _one_line(value).replace(" ", "%20")
    if not link:
        return None
    if base:
        link = urljoin(base, link)
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link


def normalise_url(url: str) -> str:
    """A dedupe key for a URL: https, lower-case host, no default port, fragment or tracking."""
    value = _one_line(url)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return value
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return value
    host = parts.hostname.lower().rstrip(".")
    # A host the IDNA codec cannot encode keeps its Unicode spelling: still a stable key.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query_items = [
        (key, val)
        for key, val in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in _TRACKING_PARAMS
    ]
    query = urlencode(sorted(query_items), quote_via=quote)
    # Feeds switch between http and https for the same article, so both map to https.
    return urlunsplit(("https", host, path, query, ""))


def normalise_guid(value: str) -> str:
    """A dedupe key for a GUID: URL-like GUIDs normalised like URLs, the urn: prefix lower-cased."""
    guid = _one_line(value)
    lowered = guid.lower()
    if lowered.startswith(("http://", "https://")):
        return normalise_url(guid)
    if lowered.startswith("urn:uuid:"):
        return lowered  # UUIDs are case-insensitive
    if lowered.startswith("urn:"):
        # RFC 8141: the "urn" prefix and the namespace id are case-insensitive, the rest is not.
        scheme, nid, *rest = guid.split(":", 2)
        return ":".join([scheme.lower(), nid.lower(), *rest])
    return guid


# --- HTML to text -------------------------------------------------------------------------

_SKIPPED_ELEMENTS = frozenset(
    {"script", "style", "template", "head", "title", "noscript", "iframe", "object", "svg", "math"}
)
_BLOCK_ELEMENTS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "aside", "nav", "main",
        "blockquote", "pre", "ul", "ol", "dl", "dt", "dd", "table", "tr", "figure",
        "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "address", "details",
        "summary", "form", "fieldset",
    }
)  # fmt: skip
_VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment as paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._lines: list[str] = []
        self._words: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0

    def _end_line(self) -> None:
        line = "".join(self._words).strip()
        self._words = []
        if line:
            self._lines.append(" ".join(line.split()) if not self._pre_depth else line)

    def _end_paragraph(self) -> None:
        self._end_line()
        if self._lines:
            self.paragraphs.append("\n".join(self._lines))
            self._lines = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skip_depth += 1
        elif self._skip_depth:
            return
        elif tag == "br":
            self._end_line()
        elif tag == "li":
            self._end_line()
            self._words.append("• ")
        elif tag in ("td", "th"):
            self._words.append(" ")
        elif tag in _BLOCK_ELEMENTS:
            self._end_paragraph()
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <script/> opens nothing; only the void behaviour (<br/>, <hr/>) matters here.
        if tag not in _SKIPPED_ELEMENTS:
            self.handle_starttag(tag, attrs)
            if tag not in _VOID_ELEMENTS:
                self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag == "li":
            self._end_line()
        elif tag in _BLOCK_ELEMENTS:
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
            self._end_paragraph()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            lines = data.split("\n")
            for index, part in enumerate(lines):
                if index:
                    self._end_line()
                self._words.append(part)
        else:
            # HTML collapses whitespace; a newline in the source is just a space.
            self._words.append(re.sub(r"\s+", " ", data))

    def finish(self) -> list[str]:
        self.close()
        self._end_paragraph()
        return self.paragraphs


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment: paragraphs split by blank lines, no tags, no scripts."""
    extractor = _TextExtractor()
    extractor.feed(html)
    paragraphs = extractor.finish()
    return normalise_text("\n\n".join(paragraphs)).strip()


# --- plain-text articles ------------------------------------------------------------------

_UTF8_BOM = codecs.BOM_UTF8
_HEADER = re.compile(r"(title|titel|url|link|date|datum)\s*:\s*(.*)", re.IGNORECASE)
_TAGS_LINE = re.compile(r"(schlagwörter|schlagworte|tags)\s*:(.*)", re.IGNORECASE)
_HEADER_KINDS = {
    "title": "title",
    "titel": "title",
    "url": "url",
    "link": "url",
    "date": "date",
    "datum": "date",
}


def _check_size(data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise InputRejected("too_large", f"{len(data)} bytes, at most {limit} are accepted")


def decode_text(data: bytes, *, limit: int = MAX_TEXT_BYTES) -> str:
    """UTF-8 (a BOM is allowed) to normalised text; binary, empty or oversized input is rejected."""
    _check_size(data, limit)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    if b"\x00" in data:
        raise InputRejected("binary", "the file contains NUL bytes; it is not a UTF-8 text file")
    try:
        text = data.decode("utf-8", _LONE_SURROGATES)
    except UnicodeDecodeError as exc:
        raise InputRejected(
            "binary", f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8 text"
        ) from None
    text = normalise_text(text)
    if not text.strip():
        raise InputRejected("empty", "the file has no text")
    return text


def _paragraphs(lines: Sequence[str]) -> list[str]:
    """Body lines to paragraphs: blank-line separated blocks, or one paragraph per line if none."""
    if any(not line.strip() for line in lines):
        blocks: list[str] = []
        current: list[str] = []
        for line in [*lines, ""]:
            if line.strip():
                current.append(line.strip())
            elif current:
                blocks.append("\n".join(current))
                current = []
        return blocks
    return [line.strip() for line in lines]


def parse_text_article(data: bytes, *, source: str = "file") -> NewArticle:
    """One article in the plain-text format: headers, paragraphs, a tags line, a poll question."""
    text = decode_text(data)
    lines = [line.rstrip() for line in text.split("\n")]
    used: set[int] = set()

    fields: dict[str, str] = {}
    for index, line in enumerate(lines[:HEADER_SCAN_LINES]):
        header = _HEADER.fullmatch(line.strip())
        if header is None:
            continue
        kind = _HEADER_KINDS[header.group(1).lower()]
        used.add(index)
        fields.setdefault(kind, header.group(2).strip())

    non_empty = [i for i, line in enumerate(lines) if line.strip() and i not in used]
    tags: tuple[str, ...] = ()
    tags_index: int | None = None
    for index in reversed(non_empty):
        tags_line = _TAGS_LINE.fullmatch(lines[index].strip())
        if tags_line:
            tags_index = index
            tags = clean_tags(split_tags(tags_line.group(2)))
            used.add(index)
            break

    question: str | None = None
    last = non_empty[-1] if non_empty else None
    if last is not None and last != tags_index:
        candidate = _one_line(lines[last])
        others = [i for i in non_empty if i not in used and i != last]
        # Without a tags line the last line might just be a body paragraph that asks
        # something, so it only becomes the poll question if other body text remains.
        if (
            candidate.endswith(("?", "？"))
            and len(candidate) <= QUESTION_LIMIT
            and (tags_index is not None or others)
        ):
            question = candidate
            used.add(last)

    body_lines = [line for i, line in enumerate(lines) if i not in used]
    while body_lines and not body_lines[0].strip():
        body_lines.pop(0)
    while body_lines and not body_lines[-1].strip():
        body_lines.pop()
    body = "\n\n".join(_paragraphs(body_lines))
    if not body:
        raise InputRejected("empty", "the file has no article text")

    title = _one_line(fields.get("title", "")) or title_from_body(body)
    url = None
    if fields.get("url"):
        url = safe_link(fields["url"])
        if url is None:
            log.info("ignoring a URL header that is not an http(s) link")
    published = None
    if fields.get("date"):
        published = parse_date(fields["date"])
        if published is None:
            log.info("ignoring a date header that is not a recognised date: %r", fields["date"])

    return NewArticle(
        title=title,
        body=body,
        tags=tags,
        url=url,
        published=published,
        guid=None,
        question=question,
        language=detect_language(f"{title}\n{body}"),
        source=source,
    )


# --- feeds --------------------------------------------------------------------------------

# Any markup declaration that could define entities. Expat refuses entity bombs, but
# feedparser then falls back to its loose parser, which expands them (platform facts: a 106 KB
# feed became a 600 MB title), so these never reach feedparser at all.
_DANGEROUS_DECLARATION = re.compile(r"<!\s*(?:doctype|entity)\b", re.IGNORECASE)
_ENTITY_DECLARATION = re.compile(r"<!\s*entity\b", re.IGNORECASE)
_HTML_DOCTYPE = re.compile(r"<!\s*doctype\s+html\s*>", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"\s*<\?xml[^>]*\?>", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# '<?' or '<' followed by a letter in encodings without a BOM (XML 1.0 appendix F).
_UNMARKED: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


def _sniff_encoding(data: bytes) -> tuple[str, int]:
    """The encoding a BOM or the XML layout implies, and how many BOM bytes to skip."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    for marker, encoding in _UNMARKED:
        if data.startswith(marker):
            return encoding, 0
    return "", 0


def decode_xml(data: bytes) -> str:
    """Decode an XML document the way a parser would: BOM, then the declaration, then UTF-8.

    We decode it ourselves and give feedparser UTF-8 only, so the text we check for DOCTYPE
    and ENTITY is exactly the text it parses: feedparser would otherwise honour any declared
    encoding (UTF-7, EBCDIC ...) in which the check's patterns look different.
    """
    encoding, skip = _sniff_encoding(data)
    body = data[skip:]
    candidates: list[str] = []
    if encoding:
        candidates.append(encoding)
    else:
        declared = _XML_ENCODING.match(body[:1024])
        if declared:
            name = declared.group(1).decode("ascii").lower()
            # A declaration of UTF-16/32 without the layout of it is a lie; read it as UTF-8.
            if not name.startswith(("utf-16", "utf16", "utf-32", "utf32", "ucs")):
                candidates.append("gb18030" if name == "gb2312" else name)
        candidates.append("utf-8")
    for candidate in candidates:
        try:
            return body.decode(candidate, _LONE_SURROGATES)
        except (UnicodeDecodeError, LookupError):
            continue
    # Like feedparser: a feed that lies about its encoding is usually Windows-1252.
    return body.decode("windows-1252", errors="replace")


def _screen_feed(data: bytes) -> bytes:
    """Size, emptiness and declaration checks; returns UTF-8 bytes safe to hand to feedparser."""
    _check_size(data, MAX_FEED_BYTES)
    text = decode_xml(data)
    if not text.strip():
        raise InputRejected("empty", "the feed is empty")
    if _DANGEROUS_DECLARATION.search(text):
        if _HTML_DOCTYPE.search(text) and not _ENTITY_DECLARATION.search(text):
            raise InputRejected("not_a_feed", "this is an HTML page, not a feed")
        raise InputRejected("doctype", "feeds with DOCTYPE or ENTITY declarations are refused")
    if nested_too_deeply(text):
        raise InputRejected(
            "too_deep", f"elements nested more than {MAX_XML_DEPTH} levels deep are refused"
        )
    text = without_surrogates(repair_character_references(text))
    declaration = _XML_DECLARATION.match(text)
    if declaration:
        text = text[declaration.end() :]
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + text.lstrip()).encode("utf-8")


def _get(mapping: object, key: str) -> object:
    """A field of a feedparser dict without its deprecated updated->published fallback warning."""
    if isinstance(mapping, dict) and dict.__contains__(mapping, key):
        return dict.__getitem__(mapping, key)
    return None


def _text_field(detail: object, value: object) -> str:
    """A feedparser text construct as plain text (HTML types converted, plain kept as is)."""
    if not isinstance(value, str):
        return ""
    kind = _get(detail, "type")
    # No type at all: feedparser copied the field from elsewhere (summary from content) and
    # it may hold markup; only text declared plain is kept as it is.
    if kind is None or (isinstance(kind, str) and "html" in kind):
        return html_to_text(value)
    return normalise_text(value).strip()


def _entry_body(entry: Mapping[str, Any]) -> str:
    contents = _get(entry, "content")
    if isinstance(contents, list):
        # Prefer an HTML part: it is usually the full article, a plain part a teaser.
        parts = [c for c in contents if isinstance(c, dict) and isinstance(_get(c, "value"), str)]
        parts.sort(key=lambda c: "html" not in str(_get(c, "type")))
        for part in parts:
            text = _text_field(part, _get(part, "value"))
            if text:
                return text
    return _text_field(_get(entry, "summary_detail"), _get(entry, "summary"))


def _entry_date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = _get(entry, key)
        # feedparser gives a time.struct_time already converted to UTC.
        if isinstance(value, tuple) and len(value) >= 6:
            year, month, day, hour, minute, second = value[:6]
            try:
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _entry_language(entry: Mapping[str, Any], feed_language: str | None) -> str | None:
    for key in ("title_detail", "summary_detail"):
        language = _language_code(_get(_get(entry, key), "language"))
        if language:
            return language
    contents = _get(entry, "content")
    if isinstance(contents, list):
        for part in contents:
            language = _language_code(_get(part, "language"))
            if language:
                return language
    return feed_language


def _entry_tags(entry: Mapping[str, Any]) -> tuple[str, ...]:
    tags = _get(entry, "tags")
    if not isinstance(tags, list):
        return ()
    dropped = _get(entry, TAGS_DROPPED)
    if dropped:
        log.info("a feed entry had %s more tags than the %s read", dropped, len(tags))
    terms: list[str] = []
    for tag in tags:
        term = _get(tag, "term") or _get(tag, "label")
        if isinstance(term, str):
            terms.append(term)
    return clean_tags(terms)


def parse_feed(
    data: bytes, *, source: str = "feed", base_url: str | None = None
) -> list[NewArticle]:
    """Entries of an RSS 2.0, Atom or RDF feed; base_url resolves relative links."""
    safe_bytes = _screen_feed(data)
    # Always a stream: feedparser.parse(str) would treat the string as a URL or a file path.
    parsed = feedparser.parse(io.BytesIO(safe_bytes))
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version"):
        raise InputRejected("not_a_feed", "no RSS, Atom or RDF feed was found")
    feed = parsed.get("feed") or {}
    feed_language = _language_code(_get(feed, "language"))
    if feed_language is None:
        feed_language = _language_code(_get(_get(feed, "title_detail"), "language"))
    if len(entries) > MAX_FEED_ENTRIES:
        log.warning("feed has %d entries; using the first %d", len(entries), MAX_FEED_ENTRIES)
        entries = entries[:MAX_FEED_ENTRIES]

    articles: list[NewArticle] = []
    for entry in entries:
        title = _one_line(_text_field(_get(entry, "title_detail"), _get(entry, "title")))
        body = _entry_body(entry)
        if not title and not body:
            continue
        raw_guid = _get(entry, "id")
        guid = normalise_guid(raw_guid) if isinstance(raw_guid, str) else ""
        language = _entry_language(entry, feed_language) or detect_language(f"{title}\n{body}")
        articles.append(
            NewArticle(
                title=title or title_from_body(body),
                body=body,
                tags=_entry_tags(entry),
                url=safe_link(_get(entry, "link"), base_url),
                published=_entry_date(entry),
                guid=guid or None,
                question=None,
                language=language,
                source=source,
            )
        )
    return articles


# --- JSON ---------------------------------------------------------------------------------


def _json_str(item: Mapping[str, object], keys: Sequence[str], index: int) -> str | None:
    for key in keys:
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InputRejected("bad_json", f"article {index}: {key!r} must be a string")
        return value
    return None


def _json_tags(value: object, index: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return clean_tags(split_tags(value))
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return clean_tags(value)
    raise InputRejected(
        "bad_json", f"article {index}: 'tags' must be a list of strings or a string"
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
        raise InputRejected("bad_json", f"article {index}: {key!r} must be a date string or number")
    return None


def _json_guid(item: Mapping[str, object], index: int) -> str | None:
    for key in ("guid", "id"):
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InputRejected("bad_json", f"article {index}: {key!r} must be a string or number")
        return normalise_guid(str(value)) or None
    return None


def _json_items(document: object) -> list[object]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if "articles" in document:
            articles = document["articles"]
            if not isinstance(articles, list):
                raise InputRejected("bad_json", "'articles' must be a list")
            return articles
        if any(key in document for key in ("title", "body", "text", "content")):
            return [document]
    raise InputRejected("bad_json", "expected a list of articles or an object with 'articles'")


def _load_json(data: bytes) -> object:
    """The decoded JSON document; InputRejected("bad_json") only for text that is not JSON."""
    _check_size(data, MAX_JSON_BYTES)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        text = data.decode("utf-8", _LONE_SURROGATES)
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
        raise InputRejected("bad_json", f"article {index} is not an object")
    title = _one_line(_json_str(item, ("title",), index) or "")
    raw_body = _json_str(item, ("body", "text", "content"), index) or ""
    body = "\n\n".join(_paragraphs(normalise_text(raw_body).strip().split("\n")))
    question = _one_line(_json_str(item, ("question",), index) or "") or None
    raw_url = _json_str(item, ("url", "link"), index)
    tags = _json_tags(item.get("tags"), index)
    published = _json_date(item, index)
    guid = _json_guid(item, index)
    if not title and not body:
        log.info("article %d has neither title nor body; skipped", index)
        return None
    url = safe_link(raw_url) if raw_url else None
    if raw_url and url is None:
        log.info("article %d: ignoring a URL that is not an http(s) link", index)
    return NewArticle(
        title=title or title_from_body(body),
        body=body,
        tags=tags,
        url=url,
        published=published,
        guid=guid,
        question=question,
        language=_language_code(item.get("language")) or detect_language(f"{title}\n{body}"),
        source=source,
    )


def _json_articles(document: object, source: str) -> list[NewArticle]:
    articles: list[NewArticle] = []
    for index, item in enumerate(_json_items(document), start=1):
        article = _json_article(item, index, source)
        if article is not None:
            articles.append(article)
    return articles


def parse_json_articles(data: bytes, *, source: str = "json") -> list[NewArticle]:
    """Articles from a JSON list of objects (or {"articles": [...]}, or one article object)."""
    return _json_articles(_load_json(data), source)


# --- any input ----------------------------------------------------------------------------

_FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


def _first_character(data: bytes) -> str:
    encoding, skip = _sniff_encoding(data[:64])
    prefix = data[skip : skip + 256]
    text = prefix.decode(encoding or "utf-8", errors="ignore")
    stripped = text.lstrip()
    return stripped[:1]


def parse_any(data: bytes, *, name: str = "", source: str | None = None) -> list[NewArticle]:
    """Articles from an upload of any supported kind, told apart by file name or first character."""
    suffix = name.lower().rsplit("/", 1)[-1]
    if suffix.endswith(".json"):
        articles = parse_json_articles(data, source=source or "json")
    elif suffix.endswith(_FEED_SUFFIXES):
        articles = parse_feed(data, source=source or "feed")
    elif suffix.endswith((".txt", ".md", ".text")):
        articles = [parse_text_article(data, source=source or "file")]
    else:
        first = _first_character(data)
        if first in ("[", "{"):
            try:
                document = _load_json(data)
            except InputRejected as exc:
                # "[Eilmeldung] ..." is a text article that merely looks like JSON; valid
                # JSON with wrong fields, on the other hand, is reported as bad JSON below.
                if exc.reason_key != "bad_json":
                    raise
                log.debug("not JSON (%s); reading it as a text article", exc.detail)
                articles = [parse_text_article(data, source=source or "file")]
            else:
                articles = _json_articles(document, source or "json")
        elif first == "<":
            articles = parse_feed(data, source=source or "feed")
        else:
            articles = [parse_text_article(data, source=source or "file")]
    if not articles:
        raise InputRejected("no_articles", "no article with a title or text was found")
    return articles
