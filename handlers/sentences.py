"""Splitting text into sentences, not fooled by "z. B.", "Dr." or "20. Mai"."""

from __future__ import annotations

import re

_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'»«“”)\]]*\s+(?=[\"'„“»«(\[]?[A-ZÄÖÜ0-9])")
_ABBREVIATIONS = frozenset(
    {
        "bzw", "ca", "dr", "etc", "evtl", "ggf", "inkl", "mio", "mrd", "nr", "prof", "sog", "str",
        "usw", "vgl", "zb", "ua", "dh", "bspw", "mr", "mrs", "ms", "st", "vs", "jr", "sr", "inc",
        "ltd", "co", "corp", "no", "approx", "z", "b", "d", "h", "u", "a", "zt", "fig",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "okt", "nov",
        "dec", "dez"
    }
)  # fmt: skip


def sentences(body: str) -> list[str]:
    """The body's sentences, not broken after 'z. B.', 'Dr.' or '20. Mai'."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        text = " ".join(paragraph.split())
        if not text:
            continue
        start = 0
        for match in _SENTENCE_BREAK.finditer(text):
            before = text[start : match.start()].rstrip("\"'»«“”)]")
            last = before.rsplit(" ", 1)[-1].rstrip(".").lower()
            if before.endswith(".") and (last.isdigit() or last in _ABBREVIATIONS):
                continue
            out.append(text[start : match.start()].strip())
            start = match.end()
        out.append(text[start:].strip())
    return [s for s in out if s]
