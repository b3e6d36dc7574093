"""Bar charts as PNG images, drawn in-process with Pillow, and a cache that draws each once."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Pillow's own scalable font (load_default) has no umlauts: DejaVu Sans, cut down to Latin,
# Greek, Cyrillic and punctuation (about 170 KB each, see chart_fonts/README.md).
FONTS = Path(__file__).with_name("chart_fonts")

WIDTH = 800
PAD = 28
HEADER = 100  # title and subtitle
ROW = 48
FOOTER = 64
LABEL_SHARE = 0.42  # of the width inside the padding, for the labels left of the bars
NOTE_WIDTHS = (96, 260)  # right of the bars (the count and share, or the rating and votes)

# An opaque light card with dark text: it reads the same on a dark and a light chat theme
# (a transparent image would put dark text on a dark background).
CARD = (248, 249, 251)
BORDER = (198, 204, 212)
INK = (28, 33, 40)  # contrast 15:1 on CARD
MUTED = (78, 86, 98)  # contrast 7:1 on CARD
TRACK = (226, 230, 236)
BAR = (37, 99, 235)
CACHED_CHARTS = 256  # a few MB of PNGs at most


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its length on the chart's scale, and the note right of it."""

    label: str
    value: float
    note: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """Everything a chart shows, already in the reader's language. `key` names what it is
    drawn from (the poll and its version): equal charts are drawn once."""

    title: str
    subtitle: str
    bars: tuple[Bar, ...]
    scale: float  # the value of a bar that fills its track
    footer: str
    key: tuple[object, ...] = ()


def chart_size(bars: int) -> tuple[int, int]:
    """The picture's width and height in pixels for a chart of so many bars."""
    return WIDTH, HEADER + max(bars, 1) * ROW + FOOTER


@cache
def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(FONTS / name, size)


def _fitted(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """The text, cut with an ellipsis where it would be wider than `width`."""
    text = " ".join(text.split())
    if font.getlength(text) <= width:
        return text
    # The longest prefix that fits with its ellipsis, by bisection: a feed's title can be long.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def draw(chart: BarChart) -> bytes:
    """The chart as PNG bytes (not cached: chart_png is)."""
    size = chart_size(len(chart.bars))
    image = Image.new("RGB", size, BORDER)
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((2, 2, size[0] - 3, size[1] - 3), radius=16, fill=CARD)
    inner = size[0] - 2 * PAD
    title, small = _font(25, bold=True), _font(18)
    pen.text((PAD, 24), _fitted(chart.title, title, inner), font=title, fill=INK)
    pen.text((PAD, 64), _fitted(chart.subtitle, small, inner), font=small, fill=MUTED)
    label_width = inner * LABEL_SHARE
    widest = max((small.getlength(b.note) for b in chart.bars), default=0.0)
    note_width = min(max(widest + 20, NOTE_WIDTHS[0]), NOTE_WIDTHS[1])
    track_left = PAD + label_width + 16
    track_right = size[0] - PAD - note_width
    for index, bar in enumerate(chart.bars):
        top = HEADER + index * ROW
        middle = top + ROW // 2
        pen.text(
            (PAD, middle), _fitted(bar.label, small, label_width), font=small, fill=INK, anchor="lm"
        )
        pen.rounded_rectangle((track_left, middle - 12, track_right, middle + 12), 6, fill=TRACK)
        share = min(max(bar.value / chart.scale, 0.0), 1.0) if chart.scale > 0 else 0.0
        if share > 0:
            end = track_left + max(share * (track_right - track_left), 12)
            pen.rounded_rectangle((track_left, middle - 12, end, middle + 12), 6, fill=BAR)
        note = _fitted(bar.note, small, note_width - 20)
        pen.text((size[0] - PAD, middle), note, font=small, fill=INK, anchor="rm")
    footer = _font(20, bold=True)
    bottom = size[1] - FOOTER // 2 - 4
    pen.text(
        (PAD, bottom), _fitted(chart.footer, footer, inner), font=footer, fill=INK, anchor="lm"
    )
    out = io.BytesIO()
    # The encoder is half of a draw: the fastest level (the default, 6, took 40 % longer for
    # a file 8 % smaller; docs/benchmarks.md).
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


class ChartCache:
    """The newest charts drawn, by everything they show. A key holds the poll's version and
    every label, so a hit is always the picture that would be drawn now: each worker keeps
    its own cache and none can serve another's stale counts."""

    def __init__(self, size: int = CACHED_CHARTS) -> None:
        self.size = size
        self.draws = 0  # how many charts were drawn rather than found: what a burst costs
        self._pngs: OrderedDict[BarChart, bytes] = OrderedDict()
        self._lock = threading.Lock()  # worker threads and a web server may ask at once
        self._drawing: dict[BarChart, threading.Lock] = {}  # a chart being drawn: wait for it

    def cached(self, chart: BarChart) -> bytes | None:
        """The chart if it was drawn already; None when it has to be drawn."""
        with self._lock:
            found = self._pngs.get(chart)
            if found is not None:
                self._pngs.move_to_end(chart)
            return found

    def png(self, chart: BarChart) -> bytes:
        """The chart, drawn once however many threads ask for it at the same time."""
        found = self.cached(chart)
        if found is not None:
            return found
        with self._lock:
            drawing = self._drawing.setdefault(chart, threading.Lock())
        with drawing:
            found = self.cached(chart)  # drawn meanwhile by the thread we waited for
            if found is None:
                found = draw(chart)
                self._keep(chart, found)
        with self._lock:
            self._drawing.pop(chart, None)
        return found

    def _keep(self, chart: BarChart, png: bytes) -> None:
        with self._lock:
            self.draws += 1
            self._pngs[chart] = png
            while len(self._pngs) > self.size:
                self._pngs.popitem(last=False)


CHARTS = ChartCache()


def chart_png(chart: BarChart) -> bytes:
    """The chart as PNG bytes, drawn once per distinct chart in this process."""
    return CHARTS.png(chart)
