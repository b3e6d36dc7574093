"""The answers split and fold words exactly as the search index does. Otherwise /ask quotes the
wrong sentences (it checks in Python which question words a sentence holds) and misses split
compounds (it asks the index which words start with a folded part).

`python -m tests.test_index_folding` rewrites the tables in handlers/answers/data/ from the
tokenizer of a freshly migrated database."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from handlers.answers.folding import fold, index_words
from handlers.answers.words import words_of
from handlers.context import Ctx
from storage.models import NewArticle
from storage.search import Search
from storage.store import Store
from tests.conftest import Chat, add

TRICKY = [
    "Wärme Straße STRASSE ẞ Größe ÄPFEL Öl über",  # umlauts and ß, both cases
    "Café naïve façade Ångström Øresund Łódź São Paulo crème brûlée",  # accents
    "ﬁnance ﬂow ﬀ ﬃ ﬆ Œuvre Æon Ĳssel ǅemal",  # ligatures
    "ＡＺＵＲＥ ５Ｇ ｶﾀｶﾅ",  # fullwidth and halfwidth forms
    "iPhone McDonald's eBay ÜBERGRÖSSE mIxEd CaSe",  # mixed case
    "4.000 3,5 % 2028 v2.1 ½ ² CO₂ ① Ⅻ 10°C 5 km² 1st",  # digits and number forms
    "aren't don’t „Zitat“ «guillemets» (Klammer) [x] {y} #tag @name x_y a/b 24/7 – — … ·",
    "e-mail@example.com https://example.com/a?b=c&d=1 C++ C# .NET Node.js R&D",
    "KI-Modelle E-Autos Rhein-Main-Gebiet Halbleiter‑Fabrik",  # hyphenated compounds
    "🙂 ⚡ 👍🏽 Super🤩 Danke🙏 🇩🇪 ❤️ 🤖Roboter 👩‍💻",  # emoji, old and new, glued to words
    "日本語のテキスト データ 中文 한국어 ひらがな カタカナ",  # CJK, Hangul, kana with dakuten
    "İstanbul ΟΔΟΣ Ελληνικά ΐ Привет Ёлка Ґанок ſ µ",  # other scripts, final sigma
    "e\u0301cole q\u0303x \u0301x Az\u200bure soft\u00adhyphen tab\there",  # combining, invisible
]


@pytest.fixture
def search(ctx: Ctx) -> Search:
    return ctx.search


@pytest.mark.parametrize("text", TRICKY)
def test_our_words_are_the_index_words(search: Search, text: str) -> None:
    assert index_words(text) == search.index_words([text])[0]


@pytest.mark.parametrize("text", TRICKY)
def test_each_query_word_is_one_index_word_folded_as_the_index_folds_it(
    search: Search, text: str
) -> None:
    """A query word goes to the index as typed and is folded by its tokenizer there; the
    answers look for fold(word) in the words above, and ask the index for words starting with
    the folded part of a compound. Both are right only if they agree."""
    for word in words_of(text):
        assert search.index_words([word]) == [[fold(word)]], word
        assert fold(word.lower()) == fold(word), word


def test_every_code_point_is_split_and_folded_as_the_index_does(search: Search) -> None:
    # Each code point inside a word ("xcx"; at a word's start only diacritics differ, and
    # TRICKY has those), in texts of a few thousand code points: a table taken from another
    # SQLite, or a folding rule written by hand, fails here with the code points it gets wrong.
    # Planes 4 to 13 hold no character yet and 15 and 16 only private ones: a sample is enough.
    code_points = [
        cp
        for cp in range(1, 0x110000)
        if not 0xD800 <= cp <= 0xDFFF and (cp < 0x40000 or 0xE0000 <= cp < 0xF0000 or cp % 997 == 0)
    ]
    chunks = [code_points[at : at + 4096] for at in range(0, len(code_points), 4096)]
    texts = [" ".join(f"x{chr(cp)}x" for cp in chunk) for chunk in chunks]
    theirs = search.index_words(texts)
    for chunk, text, expected in zip(chunks, texts, theirs, strict=True):
        if index_words(text) != expected:
            wrong = [
                f"U+{cp:04X}"
                for cp in chunk
                if index_words(f"x{chr(cp)}x") != search.index_words([f"x{chr(cp)}x"])[0]
            ]
            pytest.fail(f"folded unlike the index: {', '.join(wrong[:20])}")


async def test_a_compound_is_found_by_parts_the_index_holds_with_their_marks(
    chat: Chat, ctx: Ctx
) -> None:
    # The parts of a long word are looked up among the index's words after folding: folded
    # unlike the index ("バッテリー" lost its dakuten and became "ハッテリー"), no part was
    # known and the search found nothing.
    found = add(
        ctx,
        NewArticle(
            title="電池工場",
            body="新工場: バッテリー・リサイクル、東京。",
            tags=("Energie",),
            language="de",
        ),
    )
    assert f"#{found} " in await chat.text("/search バッテリーリサイクル")


def write_tables(search: Search, folder: Path) -> None:
    """The index tokenizer's word characters and folding, as the tables folding.py loads."""
    code_points = [cp for cp in range(1, 0x110000) if not 0xD800 <= cp <= 0xDFFF]
    found = search.index_words([f"x{chr(cp)}x" for cp in code_points])
    word_chars: list[list[int]] = []
    folding: list[str] = []
    for cp, tokens in zip(code_points, found, strict=True):
        if len(tokens) != 1:
            continue  # a separator: "x", "x"
        folded = tokens[0][1:-1]
        if folded != chr(cp):
            folding.append(f"{cp:04X} {ord(folded):04X}" if folded else f"{cp:04X}")
        if not folded:
            continue  # a diacritic, dropped: it continues a word but starts none
        if word_chars and word_chars[-1][1] == cp - 1:
            word_chars[-1][1] = cp
        else:
            word_chars.append([cp, cp])
    source = "Generated by `python -m tests.test_index_folding` from SQLite's FTS5 tokenizer"
    (folder / "index_word_chars.txt").write_text(
        f"# Code points the search index counts as parts of words, as hex ranges.\n# {source}.\n"
        + "".join(f"{a:04X}..{b:04X}\n" if a != b else f"{a:04X}\n" for a, b in word_chars),
        encoding="utf-8",
    )
    (folder / "index_folding.txt").write_text(
        "# How the search index folds a code point: source, then target; a source alone is\n"
        f"# dropped (a diacritic inside a word).\n# {source}.\n"
        + "".join(f"{line}\n" for line in folding),
        encoding="utf-8",
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "tables.db")
        store.migrate()
        write_tables(
            Search(store), Path(__file__).resolve().parent.parent / "handlers/answers/data"
        )
        store.close()
    sys.exit(0)
