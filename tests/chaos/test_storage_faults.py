"""The database stops taking writes while people press buttons and posts wait: the disk fills
up under a running bot, or the bot starts on a database it may only read. Nobody sees a
traceback, the bot does not die of it, and what was committed before stays intact."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.models import ChatRef
from tests.chaos.conftest import Newsroom
from tests.chaos.ledger import (
    check_posts,
    check_presses,
    empty_wal,
    outbox,
    platform_posts,
    title,
    votes,
)
from tests.chaos.process import BotProcess, Runs, child_env
from tests.chaos.report import Figures
from tests.chaos.sizes import FAST_TELEGRAM, SIZE, START, seed
from tests.chaos.verdict import ISSUE, database, figures_for, judge, people, posts, presses
from tests.chaos.waits import Counted, Delivered
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_helpers import button_data

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(SIZE.test_timeout)]


@dataclass
class Scene:
    """Readers subscribed, a group whose post people press, and what was committed before the
    fault: the first article everywhere and the first burst of votes."""

    tg: FakeTelegram
    group: int
    newsroom: Newsroom
    db: Path
    env: dict[str, str]
    message_id: int
    buttons: list[str]
    rng: random.Random
    pressed: dict[str, int]
    queries: dict[str, str]
    committed: dict[str, int]

    def press_burst(self) -> set[str]:
        """People who never pressed before each press once; returns the query ids."""
        burst: set[str] = set()
        for _ in range(SIZE.disk_presses):
            person, option = 7_200_000 + len(self.pressed), self.rng.randint(1, 5)
            query = self.tg.press(self.group, person, self.message_id, self.buttons[option - 1])
            self.pressed[str(person)], self.queries[query] = option, str(person)
            burst.add(query)
        return burst

    def answered(self, queries: set[str]) -> bool:
        return queries <= self.tg.callback_answers.keys()

    def counted_or_answered(self, queries: set[str], article: int) -> bool:
        counted = votes(self.db, article)
        return all(q in self.tg.callback_answers or self.queries[q] in counted for q in queries)


async def set_the_scene(
    tg: FakeTelegram, newsroom: Newsroom, db: Path, runs: Runs
) -> tuple[Scene, BotProcess]:
    readers = [tg.user(400_000 + n, f"Leser{n}") for n in range(SIZE.disk_chats)]
    group = tg.chat(-100_920_000, "supergroup", title="Chaos")
    newsroom.subscribe(
        [ChatRef("telegram", str(r.id)) for r in readers] + [ChatRef("telegram", str(group.id))]
    )
    article = newsroom.add_article(1)
    env = child_env(db, telegram=tg, settings=FAST_TELEGRAM)
    bot = await runs.start(env)
    post = await bot.until(tg.wait_for_message(group, title(1), START))
    scene = Scene(
        tg, group.id, newsroom, db, env, post["message_id"], button_data(post),
        random.Random(seed()), {}, {}, {},
    )  # fmt: skip
    await bot.until(Delivered(newsroom.expected(), newsroom.articles, tg=tg).wait(START))
    scene.press_burst()
    await bot.until(tg.wait_for(Counted(tg, db, article, len(scene.pressed)), START))
    # The sends were recorded long before the presses were counted; a claim still open here
    # would make what follows depend on timing.
    box = outbox(db)
    assert box.pending == box.claimed == 0, f"the first article is still being sent: {box}"
    scene.committed = votes(db, article)
    return scene, bot


async def recover(scene: Scene, bot: BotProcess, burst: set[str], figures: Figures) -> None:
    """Room again: what waited is sent, the presses are counted (or were answered)."""
    everything = Delivered(scene.newsroom.expected(), scene.newsroom.articles, tg=scene.tg)
    if not await bot.settle(lambda: everything.wait(SIZE.settle)):
        figures.note(f"not every post arrived within {SIZE.settle:g} s of the recovery")
    article = scene.newsroom.articles[1]
    done = lambda: scene.counted_or_answered(burst, article)  # noqa: E731
    if not await bot.settle(lambda: scene.tg.wait_for(done, SIZE.settle, what="presses")):
        figures.note(f"presses were neither counted nor answered {SIZE.settle:g} s after")
    await bot.terminate(60)


def judge_scene(scene: Scene, figures: Figures, runs: Runs) -> list[str]:
    article = scene.newsroom.articles[1]
    counted = votes(scene.db, article)
    answered = {scene.queries[q] for q in scene.tg.callback_answers if q in scene.queries}
    check = check_posts(
        scene.newsroom.expected(), platform_posts(scene.newsroom.articles, scene.tg)
    )
    problems = posts(figures, check)
    problems += presses(figures, check_presses(scene.pressed, counted, answered))
    problems += database(figures, scene.db) + people(figures, runs, scene.tg)
    if check.doubled:
        problems.append(f"{check.doubled} posts doubled, though no process was killed")
    gone = {p: o for p, o in scene.committed.items() if counted.get(p) != o}
    if gone:
        problems.append(f"{len(gone)} votes committed before the fault are gone or changed")
    return problems


async def test_full_disk_under_load_keeps_the_bot_alive_and_the_data_intact(
    request: pytest.FixtureRequest, tg: FakeTelegram, newsroom: Newsroom, db: Path, runs: Runs
) -> None:
    figures = figures_for(request, "5a full disk under load")
    scene, bot = await set_the_scene(tg, newsroom, db, runs)
    # The disk fills up: the bot's files may not grow past 32 KB from here on. Its database
    # file is larger but written only at checkpoints (beyond 4 MB of log); its log starts
    # empty, so after a few writes every further one fails. (The kernel answers EFBIG where
    # a full disk answers ENOSPC: SQLite says "disk I/O error", not "database or disk is
    # full"; either way the write fails and what was written before stays.)
    empty_wal(db)
    bot.limit_file_size(32 * 1024)
    newsroom.add_article(2)  # a feed brings an article meanwhile
    burst = scene.press_burst()
    if not await bot.settle(lambda: tg.wait_for(lambda: scene.answered(burst), SIZE.settle)):
        figures.note("during the full disk, not every press got an answer")
    during = votes(db, scene.newsroom.articles[1])
    figures.note(
        f"while the disk was full: {sum(1 for q in burst if scene.queries[q] in during)} of "
        f"{len(burst)} presses counted, {len(burst & tg.callback_answers.keys())} answered"
    )
    survived = bot.returncode is None
    if survived:
        bot.limit_file_size(None)
    else:
        bot = await runs.start(scene.env)
    await recover(scene, bot, burst, figures)

    problems = judge_scene(scene, figures, runs)
    if not survived:
        problems.append(f"{ISSUE} (defect 8): the bot died of the full disk:\n{bot.tail(12)}")
    judge(problems)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The database and its folder may be read, not written (as on a read-only mount)."""
    files = [p for p in folder.iterdir() if p.is_file()]
    for path in files:
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)
        for path in files:
            path.chmod(0o644)


async def test_read_only_database_under_load_is_one_line_and_loses_nothing(
    request: pytest.FixtureRequest, tg: FakeTelegram, newsroom: Newsroom, db: Path, runs: Runs
) -> None:
    figures = figures_for(request, "5b read-only database under load")
    scene, bot = await set_the_scene(tg, newsroom, db, runs)
    await bot.terminate(60)
    newsroom.add_article(2)
    burst = scene.press_burst()
    with read_only(db.parent):
        bot = await runs.start(scene.env, obey_file_modes=True)
        # It stops, or it runs (answering or not): each is judged below.
        with contextlib.suppress(AssertionError):
            await bot.until(tg.wait_for(lambda: scene.answered(burst), SIZE.settle))
        if bot.returncode is None:
            figures.note("on the read-only database the bot kept running")
            await bot.terminate(60)
        else:
            first = bot.output.strip().splitlines()[:1]
            figures.note(f"read-only start: exit code {bot.returncode}, first line {first}")
    bot = await runs.start(scene.env)
    await recover(scene, bot, burst, figures)
    judge(judge_scene(scene, figures, runs))
