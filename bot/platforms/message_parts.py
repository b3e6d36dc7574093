"""A reply too long for one message, as several that each fit, split only between lines."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from handlers.events import Reply, Rich, Span


def lines_of(text: Rich) -> list[Rich]:
    """The text's lines, each with its own spans (a span across a line break is split)."""
    lines: list[list[Span]] = [[]]
    for span in text.spans:
        pieces = span.text.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                lines.append([])
            if piece:
                lines[-1].append(dataclasses.replace(span, text=piece))
    return [Rich(tuple(line)) for line in lines]


def _trimmed(lines: list[Rich]) -> list[Rich]:
    """Without blank lines at either end: a part never starts or ends with an empty line."""
    start, end = 0, len(lines)
    while start < end and not lines[start].plain().strip():
        start += 1
    while end > start and not lines[end - 1].plain().strip():
        end -= 1
    return lines[start:end]


def split_lines(text: Rich, fits: Callable[[Rich], bool]) -> list[Rich]:
    """Consecutive parts of the text that each fit, cut only between whole lines. A single
    line too long for a message is a part of its own (the platform's cut shortens it)."""
    if fits(text):
        return [text]
    parts: list[Rich] = []
    current: list[Rich] = []
    for line in lines_of(text):
        if current and _trimmed(current) and not fits(Rich.join(_trimmed([*current, line]))):
            parts.append(Rich.join(_trimmed(current)))
            current = []
        current.append(line)
    if _trimmed(current):
        parts.append(Rich.join(_trimmed(current)))
    return parts or [text]


def reply_parts(reply: Reply, fits: Callable[[Rich], bool]) -> list[Reply]:
    """A text reply that is too long as several replies; its buttons under the last part.
    A post (an article card) and an edit stay one message."""
    if reply.card is not None or reply.edit or fits(reply.text):
        return [reply]
    parts = split_lines(reply.text, fits)
    before = [
        dataclasses.replace(
            reply,
            text=part,
            buttons=(),
            article_id=None,
            poll_version=None,
            actions=(),
            chart=None,
            image=None,
        )
        for part in parts[:-1]
    ]
    last = dataclasses.replace(reply, text=parts[-1], notice=None if before else reply.notice)
    return [*before, last]
