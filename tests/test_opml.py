"""OPML end to end on the command line: `newsbot feeds import` reports every entry as added,
skipped or refused, folders become tags, hostile files are refused whole; `newsbot feeds
export` writes what import reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import Newsbot

READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Meine Feeds</title></head>
  <body>
    <outline text="KI">
      <outline text="Firmen">
        <outline type="rss" text="xAI Blog" xmlUrl="https://x.example.com/feed.xml"/>
      </outline>
      <outline type="rss" text="KI News" xmlUrl="https://ki.example.org/rss"/>
    </outline>
    <outline type="rss" text="Ohne Ordner" xmlUrl="http://plain.example.net/atom"/>
    <outline type="rss" text="Datei" xmlUrl="file:///etc/passwd"/>
    <outline type="rss" text="Noch einmal" xmlUrl="https://ki.example.org/rss"/>
  </body>
</opml>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY a "lollollollollollollollollollol">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<opml version="2.0"><body><outline text="&d;" xmlUrl="https://evil.example.com/&d;"/></body></opml>
"""


@pytest.fixture
def newsbot(tmp_path: Path) -> Newsbot:
    return Newsbot(tmp_path)


def feeds(newsbot: Newsbot) -> list[tuple[str, list[str]]]:
    listed = json.loads(newsbot("feeds", "list", "--format", "json").stdout)
    return [(row["location"], row["tags"]) for row in listed]


def test_import_reports_each_entry_and_folders_become_tags(
    newsbot: Newsbot, tmp_path: Path
) -> None:
    newsbot("feeds", "add", "http://plain.example.net/atom")
    opml = tmp_path / "reader.opml"
    opml.write_text(READER_EXPORT, encoding="utf-8")
    out = newsbot("feeds", "import", str(opml)).stdout.splitlines()
    assert out == [
        "hinzugefügt #2: https://x.example.com/feed.xml (Tags: KI, Firmen)",
        "hinzugefügt #3: https://ki.example.org/rss (Tags: KI)",
        "übersprungen: http://plain.example.net/atom (schon bekannt als #1)",
        "abgelehnt: file:///etc/passwd (Nur Feed-Adressen mit http oder https lassen sich"
        " hinzufügen: file:///etc/passwd)",
        "übersprungen: https://ki.example.org/rss (schon bekannt als #3)",
        "2 hinzugefügt, 2 übersprungen, 1 abgelehnt.",
    ]
    assert feeds(newsbot) == [
        ("http://plain.example.net/atom", []),
        ("https://x.example.com/feed.xml", ["KI", "Firmen"]),
        ("https://ki.example.org/rss", ["KI"]),
    ]


def test_export_round_trips_through_import(newsbot: Newsbot, tmp_path: Path) -> None:
    newsbot("feeds", "add", "https://a.example.com/rss", "--tags", "KI + xAI")
    newsbot("feeds", "add", "https://b.example.com/rss")
    newsbot("feeds", "add", "https://c.example.com/rss", "--tags", "KI")
    newsbot("feeds", "add", str(tmp_path))  # a folder of this machine: not for other readers
    exported = newsbot("feeds", "export").stdout
    assert exported.startswith("<?xml") and "<opml" in exported
    assert str(tmp_path) not in exported
    (tmp_path / "feeds.opml").write_text(exported, encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fresh = Newsbot(elsewhere)
    out = fresh("feeds", "import", str(tmp_path / "feeds.opml")).stdout
    assert out.splitlines()[-1] == "3 hinzugefügt, 0 übersprungen, 0 abgelehnt."
    assert sorted(feeds(fresh)) == [
        ("https://a.example.com/rss", ["KI", "xAI"]),
        ("https://b.example.com/rss", []),
        ("https://c.example.com/rss", ["KI"]),
    ]


def test_hostile_or_broken_files_are_refused_whole(newsbot: Newsbot, tmp_path: Path) -> None:
    cases = {
        "bomb.opml": (BILLION_LAUGHS.encode(), "deklariert eine DTD oder Entitäten"),
        "huge.opml": (b"<opml><body>" + b" " * 1_100_000 + b"</body></opml>", "größer als"),
        "text.opml": (b"just some text, no markup", "kein XML"),
        "rss.opml": (b"<rss><channel/></rss>", "kein OPML"),
    }
    for name, (data, said) in cases.items():
        (tmp_path / name).write_bytes(data)
        proc = newsbot("feeds", "import", str(tmp_path / name), check=False)
        assert proc.returncode == 1, name
        assert said in proc.stdout and proc.stdout.count("\n") == 1, (name, proc.stdout)
        assert "Traceback" not in proc.stderr + proc.stdout
    missing = newsbot("feeds", "import", str(tmp_path / "nope.opml"), check=False)
    assert missing.returncode == 1
    # All of it in the CLI's language, the system's reason too (it was "No such file...").
    assert missing.stdout.endswith("nope.opml lässt sich nicht lesen: es gibt sie nicht\n")
    folder = newsbot("feeds", "import", str(tmp_path), check=False)
    assert folder.returncode == 1 and folder.stdout.endswith(": es ist ein Ordner\n")
    assert feeds(newsbot) == []


def test_import_and_export_speak_english_too(tmp_path: Path) -> None:
    english = Newsbot(tmp_path, language="en")
    (tmp_path / "f.opml").write_text(READER_EXPORT, encoding="utf-8")
    out = english("feeds", "import", str(tmp_path / "f.opml")).stdout
    assert out.splitlines()[-1] == "3 added, 1 skipped, 1 refused."
    assert "<title>newsbot feeds</title>" in english("feeds", "export").stdout


def test_the_terminal_chat_imports_a_file_by_its_path(newsbot: Newsbot, tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(READER_EXPORT, encoding="utf-8")
    out = newsbot("chat", stdin=f"/feeds import {opml}\n/feeds import\n").stdout
    assert "hinzugefügt #2: https://ki.example.org/rss (Tags: KI)" in out
    assert "3 hinzugefügt, 1 übersprungen, 1 abgelehnt." in out
    assert "Schick die OPML-Datei mit /feeds import" in out
    assert len(feeds(newsbot)) == 3
