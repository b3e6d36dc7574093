"""Edit batching of live counts, as both adapters use it: one edit at a time per message, a
burst costs the first and the last edit, counts never go backwards, nothing unchanged is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.adapter_contract import Sharing
from bot.platforms.edit_batching import EditBatching, Shown
from bot.platforms.keyed_locks import KeyedLocks
from bot.platforms.lru import Lru


class Platform:
    """What reaches the platform: the edits sent, each with what the message showed before."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Shown[str] | None, Shown[str]]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.fail: Exception | None = None

    def sender(
        self, key: str, wanted: Shown[str]
    ) -> Callable[[Shown[str] | None], Awaitable[None]]:
        async def send(before: Shown[str] | None) -> None:
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.fail is not None:
                raise self.fail
            self.sent.append((key, before, wanted))

        return send


async def edit(batching: EditBatching[str], platform: Platform, key: str, v: int | None) -> bool:
    wanted = Shown(v, f"counts {v}")
    return await batching.edit(key, wanted, platform.sender(key, wanted))


async def test_an_unchanged_message_is_not_edited_again() -> None:
    batching: EditBatching[str] = EditBatching()
    platform = Platform()
    batching.sent("m1", Shown(1, "counts 1"))
    assert await edit(batching, platform, "m1", 1)
    assert platform.sent == []
    assert await edit(batching, platform, "m1", 2)
    assert await edit(batching, platform, "m1", 2)
    assert [(key, before) for key, before, _ in platform.sent] == [("m1", Shown(1, "counts 1"))]
    assert batching.shown("m1") == Shown(2, "counts 2")
    # A vote cast and taken back: a newer poll version that looks the same is not sent either.
    assert await batching.edit("m1", Shown(4, "counts 2"), platform.sender("m1", Shown(4, "")))
    assert len(platform.sent) == 1
    assert batching.shown("m1") == Shown(4, "counts 2")


async def test_a_burst_costs_the_edit_under_way_and_the_newest() -> None:
    batching: EditBatching[str] = EditBatching()
    platform = Platform()
    platform.gate = asyncio.Event()
    first = asyncio.create_task(edit(batching, platform, "m1", 1))
    await platform.entered.wait()
    assert batching.busy("m1") and not batching.busy("m2")
    waiting = [asyncio.create_task(edit(batching, platform, "m1", v)) for v in (2, 3, 4)]
    # Another message is not held up by this one's edits.
    platform.gate.set()
    assert await edit(batching, platform, "m2", 9)
    assert await first
    assert await asyncio.gather(*waiting) == [False, False, True]
    assert [(key, wanted.poll_version) for key, _, wanted in platform.sent] == [
        ("m2", 9),
        ("m1", 1),
        ("m1", 4),
    ]
    assert not batching.busy("m1")


async def test_counts_never_go_backwards() -> None:
    batching: EditBatching[str] = EditBatching()
    platform = Platform()
    assert await edit(batching, platform, "m1", 5)
    # A slower edit from before (the refresh job's, say) arrives after a press's newer one.
    assert not await edit(batching, platform, "m1", 4)
    assert [wanted.poll_version for _, _, wanted in platform.sent] == [5]
    assert batching.shown("m1") == Shown(5, "counts 5")


async def test_a_failed_edit_leaves_the_message_as_it_was() -> None:
    batching: EditBatching[str] = EditBatching()
    platform = Platform()
    batching.sent("m1", Shown(1, "counts 1"))
    platform.fail = RuntimeError("flood control")
    with pytest.raises(RuntimeError):
        await edit(batching, platform, "m1", 2)
    assert batching.shown("m1") == Shown(1, "counts 1")
    assert not batching.busy("m1")
    platform.fail = None
    assert await edit(batching, platform, "m1", 2)
    assert [wanted.poll_version for _, _, wanted in platform.sent] == [2]


async def test_a_message_without_a_poll_is_edited_when_it_looks_different() -> None:
    batching: EditBatching[str] = EditBatching()
    platform = Platform()
    assert await batching.edit("m1", Shown(None, "removed"), platform.sender("m1", Shown(None, "")))
    assert await batching.edit("m1", Shown(None, "removed"), platform.sender("m1", Shown(None, "")))
    assert len(platform.sent) == 1


async def test_memory_is_bounded() -> None:
    batching: EditBatching[str] = EditBatching(size=3)
    platform = Platform()
    for n in range(10):
        assert await edit(batching, platform, f"m{n}", 1)
    assert [batching.shown(f"m{n}") is not None for n in range(10)] == [False] * 7 + [True] * 3
    # A forgotten message is simply edited again.
    assert await edit(batching, platform, "m0", 1)
    assert len(platform.sent) == 11


def test_lru_forgets_the_least_recently_used() -> None:
    lru: Lru[str, int] = Lru(2)
    lru.set("a", 1)
    lru.set("b", 2)
    assert lru.get("a") == 1  # now b is the least recently used
    lru.set("c", 3)
    assert "b" not in lru and lru.get("a") == 1 and lru.get("c") == 3
    assert len(lru) == 2


async def test_keyed_locks_are_dropped_when_free() -> None:
    locks = KeyedLocks()
    async with locks.hold("a"):
        assert locks.busy("a") and len(locks) == 1
    assert not locks.busy("a") and len(locks) == 0


async def test_with_other_workers_an_edit_is_sent_whatever_this_process_remembers() -> None:
    # Another worker may have edited the message since: "counts 1" remembered here is not
    # what it shows, so an edit back to it must go out, as a whole edit (no lighter one).
    sharing = Sharing()
    batching: EditBatching[str] = EditBatching(sharing=sharing)
    platform = Platform()
    batching.sent("m1", Shown(1, "counts 1"))
    sharing.set(True)
    assert await batching.edit("m1", Shown(3, "counts 1"), platform.sender("m1", Shown(3, "")))
    assert [(key, before) for key, before, _ in platform.sent] == [("m1", None)]
    # Alone again: what was remembered while others edited is forgotten, not trusted.
    sharing.set(False)
    assert batching.shown("m1") is None
