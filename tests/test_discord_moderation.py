"""Moderation on Discord end to end: each moderation command as a slash command by the bot's
owner, a bot admin, a chat admin, a member, a banned and a muted person, through the real
discord.py client and the real adapter against FakeDiscord. What the person sees, what the bot
does on the server, and the audit row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.platforms.discord.render import escape
from handlers.i18n import format_date, t
from storage.models import AuditEntry, UserRef
from storage.moderation import BOT_WIDE
from tests.discord_helpers import (
    ALICE,
    BOB,
    GUILD,
    MANAGER_PERMISSIONS,
    MOD,
    NEWS,
    OTHER,
    Bot,
    article,
    chat,
    configure,
    labels,
    running_bot,
    setup_server,
)
from tests.fakes.discord_api import (
    DEFAULT_BOT_PERMISSIONS,
    FakeDiscord,
    FakeMessage,
)

# The people of the server. setup_server adds MOD, a chat admin (Manage Channels, Ban Members,
# Moderate Members), ALICE and BOB; BOB is the one every moderation command is about.
BOSS = 800_000_000_000_000_020  # the bot's owner by NEWSBOT_ADMINS, a plain member otherwise
HELPER = 800_000_000_000_000_021  # a bot admin, a plain member otherwise
MANAGER = 800_000_000_000_000_022  # Manage Channels, but no right over people
CAROL = 800_000_000_000_000_023  # banned by the bot
DAVE = 800_000_000_000_000_024  # muted by the bot
PEOPLE = {
    "owner": BOSS,
    "bot_admin": HELPER,
    "chat_admin": MOD,
    "member": ALICE,
    "banned": CAROL,
    "muted": DAVE,
}
ROLES = tuple(PEOPLE)
NAMES = {"alice": ALICE, "bob": BOB, "mod": MOD, "boss": BOSS, "helper": HELPER, "dave": DAVE}
ADMINS = frozenset({"owner", "bot_admin", "chat_admin"})
BOT_ADMINS = frozenset({"owner", "bot_admin"})
ARTICLE = 1  # the one article of every test
VOTE = "nb:vote:{}:{}"


def person(user_id: int) -> UserRef:
    return UserRef("discord", str(user_id))


def key(user_id: int) -> str:
    return person(user_id).key()


class Clock:
    """The store's clock, moved on by the test: mutes end without sleeping. It starts at the
    real time, because Discord (and the fake) time out people by the real clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, span: timedelta) -> None:
        self.now += span


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        setup_server(fake)
        fake.add_member(GUILD, BOSS, "boss")
        fake.add_member(GUILD, HELPER, "helper")
        fake.add_member(GUILD, MANAGER, "manager", MANAGER_PERMISSIONS)
        fake.add_member(GUILD, CAROL, "carol")
        fake.add_member(GUILD, DAVE, "dave")
        configure(
            monkeypatch,
            tmp_path,
            fake,
            NEWSBOT_ADMINS=f"discord:{BOSS}",
            NEWSBOT_DISCORD_RATE_PER_CHANNEL="50",
        )
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bot(dc: FakeDiscord, clock: Clock) -> AsyncIterator[Bot]:
    """The running bot with the roles given out, one article with its poll, and people the
    bot has seen (so that answers name them as @name)."""
    async with running_bot(dc) as running:
        running.store.clock = clock
        mod = running.app.runtime.ctx.mod

        def give_out_roles() -> None:  # in the database thread, which the running bot owns
            for name, user_id in NAMES.items():
                mod.seen(UserRef("discord", str(user_id), name, name))
            mod.grant_admin(person(HELPER), key(BOSS))
            mod.ban(person(CAROL), BOT_WIDE, "Spam", key(BOSS))
            mod.mute(person(DAVE), BOT_WIDE, clock.now + timedelta(days=30), "laut", key(BOSS))

        await running.app.db.run(give_out_roles)
        assert await running.ingest(article()) == ARTICLE
        yield running


def audit_rows(bot: Bot, after: int = 0) -> list[tuple[str, str, str | None, str]]:
    """(actor, action, target, outcome) of the audit rows past the first `after`, oldest first."""
    entries: list[AuditEntry] = bot.app.runtime.ctx.mod.audit_entries(1000)
    return [(e.actor, e.action, e.target, e.outcome) for e in reversed(entries)][after:]


def state(bot: Bot) -> dict[str, object]:
    """Everything a moderation command in NEWS could change, in the bot and on the server."""
    mod, store, dc = bot.app.runtime.ctx.mod, bot.store, bot.dc
    bob, news = person(BOB), chat(NEWS)
    ban, mute = mod.ban_of(bob, news), mod.mute_of(bob, news)
    member = dc.guilds[GUILD].members.get(BOB)
    found = store.get_article(ARTICLE)
    poll = store.get_poll(ARTICLE)
    return {
        "banned": ban.scope if ban else None,
        "banned_on_server": BOB in dc.bans(GUILD),
        "muted": mute.scope if mute else None,
        "timed_out": member.timed_out if member else None,
        "warnings": len(mod.warnings(bob, BOT_WIDE)) + len(mod.warnings(bob, news.key())),
        "removed": found.removed if found else None,
        "closed": poll.closed if poll else None,
        "threads": store.chat_settings(news).threads,
        "subscriptions": tuple(s.tag for s in store.subscriptions(news)),
    }


@dataclass(frozen=True)
class Case:
    """One command of the matrix. Texts and outcomes may hold {where} (everywhere or here),
    {scope} (where a moderation counts) and {until} (when a mute ends)."""

    options: dict[str, Any]
    allowed: frozenset[str]
    answer: str  # the catalogue key of the public confirmation
    row: tuple[str, str | None, str] | None  # action, target, outcome; None: not audited
    changes: dict[str, object]  # what state() shows afterwards for {scope}
    refusal: str = "error.need_admin"
    refused_target: str | None = None
    on_server: str | None = None  # what the bot also does on the server
    given: str | None = None  # BOB is "banned" or "muted" in NEWS and on the server already


MUTE = timedelta(hours=1)
MATRIX = {
    "ban": Case(
        {"user": BOB, "reason": "Spam"},
        ADMINS,
        "mod.banned_{where}",
        ("ban", key(BOB), "scope={scope}"),
        {"banned": "{scope}", "banned_on_server": True, "timed_out": None},
        on_server="ban",
    ),
    "unban": Case(
        {"user": BOB},
        ADMINS,
        "mod.unbanned",
        ("unban", key(BOB), "ok"),
        {"banned": None, "banned_on_server": False},
        on_server="unban",
        given="banned",
    ),
    "mute": Case(
        {"user": BOB, "duration": "1h"},
        ADMINS,
        "mod.muted",
        ("mute", key(BOB), "until={until}"),
        {"muted": "{scope}", "timed_out": True},
        on_server="mute",
    ),
    "unmute": Case(
        {"user": BOB},
        ADMINS,
        "mod.unmuted",
        ("unmute", key(BOB), "ok"),
        {"muted": None, "timed_out": False},
        on_server="unmute",
        given="muted",
    ),
    "warn": Case(
        {"user": BOB, "reason": "Ton"},
        ADMINS,
        "mod.warned",
        ("warn", key(BOB), "count=1"),
        {"warnings": 1},
    ),
    "remove": Case(
        {"id": ARTICLE, "reason": "Falschmeldung"},
        BOT_ADMINS,
        "mod.removed",
        ("remove", f"#{ARTICLE}", "ok"),
        {"removed": True},
        refusal="error.need_bot_admin",
        refused_target=f"#{ARTICLE}",
    ),
    "closepoll": Case(
        {"id": ARTICLE},
        BOT_ADMINS,
        "mod.poll_closed",
        ("closepoll", f"#{ARTICLE}", "ok"),
        {"closed": True},
        refusal="error.need_bot_admin",
        refused_target=f"#{ARTICLE}",
    ),
    "settings": Case(
        {"name": "threads", "value": "on"},
        ADMINS,
        "admin.settings",
        ("settings", "threads=on", "ok"),
        {"threads": True},
        refused_target="threads=on",
    ),
    # Subscribing changes the chat, but the issue logs only admins, feeds and settings.
    "subscribe": Case(
        {"tags": "Wetter"},
        ADMINS,
        "sub.added",
        ("subscribe", "Wetter", "ok"),
        {"subscriptions": ("Wetter",)},
        refused_target="Wetter",
    ),
}


async def prepare(bot: Bot, case: Case, clock: Clock) -> None:
    """BOB banned or muted in NEWS (by a chat admin) and on the server, for unban and unmute."""
    mod, bob, news = bot.app.runtime.ctx.mod, person(BOB), chat(NEWS)
    if case.given == "banned":
        await bot.app.db.run(mod.ban, bob, news.key(), "Spam", key(MOD))
        assert await bot.adapter.ban_member(news, bob)
    if case.given == "muted":
        until = clock.now + MUTE
        await bot.app.db.run(mod.mute, bob, news.key(), until, "laut", key(MOD))
        assert await bot.adapter.restrict_member(news, bob, until)


def locked_out(bot: Bot, role: str) -> str:
    """What the banned or the muted person is told, whatever they try."""
    if role == "banned":
        return t("mod.you_are_banned", "de")
    mute = bot.app.runtime.ctx.mod.mute_of(person(DAVE), None)
    assert mute is not None
    return t("mod.you_are_muted", "de", until=format_date(mute.until, "de"))


def fill(value: object, **params: str) -> object:
    return value.format(**params) if isinstance(value, str) else value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", list(MATRIX))
async def test_role_matrix_in_a_server_channel(
    bot: Bot, dc: FakeDiscord, clock: Clock, command: str, role: str
) -> None:
    case = MATRIX[command]
    await prepare(bot, case, clock)
    before, rows_before = state(bot), len(audit_rows(bot))
    actor = PEOPLE[role]

    iid = await dc.slash(GUILD, NEWS, actor, command, case.options, locale="de")
    first = await dc.wait_for_interaction_response(iid)
    new_rows = audit_rows(bot, rows_before)
    after = state(bot)

    if role in case.allowed:
        scope = BOT_WIDE if role in BOT_ADMINS else chat(NEWS).key()
        until = clock.now + MUTE
        params = {"scope": scope, "until": until.isoformat()}
        expected = t(
            case.answer.format(where="everywhere" if scope == BOT_WIDE else "here"),
            "de",
            user="@bob",
            id=ARTICLE,
            count=1,
            limit=3,
            until=format_date(until, "de"),
            tags="Wetter",
            language="de",
            subscribe=t("admin.policy_admins", "de"),
            threads=t("admin.on", "de"),
        )
        assert not first.ephemeral, first.content
        assert escape(expected) in (first.content or "")
        rows = []
        if case.row is not None:
            action, target, outcome = case.row
            rows.append((key(actor), action, target, outcome.format(**params)))
        if case.on_server is not None:
            # The bot did it on the server too, and says so privately.
            note = await dc.wait_for_interaction_response(iid, count=2)
            assert note.ephemeral
            assert note.content == t("mod.platform_done", "de")
            rows.append((key(actor), f"platform_{case.on_server}", key(BOB), "ok"))
        assert new_rows == rows
        changed = {name: fill(value, **params) for name, value in case.changes.items()}
        assert after == {**before, **changed}
        return

    refusal = locked_out(bot, role) if role in {"banned", "muted"} else t(case.refusal, "de")
    assert first.ephemeral
    assert first.content == escape(refusal)
    # A refused attempt is one audit row; banned and muted people are not listened to.
    if role in {"banned", "muted"}:
        assert new_rows == []
    else:
        # A refusal names whom the command named, as given, before any lookup.
        named = key(case.options["user"]) if "user" in case.options else case.refused_target
        assert new_rows == [(key(actor), command, named, "refused")]
    assert after == before
    assert len(dc.interaction_responses(iid)) == 1


# --------------------------------------------------------------------------- who is an admin


async def test_the_owner_names_bot_admins_and_only_the_owner(bot: Bot, dc: FakeDiscord) -> None:
    refused = await bot.slash(NEWS, HELPER, "admin", {"action": "add", "user": ALICE})
    assert refused.ephemeral
    assert refused.content == t("error.need_owner", "de")

    added = await bot.slash(NEWS, BOSS, "admin", {"action": "add", "user": ALICE})
    assert not added.ephemeral
    assert added.content == t("admin.added", "de", user="@alice")
    closed = await bot.slash(NEWS, ALICE, "closepoll", {"id": ARTICLE})
    assert closed.content == t("mod.poll_closed", "de", id=ARTICLE)

    await bot.slash(NEWS, BOSS, "admin", {"action": "remove", "user": ALICE})
    again = await bot.slash(NEWS, ALICE, "reopenpoll", {"id": ARTICLE})
    assert again.ephemeral
    assert again.content == t("error.need_bot_admin", "de")
    assert audit_rows(bot) == [
        (key(HELPER), "admin", None, "refused"),
        (key(BOSS), "admin_add", key(ALICE), "ok"),
        (key(ALICE), "closepoll", f"#{ARTICLE}", "ok"),
        (key(BOSS), "admin_remove", key(ALICE), "ok"),
        (key(ALICE), "reopenpoll", f"#{ARTICLE}", "refused"),
    ]


async def test_chat_admin_rights_are_checked_per_channel_on_every_command(
    bot: Bot, dc: FakeDiscord
) -> None:
    # The server takes Manage Channels from the chat admin in NEWS only, after they used it.
    options = {"name": "threads", "value": "on"}
    assert not (await bot.slash(NEWS, MOD, "settings", options)).ephemeral
    dc.set_overwrite(NEWS, MOD, deny=discord.Permissions(manage_channels=True))
    refused = await bot.slash(NEWS, MOD, "settings", {"name": "threads", "value": "off"})
    assert refused.ephemeral
    assert refused.content == t("error.need_admin", "de")
    elsewhere = await bot.slash(OTHER, MOD, "settings", options)
    assert not elsewhere.ephemeral
    assert bot.store.chat_settings(chat(NEWS)).threads
    assert audit_rows(bot) == [
        (key(MOD), "settings", "threads=on", "ok"),
        (key(MOD), "settings", "threads=off", "refused"),
        (key(MOD), "settings", "threads=on", "ok"),
    ]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("ban", {"user": BOB, "reason": "Spam"}),
        ("unban", {"user": BOB}),
        ("mute", {"user": BOB, "duration": "1h"}),
        ("warn", {"user": BOB}),
    ],
)
async def test_manage_channels_alone_does_not_ban_or_time_out_people(
    bot: Bot, dc: FakeDiscord, command: str, options: dict[str, Any]
) -> None:
    """Banning and timing out people are Discord's Ban Members and Moderate Members: a member
    who may only manage channels cannot have the bot do it for them on the server."""
    before = state(bot)
    refused = await bot.slash(NEWS, MANAGER, command, options)
    assert refused.ephemeral
    assert refused.content == t("error.need_admin", "de")
    assert audit_rows(bot) == [(key(MANAGER), command, key(options["user"]), "refused")]
    assert state(bot) == before
    # Their channel's settings are theirs, though.
    settings = {"name": "threads", "value": "on"}
    assert not (await bot.slash(NEWS, MANAGER, "settings", settings)).ephemeral


# --------------------------------------------------------------------------- on the server


@pytest.mark.parametrize("how", ["bot_permission", "refused_request"])
@pytest.mark.parametrize(
    ("command", "options", "right", "route"),
    [
        ("ban", {"user": BOB, "reason": "Spam"}, "ban_members", "ban"),
        ("mute", {"user": BOB, "duration": "1h"}, "moderate_members", "edit_member"),
    ],
)
async def test_without_the_right_on_the_server_the_bot_says_so(
    bot: Bot,
    dc: FakeDiscord,
    command: str,
    options: dict[str, Any],
    right: str,
    route: str,
    how: str,
) -> None:
    if how == "bot_permission":
        lacking = discord.Permissions(DEFAULT_BOT_PERMISSIONS)
        setattr(lacking, right, False)
        dc.set_bot_permissions(GUILD, lacking)
    else:
        dc.fail_next(route, kind="missing_permissions")
    iid = await dc.slash(GUILD, NEWS, MOD, command, options, locale="de")
    answer = await dc.wait_for_interaction_response(iid)
    note = await dc.wait_for_interaction_response(iid, count=2)
    assert not answer.ephemeral
    assert note.ephemeral
    assert note.content == t("mod.platform_no_right", "de")
    # In the bot it holds all the same; on the server nothing happened.
    scope = chat(NEWS).key()
    outcome = "scope=" + scope if command == "ban" else "until="
    rows = audit_rows(bot)
    assert [r[:3] for r in rows] == [
        (key(MOD), command, key(BOB)),
        (key(MOD), f"platform_{command}", key(BOB)),
    ]
    assert rows[0][3].startswith(outcome)
    assert rows[1][3] == "not_allowed"
    after = state(bot)
    assert after["banned" if command == "ban" else "muted"] == scope
    assert BOB not in dc.bans(GUILD)
    assert not dc.member(GUILD, BOB).timed_out
    if how == "refused_request":
        assert [r.status for r in dc.requests_for(route)] == [403]


# --------------------------------------------------------------------------- votes


async def test_a_banned_persons_votes_stop_counting_and_their_presses_change_nothing(
    bot: Bot, dc: FakeDiscord
) -> None:
    await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
    post = await bot.post_in(NEWS, ARTICLE)
    await bot.press(post, ALICE, VOTE.format(ARTICLE, 1))
    await bot.press(post, BOB, VOTE.format(ARTICLE, 2))
    assert labels(dc.message(post.id))[:2] == ["Sehr gut · 1", "Gut · 1"]

    # A bot-wide ban from the owner's DM: nothing happens on the server, BOB stays in it.
    dm = dc.dm_channel(BOSS)
    banned = await bot.slash(dm, BOSS, "ban", {"user": BOB, "reason": "Stimmenkauf"}, guild=None)
    assert banned.content == escape(t("mod.banned_everywhere", "de", user="@bob"))
    # The refresh job shows the post without BOB's vote.
    await dc.wait_for(lambda: labels(dc.message(post.id))[1] == "Gut · 0", what="a recount")

    (notice,) = await bot.press(post, BOB, VOTE.format(ARTICLE, 3))
    assert notice.ephemeral
    assert notice.content == t("mod.you_are_banned", "de")
    assert labels(dc.message(post.id))[:3] == ["Sehr gut · 1", "Gut · 0", "Befriedigend · 0"]
    poll = bot.store.get_poll(ARTICLE)
    assert poll is not None
    assert poll.total == 1
    assert bot.store.stats().votes == 2  # stored, not counted

    await bot.slash(dm, BOSS, "unban", {"user": BOB}, guild=None)
    await dc.wait_for(lambda: labels(dc.message(post.id))[1] == "Gut · 1", what="a recount")
    assert audit_rows(bot, after=1) == [  # after the subscription
        (key(BOSS), "ban", key(BOB), f"scope={BOT_WIDE}"),
        (key(BOSS), "unban", key(BOB), "ok"),
    ]


@pytest.mark.parametrize("role", ["banned", "muted"])
async def test_banned_and_muted_presses_get_a_private_notice(
    bot: Bot, dc: FakeDiscord, role: str
) -> None:
    await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
    post = await bot.post_in(NEWS, ARTICLE)
    (notice,) = await bot.press(post, PEOPLE[role], VOTE.format(ARTICLE, 1))
    assert notice.ephemeral
    assert notice.content == escape(locked_out(bot, role))
    assert labels(dc.message(post.id))[0] == "Sehr gut · 0"
    assert bot.store.stats().votes == 0
    assert audit_rows(bot) == [(key(MOD), "subscribe", "xAI", "ok")]  # and nothing after it


# --------------------------------------------------------------------------- articles


def bot_posts(dc: FakeDiscord, channel_id: int) -> list[FakeMessage]:
    """The bot's own posts in a channel (not answers to commands)."""
    return [m for m in dc.messages(channel_id) if m.interaction_id is None and not m.deleted]


async def test_remove_replaces_the_posts_everywhere_and_restore_brings_them_back(
    bot: Bot, dc: FakeDiscord
) -> None:
    channels = (NEWS, OTHER)
    for channel in channels:
        await bot.slash(channel, MOD, "subscribe", {"tags": "xAI"})
        await bot.post_in(channel, ARTICLE)
    buttons = [VOTE.format(ARTICLE, option) for option in range(1, 6)]

    removed = await bot.slash(NEWS, BOSS, "remove", {"id": ARTICLE, "reason": "Falschmeldung"})
    assert removed.content == escape(t("mod.removed", "de", id=ARTICLE))
    note = t("post.removed", "de")

    def replaced() -> bool:
        posts = [p for c in channels for p in bot_posts(dc, c)]
        return len(posts) == 2 and all(
            note in p.content and not p.embeds and not p.custom_ids for p in posts
        )

    await dc.wait_for(replaced, what="both posts replaced by the note")
    (entry,) = bot.app.runtime.ctx.mod.audit_entries(1)
    assert (entry.actor, entry.action, entry.target, entry.reason, entry.outcome) == (
        key(BOSS),
        "remove",
        f"#{ARTICLE}",
        "Falschmeldung",
        "ok",
    )

    restored = await bot.slash(NEWS, BOSS, "restore", {"id": ARTICLE})
    assert restored.content == escape(t("mod.restored", "de", id=ARTICLE))

    def back() -> bool:
        posts = [p for c in channels for p in bot_posts(dc, c)]
        return len(posts) == 2 and all(
            p.embeds and p.custom_ids == buttons and note not in p.content for p in posts
        )

    await dc.wait_for(back, what="both posts back with their buttons")
    assert audit_rows(bot)[-1] == (key(BOSS), "restore", f"#{ARTICLE}", "ok")


# --------------------------------------------------------------------------- time


async def test_a_mute_ends_on_time(bot: Bot, dc: FakeDiscord, clock: Clock) -> None:
    iid = await dc.slash(GUILD, NEWS, MOD, "mute", {"user": BOB, "duration": "1h"}, locale="de")
    await dc.wait_for_interaction_response(iid, count=2)
    assert dc.member(GUILD, BOB).timed_out
    muted = escape(t("mod.you_are_muted", "de", until=format_date(clock.now + MUTE, "de")))

    answer = await bot.slash(NEWS, BOB, "tags")
    assert (answer.ephemeral, answer.content) == (True, muted)
    # A chat admin's mute holds in their channel only.
    assert not (await bot.slash(OTHER, BOB, "tags")).ephemeral

    clock.advance(timedelta(minutes=59))
    answer = await bot.slash(NEWS, BOB, "tags")
    assert (answer.ephemeral, answer.content) == (True, muted)

    clock.advance(timedelta(minutes=2))
    answer = await bot.slash(NEWS, BOB, "tags")
    assert not answer.ephemeral
    assert t("tags.header", "de") in (answer.content or "")
    # Nothing to log when a mute runs out.
    assert [row[1] for row in audit_rows(bot)] == ["mute", "platform_mute"]


async def test_a_later_option_counts_when_an_earlier_one_is_left_out(bot: Bot) -> None:
    """/audit's `count` left out, `about` given: the filter still applies."""
    await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
    await bot.slash(NEWS, BOSS, "closepoll", {"id": ARTICLE})
    shown = await bot.slash(NEWS, BOSS, "audit", {"about": f"#{ARTICLE}"})
    assert "closepoll" in shown.content
    assert "subscribe" not in shown.content
