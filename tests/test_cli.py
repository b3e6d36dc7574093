"""The command line end to end, as a person runs it: real processes, a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample_de.txt"


class Newsbot:
    def __init__(self, tmp_path: Path, language: str | None = "de", **env: str) -> None:
        """newsbot in `tmp_path` (its newsbot.toml, when there is one), speaking `language`
        (NEWSBOT_LANGUAGE; None: unset, so the CLI speaks English and chats German)."""
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")} | {
            "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
            "NEWSBOT_DEMO": "false",
            **({"NEWSBOT_LANGUAGE": language} if language else {}),
            **env,
        }
        self.cwd = tmp_path

    def __call__(
        self, *args: str, stdin: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )
        if check:
            assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc


@pytest.fixture
def newsbot(tmp_path: Path) -> Newsbot:
    return Newsbot(tmp_path)


def test_the_done_when_script(newsbot: Newsbot) -> None:
    ingest = newsbot("ingest", str(SAMPLE))
    assert "1 neu, 0 Duplikate, 0 abgelehnt" in ingest.stdout

    chat = newsbot("chat", stdin="/subscribe xAI\n")
    out = chat.stdout
    assert "Abonniert: xAI." in out
    assert "#Microsoft #xAI #OpenAI" in out
    assert "Wie bewerten Sie den Schreibstil des Artikels?" in out
    for label in (
        "Sehr gut · 0",
        "Gut · 0",
        "Befriedigend · 0",
        "Ausreichend · 0",
        "Mangelhaft · 0",
    ):
        assert f"[{label}]" in out
    assert "/vote 1 1" in out and "/vote 1 5" in out

    assert "Deine Stimme: Gut" in newsbot("chat", "--user", "alice", stdin="/vote 1 2\n").stdout
    assert "Deine Stimme: Sehr gut" in newsbot("chat", "--user", "bob", stdin="/vote 1 1\n").stdout
    moved = newsbot("chat", "--user", "alice", stdin="/vote 1 1\n/results 1\n").stdout
    assert "Stimme geändert: Sehr gut" in moved
    assert "Stimmen insgesamt: 2" in moved
    exported = json.loads(newsbot("export", "results", "--format", "json").stdout)
    assert [(r["label"], r["votes"]) for r in exported][:2] == [("Sehr gut", 2), ("Gut", 0)]
    assert exported[0]["question"] == "Wie bewerten Sie den Schreibstil des Artikels?"
    assert exported[0]["mean"] == 5.0 and exported[0]["total"] == 2

    back = newsbot("chat", "--user", "bob", stdin="/vote 1 1\n/results 1\n").stdout
    assert "Stimme zurückgenommen" in back and "Stimmen insgesamt: 1" in back

    again = newsbot("ingest", str(SAMPLE))
    assert "0 neu, 1 Duplikat" in again.stdout
    csv_out = newsbot("export", "results", "--article", "1").stdout.splitlines()
    assert csv_out[0] == "article,title,question,option,label,score,votes,total,mean"
    assert len(csv_out) == 6


def test_a_chat_sees_the_counts_change_after_its_vote(newsbot: Newsbot) -> None:
    newsbot("ingest", str(SAMPLE))
    out = newsbot("chat", stdin="/subscribe xai\n/vote 1 3\n").stdout
    assert "↻ #1" in out and "Befriedigend · 1" in out


def test_ingest_reports_rejections_and_keeps_going(newsbot: Newsbot, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    proc = newsbot("ingest", str(tmp_path / "empty.txt"), str(tmp_path / "binary.txt"), str(SAMPLE))
    assert (
        "abgelehnt: " in proc.stdout and "leer" in proc.stdout and "kein UTF-8-Text" in proc.stdout
    )
    assert "1 neu, 0 Duplikate, 2 abgelehnt" in proc.stdout
    only_bad = newsbot("ingest", str(tmp_path / "empty.txt"), check=False)
    assert only_bad.returncode == 1


def test_feeds_add_list_remove_and_the_scheduler_picks_them_up(
    newsbot: Newsbot, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert "Quelle 1 hinzugefügt" in newsbot("feeds", "add", str(folder), "--tags", "Cloud").stdout
    listing = newsbot("feeds", "list").stdout.splitlines()
    assert listing[0].split("\t")[:5] == ["id", "state", "kind", "location", "tags"]
    assert listing[1].split("\t")[:5] == ["1", "active", "path", str(folder), "Cloud"]
    (listed,) = json.loads(newsbot("feeds", "list", "--format", "json").stdout)
    assert (listed["id"], listed["location"], listed["tags"]) == (1, str(folder), ["Cloud"])
    out = newsbot("chat", stdin="/subscribe Cloud\n/tags\n").stdout
    assert "#Microsoft #xAI #OpenAI #Cloud" in out
    assert "Quelle 1 entfernt" in newsbot("feeds", "remove", "1").stdout
    assert newsbot("feeds", "remove", "1", check=False).returncode == 1


def test_an_invalid_setting_is_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    bad = Newsbot(tmp_path, NEWSBOT_LANGUAGE="fr", NEWSBOT_TELEGRAM_TOKEN="123:SECRET")
    proc = bad("db", "stats", check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "NEWSBOT_LANGUAGE" in proc.stderr
    assert "Traceback" not in proc.stderr and "SECRET" not in proc.stderr


def test_settings_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "newsbot.toml").write_text('language = "en"\n', encoding="utf-8")
    bot = Newsbot(tmp_path, language=None)
    assert "Unknown command /nope" in bot("chat", stdin="/nope\n").stdout


def test_db_commands(newsbot: Newsbot, tmp_path: Path) -> None:
    assert "Migrationen angewendet" in newsbot("db", "migrate").stdout
    newsbot("ingest", str(SAMPLE))
    assert "articles\t1" in newsbot("db", "stats").stdout
    newsbot("db", "backup", str(tmp_path / "b.db"))
    assert (tmp_path / "b.db").stat().st_size > 0


def test_demo_articles_arrive_in_the_terminal(tmp_path: Path) -> None:
    demo = Newsbot(tmp_path, NEWSBOT_DEMO="true")
    out = demo("chat", stdin="/subscriptions\n").stdout
    assert "alle Artikel" in out  # the terminal is subscribed to everything
    assert "Wie bewerten Sie den Schreibstil des Artikels?" in out
    assert "/vote 1 1" in out


def test_help_of_the_command_line(newsbot: Newsbot) -> None:
    out = newsbot("--help").stdout
    for word in ("run", "chat", "ingest", "feeds", "export", "db"):
        assert word in out


def test_moderation_in_the_terminal_and_the_audit_export(newsbot: Newsbot) -> None:
    newsbot("ingest", str(SAMPLE))
    newsbot("chat", "--user", "mallory", stdin="/vote 1 1\n")
    out = newsbot("chat", stdin="/ban @mallory Spam\n/results 1\n").stdout
    assert "@mallory ist jetzt überall gesperrt" in out and "Stimmen insgesamt: 0" in out
    refused = newsbot("chat", "--user", "mallory", stdin="/vote 1 2\n/ban @owner\n").stdout
    assert refused.count("Du bist gesperrt.") == 2
    denied = newsbot("chat", "--user", "eve", stdin="/remove 1\n").stdout
    assert "Bot-Admin-Rechte" in denied
    rows = json.loads(newsbot("export", "audit", "--format", "json").stdout)
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows] == [
        ("console:owner", "ban", "scope=*"),
        ("console:eve", "remove", "refused"),
    ]
    assert rows[0]["target"] == "console:mallory" and rows[0]["reason"] == "Spam"


def test_a_terminal_name_with_invisible_characters_can_be_moderated(newsbot: Newsbot) -> None:
    """`--user` is cleaned as every name is: 'tro<zero-width space>ll<bell>' is @troll."""
    newsbot("ingest", str(SAMPLE))
    hidden = "tro\u200bll\u0007"
    assert "Deine Stimme: Sehr gut" in newsbot("chat", "--user", hidden, stdin="/vote 1 1\n").stdout
    out = newsbot("chat", stdin="/ban @troll Spam\n/results 1\n").stdout
    assert "@troll ist jetzt überall gesperrt" in out and "Stimmen insgesamt: 0" in out
    assert "Du bist gesperrt." in newsbot("chat", "--user", hidden, stdin="/vote 1 2\n").stdout
    assert "Du bist gesperrt." in newsbot("chat", "--user", "troll", stdin="/vote 1 2\n").stdout
    rows = json.loads(newsbot("export", "audit", "--format", "json").stdout)
    assert rows[0]["target"] == "console:troll"

    invisible = newsbot("chat", "--user", "\u200b\u202e\u0007", check=False)
    assert invisible.returncode == 2
    assert invisible.stderr == "--user braucht einen Namen aus sichtbaren Zeichen.\n"
    # The terminal's own person is named the same way, so that `--user` reaches that owner.
    owned = Newsbot(newsbot.cwd, NEWSBOT_CONSOLE_USER="bo\u200bss")
    owned("chat", "--user", "boss", stdin="/unban @troll\n")
    rows = json.loads(owned("export", "audit", "--format", "json").stdout)
    assert (rows[-1]["actor"], rows[-1]["action"], rows[-1]["target"]) == (
        "console:boss",
        "unban",
        "console:troll",
    )


def test_a_platform_that_cannot_start_is_one_line_without_the_token(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = Newsbot(
        tmp_path,
        NEWSBOT_TELEGRAM_TOKEN="123456:SECRET-TOKEN",
        NEWSBOT_TELEGRAM_API_URL=f"http://127.0.0.1:{port}",
    )
    proc = bot("run", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Telegram konnte nicht starten")
    assert "Traceback" not in proc.stderr and "SECRET" not in proc.stderr + proc.stdout
