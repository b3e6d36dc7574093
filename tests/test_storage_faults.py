"""A database file that cannot be used is one clear line and exit code 1, never a traceback,
and what was committed stays intact: many first starts at once, a schema from a newer
newsbot, a file that is not SQLite, a read-only file or mount, a full disk. Real processes."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from storage.connection import known_migrations
from storage.models import UserRef
from storage.store import Store
from tests.newsbot_process import NewsbotProcess, base_env

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample_de.txt"
INJECTION = Path(__file__).parent / "fault_injection"


def newsbot(
    tmp_path: Path,
    *args: str,
    stdin: str = "",
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env or base_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single line a failed command wrote, after checking it failed with exit code 1."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.returncode == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


# -- migrations: many first starts at once, and a schema from a newer newsbot ----------------


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (or has ended already)."""
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return True


async def test_sixteen_first_starts_at_once_all_succeed(tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    # A new, empty database whose write lock the test holds until every process has opened
    # it: they all look at the schema (readers are not blocked in WAL mode), then go for the
    # migrations at the same moment.
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")
    starts = [
        await NewsbotProcess.start(base_env(tmp_path), "db", "migrate", cwd=tmp_path)
        for _ in range(16)
    ]
    try:
        if os.path.isdir("/proc/self/fd"):  # noqa: ASYNC240 (a quick local check)
            # Bounded below their 10 s busy timeout; on a slow machine fewer start together.
            deadline = asyncio.get_running_loop().time() + 7
            while asyncio.get_running_loop().time() < deadline:
                if all(holds_open(s.proc.pid, db) for s in starts):
                    break
                # No event tells that another process opened a file: look again shortly.
                await asyncio.sleep(0.05)
        holder.execute("ROLLBACK")
        results = await asyncio.gather(*(s.finished(within=60) for s in starts))
    finally:
        holder.close()
        for start in starts:
            await start.ensure_stopped()
    for done in results:
        assert (done.code, done.err) == (0, "")
    # One of them applied every migration; the others found nothing left to do.
    applied = sorted(done.out.split(": ")[1].split()[0] for done in results)
    assert applied == ["0"] * 15 + [str(len(known_migrations()))]
    store = Store(db)
    try:
        assert store.pending_migrations() == []
    finally:
        store.close()


def test_a_database_from_a_newer_newsbot_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    store = Store(db)
    store.migrate()
    # What a newer newsbot would have left: a migration this code does not know.
    store.db.conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('newsbot', 'm042_from_the_future', '2030-01-01')"
    )
    store.close()
    before = count(db, "SELECT count(*) FROM _sqlite_migrations")
    newest = known_migrations()[-1]
    for args in (
        ["db", "stats"],
        ["db", "migrate"],
        ["export", "results"],
        ["ingest", str(SAMPLE)],
    ):
        line = one_line(newsbot(tmp_path, *args), "m042_from_the_future", newest)
        assert "neueren newsbot" in line
    english = newsbot(tmp_path, "chat", stdin="/help\n", env=base_env(tmp_path, language="en"))
    assert "from a newer newsbot" in one_line(english, "m042_from_the_future", newest)
    assert count(db, "SELECT count(*) FROM _sqlite_migrations") == before
    assert count(db, "SELECT count(*) FROM articles") == 0


# -- a file that is not SQLite ----------------------------------------------------------------

EVERY_COMMAND = [
    ["db", "stats"],
    ["db", "migrate"],
    ["db", "backup", "copy.db"],
    ["export", "results"],
    ["export", "audit"],
    ["feeds", "list"],
    ["feeds", "add", str(DATA)],
    ["ingest", str(SAMPLE)],
    ["chat"],
    ["run"],
]


def test_a_file_that_is_not_sqlite_is_one_line_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    db.write_text("Einkaufsliste: Milch, Brot, Käse\n" * 40, encoding="utf-8")
    before = digest(db)
    for args in EVERY_COMMAND:
        one_line(newsbot(tmp_path, *args, stdin="/help\n"), str(db), "keine SQLite-Datei")
    english = newsbot(tmp_path, "db", "stats", env=base_env(tmp_path, language="en"))
    one_line(english, "not an SQLite file")
    assert digest(db) == before
    assert not (tmp_path / "copy.db").exists()


# -- a read-only database -----------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A database with one article in a folder that cannot be written, and the command prefix
    that runs newsbot so. Not as root: the file and folder lose their write permission. As
    root, which may write anyway: a read-only bind mount in a user namespace."""
    folder = tmp_path / "ro"
    folder.mkdir()
    env = base_env(tmp_path, db=str(folder / "newsbot.db"))
    stored = newsbot(tmp_path, "ingest", str(SAMPLE), env=env)
    assert stored.returncode == 0, stored.stderr
    db = folder / "newsbot.db"
    if os.geteuid() != 0:
        db.chmod(0o444)
        folder.chmod(0o555)
        yield db, []
        folder.chmod(0o755)
        db.chmod(0o644)
        return
    mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    prefix = ["unshare", "-rm", "sh", "-c", mount, str(folder)]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"]).returncode != 0:
        pytest.skip("as root, a read-only database needs a read-only mount (unshare -rm)")
    yield db, prefix


def test_a_read_only_database_can_be_read_and_refuses_writes_in_one_line(
    tmp_path: Path, read_only: tuple[Path, list[str]]
) -> None:
    db, prefix = read_only
    before = digest(db)
    env = base_env(tmp_path, db=str(db))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return newsbot(tmp_path, *args, stdin="/subscribe xAI\n", prefix=prefix, env=env)

    stats = run("db", "stats")
    assert stats.returncode == 0, stats.stderr
    assert "articles\t1" in stats.stdout
    results = run("export", "results", "--format", "json")
    assert results.returncode == 0, results.stderr
    assert "Microsoft" in results.stdout
    for args in (["export", "audit"], ["feeds", "list"], ["db", "backup", str(tmp_path / "b.db")]):
        assert run(*args).returncode == 0, args
    assert count(tmp_path / "b.db", "SELECT count(*) FROM articles") == 1

    for args in (["ingest", str(DATA / "questions.json")], ["feeds", "add", str(DATA)]):
        one_line(run(*args), str(db), "schreibgeschützt")
    for args in (["db", "migrate"], ["chat"], ["run"]):
        one_line(run(*args), "schreibgeschützt")
    assert digest(db) == before


# -- a full disk ----------------------------------------------------------------------------------


def full_disk_env(tmp_path: Path, pages: int) -> dict[str, str]:
    env = base_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(INJECTION), *filter(None, [env.get("PYTHONPATH")])])
    env["SQLITE_MAX_PAGES"] = str(pages)
    return env


def write_articles(folder: Path, count: int) -> None:
    folder.mkdir()
    for n in range(count):
        words = " ".join(f"Rechenzentrum{n}x{i}" for i in range(250))
        text = f"Titel: Meldung {n} über Rechenzentren\n\n{words}.\n\nSchlagwörter: Cloud + KI\n"
        (folder / f"{n:02}.txt").write_text(text, encoding="utf-8")


def test_a_full_disk_at_start_is_one_line_and_half_a_schema_is_never_left(
    tmp_path: Path,
) -> None:
    db = tmp_path / "newsbot.db"
    for args in (["db", "stats"], ["ingest", str(SAMPLE)], ["chat"]):
        one_line(newsbot(tmp_path, *args, env=full_disk_env(tmp_path, 8)), "Datenträger ist voll")
    # The migrations are one transaction: the file has no half of them. With space, it starts.
    assert count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'articles'") == 0
    assert newsbot(tmp_path, "ingest", str(SAMPLE)).returncode == 0
    assert count(db, "SELECT count(*) FROM articles") == 1


def test_a_disk_that_fills_during_ingest_keeps_what_was_stored(tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    assert newsbot(tmp_path, "ingest", str(SAMPLE)).returncode == 0
    pages = count(db, "PRAGMA page_count")
    folder = tmp_path / "articles"
    write_articles(folder, 30)

    full = newsbot(tmp_path, "ingest", str(folder), env=full_disk_env(tmp_path, pages + 12))
    one_line(full, "Datenträger ist voll", "Bisher Gespeichertes ist erhalten")
    stored = count(db, "SELECT count(*) FROM articles")
    assert 1 < stored < 31
    assert integrity(db) == "ok"
    # With space again the same folder stores the rest; what was stored counts as duplicate.
    again = newsbot(tmp_path, "ingest", str(folder))
    assert again.returncode == 0
    duplicates = "1 Duplikat" if stored == 2 else f"{stored - 1} Duplikate"
    assert f"{31 - stored} neu, {duplicates}" in again.stdout
    assert count(db, "SELECT count(*) FROM articles") == 31


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


# -- a backup while the bot writes -----------------------------------------------------------------


def test_a_backup_taken_while_votes_come_in_is_consistent(tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    assert newsbot(tmp_path, "ingest", str(SAMPLE)).returncode == 0
    stop = threading.Event()

    def vote() -> None:
        # Another process's worth of writes: votes, each moving an option's count with it.
        store = Store(db)
        try:
            for n in itertools.count():
                if stop.is_set():
                    return
                store.cast_vote(1, UserRef("telegram", str(n % 500)), n % 5 + 1)
        finally:
            store.close()

    writer = threading.Thread(target=vote)
    writer.start()
    try:
        copies = [tmp_path / f"copy{n}.db" for n in range(3)]
        for copy in copies:
            backup = newsbot(tmp_path, "db", "backup", str(copy))
            assert backup.returncode == 0, backup.stderr
    finally:
        stop.set()
        writer.join(timeout=30)
    for copy in copies:
        # One file on its own (no WAL beside it), whole, and the counts match the votes.
        assert not Path(f"{copy}-wal").exists()
        assert integrity(copy) == "ok"
        votes = count(copy, "SELECT count(*) FROM votes")
        assert count(copy, "SELECT coalesce(sum(votes), 0) FROM poll_options") == votes
    assert count(copies[-1], "SELECT count(*) FROM votes") > 0
