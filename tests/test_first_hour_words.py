"""Answers a newcomer meets in the first hour say what is really wrong, in the language of the
surface, with counts as that language writes them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from handlers.i18n import t, tn
from tests.conftest import Chat
from tests.test_first_hour import run as run_cli


@pytest.mark.parametrize(
    ("address", "english"),
    [
        ("https://", "names no host"),
        ("http://example.org:99999/feed", "port of this address is not a number"),
        ("ftp://example.org/feed", "Only http and https"),
    ],
)
async def test_a_feed_address_that_cannot_work_is_refused_for_what_is_wrong_with_it(
    chat: Chat, address: str, english: str
) -> None:
    await chat.text("/lang en", user="owner")
    answer = await chat.text(f"/feeds add {address}", user="owner")
    assert english in answer
    assert chat.ctx.store.feeds() == []


def run(tmp_path: Path, *args: str, language: str) -> subprocess.CompletedProcess[str]:
    return run_cli(tmp_path, list(args), {"NEWSBOT_LANGUAGE": language})


def test_the_cli_says_what_a_feed_address_lacks(tmp_path: Path) -> None:
    proc = run(tmp_path, "feeds", "add", "https://", language="de")
    assert proc.returncode == 2
    assert proc.stdout + proc.stderr == "Diese Adresse nennt keinen Rechner" + (
        " (etwa https://example.org/feed.xml): https://\n"
    )


def test_refused_files_say_the_limit_and_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "latin.txt").write_bytes("Titel: Ärger\n\nText über Ärger.\n".encode("latin-1"))
    (folder / "big.txt").write_bytes(b"a" * 1_200_000)
    (folder / "good.txt").write_text("Titel: Gut\n\nEin Text über xAI.\n", encoding="utf-8")
    proc = run(tmp_path, "ingest", str(folder), language="en")
    assert proc.returncode == 0
    assert "latin.txt: not UTF-8 text (save it as UTF-8)" in proc.stdout
    assert "big.txt: too large (text files up to 1 MB" in proc.stdout
    # One duplicate is "1 duplicate"; the summary groups the reasons without their hints.
    assert proc.stdout.endswith(
        "3 files: 1 new, 0 duplicates, 2 rejected (not UTF-8 text: 1; too large: 1)\n"
    ) or proc.stdout.endswith(
        "3 files: 1 new, 0 duplicates, 2 rejected (too large: 1; not UTF-8 text: 1)\n"
    )
    again = run(tmp_path, "ingest", str(folder / "good.txt"), language="de")
    assert again.stdout == "1 Datei: 0 neu, 1 Duplikat, 0 abgelehnt\n"


def test_large_counts_are_grouped_as_each_language_writes_them() -> None:
    assert tn("cli.ingest.files", 1850, "en") == "1,850 files"
    assert tn("cli.ingest.files", 1850, "de") == "1.850 Dateien"
    assert t("cli.ingest.reason", "de", reason="x", number=3) == "x: 3"


async def test_a_german_chat_reads_german_placeholders_in_usage_lines(chat: Chat) -> None:
    assert "/mute @Name" in await chat.text("/mute", user="owner")
    assert "/mute @Name 10m|2h|1d [GRUND]" in await chat.text("/mute @owner", user="owner")
    await chat.text("/lang en", user="owner")
    assert "/mute @name 10m|2h|1d [reason]" in await chat.text("/mute @owner", user="owner")
