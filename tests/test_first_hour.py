"""The first hour of a new user (issue 13): bad command-line arguments, settings, files and
chat commands, each run as a person runs it. None shows a traceback; each ends with its
documented exit code (0 done, 1 nothing could be done, 2 wrong usage or setting), answers in
the configured language, and leaves the store as it was."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from storage.store import Store

SAMPLE = Path(__file__).parent / "data" / "sample_de.txt"
TAGS_21 = " ".join(f"tag{n}" for n in range(21))


@dataclass(frozen=True)
class Bad:
    """One bad input: `args` to newsbot (PLACE stands for a folder of files made for the
    test), extra settings, what the terminal chat is fed, the exit code, and a fragment of
    the answer in each language."""

    name: str
    args: tuple[str, ...]
    code: int
    en: str
    de: str
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""
    # Settings errors are found before the language is known when the language is what is
    # wrong: that one answers in English.
    languages: tuple[str, ...] = ("en", "de")


def chat(name: str, line: str, en: str, de: str) -> Bad:
    # The terminal chat did its job (it answered), so it exits 0.
    return Bad(name, ("chat",), 0, en, de, stdin=line + "\n")


BAD_INPUTS = [
    # -- arguments ---------------------------------------------------------------------
    Bad("unknown command", ("bogus",), 2, "takes run, chat", "nimmt run, chat"),
    Bad("unknown option", ("--nope",), 2, "unknown arguments: --nope", "unbekannte Angaben"),
    Bad("extra argument", ("run", "extra"), 2, "unknown arguments: extra", "unbekannte Angaben"),
    Bad("unknown db action", ("db", "frobnicate"), 2, "not frobnicate", "nicht frobnicate"),
    Bad("feeds add without source", ("feeds", "add"), 2, "missing: URL|PATH", "es fehlt"),
    Bad("ingest without path", ("ingest",), 2, "missing: PATH", "es fehlt: PFAD"),
    Bad("feed number not a number", ("feeds", "remove", "abc"), 2, "Not a valid", "Keine gültige"),
    Bad("unknown feed number", ("feeds", "remove", "99"), 1, "No source 99", "Keine Quelle 99"),
    Bad("fetch a negative number", ("feeds", "fetch", "-1"), 2, "Not a valid", "Keine gültige"),
    Bad("feed URL without host", ("feeds", "add", "https://"), 2, "no host", "keinen Rechner"),
    Bad("feed path missing", ("feeds", "add", "/nope/here"), 2, "not found", "nicht gefunden"),
    Bad(
        "interval not a duration",
        ("feeds", "add", "https://example.org/f.xml", "--interval", "3x"),
        2,
        "not a duration",
        "keine Dauer",
    ),
    Bad(
        "interval too short",
        ("feeds", "add", "https://example.org/f.xml", "--interval", "1s"),
        2,
        "not a duration",
        "keine Dauer",
    ),
    Bad("export format", ("export", "results", "--format", "xml"), 2, "not xml", "nicht xml"),
    Bad("export article text", ("export", "results", "--article", "x"), 2, "Not a", "Keine"),
    Bad(
        "export unknown article",
        ("export", "results", "--article", "999"),
        1,
        "no article #999",
        "Artikel #999 gibt es",
    ),
    Bad(
        "export article beyond 64 bits",
        ("export", "results", "--article", "9" * 30),
        2,
        "Not a valid",
        "Keine gültige",
    ),
    Bad("backup without path", ("db", "backup"), 2, "missing", "es fehlt"),
    Bad("backup to an empty name", ("db", "backup", ""), 2, "needs a file name", "Dateinamen"),
    Bad("backup to a folder", ("db", "backup", "PLACE"), 2, "is a folder", "ist ein Ordner"),
    Bad(
        "backup over a file",
        ("db", "backup", "PLACE/exists.db"),
        2,
        "exists already",
        "gibt es schon",
    ),
    Bad(
        "backup into a missing folder",
        ("db", "backup", "PLACE/missing/b.db"),
        2,
        "does not exist",
        "gibt es nicht",
    ),
    Bad("backup unwritable", ("db", "backup", "/proc/newsbot.db"), 1, "Cannot write", "lässt sich"),
    Bad(
        "copy a bad location", ("db", "copy", "ftp://x", "PLACE/t.db"), 2, "Cannot copy", "Kopieren"
    ),
    Bad("chat as nobody", ("chat", "--user", ""), 2, "--user needs", "--user braucht"),
    Bad("chat without a name", ("chat", "--user"), 2, "--user needs a value", "braucht einen"),
    # -- settings ----------------------------------------------------------------------
    Bad(
        "language fr",
        ("db", "stats"),
        2,
        "NEWSBOT_LANGUAGE must be de or en, not fr",
        "",
        env={"NEWSBOT_LANGUAGE": "fr"},
        languages=("en",),
    ),
    Bad(
        "config file missing",
        ("db", "stats"),
        2,
        "no such file",
        "gibt es nicht",
        env={"NEWSBOT_CONFIG": "/nope.toml"},
    ),
    Bad(
        "config file broken",
        ("db", "stats"),
        2,
        "cannot be read",
        "nicht lesbar",
        env={"NEWSBOT_CONFIG": "PLACE/broken.toml"},
    ),
    Bad(
        "LLM URL without model",
        ("db", "stats"),
        2,
        "NEWSBOT_LLM_MODEL is needed",
        "NEWSBOT_LLM_MODEL ist nötig",
        env={"NEWSBOT_LLM_URL": "http://127.0.0.1:9/v1"},
    ),
    Bad(
        "backlog",
        ("db", "stats"),
        2,
        "NEWSBOT_BACKLOG",
        "NEWSBOT_BACKLOG",
        env={"NEWSBOT_BACKLOG": "x"},
    ),
    Bad(
        "log level",
        ("db", "stats"),
        2,
        "NEWSBOT_LOG_LEVEL",
        "NEWSBOT_LOG_LEVEL",
        env={"NEWSBOT_LOG_LEVEL": "loud"},
    ),
    Bad(
        "demo interval",
        ("db", "stats"),
        2,
        "NEWSBOT_DEMO_INTERVAL",
        "NEWSBOT_DEMO_INTERVAL",
        env={"NEWSBOT_DEMO_INTERVAL": "-1"},
    ),
    Bad(
        "db a bad URL",
        ("db", "stats"),
        2,
        "NEWSBOT_DB",
        "NEWSBOT_DB",
        env={"NEWSBOT_DB": "ftp://x"},
    ),
    Bad(
        "db at a folder",
        ("feeds", "list"),
        1,
        "cannot be opened",
        "lässt sich nicht öffnen",
        env={"NEWSBOT_DB": "PLACE"},
    ),
    Bad(
        "db not SQLite",
        ("feeds", "list"),
        1,
        "not an SQLite",
        "keine SQLite-Datei",
        env={"NEWSBOT_DB": "PLACE/exists.db"},
    ),
    Bad(
        "db unwritable",
        ("ingest", str(SAMPLE)),
        1,
        "cannot be opened",
        "lässt sich nicht öffnen",
        env={"NEWSBOT_DB": "/proc/newsbot.db"},
    ),
    Bad(
        "db from a newer newsbot",
        ("export", "results"),
        1,
        "from a newer newsbot",
        "eines neueren newsbot",
        env={"NEWSBOT_DB": "PLACE/newer.db"},
    ),
    # -- files -------------------------------------------------------------------------
    Bad("ingest a missing file", ("ingest", "PLACE/nope.txt"), 1, "not found", "nicht gefunden"),
    Bad("ingest an empty file", ("ingest", "PLACE/empty.txt"), 1, "empty", "leer"),
    Bad("ingest a binary file", ("ingest", "PLACE/binary.txt"), 1, "not UTF-8", "kein UTF-8"),
    Bad("ingest a JSON object", ("ingest", "PLACE/object.json"), 1, "expected:", "erwartet:"),
    Bad("ingest a DOCTYPE", ("ingest", "PLACE/doctype.xml"), 1, "DOCTYPE", "DOCTYPE"),
    Bad("ingest a huge file", ("ingest", "PLACE/huge.txt"), 1, "too large", "zu groß"),
    # -- the terminal chat -------------------------------------------------------------
    chat("vote on no article", "/vote 999 1", "no article #999", "Artikel #999 gibt es"),
    chat("vote for no option", "/vote 1 9", "Choose a number", "Wähle eine Zahl"),
    chat("pause a source by name", "/feeds pause abc", "source number", "Quellennummer"),
    chat("negative audit count", "/audit -5", "number of entries", "Anzahl von Einträgen"),
    chat("subscribe an emoji", "/subscribe 🚀", "not a valid tag", "kein gültiges"),
    chat("add a feed without host", "/feeds add https://", "names no host", "nennt keinen Rechner"),
    chat("unknown chat command", "/nonsense", "Unknown command /nonsense", "Unbekannter Befehl"),
    chat("unknown language", "/lang fr", "I don't know “fr”", "„fr“ kenne ich nicht"),
    chat("results of a word", "/results abc", "not an article number", "keine Artikelnummer"),
    chat("mute a stranger", "/mute @ghost 10m", "nobody of that name", "niemand dieses"),
    chat("admin without @", "/admin add bob", "does not name a person", "keine Person"),
    chat("too many tags", f"/subscribe {TAGS_21}", "at most 20", "höchstens 20"),
]


def test_the_list_is_long_enough() -> None:
    assert len(BAD_INPUTS) >= 40
    assert len({bad.name for bad in BAD_INPUTS}) == len(BAD_INPUTS)


def dump(db: Path) -> list[str]:
    """Everything the store holds, as SQL."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the sample article, a person who has chatted, and the files the cases
    name (PLACE)."""
    place = tmp_path_factory.mktemp("first_hour")
    run(place, ["ingest", str(SAMPLE)], {})
    run(place, ["chat"], {}, stdin="/subscriptions\n")
    (place / "exists.db").write_text("not a database\n", encoding="utf-8")
    (place / "broken.toml").write_text("language = \n", encoding="utf-8")
    (place / "empty.txt").write_bytes(b"")
    (place / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (place / "object.json").write_text('{"items": [1]}', encoding="utf-8")
    (place / "doctype.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><rss><channel/></rss>',
        encoding="utf-8",
    )
    (place / "huge.txt").write_bytes(b"word " * 1_100_000)
    newer = place / "newer.db"
    shutil.copy(place / "newsbot.db", newer)
    store = Store(newer)
    store.db.conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('newsbot', 'm999_from_the_future', '2030-01-01')"
    )
    store.close()
    return place


def run(
    place: Path, args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    environ |= {
        "NEWSBOT_DB": str(place / "newsbot.db"),
        "NEWSBOT_CONFIG": "",
        "NEWSBOT_DEMO": "false",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        cwd=place,
        timeout=60,
        check=False,
    )


def placed(text: str, place: Path) -> str:
    return text.replace("PLACE", str(place))


# Each bad input in each language it can be answered in (a wrong NEWSBOT_LANGUAGE is
# answered before any language is known: in English only).
CASES = [
    pytest.param(bad, language, id=f"{bad.name}-{language}")
    for bad in BAD_INPUTS
    for language in ("en", "de")
    if language in bad.languages
]


@pytest.mark.parametrize(("bad", "language"), CASES)
def test_a_bad_input_is_one_answer_in_the_language_with_its_exit_code(
    prepared: Path, bad: Bad, language: str
) -> None:
    before = dump(prepared / "newsbot.db")
    env = {"NEWSBOT_LANGUAGE": language} | {k: placed(v, prepared) for k, v in bad.env.items()}
    proc = run(prepared, [placed(a, prepared) for a in bad.args], env, stdin=bad.stdin)
    said = proc.stdout + proc.stderr
    assert "Traceback" not in said, said
    assert proc.returncode == bad.code, said
    assert (bad.en if language == "en" else bad.de) in said, said
    assert dump(prepared / "newsbot.db") == before


# -- one at a time: what the list cannot show ------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("language", "line"),
    [("en", "Discord could not start"), ("de", "Discord konnte nicht starten")],
)
def test_discord_without_a_network_is_one_line(tmp_path: Path, language: str, line: str) -> None:
    """discord.py pointed at a closed port on 127.0.0.1, through the chaos suite's launcher,
    which refuses any other address."""
    port = closed_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")} | {
        "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
        "NEWSBOT_CONFIG": "",
        "NEWSBOT_DEMO": "false",
        "NEWSBOT_LANGUAGE": language,
        "NEWSBOT_DISCORD_TOKEN": "bogus",
        "CHAOS_DISCORD_API": f"http://127.0.0.1:{port}/api/v10",
        "CHAOS_DISCORD_GATEWAY": f"ws://127.0.0.1:{port}/",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.chaos.launch", "run"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=Path(__file__).parent.parent,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(line) and proc.stderr.count("\n") == 1, proc.stderr
    assert "bogus" not in proc.stderr + proc.stdout


def test_a_reader_that_goes_away_ends_the_export_quietly(prepared: Path) -> None:
    """`newsbot export results --format json | head -3`: the reader closes the pipe."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    environ |= {"NEWSBOT_DB": str(prepared / "newsbot.db"), "NEWSBOT_CONFIG": ""}
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "export", "results", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=prepared,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # nobody reads: the first write finds the pipe closed
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0
    assert err == ""


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.txt").write_text(f"Title: Artikel {n}\n\nText {n} hier.\n", "utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    environ |= {"NEWSBOT_DB": str(tmp_path / "a.db"), "NEWSBOT_CONFIG": "", "TERM": "xterm"}
    b_db = tmp_path / "b.db"
    piped = run(tmp_path, ["ingest", str(folder)], {"NEWSBOT_DB": str(tmp_path / "a.db")})
    assert piped.stderr == ""
    assert piped.stdout == "3 files: 3 new, 0 duplicates, 0 rejected\n"

    proc, shown = on_a_terminal(["ingest", str(folder)], environ | {"NEWSBOT_DB": str(b_db)})
    assert proc.returncode == 0
    assert proc.stdout == b"3 files: 3 new, 0 duplicates, 0 rejected\n"
    assert b"files:" in shown and b"/3 " in shown  # a bar of 3 files, on the terminal

    # Copying a store: a bar over all its rows; the rows per table and the sum on stdout.
    copy_args = ["db", "copy", str(b_db), str(tmp_path / "c.db")]
    proc, shown = on_a_terminal(copy_args, environ)
    assert proc.returncode == 0, proc.stdout
    assert b"Copying:" in shown
    assert proc.stdout.startswith(b"articles\t3\n") or b"\narticles\t3\n" in proc.stdout

    # Fetching sources: a bar over the sources, then one line each and the sum.
    env_b = environ | {"NEWSBOT_DB": str(b_db)}
    assert run(tmp_path, ["feeds", "add", str(folder)], env_b).returncode == 0
    proc, shown = on_a_terminal(["feeds", "fetch"], env_b)
    assert proc.returncode == 0
    assert b"Fetching sources:" in shown and b"/1 " in shown
    assert proc.stdout.decode().endswith("1 source: 1 read (0 new, 3 known)\n")


def on_a_terminal(
    args: list[str], environ: dict[str, str]
) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    """`newsbot ARGS` with stderr on a terminal (a pty) and stdout piped; what the terminal
    showed."""
    import pty

    main, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=environ,
            timeout=60,
            check=False,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    return proc, shown


def test_the_cli_speaks_english_unless_told_otherwise(tmp_path: Path) -> None:
    english = run(tmp_path, ["ingest", str(SAMPLE)], {})
    assert english.stdout == "1 file: 1 new, 0 duplicates, 0 rejected\n"
    german = run(tmp_path, ["ingest", str(SAMPLE)], {"NEWSBOT_LANGUAGE": "de"})
    assert german.stdout == "1 Datei: 0 neu, 1 Duplikat, 0 abgelehnt\n"
    assert "options:" in run(tmp_path, ["feeds", "add", "--help"], {}).stdout
    help_de = run(tmp_path, ["feeds", "add", "--help"], {"NEWSBOT_LANGUAGE": "de"}).stdout
    assert "Optionen:" in help_de and "Beispiel:" in help_de and "Standard:" in help_de
    # The terminal chat speaks the chat's language: German unless set (README).
    assert "Unbekannter Befehl" in run(tmp_path, ["chat"], {}, stdin="/nonsense\n").stdout


def test_cli_basics(tmp_path: Path) -> None:
    version = run(tmp_path, ["--version"], {})
    assert version.returncode == 0 and version.stdout.startswith("newsbot ")
    bare = run(tmp_path, [], {})
    assert bare.returncode == 0 and bare.stdout.startswith("usage: newsbot")
    assert "feeds" in bare.stdout and not (tmp_path / "newsbot.db").exists()
    commands = [
        ["run"], ["chat"], ["ingest"], ["feeds"], ["feeds", "add"], ["feeds", "list"],
        ["feeds", "remove"], ["feeds", "fetch"], ["export"], ["export", "results"],
        ["export", "audit"], ["db"], ["db", "migrate"], ["db", "backup"], ["db", "stats"],
        ["db", "copy"],
    ]  # fmt: skip
    for command in commands:
        shown = run(tmp_path, [*command, "--help"], {})
        assert shown.returncode == 0, command
        # A description, and an example that runs this very command.
        assert "\nexample:\n  " in shown.stdout, command
        example = shown.stdout.split("\nexample:\n  ")[1]
        assert " ".join(["newsbot", *command]) in example or command[-1] in example, command
    for with_defaults in (["feeds", "add"], ["export", "results"], ["db", "backup"]):
        assert "(default:" in run(tmp_path, [*with_defaults, "--help"], {}).stdout
