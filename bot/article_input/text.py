"""Bytes to clean text: size limits, UTF-8 decoding, line breaks, controls and surrogates."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable, Sequence

from handlers.events import UserError
from storage.tags import clean_tags

MAX_TEXT_BYTES = 1_000_000
# Same cap as the fetcher's default body limit, so anything it hands over can be parsed.
MAX_FEED_BYTES = 5_000_000
MAX_JSON_BYTES = 5_000_000
# A feed with thousands of entries is an accident or an attack; nobody wants that many posts.
MAX_FEED_ENTRIES = 1_000
LANGUAGES = ("de", "en")
UTF8_BOM = codecs.BOM_UTF8


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
LONE_SURROGATES = "surrogatepass"


def without_surrogates(text: str) -> str:
    """Lone surrogates replaced by U+FFFD, the replacement character."""
    return _SURROGATES.sub("\ufffd", text)


def normalise_text(text: str) -> str:
    """NFC, one kind of line break, no control characters except newline and tab, no lone
    surrogates."""
    text = without_surrogates(_NEWLINES.sub("\n", text))
    text = _CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", text)


def one_line(text: str) -> str:
    """A field shown on one line: invisible characters removed, all whitespace collapsed."""
    text = _INVISIBLE.sub("", normalise_text(text))
    return unicodedata.normalize("NFC", " ".join(text.split()))


def check_size(data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise InputRejected("too_large", f"{len(data)} bytes, at most {limit} are accepted")


def decode_text(data: bytes, *, limit: int = MAX_TEXT_BYTES) -> str:
    """UTF-8 (a BOM is allowed) to normalised text; binary, empty or oversized input is rejected."""
    check_size(data, limit)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if b"\x00" in data:
        raise InputRejected("binary", "the file contains NUL bytes; it is not a UTF-8 text file")
    try:
        text = data.decode("utf-8", LONE_SURROGATES)
    except UnicodeDecodeError as exc:
        raise InputRejected(
            "binary", f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8 text"
        ) from None
    text = normalise_text(text)
    if not text.strip():
        raise InputRejected("empty", "the file has no text")
    return text


def paragraphs(lines: Sequence[str]) -> list[str]:
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


def input_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Tags from a file or feed: each on one line without invisible characters, then tidied
    and merged by key like every tag (storage/tags.py)."""
    return clean_tags(one_line(item) for item in raw)
