"""The weekly style report: the week's figures on both engines, `newsbot report` as text and
JSON, and the Monday 08:00 job that sends it to the report chat once, on a controlled clock."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.cli import main
from bot.report_job import report_chats
from bot.settings import load_settings
from handlers.charts import chart_size
from handlers.events import UserError
from handlers.weekly_report import MIN_VOTES, parse_week, week_due, week_figures
from storage.models import ChatRef, NewArticle, UserRef
from storage.store import Store
from tests.discord_helpers import NEWS, running_bot, setup_server
from tests.discord_helpers import configure as configure_discord
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import TOKEN, configure, running

BERLIN = ZoneInfo("Europe/Berlin")
OPTIONS = [("Sehr gut", 5), ("Gut", 4), ("Mittel", 3), ("Schwach", 2), ("Schlecht", 1)]
W48 = parse_week("2026-W48", BERLIN)  # Monday 23 to Sunday 29 November 2026


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in UTC (Berlin is one hour ahead)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def add(store: Store, title: str, tags: tuple[str, ...], source: str) -> int:
    new = NewArticle(
        title=title, body=f"Text über {title}.", tags=tags, language="de", source=source
    )
    result = store.add_article(
        new,
        dedupe_key=f"key:{title}",
        url_key=None,
        question="Wie bewerten Sie den Schreibstil des Artikels?",
        options=OPTIONS,
        language="de",
    )
    assert result.article is not None
    return result.article.id


def vote_at(store: Store, when: datetime, article_id: int, person: str, position: int) -> None:
    store.clock = lambda: when
    store.cast_vote(article_id, UserRef("telegram", person, person), position)


def a_week_of_votes(store: Store) -> dict[str, int]:
    """Votes in W48 (a good article, a weak one, one with too few votes), one just before it
    and one in its last Berlin hour (already Monday's date nowhere yet: 22:30 UTC Sunday)."""
    ids = {
        "good": add(store, "Gut geschrieben", ("xAI", "OpenAI"), "heise"),
        "weak": add(store, "Schwach geschrieben", ("xAI",), "golem"),
        "few": add(store, "Kaum gelesen", ("Apple",), "golem"),
    }
    for person, position in (("a", 1), ("b", 1), ("c", 2)):
        vote_at(store, at(24, 10), ids["good"], person, position)
    for person, position in (("a", 5), ("b", 4), ("c", 5)):
        vote_at(store, at(25, 9), ids["weak"], person, position)
    vote_at(store, at(26, 12), ids["few"], "a", 1)
    vote_at(store, at(29, 22, 30), ids["few"], "b", 1)  # Sunday 23:30 in Berlin: in W48
    vote_at(store, at(22, 23, 30), ids["good"], "d", 5)  # Monday 00:30 in Berlin: in W48 too
    vote_at(store, at(22, 22, 30), ids["weak"], "e", 1)  # Sunday 23:30 in Berlin: W47
    return ids


def test_the_weeks_figures_on_both_engines(any_store: Store) -> None:
    ids = a_week_of_votes(any_store)
    figures = week_figures(any_store, W48)
    assert figures.votes == 9
    assert [(r.article_id, r.votes) for r in figures.best] == [(ids["good"], 4)]
    assert figures.best[0].mean == pytest.approx((5 + 5 + 4 + 1) / 4)
    assert [(r.article_id, r.votes) for r in figures.worst] == [(ids["weak"], 3)]
    assert figures.worst[0].mean == pytest.approx(4 / 3)
    tags = {g.name: (g.votes, round(g.mean, 2)) for g in figures.tags}
    assert tags == {"xAI": (7, 2.71), "OpenAI": (4, 3.75), "Apple": (2, 5.0)}
    sources = {g.name: g.votes for g in figures.sources}
    assert sources == {"heise": 4, "golem": 5}
    assert [d.votes for d in figures.days] == [1, 3, 3, 1, 0, 0, 1]
    assert MIN_VOTES == 3  # "few" with 2 votes is neither best nor worst


def test_the_report_of_a_week_is_recorded_once(any_store: Store) -> None:
    assert any_store.reports.mark_sent("report:last_week", "2026-W48")
    assert not any_store.reports.mark_sent("report:last_week", "2026-W48")
    assert not any_store.reports.mark_sent("report:last_week", "2026-W47")
    assert any_store.reports.mark_sent("report:last_week", "2026-W49")


def test_the_week_due_turns_on_monday_at_eight_in_berlin() -> None:
    assert week_due(at(30, 6, 59), BERLIN).name == "2026-W47"  # 07:59 in Berlin
    assert week_due(at(30, 7, 0), BERLIN).name == "2026-W48"  # 08:00 in Berlin
    assert week_due(at(29, 12), BERLIN).name == "2026-W47"


@pytest.mark.parametrize("bad", ["2026-W54", "2026-48", "W48", "2026-W4", "letzte Woche"])
def test_a_week_that_is_none_is_refused(bad: str) -> None:
    with pytest.raises(UserError) as refused:
        parse_week(bad, BERLIN)
    assert refused.value.key == "report.bad_week"


# ----------------------------------------------------------------- newsbot report


@pytest.fixture
def report_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "newsbot.db"
    store = Store(path)
    store.migrate()
    a_week_of_votes(store)
    store.close()
    for name in ("NEWSBOT_LANGUAGE", "NEWSBOT_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.setenv("NEWSBOT_DB", str(path))
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(list(args))
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


def test_newsbot_report_prints_a_week_as_text(report_db: Path) -> None:
    code, out, _ = run_cli("report", "--week", "2026-W48")
    assert code == 0
    assert "Weekly style report 2026-W48" in out
    assert "9 votes this week" in out
    best = out.index("Best rated")
    assert out.index("Gut geschrieben", best) < out.index("Lowest rated") < out.index("Schwach")
    assert "Kaum gelesen" not in out  # two votes: too few to be rated
    assert "heise — mean 3.75 from 4 votes" in out


def test_newsbot_report_prints_a_week_as_json(report_db: Path) -> None:
    code, out, _ = run_cli("report", "--week", "2026-W48", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["week"], data["from"], data["to"]) == ("2026-W48", "2026-11-23", "2026-11-29")
    assert data["votes"] == 9
    assert [r["title"] for r in data["best"]] == ["Gut geschrieben"]
    assert [d["votes"] for d in data["days"]] == [1, 3, 3, 1, 0, 0, 1]


def test_newsbot_report_refuses_a_week_that_is_none(report_db: Path) -> None:
    code, out, err = run_cli("report", "--week", "2026-W54")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "2026-W48" in err  # says the form it takes


# ----------------------------------------------------------------- the Monday job


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_REPORT_CHAT", "telegram:-1001")
        yield fake


def clock_at(store: Store, when: datetime) -> Callable[[], datetime]:
    store.clock = lambda: when
    return store.clock


async def test_the_report_goes_to_the_report_chat_once_on_monday_at_eight(
    tg: FakeTelegram,
) -> None:
    group = tg.chat(-1001, "supergroup", title="Redaktion")
    async with running(tg) as bot:
        await bot.app.db.run(a_week_of_votes, bot.store)
        # Last Monday's report (on W47) went out a week ago.
        await bot.app.db.run(bot.store.reports.mark_sent, "report:last_week", "2026-W47")
        await bot.app.db.run(clock_at, bot.store, at(30, 6, 59))  # Monday 07:59 in Berlin
        await bot.app.report_job.run_now()
        assert tg.messages(group) == []
        await bot.app.db.run(clock_at, bot.store, at(30, 7, 0))  # Monday 08:00
        await bot.app.report_job.run_now()
        text = await tg.wait_for_message(group, "Stil-Wochenbericht 2026-W48")
        assert "Gut geschrieben" in text["text"]
        chart = await tg.wait_for(
            lambda: next((m for m in tg.messages(group) if "photo" in m), None),
            what="the report's chart",
        )
        picture = Image.open(io.BytesIO(chart["photo"]["data"]))
        assert picture.size == chart_size(7)
        # Later runs that week, and a restart (the week is in the store), send nothing more.
        await bot.app.db.run(clock_at, bot.store, at(30, 9, 0))
        await bot.app.report_job.run_now()
    async with running(tg) as bot:
        await bot.app.db.run(clock_at, bot.store, at(30, 10, 0))
        await bot.app.report_job.run_now()
    assert len(tg.messages(group)) == 2


async def test_the_report_reaches_a_discord_channel_with_its_chart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with FakeDiscord() as dc:
        setup_server(dc)
        configure_discord(monkeypatch, tmp_path, dc, NEWSBOT_REPORT_CHAT=f"discord:{NEWS}")
        async with running_bot(dc) as bot:
            await bot.app.db.run(a_week_of_votes, bot.store)
            await bot.app.db.run(bot.store.reports.mark_sent, "report:last_week", "2026-W47")
            await bot.app.db.run(clock_at, bot.store, at(30, 7, 0))
            await bot.app.report_job.run_now()
            text, chart = await dc.wait_for(
                lambda: dc.messages(NEWS)[-2:] if len(dc.messages(NEWS)) >= 2 else None,
                what="the report and its chart",
            )
            assert "2026-W48" in text.content and "Gut geschrieben" in text.content
            [attachment] = chart.attachments
            assert "Gut geschrieben" in attachment["description"]
            picture = Image.open(io.BytesIO(chart.files["chart.png"]))
            assert picture.size == chart_size(7)


def test_without_a_report_chat_the_report_goes_to_the_telegram_owners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.delenv("NEWSBOT_REPORT_CHAT", raising=False)
    settings = load_settings(admins="telegram:42,discord:7,telegram:43")
    assert report_chats(settings) == [ChatRef("telegram", "42"), ChatRef("telegram", "43")]
    chosen = load_settings(admins="telegram:42", report_chat="discord:99")
    assert report_chats(chosen) == [ChatRef("discord", "99")]


def test_a_time_zone_that_is_none_stops_newsbot_with_one_line(
    report_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_TIMEZONE", "Europe/Atlantis")
    code, out, err = run_cli("report")
    assert code == 2 and out == ""
    assert "NEWSBOT_TIMEZONE" in err and "Europe/Atlantis" in err
    assert err.strip().count("\n") == 0
