"""Telegram and Discord answering a fifth of the bot's calls with a failure: 5xx, 429 with
retry_after, answers held past the client's timeout, connections reset before or after the
platform did the call. Everything must still arrive, exactly once where the platform never
said it had taken it."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from storage.models import ChatRef
from tests.chaos.conftest import Newsroom
from tests.chaos.ledger import check_posts, check_presses, platform_posts, title, votes
from tests.chaos.process import Runs, child_env
from tests.chaos.sizes import FAST_TELEGRAM, SIZE, seed
from tests.chaos.verdict import database, figures_for, judge, people, posts, presses
from tests.chaos.waits import Counted, Delivered
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import button_data, labels

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(SIZE.test_timeout)]

RATE = 0.2
TELEGRAM_CALLS = (
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
)
SENDS = {"sendMessage", "send_message"}
# Held answers outlast the adapter's 15 s read timeout; the outbox backs off 5 s, doubling.
SETTLE = 4 * SIZE.settle + 60
GUILD, OWNER, FIRST_CHANNEL = 810_000_000_000_000_001, 810_000_000_000_000_002, 810_000_000_001
FAST = {
    **FAST_TELEGRAM,
    "discord_rate_overall": "45",
    "discord_rate_per_channel": "50",
}


def shown_counts(record: dict[str, object]) -> list[int]:
    """The counts on a post's buttons ("Gut · 3" -> 3)."""
    return [int(m[1]) for m in (re.search(r"(\d+)$", label) for label in labels(record)) if m]


async def test_failing_platform_answers_deliver_everything_once(
    request: pytest.FixtureRequest,
    tg: FakeTelegram,
    dc: FakeDiscord,
    newsroom: Newsroom,
    db: Path,
    runs: Runs,
) -> None:
    figures = figures_for(request, "4 platform faults (20%)")
    rng = random.Random(seed())
    readers = [tg.user(300_000 + n, f"Leser{n}") for n in range(SIZE.fault_telegram_chats)]
    group = tg.chat(-100_910_000, "supergroup", title="Chaos")
    dc.add_user(OWNER, "owner")
    dc.add_guild(GUILD, "Chaos", owner_id=OWNER, locale="de")
    channels = [FIRST_CHANNEL + n for n in range(SIZE.fault_discord_channels)]
    for channel in channels:
        dc.add_channel(GUILD, channel, f"news-{channel - FIRST_CHANNEL}")
    newsroom.subscribe(
        [ChatRef("telegram", str(r.id)) for r in readers]
        + [ChatRef("telegram", str(group.id))]
        + [ChatRef("discord", str(channel)) for channel in channels]
    )
    article = newsroom.add_article(1)
    tg.fail_randomly(RATE, seed=seed(), methods=TELEGRAM_CALLS)
    dc.fail_randomly(RATE, seed=seed())

    bot = await runs.start(child_env(db, telegram=tg, discord=dc, settings=FAST), discord=True)
    post = await bot.until(tg.wait_for_message(group, title(1), SETTLE))
    buttons = button_data(post)
    pressed: dict[str, int] = {}
    queries: dict[str, str] = {}
    for n in range(SIZE.fault_presses):
        person, option = 7_100_000 + n, rng.randint(1, 5)
        query = tg.press(group, person, post["message_id"], buttons[option - 1])
        pressed[str(person)], queries[query] = option, str(person)

    everything = Delivered(newsroom.expected(), newsroom.articles, tg=tg, dc=dc)
    if not await bot.settle(lambda: everything.wait(SETTLE)):
        figures.note(f"not every post arrived within {SETTLE:g} s")
    counted = Counted(tg, db, article, len(pressed))
    if not await bot.settle(lambda: tg.wait_for(counted, SETTLE, what="every vote")):
        figures.note(f"not every press was counted within {SETTLE:g} s")
    # What people see: the pressed post's counts catch up with the votes (reported only).
    want = [list(votes(db, article).values()).count(k) for k in range(1, 6)]
    shows = lambda: shown_counts(tg.message(group, post["message_id"])) == want  # noqa: E731
    if not await bot.settle(lambda: tg.wait_for(shows, 15, what="the counts shown")):
        got = shown_counts(tg.message(group, post["message_id"]))
        figures.note(f"the pressed post shows {got}, the votes are {want}")
    await bot.terminate(60)
    tg.clear_failures()
    dc.stop_failing_randomly()

    served = [(f.method, f.chat_id, f.accepted) for f in tg.random_faults] + [
        (f.route, str(f.channel_id), f.accepted) for f in dc.random_faults
    ]
    figures.faults_injected = len(served)
    figures.faults_after_accept = sum(1 for _, _, accepted in served if accepted)
    calls = sum(1 for m, _ in tg.requests if m in TELEGRAM_CALLS) + sum(
        1 for r in dc.requests if r.name in ("send_message", "edit_message")
    )
    figures.note(f"{len(served)} of {calls} calls failed; kinds: {kinds(tg, dc)}")
    taken_then_failed = {chat for method, chat, accepted in served if accepted and method in SENDS}
    check = check_posts(newsroom.expected(), platform_posts(newsroom.articles, tg=tg, dc=dc))
    answered = {queries[q] for q in tg.callback_answers if q in queries}
    press_check = check_presses(pressed, votes(db, article), answered)
    problems = posts(figures, check) + presses(figures, press_check)
    problems += database(figures, db) + people(figures, runs, tg, dc)
    unexplained = {pair for pair in check.doubled_pairs if pair[1] not in taken_then_failed}
    if unexplained:
        problems.append(f"doubled where no send failed after being done: {sorted(unexplained)}")
    judge(problems)


def kinds(tg: FakeTelegram, dc: FakeDiscord) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in [f"telegram {f.kind}" for f in tg.random_faults] + [
        f"discord {f.kind}" for f in dc.random_faults
    ]:
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
