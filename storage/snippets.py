"""Snippets cut in Python (PostgreSQL's search): about a dozen words of a body around the
words that matched, as SQLite's FTS5 snippet() cuts them."""

from __future__ import annotations

import re

from storage.search import MARK_END, MARK_START

_WORD = re.compile(r"[^\W_]+")
_SNIPPET_TOKENS = 14


def _window(matched: set[int], words: int, tokens: int) -> int:
    """The first word of the window of `tokens` words with the most matches, moved so that
    its matches are in the middle (as FTS5 places them)."""
    if not matched:
        return 0
    best = max(
        range(max(1, words - tokens + 1)),
        key=lambda s: (len({i for i in matched if s <= i < s + tokens}), -s),
    )
    inside = sorted(i for i in matched if best <= i < best + tokens)
    best = inside[0] - (tokens - (inside[-1] - inside[0] + 1)) // 2
    return max(0, min(best, words - tokens))


def snippet(body: str, matched: set[int], tokens: int = _SNIPPET_TOKENS) -> str:
    """About `tokens` words of `body` around the matched words (their positions among the
    body's words), those between MARK_START and MARK_END, '…' where the body goes on; from
    the body's start, or to its end, the text around the words too."""
    spans = [m.span() for m in _WORD.finditer(body)]
    if not spans:
        return ""
    first = _window(matched, len(spans), tokens)
    end = min(len(spans), first + tokens)
    out = "…" if first > 0 else ""
    cursor = spans[first][0] if first > 0 else 0
    for i in range(first, end):
        start, stop = spans[i]
        word = body[start:stop]
        out += body[cursor:start] + (f"{MARK_START}{word}{MARK_END}" if i in matched else word)
        cursor = stop
    return out + ("…" if end < len(spans) else body[cursor:])
