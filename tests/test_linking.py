"""One person across platforms (/link, /unlink), through the real handlers on both engines:
a code asked for on one platform and sent from another makes the two accounts one person,
with one vote per article, one ban, one mute and one set of warnings; the refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from handlers.context import Ctx
from storage.models import ChatRef, UserRef
from storage.polls import COUNTED_VOTE
from tests.conftest import Chat, add, article, vote_data

CODE = re.compile(r"\b([A-Z0-9]{5}-[A-Z0-9]{5})\b")


class Clock:
    """The store's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def private(ctx: Ctx, platform: str, chat_id: str = "dm") -> Chat:
    return Chat(ctx, ChatRef(platform, chat_id))


async def code_from(chat: Chat, user: str = "alice") -> str:
    answer = await chat.text("/link", user)
    found = CODE.search(answer)
    assert found, answer
    return found.group(1)


async def linked(ctx: Ctx) -> tuple[Chat, Chat]:
    """Alice on Telegram and on Discord, linked: the code asked for on Telegram."""
    tg, dc = private(ctx, "telegram"), private(ctx, "discord")
    await dc.text("/help")  # the bot has seen her there
    code = await code_from(tg)
    assert "jetzt eine Person" in await dc.text(f"/link {code}")
    return tg, dc


def counts(ctx: Ctx, article_id: int) -> list[int]:
    poll = ctx.store.get_poll(article_id)
    assert poll is not None
    return [o.votes for o in poll.options]


async def test_a_code_from_telegram_links_the_discord_account(any_ctx: Ctx) -> None:
    tg, dc = await linked(any_ctx)
    assert "verbunden mit Discord @alice" in await tg.text("/link")
    assert "verbunden mit Telegram @alice" in await dc.text("/link")
    entries = [e for e in any_ctx.mod.audit_entries(10) if e.action == "link"]
    assert [(e.actor, e.target, e.outcome) for e in entries] == [
        ("discord:alice", "telegram:alice", "votes_merged=0")
    ]


async def test_one_vote_per_article_across_both_accounts(any_ctx: Ctx) -> None:
    tg, dc = await linked(any_ctx)
    article_id = add(any_ctx, article())
    tg_post, dc_post = tg.post(article_id), dc.post(article_id)
    await tg.press(vote_data(article_id, 1), on=tg_post)  # "Sehr gut" on Telegram
    version = any_ctx.store.get_poll(article_id).version  # type: ignore[union-attr]
    await dc.press(vote_data(article_id, 4), on=dc_post)  # then "Schwach" on Discord
    assert counts(any_ctx, article_id) == [0, 0, 0, 1, 0]
    poll = any_ctx.store.get_poll(article_id)
    assert poll is not None and poll.version > version
    stale = {p.message.chat.platform for p in any_ctx.store.stale_posts(["telegram", "discord"])}
    assert stale == {"telegram", "discord"}  # both posts show the new counts soon
    # Pressing the person's option again, from either account, takes the vote back.
    await tg.press(vote_data(article_id, 4), on=tg_post)
    assert counts(any_ctx, article_id) == [0, 0, 0, 0, 0]
    assert any_ctx.store.stats().votes == 0


async def test_votes_cast_before_the_link_merge_the_later_stays(any_ctx: Ctx) -> None:
    clock = Clock()
    any_ctx.store.clock = clock
    first, second = add(any_ctx, article()), add(any_ctx, article(title="Zweiter Artikel"))
    tg, dc = private(any_ctx, "telegram"), private(any_ctx, "discord")
    await tg.press(vote_data(first, 1), on=tg.post(first))
    await tg.press(vote_data(second, 2), on=tg.post(second, "m2"))
    clock.now += timedelta(minutes=1)
    await dc.press(vote_data(first, 3), on=dc.post(first))
    assert counts(any_ctx, first) == [1, 0, 1, 0, 0]
    code = await code_from(tg)
    await dc.text(f"/link {code}")
    assert counts(any_ctx, first) == [0, 0, 1, 0, 0]  # the later one, from Discord
    assert counts(any_ctx, second) == [0, 1, 0, 0, 0]
    # Still one person, one vote: Telegram moves the vote that Discord cast.
    await tg.press(vote_data(first, 5), on=tg.post(first))
    assert counts(any_ctx, first) == [0, 0, 0, 0, 1]


async def test_a_ban_a_mute_and_warnings_hold_on_both_accounts(any_ctx: Ctx) -> None:
    tg, dc = await linked(any_ctx)
    article_id = add(any_ctx, article())
    await dc.press(vote_data(article_id, 2), on=dc.post(article_id))
    tg_admin = private(any_ctx, "telegram", "admin-dm")  # NEWSBOT_ADMINS has telegram:1
    dc_admin = private(any_ctx, "discord", "admin-dm")  # and discord:2

    await tg_admin.text("/warn @alice Spam", "1")
    assert "1 Verwarnung" in await dc_admin.text("/warnings @alice", "2")

    assert "überall gesperrt" in await tg_admin.text("/ban @alice Stimmenkauf", "1")
    assert await dc.text("/latest") == "Du bist gesperrt."
    assert counts(any_ctx, article_id) == [0, 0, 0, 0, 0]  # her Discord vote stops counting
    assert "Sperre für @alice ist aufgehoben" in await dc_admin.text("/unban @alice", "2")
    assert "Du bist gesperrt." not in await tg.text("/latest")
    assert counts(any_ctx, article_id) == [0, 1, 0, 0, 0]

    await dc_admin.text("/mute @alice 1h", "2")
    assert "stumm" in await tg.text("/latest")
    await tg_admin.text("/unmute @alice", "1")
    assert "stumm" not in await dc.text("/latest")


async def test_a_ban_before_the_link_carries_over(any_ctx: Ctx) -> None:
    tg, dc = private(any_ctx, "telegram"), private(any_ctx, "discord")
    code = await code_from(tg)
    admin = private(any_ctx, "discord", "admin-dm")
    await dc.text("/help")
    await admin.text("/warn @alice", "2")
    await private(any_ctx, "telegram", "admin-dm").text("/ban @alice", "1")
    # She asked for the code before the ban; the other account still takes it.
    assert "jetzt eine Person" in await dc.text(f"/link {code}")
    assert await dc.text("/latest") == "Du bist gesperrt."
    tg_warnings = any_ctx.mod.warnings(UserRef("telegram", "alice"), "*")
    assert [w.by for w in tg_warnings] == ["discord:2"]


async def test_unlink_keeps_each_vote_with_its_account(any_ctx: Ctx) -> None:
    tg, dc = await linked(any_ctx)
    article_id = add(any_ctx, article())
    await dc.press(vote_data(article_id, 2), on=dc.post(article_id))
    assert "aufgehoben" in await tg.text("/unlink")
    assert "mit keinem anderen verbunden" in await dc.text("/unlink")
    assert counts(any_ctx, article_id) == [0, 1, 0, 0, 0]  # the Discord vote stays
    await tg.press(vote_data(article_id, 1), on=tg.post(article_id))
    assert counts(any_ctx, article_id) == [1, 1, 0, 0, 0]  # two accounts, two votes again
    await any_ctx.db.run(lambda: None)
    entries = [e.action for e in any_ctx.mod.audit_entries(10)]
    assert "unlink" in entries


async def test_forgetting_one_account_unlinks_it(any_ctx: Ctx) -> None:
    tg, dc = await linked(any_ctx)
    await tg.text("/forgetme")
    assert "mit keinem anderen verbunden" in await dc.text("/unlink")


async def test_wrong_expired_and_reused_codes_are_refused(any_ctx: Ctx) -> None:
    clock = Clock()
    any_ctx.store.clock = clock
    tg, dc = private(any_ctx, "telegram"), private(any_ctx, "discord")
    assert "stimmt nicht" in await dc.text("/link AAAAA-AAAAA")

    code = await code_from(tg)
    clock.now += timedelta(minutes=10, seconds=1)
    assert "abgelaufen" in await dc.text(f"/link {code}")

    code = await code_from(tg)
    clock.now += timedelta(minutes=9)
    # Typed in lower case and without its dash, it is the same code.
    assert "jetzt eine Person" in await dc.text(f"/link {code.lower().replace('-', '')}")
    assert "schon benutzt" in await private(any_ctx, "console").text(f"/link {code}")
    outcomes = [e.outcome for e in any_ctx.mod.audit_entries(10) if e.action == "link"]
    assert outcomes == ["used", "votes_merged=0", "expired", "wrong_code"]


async def test_a_code_sent_on_its_own_platform_is_refused_and_stays_good(any_ctx: Ctx) -> None:
    tg = private(any_ctx, "telegram")
    code = await code_from(tg)
    assert "anderen Plattform" in await private(any_ctx, "telegram", "bob").text(
        f"/link {code}", "bob"
    )
    assert "anderen Plattform" in await tg.text(f"/link {code}")
    assert "jetzt eine Person" in await private(any_ctx, "discord").text(f"/link {code}")


async def test_codes_and_tries_are_limited_per_hour(any_ctx: Ctx) -> None:
    clock = Clock()
    any_ctx.store.clock = clock
    tg, dc = private(any_ctx, "telegram"), private(any_ctx, "discord")
    codes = [await code_from(tg) for _ in range(5)]
    assert "Zu viele" in await tg.text("/link")
    # Only the newest code works; wrong codes count too.
    for _ in range(4):
        assert "stimmt nicht" in await dc.text(f"/link {codes[0]}")
    assert "stimmt nicht" in await dc.text("/link BBBBB-BBBBB")
    assert "Zu viele" in await dc.text(f"/link {codes[-1]}")  # even the right one, now
    clock.now += timedelta(hours=1, seconds=1)
    assert "jetzt eine Person" in await dc.text(f"/link {await code_from(tg)}")


@pytest.mark.parametrize("text", ["/link", "/link ABCDE-FGHJK", "/unlink"])
async def test_link_is_refused_in_a_group(any_ctx: Ctx, text: str) -> None:
    group = Chat(any_ctx, ChatRef("telegram", "-100"), is_private=False)
    assert "privaten Chat" in await group.text(text)
    assert not CODE.search(await group.text(text))


async def test_a_third_platform_joins_the_person_and_platforms_stay_unique(any_ctx: Ctx) -> None:
    tg, _dc = await linked(any_ctx)
    terminal = private(any_ctx, "console", "local")
    code = await code_from(terminal)
    answer = await tg.text(f"/link {code}")
    assert "Discord @alice" in answer and "Terminal @alice" in answer
    # Bob's Discord account cannot join Alice's person: it has a Discord account.
    bob_code = await code_from(private(any_ctx, "discord", "bob"), "bob")
    assert "derselben Plattform" in await tg.text(f"/link {bob_code}")


async def test_an_owner_stays_protected_through_a_linked_account(any_ctx: Ctx) -> None:
    owner_tg = private(any_ctx, "telegram")  # NEWSBOT_ADMINS has telegram:1
    carol_dc = private(any_ctx, "discord", "carol")
    await carol_dc.text("/help", "carol")
    code = await code_from(owner_tg, "1")
    assert "jetzt eine Person" in await carol_dc.text(f"/link {code}", "carol")
    group = Chat(any_ctx, ChatRef("discord", "news"), is_private=False)
    answer = await group.text("/ban @carol", "mod", admin=True)
    assert answer == "@carol ist Admin des Bots; das können nur die Betreiber."
    assert any_ctx.mod.ban_of(UserRef("discord", "carol"), None) is None
    assert any_ctx.mod.ban_of(UserRef("telegram", "1"), None) is None


async def test_a_vote_from_the_store_follows_the_person(any_ctx: Ctx) -> None:
    await linked(any_ctx)
    article_id = add(any_ctx, article())
    store = any_ctx.store
    assert store.cast_vote(article_id, UserRef("telegram", "alice"), 2).kind == "cast"
    assert store.cast_vote(article_id, UserRef("discord", "alice"), 3).kind == "moved"
    assert store.cast_vote(article_id, UserRef("telegram", "alice"), 3).kind == "withdrawn"
    assert counts(any_ctx, article_id) == [0, 0, 0, 0, 0]


async def test_a_mute_before_the_link_holds_on_the_other_account(any_ctx: Ctx) -> None:
    tg, dc = private(any_ctx, "telegram"), private(any_ctx, "discord")
    code = await code_from(tg)
    await tg.text("/help")
    await private(any_ctx, "telegram", "admin-dm").text("/mute @alice 2h laut", "1")
    assert "jetzt eine Person" in await dc.text(f"/link {code}")
    assert "stummgeschaltet" in await dc.text("/latest")
    await private(any_ctx, "discord", "admin-dm").text("/unmute @alice", "2")
    assert "stummgeschaltet" not in await tg.text("/latest")


def counts_kept_and_recounted(
    ctx: Ctx,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The counts the m011 triggers keep (each option's, each poll's, the totals, /stats'
    votes), and the same counted from the votes table."""
    db = ctx.store.engine
    kept = [
        *(
            tuple(r)
            for r in db.rows("SELECT article_id, position, votes FROM poll_options ORDER BY 1, 2")
        ),
        *(tuple(r) for r in db.rows("SELECT article_id, votes, points FROM polls ORDER BY 1")),
        tuple(db.rows("SELECT votes, points FROM poll_totals")[0]),
        (ctx.store.stats().votes,),
    ]
    counted = f"v.article_id = o.article_id AND v.position = o.position AND {COUNTED_VOTE}"
    recounted = [
        *(
            tuple(r)
            for r in db.rows(
                f"SELECT o.article_id, o.position, (SELECT count(*) FROM votes v WHERE {counted})"  # noqa: S608 (constant fragments)
                " FROM poll_options o ORDER BY 1, 2"
            )
        ),
        *(
            tuple(r)
            for r in db.rows(
                f"SELECT p.article_id, (SELECT count(*) FROM votes v JOIN poll_options o"  # noqa: S608 (constant fragments)
                f" ON o.article_id = v.article_id AND o.position = v.position"
                f" WHERE v.article_id = p.article_id AND {COUNTED_VOTE}),"
                f" (SELECT coalesce(sum(o.score), 0) FROM votes v JOIN poll_options o"
                f" ON o.article_id = v.article_id AND o.position = v.position"
                f" WHERE v.article_id = p.article_id AND {COUNTED_VOTE}) FROM polls p ORDER BY 1"
            )
        ),
    ]
    totals = db.rows("SELECT coalesce(sum(votes), 0), coalesce(sum(points), 0) FROM polls")[0]
    recounted += [tuple(totals), (int(db.scalar("SELECT count(*) FROM votes")),)]
    return kept, recounted


async def test_maintained_counts_stay_true_through_links(any_ctx: Ctx) -> None:
    clock = Clock()
    any_ctx.store.clock = clock
    ids = [add(any_ctx, article(title=f"Artikel {n}")) for n in range(3)]
    tg, dc = private(any_ctx, "telegram"), private(any_ctx, "discord")
    bob = private(any_ctx, "telegram", "bob")
    for n, article_id in enumerate(ids):
        await tg.press(vote_data(article_id, 1 + n), on=tg.post(article_id, f"t{n}"))
        await bob.press(vote_data(article_id, 5), "bob", on=bob.post(article_id, f"b{n}"))
    clock.now += timedelta(minutes=1)
    await dc.press(vote_data(ids[0], 4), on=dc.post(ids[0], "d0"))
    await private(any_ctx, "discord", "admin-dm").text("/ban @alice", "2")  # Discord only
    kept, recounted = counts_kept_and_recounted(any_ctx)
    assert kept == recounted

    code = await code_from(tg)
    await private(any_ctx, "discord", "admin-dm").text("/unban @alice", "2")
    await dc.text(f"/link {code}")
    await private(any_ctx, "telegram", "admin-dm").text("/ban @alice", "1")
    kept, recounted = counts_kept_and_recounted(any_ctx)
    assert kept == recounted
    await private(any_ctx, "telegram", "admin-dm").text("/unban @alice", "1")
    await dc.press(vote_data(ids[1], 3), on=dc.post(ids[1], "d1"))
    await dc.press(vote_data(ids[2], 3), on=dc.post(ids[2], "d2"))  # Telegram's 3: withdrawn
    await tg.text("/unlink")
    await tg.press(vote_data(ids[1], 1), on=tg.post(ids[1], "t1"))
    kept, recounted = counts_kept_and_recounted(any_ctx)
    assert kept == recounted
    assert [counts(any_ctx, a) for a in ids] == [
        [0, 0, 0, 1, 1],
        [1, 0, 1, 0, 1],
        [0, 0, 0, 0, 1],
    ]
