"""Tags, one set of rules for every way in and out: split from a file, feed or command, tidied
and capped, compared by key, and shown as a hashtag that is accepted back."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

ALL_TAGS = "*"  # a subscription to every article
# Feeds have sent items with 100,000 categories. Nobody subscribes by the 51st tag, and each
# tag is a row, an index entry and a word in the search index.
MAX_TAGS_PER_ARTICLE = 50
MAX_TAG_CHARS = 64
# "Künstliche Intelligenz" typed without quotes is one tag when the words together name a
# known tag; longer runs are not looked up, so a command costs a bounded number of look-ups.
MAX_PHRASE_WORDS = 6
MAX_PHRASE_RUN = 12

# "+" and "#" tell C++ and C# from C; every other punctuation mark, space, "-" or "_" only
# separates words, the way a hashtag must write it ("E-Autos" is #E_Autos, "R&D" is #R_D).
_KEPT_MARKS = frozenset("+#")


def _is_name_char(ch: str) -> bool:
    if ch in _KEPT_MARKS:
        return True
    category = unicodedata.category(ch)
    # Letters, marks, digits, and symbols such as emoji and currency signs.
    return category[0] in "LMN" or category in {"So", "Sc", "Sk"}


def _words(text: str) -> list[str]:
    """The runs of name characters in `text`; invisible format characters are dropped."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return ["".join(run) for keep, run in groupby(visible, _is_name_char) if keep]


def tag_key(tag: str) -> str:
    """The form tags are compared in: case-folded, no leading '#', and every run of spaces and
    punctuation (other than + and #) one space, so that `#Künstliche_Intelligenz`,
    `künstliche intelligenz` and `Künstliche-Intelligenz` are the same tag."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tag).casefold())
    text = text.strip().lstrip("#")
    if text.strip() == ALL_TAGS:
        return ALL_TAGS
    return " ".join(_words(text))


@functools.lru_cache(maxsize=8192)  # every post shows its tags as hashtags, every time
def hashtag(tag: str) -> str:
    """A tag as a hashtag: spaces and punctuation would end it early on every platform, so
    they become '_'; its key is the tag's key, so the hashtag can be subscribed to."""
    return "#" + "_".join(_words(unicodedata.normalize("NFC", tag).strip().lstrip("#")))


def tidy_tag(tag: str) -> str:
    """A tag as written by a person or a feed: no leading '#', single spaces."""
    return " ".join(tag.strip().lstrip("#").split())


def fit_tag(tag: str) -> str:
    """A tag as stored: no '#', at most MAX_TAG_CHARS characters, cut at a space if one is
    near the limit, so that a pasted sentence does not become an endless hashtag."""
    name = tag.strip().lstrip("#").strip()
    if len(name) <= MAX_TAG_CHARS:
        return name
    cut = name[:MAX_TAG_CHARS]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_TAG_CHARS // 2 else cut).rstrip()


def is_usable_tag(tag: str) -> bool:
    """Whether a person may name this tag: short enough, and more than marks."""
    return 0 < len(tag) <= MAX_TAG_CHARS and any(ch.isalnum() or ch == "*" for ch in tag)


def clean_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Tidy tags: no leading '#', single spaces, the first spelling of each key wins."""
    seen: set[str] = set()
    tags: list[str] = []
    for item in raw:
        tag = tidy_tag(item)
        key = tag_key(tag)
        if key and key not in seen:
            seen.add(key)
            tags.append(tag)
    return tuple(tags)


def tags_to_keep(tags: Sequence[str]) -> tuple[list[tuple[str, str]], int]:
    """The (key, name) pairs to store, in order, at most MAX_TAGS_PER_ARTICLE distinct ones,
    and how many further tags were not looked at: an article's tags cost linear time, bounded
    by the limit, however many it arrives with."""
    kept: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, tag in enumerate(tags):
        if len(kept) == MAX_TAGS_PER_ARTICLE:
            return kept, len(tags) - index
        name = fit_tag(tag)
        key = tag_key(name)
        if key and key not in seen and key != ALL_TAGS:
            seen.add(key)
            kept.append((key, name))
    return kept, 0


# --- a tags line in a file or feed, --tags on the command line ---------------------------

# "+" separates tags when it stands alone ("A + B") or joins two words ("A+B"); a run of
# pluses or a trailing one belongs to a name: "C++", "Notepad++", "Disney+".
_LINE_SEPARATORS = re.compile(r"[,;]|(?<=\s)\+(?=\s)|(?<=[^\s+])\+(?=[^\s+])")


def split_tag_line(value: str) -> list[str]:
    """Split a tag line value ("A + B, C; D") into raw parts."""
    return _LINE_SEPARATORS.split(value)


# --- tags in a chat command --------------------------------------------------------------

# Opening quote -> the characters that may close it: "…", „…“, “…”, «…», »…«.
_QUOTES = {'"': '"', "„": "“”", "“": "”“", "”": "”", "«": "»", "»": "«"}
_ALL_QUOTES = "".join(set(_QUOTES) | set("".join(_QUOTES.values())))


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["quoted", "word", "separator"]
    text: str = ""


def _plain_tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for index, part in enumerate(_LINE_SEPARATORS.split(text)):
        if index:
            tokens.append(_Token("separator"))
        tokens += [_Token("word", word) for word in part.split()]
    return tokens


def _tokens(text: str) -> list[_Token]:
    """Quoted phrases, words and separators; a quote opens only at the start of a word."""
    tokens: list[_Token] = []
    start = index = 0
    while index < len(text):
        closers = _QUOTES.get(text[index])
        opens = closers is not None and (index == 0 or text[index - 1].isspace())
        if not opens or closers is None:
            index += 1
            continue
        tokens += _plain_tokens(text[start:index])
        end = next((j for j in range(index + 1, len(text)) if text[j] in closers), len(text))
        tokens.append(_Token("quoted", text[index + 1 : end]))
        start = index = end + 1
    return tokens + _plain_tokens(text[start:])


def _group_words(words: list[str], known_keys: Collection[str]) -> list[str]:
    """A run of unquoted words: the longest runs that name a known tag, else one word each."""
    tags: list[str] = []
    index = 0
    while index < len(words):
        span = 1
        if len(words) <= MAX_PHRASE_RUN:
            longest = min(MAX_PHRASE_WORDS, len(words) - index)
            span = next(
                (
                    n
                    for n in range(longest, 1, -1)
                    if tag_key(" ".join(words[index : index + n])) in known_keys
                ),
                1,
            )
        tags.append(" ".join(words[index : index + span]))
        index += span
    return tags


def _chunk_tags(chunk: list[_Token]) -> list[str]:
    """Tags between two separators: each quoted phrase, and the words together as one."""
    tags = [token.text for token in chunk if token.kind == "quoted"]
    words = " ".join(token.text for token in chunk if token.kind == "word")
    return [*tags, words] if words else tags


def _raw_command_tags(tokens: list[_Token], known_keys: Collection[str]) -> list[str]:
    if any(token.kind == "separator" for token in tokens):
        raw: list[str] = []
        chunk: list[_Token] = []
        for token in [*tokens, _Token("separator")]:
            if token.kind == "separator":
                raw += _chunk_tags(chunk)
                chunk = []
            else:
                chunk.append(token)
        return raw
    raw, run = [], []
    for token in [*tokens, _Token("quoted")]:
        if token.kind == "word":
            run.append(token.text)
            continue
        raw += _group_words(run, known_keys)
        run = []
        if token.text:
            raw.append(token.text)
    return raw


def command_tags(args: Sequence[str], known_keys: Collection[str] = ()) -> list[str]:
    """Tags from a command's arguments: `xAI OpenAI`, `xAI, OpenAI`, `Microsoft + C++`,
    `"Künstliche Intelligenz" xAI` (also „…“, “…”, «…»), `#E_Autos`. Unquoted words that
    together name a known tag (their keys in known_keys) stay together. Tidied, one per key,
    not yet checked with is_usable_tag."""
    tags: list[str] = []
    seen: set[str] = set()
    for part in _raw_command_tags(_tokens(" ".join(args)), known_keys):
        # A part that is only marks ("###") stays, for the caller to refuse by name.
        tag = tidy_tag(part.strip(_ALL_QUOTES + " ")) or part.strip()
        key = tag_key(tag)
        if tag and (key not in seen or not key):
            seen.add(key)
            tags.append(tag)
    return tags


def phrases_to_look_up(args: Sequence[str]) -> list[str]:
    """The runs of unquoted words that command_tags would keep together if they named a known
    tag: what to ask the store about before calling it."""
    tokens = _tokens(" ".join(args))
    if any(token.kind == "separator" for token in tokens):
        return []
    phrases: list[str] = []
    runs = [list(run) for is_word, run in groupby(tokens, lambda t: t.kind == "word") if is_word]
    for run in runs:
        words = [token.text for token in run]
        if len(words) > MAX_PHRASE_RUN:
            continue
        for start in range(len(words)):
            for end in range(start + 2, min(len(words), start + MAX_PHRASE_WORDS) + 1):
                phrases.append(" ".join(words[start:end]))
    return phrases


def one_command_tag(args: Sequence[str]) -> str:
    """The single tag of /latest or /top: all the words, quotes or not (`/latest Künstliche
    Intelligenz`, `/latest „Künstliche Intelligenz“`, `/top #E_Autos`)."""
    return tidy_tag(" ".join(args).strip(_ALL_QUOTES + " "))
