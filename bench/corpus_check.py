"""Robustness check: every file of a feed corpus (feedparser's test suite) through parse and
ingest into a temporary database. No unhandled exception; nothing stored or posted carries
markup that runs or a link that runs. Prints counts; exits 1 on any failure.

Run: python -m bench.corpus_check ../shared/corpora/feedparser   (or: make corpus)"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.ingest import ingest_bytes
from bot.settings import load_settings
from handlers.events import Reply
from handlers.render import article_post
from storage.models import Article
from storage.store import Store

# Markup that would run if some renderer passed it through, and link schemes that run code.
RUNNING_MARKUP = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|applet|frame|frameset|meta|link|base|form|svg)"
    r"\b|\bon[a-z]{3,}\s*=\s*[\"'\w]",
    re.IGNORECASE,
)
RUNNING_SCHEME = re.compile(r"^\s*(javascript|data|vbscript|livescript|file)\s*:", re.IGNORECASE)
# Any tag at all: harmless once escaped by the adapters, but a sign that HTML was stored as text.
ANY_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9:-]*(\s[^<>]*)?/?>")
SKIPPED_NAMES = {"README.md", "LICENSE", "SOURCE"}


@dataclass
class Tally:
    files: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")


def unsafe_parts(article: Article, post: Reply) -> list[str]:
    """What in a stored article or its rendered post could run: markup or a link scheme."""
    found = []
    fields = {"title": article.title, "body": article.body, "tags": " ".join(article.tags)}
    fields["post"] = post.text.plain()
    for name, text in fields.items():
        match = RUNNING_MARKUP.search(text)
        if match:
            found.append(f"{name} has {match.group(0)!r}")
    links = [article.url] + [s.url for s in post.text.spans if s.style == "link"]
    for url in links:
        if url is None:
            continue
        if RUNNING_SCHEME.match(url) or urlsplit(url).scheme.lower() not in ("http", "https"):
            found.append(f"link {url[:60]!r}")
    return found


def check(corpus: Path) -> Tally:
    tally = Tally()
    config = load_settings(demo=False).core_config()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "corpus.db")
        store.migrate()
        try:
            for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
                if path.name in SKIPPED_NAMES and path.parent == corpus:
                    continue
                tally.files += 1
                name = str(path.relative_to(corpus))
                started = time.perf_counter()
                try:
                    report = ingest_bytes(
                        store, config, path.read_bytes(), name=path.name, source="corpus"
                    )
                    for article in report.new:
                        post = article_post(article, store.get_poll(article.id))
                        tally.unsafe += [f"{name}: {p}" for p in unsafe_parts(article, post)]
                        if ANY_TAG.search(f"{article.title}\n{article.body}"):
                            tally.tagged.append(name)
                except Exception:
                    tally.crashes.append(f"{name}:\n{traceback.format_exc()}")
                    continue
                finally:
                    elapsed = time.perf_counter() - started
                    tally.slowest = max(tally.slowest, (elapsed, name))
                tally.stored += len(report.new)
                tally.duplicates += report.duplicates
                tally.rejected.update(reason for _, reason in report.rejected)
        finally:
            store.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="a folder of feed files")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus.resolve()
    if not corpus.is_dir():
        print(f"not a folder: {corpus}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    tally = check(corpus)
    elapsed = time.perf_counter() - started
    print(f"corpus: {corpus}")
    print(f"files: {tally.files} in {elapsed:.1f} s (slowest {tally.slowest[0] * 1000:.0f} ms:")
    print(f"  {tally.slowest[1]})")
    print(f"articles stored: {tally.stored}, duplicates: {tally.duplicates}")
    rejected = ", ".join(f"{reason} {count}" for reason, count in tally.rejected.most_common())
    print(f"files rejected with a reason: {sum(tally.rejected.values())} ({rejected or '-'})")
    print(f"unhandled exceptions: {len(tally.crashes)}")
    print(f"stored or posted markup or links that run: {len(tally.unsafe)}")
    print(f"(not a failure) articles whose text still holds HTML tags: {len(tally.tagged)}")
    for crash in tally.crashes[:10]:
        print("CRASH " + crash)
    for unsafe in tally.unsafe[:20]:
        print("UNSAFE " + unsafe)
    return 1 if tally.crashes or tally.unsafe or tally.files == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
