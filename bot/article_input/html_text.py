"""The visible text of an HTML fragment, as paragraphs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.article_input.text import normalise_text

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
