"""Send pacing: limits per chat and overall, and a back-off that holds up only its chat.
Time is a controlled clock: waiting advances it, so nothing here really sleeps."""

from __future__ import annotations

import asyncio

import pytest

from bot.pacing import CalledOff, Limit, Pacer, call_off


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def pacer(clock: Clock, overall: Limit, per_chat: list[Limit]) -> Pacer:
    return Pacer(overall, lambda _key: per_chat, clock=clock, sleep=clock.sleep)


async def send_times(p: Pacer, clock: Clock, keys: list[str]) -> list[float]:
    times = []
    for key in keys:
        await p.acquire(key)
        times.append(round(clock.now, 3))
    return times


async def test_one_message_per_second_per_chat() -> None:
    clock = Clock()
    p = pacer(clock, Limit(30, 1.0), [Limit(1, 1.0)])
    assert await send_times(p, clock, ["a", "a", "a"]) == [0.0, 1.0, 2.0]


async def test_other_chats_do_not_wait_for_a_busy_one() -> None:
    clock = Clock()
    p = pacer(clock, Limit(30, 1.0), [Limit(1, 1.0)])
    assert await send_times(p, clock, ["a", "b", "c"]) == [0.0, 0.0, 0.0]


async def test_the_overall_limit_spreads_a_broadcast() -> None:
    clock = Clock()
    p = pacer(clock, Limit(30, 1.0), [Limit(1, 1.0)])
    times = await send_times(p, clock, [f"chat{i}" for i in range(90)])
    assert times[29] == 0.0 and times[30] == 1.0 and times[89] == 2.0
    per_second = [sum(1 for t in times if int(t) == s) for s in range(3)]
    assert per_second == [30, 30, 30]


async def test_group_limit_per_minute() -> None:
    clock = Clock()
    p = pacer(clock, Limit(30, 1.0), [Limit(1, 1.0), Limit(20, 60.0)])
    times = await send_times(p, clock, ["group"] * 21)
    assert times[19] == 19.0
    assert times[20] == 60.0  # the 21st waits until the first leaves the minute


async def test_a_back_off_holds_up_only_its_chat() -> None:
    clock = Clock()
    p = pacer(clock, Limit(30, 1.0), [Limit(1, 1.0)])
    await p.acquire("slow")
    p.back_off("slow", 5.0)
    assert await send_times(p, clock, ["fast"]) == [0.0]
    assert await send_times(p, clock, ["slow"]) == [5.0]


async def test_stopping_calls_off_deliveries_waiting_their_turn_but_not_replies() -> None:
    clock = Clock()
    never = asyncio.Event()

    async def time_stands_still(seconds: float) -> None:
        await never.wait()

    p = Pacer(Limit(30, 1.0), lambda _key: [Limit(1, 1.0)], clock=clock, sleep=time_stands_still)
    await p.acquire("a")  # the first send goes at once; the next ones must wait
    stop = asyncio.Event()

    async def delivery() -> None:
        call_off.set(stop)  # what the outbox worker does around its sends
        await p.acquire("a")

    waiting = asyncio.create_task(delivery())
    reply = asyncio.create_task(p.acquire("a"))
    await asyncio.sleep(0)
    assert not waiting.done() and not reply.done()
    stop.set()
    with pytest.raises(CalledOff):
        await asyncio.wait_for(waiting, 5)
    await asyncio.sleep(0)
    assert not reply.done()  # a reply to a person still goes out when its turn comes
    reply.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reply
