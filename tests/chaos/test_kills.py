"""SIGKILL at random moments of `newsbot run`: during the fan-out of articles to many chats, and
during bursts of button presses; then a restart, again and again."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import pytest

from storage.models import ChatRef
from tests.chaos.conftest import Newsroom
from tests.chaos.ledger import (
    Pair,
    check_posts,
    check_presses,
    outbox,
    platform_posts,
    title,
    unrecorded,
    votes,
)
from tests.chaos.process import Runs, child_env
from tests.chaos.sizes import FAST_TELEGRAM, SIZE, START, seed
from tests.chaos.verdict import database, figures_for, judge, people, posts, presses
from tests.chaos.waits import Arrivals, Counted, Delivered
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import button_data

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(SIZE.test_timeout)]


async def test_sigkill_during_fanout_loses_nothing_and_doubles_only_what_was_in_flight(
    request: pytest.FixtureRequest, tg: FakeTelegram, newsroom: Newsroom, db: Path, runs: Runs
) -> None:
    figures = figures_for(request, "1 SIGKILL during fan-out")
    rng = random.Random(seed())
    readers = [tg.user(100_000 + n, f"Leser{n}") for n in range(SIZE.fanout_chats)]
    newsroom.subscribe(ChatRef("telegram", str(reader.id)) for reader in readers)
    env = child_env(db, telegram=tg, settings=FAST_TELEGRAM)
    in_flight: collections.Counter[Pair] = collections.Counter()
    per_kill: list[int] = []
    for number in range(1, SIZE.fanout_kills + 1):
        # Each round fans one new article out to every chat; the kill comes after a random
        # number of the sends this process can make.
        newsroom.add_article(number)
        due = outbox(db).pending
        target = rng.randint(1, max(due - 1, 1))
        bot = await runs.start(env)
        sends = Arrivals(tg)
        await bot.until(
            tg.wait_for(lambda: sends.count() >= target, START, what=f"{target} sends")  # noqa: B023
        )
        await bot.kill()
        figures.kills += 1
        before = sum(in_flight.values())
        # A Counter union keeps the larger count per post: a post in flight at two kills
        # may arrive three times.
        in_flight |= unrecorded(platform_posts(newsroom.articles, tg), outbox(db))
        per_kill.append(sum(in_flight.values()) - before)
    figures.in_flight_at_kills = sum(in_flight.values())
    figures.note(f"posts in flight at each kill: {per_kill}")

    bot = await runs.start(env)
    everything = Delivered(newsroom.expected(), newsroom.articles, tg=tg)
    if not await bot.settle(lambda: everything.wait(SIZE.settle)):
        figures.note(f"not every post arrived within {SIZE.settle:g} s of the last restart")
    await bot.terminate(60)

    check = check_posts(newsroom.expected(), platform_posts(newsroom.articles, tg))
    problems = posts(figures, check) + database(figures, db) + people(figures, runs, tg)
    unexplained = check.doubled_pairs - set(in_flight)
    if unexplained:
        problems.append(f"doubled though not in flight at a kill: {sorted(unexplained)[:5]}")
    if check.doubled > figures.in_flight_at_kills:
        problems.append(
            f"{check.doubled} doubles, more than the {figures.in_flight_at_kills} in flight"
        )
    judge(problems)


async def test_sigkill_during_press_bursts_loses_no_press(
    request: pytest.FixtureRequest, tg: FakeTelegram, newsroom: Newsroom, db: Path, runs: Runs
) -> None:
    figures = figures_for(request, "2 SIGKILL during press bursts")
    rng = random.Random(seed())
    group = tg.chat(-100_900_000, "supergroup", title="Chaos")
    newsroom.subscribe([ChatRef("telegram", str(group.id))])
    article = newsroom.add_article(1)
    env = child_env(db, telegram=tg, settings=FAST_TELEGRAM)
    bot = await runs.start(env)
    post = await bot.until(tg.wait_for_message(group, title(1), START))
    buttons = button_data(post)
    assert len(buttons) == 5, post

    pressed: dict[str, int] = {}  # person -> option
    queries: dict[str, str] = {}  # callback query id -> person
    at_kill: list[int] = []
    for kill in range(SIZE.burst_kills):
        if kill:
            bot = await runs.start(env)
        # A burst of presses by people who never pressed before, then a kill after a random
        # number of them were answered.
        for _ in range(SIZE.burst_presses):
            person, option = 7_000_000 + len(pressed), rng.randint(1, 5)
            query = tg.press(group, person, post["message_id"], buttons[option - 1])
            pressed[str(person)], queries[query] = option, str(person)
        answered = len(tg.callback_answers)
        target = rng.randint(1, SIZE.burst_presses - 1)
        await bot.until(
            tg.wait_for(
                lambda: len(tg.callback_answers) - answered >= target,  # noqa: B023
                START,
                what=f"{target} answers",
            )
        )
        await bot.kill()
        figures.kills += 1
        at_kill.append(len(tg.callback_answers) - answered)

    figures.note(f"presses answered before each kill: {at_kill} of {SIZE.burst_presses}")
    bot = await runs.start(env)
    counted = Counted(tg, db, article, len(pressed))
    if not await bot.settle(lambda: tg.wait_for(counted, SIZE.settle, what="every vote")):
        figures.note(f"not every press was counted within {SIZE.settle:g} s of the last restart")
    await bot.terminate(60)

    answered_people = {queries[q] for q in tg.callback_answers if q in queries}
    check = check_presses(pressed, votes(db, article), answered_people)
    problems = presses(figures, check) + database(figures, db) + people(figures, runs, tg)
    judge(problems)
