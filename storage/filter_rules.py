"""A chat's keyword filters as rules: checked when written, matched against an article at fan-out.

Words and phrases match whole words of the title, the start of the body and the tags, folded as
the search index folds them (storage.postgres_search.index_text: case and accents off) and
lightly stemmed as search queries are (storage.search.stem: "Wahlen" is "Wahl"). Patterns
(`re:…`) run on google-re2, which matches in time linear in the text and cannot backtrack
catastrophically; their length and memory are bounded as well."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import re2

from storage.postgres_search import index_text
from storage.search import stem

Mode = Literal["include", "exclude"]
Kind = Literal["words", "regex"]

MAX_RULE_CHARS = 200  # a word, a phrase or a pattern
MAX_PHRASE_WORDS = 12
MAX_PATTERNS = 10  # patterns per chat: each one costs a scan of every article's text
# Memory re2 may use for one compiled pattern: a pattern that needs more is refused (a huge
# repetition such as `a{1000}{1000}`), never cut short while matching.
_PATTERN_MEMORY = 1 << 20
# The body's start that counts as the summary (the teaser people see in a post).
SUMMARY_CHARS = 600
# Between fields in the stemmed text: a phrase never runs from the title into the body.
_FIELD_GAP = " | "


class RuleRefused(ValueError):
    """A rule that cannot be a filter; `reason` names why (empty, too_long, too_many_words,
    pattern_invalid, too_many_patterns), `detail` is re2's own word for a bad pattern."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ChatFilter:
    """One filter of a chat; `number` is its place in /filter list (1 is the oldest)."""

    id: int
    number: int
    mode: Mode
    kind: Kind
    text: str

    @property
    def shown(self) -> str:
        return f"re:{self.text}" if self.kind == "regex" else self.text


@dataclass(frozen=True, slots=True)
class ArticleText:
    """What filters look at in one article, folded once for every chat's filters."""

    stems: str  # " stem stem | stem … " : whole words, fields apart
    raw: str  # title, summary and tags as written, for patterns

    @staticmethod
    def of(title: str, body: str, tags: Iterable[str]) -> ArticleText:
        fields = [title, body[:SUMMARY_CHARS], " ".join(tags)]
        stemmed = _FIELD_GAP.join(" ".join(_stems(f)) for f in fields)
        return ArticleText(stems=f" {stemmed} ", raw="\n".join(fields))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an article passes a chat's filters, and if not, which rule stopped it."""

    passes: bool
    excluded_by: ChatFilter | None = None
    no_include: bool = False  # there are includes, and none matched


# Articles share most of their words: a word's stem is worked out once (the stemming, not
# the folding, is most of the cost of reading an article).
_stem = lru_cache(maxsize=65_536)(stem)


def _stems(text: str) -> list[str]:
    return [_stem(word) for word in index_text(text).split()]


@lru_cache(maxsize=4096)
def _phrase(text: str) -> str:
    """A words rule as the stemmed text holds it: " stem stem " (empty when it has no word)."""
    words = _stems(text)
    return f" {' '.join(words)} " if words else ""


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re2._Regexp:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is the person's mistake, not a log line
    options.max_mem = _PATTERN_MEMORY
    try:
        return re2.compile(text, options)
    except re2.error as error:
        detail = error.args[0] if error.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise RuleRefused("pattern_invalid", str(detail)[:120]) from None


def checked(kind: Kind, text: str, patterns_before: int = 0) -> str:
    """The rule's text as it is kept, or RuleRefused saying why it cannot be one."""
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise RuleRefused("empty")
    if len(text) > MAX_RULE_CHARS:
        raise RuleRefused("too_long")
    if kind == "regex":
        if patterns_before >= MAX_PATTERNS:
            raise RuleRefused("too_many_patterns")
        _pattern(text)
        return text
    words = _phrase(text).split()
    if not words:
        raise RuleRefused("empty")
    if len(words) > MAX_PHRASE_WORDS:
        raise RuleRefused("too_many_words")
    return text


def same_rule(kind: Kind, text: str) -> str:
    """What a rule matches by: "Wahlen" and "wahl" are one words rule, patterns are as written."""
    return text if kind == "regex" else _phrase(text)


def matches(rule: ChatFilter, article: ArticleText) -> bool:
    if rule.kind == "regex":
        return _pattern(rule.text).search(article.raw) is not None
    phrase = _phrase(rule.text)
    return bool(phrase) and phrase in article.stems


def judge(rules: Sequence[ChatFilter], article: ArticleText) -> Verdict:
    """An article passes when no exclude matches and, if there are includes, one does."""
    for rule in rules:
        if rule.mode == "exclude" and matches(rule, article):
            return Verdict(passes=False, excluded_by=rule)
    includes = [rule for rule in rules if rule.mode == "include"]
    if includes and not any(matches(rule, article) for rule in includes):
        return Verdict(passes=False, no_include=True)
    return Verdict(passes=True)
