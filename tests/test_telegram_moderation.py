"""Moderation on Telegram end to end: the real App, TelegramAdapter and PTB against FakeTelegram.

The matrix sends each moderation command as each kind of sender into a supergroup and checks
what the bot says there (its replies quote the command), the audit rows the command wrote, the
platform calls it made, and whether the change happened. Further tests cover the platform
refusing, banned people's buttons, removing an article everywhere, and a mute running out on
a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.models import ChatRef, UserRef
from storage.moderation import BOT_WIDE
from tests.fakes.telegram_api import (
    ANONYMOUS_ADMIN_ID,
    TELEGRAM_SERVICE_ID,
    FakeTelegram,
    TgChat,
    TgUser,
)
from tests.telegram_helpers import TOKEN, Running, configure, labels, running

Row = tuple[str, str, str | None, str]  # actor, action, target, outcome

NEED_ADMIN = "Dafür brauchst du Admin-Rechte in diesem Chat."
NEED_BOT_ADMIN = "Dafür brauchst du Bot-Admin-Rechte."
NEED_OWNER = "Das dürfen nur die Betreiber des Bots."
YOU_ARE_BANNED = "Du bist gesperrt."
YOU_ARE_MUTED = "Du bist stummgeschaltet bis"
PLATFORM_DONE = "Auch auf der Plattform umgesetzt."
PLATFORM_NO_RIGHT = "Auf der Plattform fehlt mir dazu das Recht; im Bot gilt es trotzdem."
REMOVED_NOTE = "<i>Dieser Artikel wurde von den Moderatoren entfernt.</i>"
NOT_ENOUGH_RIGHTS = "Bad Request: not enough rights to restrict/unrestrict chat member"
MODERATION_CALLS = ("banChatMember", "unbanChatMember", "restrictChatMember", "banChatSenderChat")

OWNER_ID = 1
GROUP_ID = -1001000
GROUP = ChatRef("telegram", str(GROUP_ID))


class Clock:
    """The store's clock, moved on by hand: no test waits for time to pass."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, span: timedelta) -> None:
        self.now += span


@dataclass(frozen=True)
class Sender:
    """Someone writing in the group: a person, or a chat writing on its own behalf."""

    key: str  # the audit actor; "" for a sender the bot never hears
    user: TgUser | None = None
    sender_chat: TgChat | None = None
    automatic_forward: bool = False


@dataclass
class World:
    """The supergroup, the people in it and the people commands are about."""

    tg: FakeTelegram
    group: TgChat
    senders: dict[str, Sender]
    people: dict[str, TgUser]  # by username
    witness: TgUser  # a plain member whose /help shows that earlier updates were handled
    articles: dict[str, int] = field(default_factory=dict)

    def say(self, sender: Sender, text: str, *, reply_to: int | None = None) -> int:
        """Send a message as `sender`; returns its message id (the bot's replies quote it)."""
        update = self.tg.send_text(
            self.group,
            sender.user,
            text,
            sender_chat=sender.sender_chat,
            automatic_forward=sender.automatic_forward,
            reply_to=reply_to,
        )
        return message_id_of(self.tg, update)

    def user(self, role: str) -> TgUser:
        """The person behind a role that is a person."""
        user = self.senders[role].user
        assert user is not None, f"{role} is a chat, not a person"
        return user

    def person(self, username: str) -> Sender:
        user = self.people[username]
        return Sender(f"telegram:{user.id}", user)

    def ref(self, username: str) -> UserRef:
        user = self.people[username]
        return UserRef("telegram", str(user.id), user.first_name, username)

    async def barrier(self) -> None:
        """Returns once every update sent before it has been handled: commands in one chat
        are handled one at a time, in order."""
        mid = self.say(Sender("", self.witness), "/help")
        await self.tg.wait_for(lambda: replies_to(self.tg, self.group, mid), what="/help")


def message_id_of(tg: FakeTelegram, update_id: int) -> int:
    """The message id of an update just queued (before any await, so it is still queued)."""
    [update] = [u for u in tg.pending_updates if u["update_id"] == update_id]
    body = update.get("message") or update["channel_post"]
    return int(body["message_id"])


def replies_to(tg: FakeTelegram, chat: TgChat | TgUser, message_id: int) -> list[str]:
    """The texts of the bot's messages that quote `message_id`, oldest first."""
    return [
        str(m["text"])
        for m in tg.messages(chat)
        if (m.get("reply_parameters") or {}).get("message_id") == message_id
    ]


def audit_rows(bot: Running) -> list[Row]:
    entries = bot.app.runtime.ctx.mod.audit_entries(1000)
    return [(e.actor, e.action, e.target, e.outcome) for e in reversed(entries)]


async def said_in_private(tg: FakeTelegram, user: TgUser, text: str, expected: str) -> str:
    before = len(tg.messages(user))
    tg.send_text(user, user, text)
    reply = await tg.wait_for(
        lambda: next((m for m in tg.messages(user)[before:] if expected in str(m["text"])), None),
        what=f"{expected!r} after {text!r}",
    )
    return str(reply["text"])


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        configure(monkeypatch, tmp_path, fake)
        monkeypatch.setenv("NEWSBOT_ADMINS", f"telegram:{OWNER_ID}")
        # A busy group: more than Telegram's 20 messages a minute would make the pacer wait.
        monkeypatch.setenv("NEWSBOT_TELEGRAM_RATE_PER_GROUP_MINUTE", "1200")
        monkeypatch.setenv("NEWSBOT_TELEGRAM_RATE_OVERALL", "1000")
        yield fake


@pytest.fixture
def world(tg: FakeTelegram) -> World:
    group = tg.chat(GROUP_ID, "supergroup", title="Nachrichten")
    linked = tg.chat(-1002000, "channel", title="Hauskanal", username="hauskanal")
    other = tg.chat(-1003000, "channel", title="Fremdkanal", username="fremdkanal")
    carla = tg.user(3, "Carla", username="carla")
    tg.set_member(group, carla, "administrator")
    senders = {
        "owner": Sender("telegram:1", tg.user(OWNER_ID, "Olga", username="olga")),
        "bot_admin": Sender("telegram:2", tg.user(2, "Bert", username="bert")),
        "chat_admin": Sender("telegram:3", carla),
        "anonymous_admin": Sender(f"telegram:{GROUP_ID}", sender_chat=group),
        "member": Sender("telegram:4", tg.user(4, "Max", username="max")),
        "channel_sender": Sender(f"telegram:{other.id}", sender_chat=other),
        "banned": Sender("telegram:5", tg.user(5, "Ben", username="ben")),
        "muted": Sender("telegram:6", tg.user(6, "Moni", username="moni")),
        "linked_forward": Sender("", sender_chat=linked, automatic_forward=True),
    }
    people = {
        name: tg.user(uid, name.capitalize(), username=name)
        for uid, name in [
            (9001, "tom"),
            (9002, "tara"),
            (9004, "udo"),
            (9005, "mia"),
            (9006, "uma"),
            (9007, "wim"),
            (9008, "ada"),
        ]
    }
    return World(tg, group, senders, people, tg.user(4000, "Wera", username="wera"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bot(tg: FakeTelegram, world: World, clock: Clock) -> AsyncIterator[Running]:
    async with running(tg) as running_bot:
        running_bot.store.clock = clock
        yield running_bot


# -- the matrix ------------------------------------------------------------------------------

OWNER, BOT_ADMIN, CHAT_ADMIN = 3, 2, 1
RANK = {
    "owner": OWNER,
    "bot_admin": BOT_ADMIN,
    "chat_admin": CHAT_ADMIN,
    "anonymous_admin": CHAT_ADMIN,
    "member": 0,
    "channel_sender": 0,
}
REFUSAL = {CHAT_ADMIN: NEED_ADMIN, BOT_ADMIN: NEED_BOT_ADMIN, OWNER: NEED_OWNER}


@dataclass(frozen=True)
class Case:
    """One command: the least role that may give it, what the bot then says and logs (as
    (action, target, outcome); {scope}, {banned} and {until} depend on who gave it), the audit
    row of a refused attempt, the Telegram calls it makes, and whether it took effect."""

    id: str
    command: str
    need: int
    said: tuple[str, ...]
    logged: tuple[tuple[str, str | None, str], ...]
    refused: tuple[str, str | None]
    took_effect: Callable[[World, Running], bool]
    calls: tuple[str, ...] = ()
    by_reply: bool = False  # the command names its person by answering Tom's message


def _banned(name: str) -> Callable[[World, Running], bool]:
    return lambda w, b: b.app.runtime.ctx.mod.ban_of(w.ref(name), GROUP) is not None


def _muted(name: str) -> Callable[[World, Running], bool]:
    return lambda w, b: b.app.runtime.ctx.mod.mute_of(w.ref(name), GROUP) is not None


def _warned(w: World, b: Running) -> bool:
    mod = b.app.runtime.ctx.mod
    return bool(mod.warnings(w.ref("wim"), BOT_WIDE) or mod.warnings(w.ref("wim"), GROUP.key()))


def _poll_closed(w: World, b: Running) -> bool:
    poll = b.store.get_poll(w.articles["poll"])
    return poll is not None and poll.closed


CASES = (
    Case(
        "ban_by_reply",
        "/ban Spam",
        CHAT_ADMIN,
        ("@tom {banned}", PLATFORM_DONE),
        (("ban", "telegram:9001", "scope={scope}"), ("platform_ban", "telegram:9001", "ok")),
        ("ban", "telegram:9001"),
        _banned("tom"),
        calls=("banChatMember",),
        by_reply=True,
    ),
    Case(
        "ban_by_username",
        "/ban @tara Spam",
        CHAT_ADMIN,
        ("@tara {banned}", PLATFORM_DONE),
        (("ban", "telegram:9002", "scope={scope}"), ("platform_ban", "telegram:9002", "ok")),
        ("ban", "@tara"),
        _banned("tara"),
        calls=("banChatMember",),
    ),
    Case(
        "ban_by_id",
        "/ban 9003",
        CHAT_ADMIN,
        ("9003 {banned}", PLATFORM_DONE),
        (("ban", "telegram:9003", "scope={scope}"), ("platform_ban", "telegram:9003", "ok")),
        ("ban", "telegram:9003"),
        lambda w, b: b.app.runtime.ctx.mod.ban_of(UserRef("telegram", "9003"), GROUP) is not None,
        calls=("banChatMember",),
    ),
    Case(
        "unban",
        "/unban @udo",
        CHAT_ADMIN,
        ("Die Sperre für @udo ist aufgehoben.", PLATFORM_DONE),
        (("unban", "telegram:9004", "ok"), ("platform_unban", "telegram:9004", "ok")),
        ("unban", "@udo"),
        lambda w, b: not _banned("udo")(w, b),
        calls=("unbanChatMember",),
    ),
    Case(
        "mute",
        "/mute @mia 1h",
        CHAT_ADMIN,
        ("@mia ist stummgeschaltet bis", PLATFORM_DONE),
        (("mute", "telegram:9005", "until={until}"), ("platform_mute", "telegram:9005", "ok")),
        ("mute", "@mia"),
        _muted("mia"),
        calls=("restrictChatMember",),
    ),
    Case(
        "unmute",
        "/unmute @uma",
        CHAT_ADMIN,
        ("@uma ist nicht mehr stummgeschaltet.", PLATFORM_DONE),
        (("unmute", "telegram:9006", "ok"), ("platform_unmute", "telegram:9006", "ok")),
        ("unmute", "@uma"),
        lambda w, b: not _muted("uma")(w, b),
        calls=("restrictChatMember",),
    ),
    Case(
        "warn",
        "/warn @wim Ton",
        CHAT_ADMIN,
        ("@wim wurde verwarnt (1 von 3).",),
        (("warn", "telegram:9007", "count=1"),),
        ("warn", "@wim"),
        _warned,
    ),
    Case(
        "remove",
        "/remove {removed}",
        BOT_ADMIN,
        ("Artikel #{removed} ist entfernt",),
        (("remove", "#{removed}", "ok"),),
        ("remove", "#{removed}"),
        lambda w, b: b.store.get_article(w.articles["removed"], include_removed=False) is None,
    ),
    Case(
        "closepoll",
        "/closepoll {poll}",
        BOT_ADMIN,
        ("Die Umfrage zu #{poll} ist geschlossen.",),
        (("closepoll", "#{poll}", "ok"),),
        ("closepoll", "#{poll}"),
        _poll_closed,
    ),
    Case(
        # Before /settings below: under the default policy only admins change subscriptions.
        "subscribe",
        "/subscribe xAI",
        CHAT_ADMIN,
        ("Abonniert: xAI.",),
        (("subscribe", "xAI", "ok"),),  # what a group receives is its admins' decision
        ("subscribe", "xAI"),
        lambda w, b: bool(b.store.subscriptions(GROUP)),
    ),
    Case(
        "settings",
        "/settings subscribe everyone",
        CHAT_ADMIN,
        ("Abos ändern dürfen: alle",),
        (("settings", "subscribe=everyone", "ok"),),
        ("settings", "subscribe=everyone"),
        lambda w, b: b.store.chat_settings(GROUP).subscribe_policy == "everyone",
    ),
    Case(
        "admin_add",
        "/admin add @ada",
        OWNER,
        ("@ada ist jetzt Bot-Admin.",),
        (("admin_add", "telegram:9008", "ok"),),
        ("admin", None),
        lambda w, b: b.app.runtime.ctx.mod.is_bot_admin(w.ref("ada")),
    ),
)


def expected(
    case: Case, role: str, actor: str, fill: dict[str, str]
) -> tuple[list[str], list[Row]]:
    """What the bot says and logs when `role` gives the command."""
    if role == "linked_forward":
        return [], []  # a linked channel's post copied into the group is nobody's command
    if role == "banned":
        return [YOU_ARE_BANNED], []  # ignored, and not logged
    if role == "muted":
        return [YOU_ARE_MUTED], []
    if RANK[role] < case.need:
        action, target = case.refused
        return [REFUSAL[case.need]], [(actor, action, _fill(target, fill), "refused")]
    rows = [(actor, a, _fill(t, fill), o.format(**fill)) for a, t, o in case.logged]
    return [s.format(**fill) for s in case.said], rows


def _fill(text: str | None, fill: dict[str, str]) -> str | None:
    return None if text is None else text.format(**fill)


async def prepare(world: World, bot: Running, clock: Clock, role: str) -> None:
    """The state every cell of a row starts from."""
    tg, mod = world.tg, bot.app.runtime.ctx.mod
    world.articles["removed"] = await bot.add_article("Falschmeldung", tags=("Intern",), wake=False)
    world.articles["poll"] = await bot.add_article(
        "Umstrittener Text", tags=("Intern",), wake=False
    )
    # The people commands are about have talked to the bot, so their @names resolve.
    for person in world.people.values():
        tg.send_text(person, person, "/start")
    await tg.wait_for(
        lambda: all(tg.messages(p) for p in world.people.values()), what="every /start answered"
    )

    def restrict() -> None:  # in the database thread, which the running bot owns
        mod.ban(world.ref("udo"), GROUP.key(), "alt", "telegram:3")
        mod.mute(world.ref("uma"), GROUP.key(), clock.now + timedelta(days=1), "alt", "telegram:3")
        # Ben is banned everywhere by the owner, Moni muted in this group by its admin.
        mod.ban(UserRef("telegram", "5"), BOT_WIDE, "Spam", "telegram:1")
        mod.mute(
            UserRef("telegram", "6"),
            GROUP.key(),
            clock.now + timedelta(days=1),
            "laut",
            "telegram:3",
        )

    await bot.app.db.run(restrict)
    if role == "bot_admin":
        await said_in_private(tg, world.user("bot_admin"), "/start", "Willkommen")
        await said_in_private(
            tg, world.user("owner"), "/admin add @bert", "@bert ist jetzt Bot-Admin."
        )
        assert audit_rows(bot)[-1] == ("telegram:1", "admin_add", "telegram:2", "ok")


@pytest.mark.parametrize("role", [*RANK, "banned", "muted", "linked_forward"])
async def test_command_matrix(world: World, bot: Running, clock: Clock, role: str) -> None:
    """Each command of CASES as `role`, in order, each checked on its own. An anonymous admin
    acts as the group itself (actor telegram:<group id>), a channel sender as its channel."""
    tg, sender = world.tg, world.senders[role]
    await prepare(world, bot, clock, role)
    bot_wide = RANK.get(role, 0) >= BOT_ADMIN
    fill = {
        "scope": BOT_WIDE if bot_wide else GROUP.key(),
        "banned": "ist jetzt überall gesperrt." if bot_wide else "ist in diesem Chat gesperrt.",
        "until": (clock.now + timedelta(hours=1)).isoformat(),
        **{name: str(article) for name, article in world.articles.items()},
    }
    tom_said = world.say(world.person("tom"), "Kauft billige Uhren!")
    problems: list[str] = []
    asked: dict[str, tuple[int, int]] = {}
    for case in CASES:
        said, rows = expected(case, role, sender.key, fill)
        rows_before = len(audit_rows(bot))
        calls_before = {m: len(tg.calls(m)) for m in MODERATION_CALLS}
        reply_to = tom_said if case.by_reply else None
        mid = world.say(sender, case.command.format(**fill), reply_to=reply_to)
        asked[case.id] = (mid, len(said))
        await world.barrier()
        got = replies_to(tg, world.group, mid)
        if len(got) != len(said) or not all(s in g for s, g in zip(said, got, strict=False)):
            problems.append(f"{case.id}: said {got}, expected {said}")
        logged = audit_rows(bot)[rows_before:]
        if logged != rows:
            problems.append(f"{case.id}: logged {logged}, expected {rows}")
        allowed = RANK.get(role, -1) >= case.need
        made = [m for m in MODERATION_CALLS if len(tg.calls(m)) > calls_before[m]]
        if made != (list(case.calls) if allowed else []):
            problems.append(f"{case.id}: called {made}")
        if case.took_effect(world, bot) != allowed:
            problems.append(f"{case.id}: took effect {not allowed}, expected {allowed}")
    # Nothing more came later: every command got exactly the replies counted above.
    await world.barrier()
    for name, (mid, count) in asked.items():
        if len(replies_to(tg, world.group, mid)) != count:
            problems.append(f"{name}: {replies_to(tg, world.group, mid)} in the end")
    assert not problems, f"{role}:\n" + "\n".join(problems)
    # Senders on behalf of a chat are judged without asking Telegram; 1087968824 never is.
    asked_about = {int(c["user_id"]) for c in tg.calls("getChatMember")}
    assert not asked_about & {ANONYMOUS_ADMIN_ID, TELEGRAM_SERVICE_ID}


# -- the platform part ---------------------------------------------------------------------


async def command(
    world: World, sender: Sender, text: str, count: int, *, reply_to: int | None = None
) -> list[str]:
    """Send a command into the group and return the bot's first `count` replies to it."""
    mid = world.say(sender, text, reply_to=reply_to)

    def answered() -> list[str] | None:
        got = replies_to(world.tg, world.group, mid)
        return got[:count] if len(got) >= count else None

    return await world.tg.wait_for(answered, what=f"{count} replies to {text}")


async def test_chat_admin_moderates_on_telegram_too(
    world: World, bot: Running, clock: Clock
) -> None:
    tg, carla = world.tg, world.senders["chat_admin"]
    tom_said = world.say(world.person("tom"), "Kauft billige Uhren!")
    assert await command(world, carla, "/ban Spam", 2, reply_to=tom_said) == [
        "@tom ist in diesem Chat gesperrt.",
        PLATFORM_DONE,
    ]
    [ban] = tg.calls("banChatMember")
    assert (ban["chat_id"], ban["user_id"]) == (GROUP_ID, 9001)
    assert await command(world, carla, "/unban 9001", 2) == [
        "Die Sperre für 9001 ist aufgehoben.",  # Tom never talked to the bot: no @name known
        PLATFORM_DONE,
    ]
    [unban] = tg.calls("unbanChatMember")
    assert (unban["user_id"], unban["only_if_banned"]) == (9001, True)

    said = await command(world, carla, "/mute 9001 1h laut", 2)
    assert said[0].startswith("9001 ist stummgeschaltet bis") and said[1] == PLATFORM_DONE
    [mute] = tg.calls("restrictChatMember")
    assert (mute["chat_id"], mute["user_id"]) == (GROUP_ID, 9001)
    assert mute["until_date"] == int((clock.now + timedelta(hours=1)).timestamp())
    assert mute["permissions"]["can_send_messages"] is False
    assert await command(world, carla, "/unmute 9001", 2) == [
        "9001 ist nicht mehr stummgeschaltet.",
        PLATFORM_DONE,
    ]
    freed = tg.calls("restrictChatMember")[-1]["permissions"]
    assert freed and all(v is True for v in freed.values())
    assert [row[1:] for row in audit_rows(bot)] == [
        ("ban", "telegram:9001", f"scope={GROUP.key()}"),
        ("platform_ban", "telegram:9001", "ok"),
        ("unban", "telegram:9001", "ok"),
        ("platform_unban", "telegram:9001", "ok"),
        ("mute", "telegram:9001", f"until={(clock.now + timedelta(hours=1)).isoformat()}"),
        ("platform_mute", "telegram:9001", "ok"),
        ("unmute", "telegram:9001", "ok"),
        ("platform_unmute", "telegram:9001", "ok"),
    ]


@pytest.mark.parametrize(
    ("text", "method", "action"),
    [("/ban 9001 Spam", "banChatMember", "ban"), ("/mute 9001 1d", "restrictChatMember", "mute")],
)
async def test_without_the_right_on_telegram_the_bot_says_so(
    world: World, bot: Running, text: str, method: str, action: str
) -> None:
    """Telegram answers 400 when the bot is no admin with the right to restrict members: the
    bot says so, logs not_allowed, and the ban or mute still holds inside the bot. (FakeTelegram
    does not model the bot's own rights, so the refusal is injected.)"""
    world.tg.fail_next(
        method, chat_id=GROUP_ID, kind="chat_not_found", description=NOT_ENOUGH_RIGHTS
    )
    said = await command(world, world.senders["chat_admin"], text, 2)
    assert said[1] == PLATFORM_NO_RIGHT
    assert world.tg.injected == [(method, "chat_not_found")]
    assert audit_rows(bot)[-2][1] == action
    assert audit_rows(bot)[-1] == (
        "telegram:3",
        f"platform_{action}",
        "telegram:9001",
        "not_allowed",
    )
    tom = UserRef("telegram", "9001")
    mod = bot.app.runtime.ctx.mod
    assert (mod.ban_of(tom, GROUP) or mod.mute_of(tom, GROUP)) is not None
    [answer] = await command(world, world.person("tom"), "/help", 1)
    assert answer.startswith(YOU_ARE_BANNED if action == "ban" else YOU_ARE_MUTED)


# -- votes, posts and time -------------------------------------------------------------------

ZERO = ["Sehr gut · 0", "Gut · 0", "Befriedigend · 0", "Ausreichend · 0", "Mangelhaft · 0"]


async def answer_of(tg: FakeTelegram, query_id: str) -> str:
    answer = await tg.wait_for(lambda: tg.callback_answers.get(query_id), what="the answer")
    return str(answer.get("text", ""))


async def post_in_group(world: World, bot: Running, title: str) -> tuple[int, int]:
    """The group subscribes (by an anonymous admin) and gets an article: (article, message)."""
    await command(world, world.senders["anonymous_admin"], "/subscribe xAI", 1)
    article = await bot.add_article(title)
    post = await world.tg.wait_for_message(world.group, title)
    return article, int(post["message_id"])


async def test_banned_votes_stop_counting_and_their_presses_change_nothing(
    world: World, bot: Running
) -> None:
    tg, owner, maxi = world.tg, world.user("owner"), world.user("member")
    article, mid = await post_in_group(world, bot, "Neues Modell von xAI")

    def shown() -> list[str]:
        return labels(tg.message(world.group, mid))

    assert await answer_of(tg, tg.press(world.group, maxi, mid, f"nb:vote:{article}:2")) == (
        "Deine Stimme: Gut"
    )
    await tg.wait_for(lambda: shown()[1] == "Gut · 1", what="Gut · 1")
    await said_in_private(tg, owner, "/ban @max Spam", "@max ist jetzt überall gesperrt.")
    await tg.wait_for(lambda: shown() == ZERO, what="the banned vote no longer counted")

    edits = tg.edits(world.group, mid)
    query = tg.press(world.group, maxi, mid, f"nb:vote:{article}:1")
    assert await answer_of(tg, query) == YOU_ARE_BANNED
    await world.barrier()
    await bot.app.refresh_job.run_now()
    assert (tg.edits(world.group, mid), shown()) == (edits, ZERO)
    poll = bot.store.get_poll(article)
    assert poll is not None and poll.total == 0
    assert bot.store.stats().votes == 1  # stored, not counted
    assert not [row for row in audit_rows(bot) if row[0] == "telegram:4"]

    await said_in_private(tg, owner, "/unban @max", "Die Sperre für @max ist aufgehoben.")
    await tg.wait_for(lambda: shown()[1] == "Gut · 1", what="the vote counted again")


async def test_removed_article_is_replaced_everywhere_and_restored(
    world: World, bot: Running
) -> None:
    tg, owner = world.tg, world.user("owner")
    alice = tg.user(42, "Alice", username="alice")
    await said_in_private(tg, alice, "/subscribe xAI", "Abonniert: xAI.")
    article, group_mid = await post_in_group(world, bot, "Erfundene Meldung über xAI")
    alice_post = await tg.wait_for_message(alice, "Erfundene Meldung")
    posts = {world.group.id: group_mid, alice.id: int(alice_post["message_id"])}
    before = {chat: dict(tg.message(chat, mid)) for chat, mid in posts.items()}

    def all_show(text: Callable[[int], str], keyboard: Callable[[int], list[str]]) -> bool:
        records = {chat: tg.message(chat, mid) for chat, mid in posts.items()}
        return all(
            r["text"] == text(chat) and labels(r) == keyboard(chat) and not r["deleted"]
            for chat, r in records.items()
        )

    said = await said_in_private(tg, owner, f"/remove {article} Falschmeldung", "ist entfernt")
    assert said == f"Artikel #{article} ist entfernt; seine Beiträge werden ersetzt."
    await tg.wait_for(
        lambda: all_show(lambda chat: REMOVED_NOTE, lambda chat: []),
        what="both posts replaced by the note",
    )
    [entry] = bot.app.runtime.ctx.mod.audit_entries(1)
    assert (entry.actor, entry.action, entry.target, entry.reason, entry.outcome) == (
        "telegram:1",
        "remove",
        f"#{article}",
        "Falschmeldung",
        "ok",
    )
    # The note has no buttons; a press on the old ones (a stale client) counts nothing.
    query = tg.press(world.group, world.user("member"), group_mid, f"nb:vote:{article}:1")
    assert await answer_of(tg, query) == f"Einen Artikel #{article} gibt es nicht."

    await said_in_private(tg, owner, f"/restore {article}", f"Artikel #{article} ist wieder da.")
    await tg.wait_for(
        lambda: all_show(lambda chat: str(before[chat]["text"]), lambda chat: ZERO),
        what="both posts back with their keyboards",
    )


async def test_mute_ends_on_time(world: World, bot: Running, clock: Clock) -> None:
    tg, maxi = world.tg, world.senders["member"]
    muted_at = clock.now
    article, mid = await post_in_group(world, bot, "Leise Meldung über xAI")
    await command(world, maxi, "/help", 1)  # now the bot knows @max
    said = await command(world, world.senders["chat_admin"], "/mute @max 10m laut", 2)
    assert said[0].startswith("@max ist stummgeschaltet bis")
    until = muted_at + timedelta(minutes=10)
    assert tg.calls("restrictChatMember")[-1]["until_date"] == int(until.timestamp())

    async def still_muted() -> None:
        [answer] = await command(world, maxi, "/help", 1)
        assert answer.startswith(YOU_ARE_MUTED)
        query = tg.press(world.group, world.user("member"), mid, f"nb:vote:{article}:2")
        assert (await answer_of(tg, query)).startswith(YOU_ARE_MUTED)

    await still_muted()
    clock.advance(timedelta(minutes=9, seconds=59))
    await still_muted()
    clock.advance(timedelta(seconds=1))  # the mute ends at `until` itself
    [answer] = await command(world, maxi, "/help", 1)
    assert "Befehle" in answer
    query = tg.press(world.group, world.user("member"), mid, f"nb:vote:{article}:2")
    assert await answer_of(tg, query) == "Deine Stimme: Gut"
    poll = bot.store.get_poll(article)
    assert poll is not None and poll.total == 1


async def test_subscription_policy_everyone(world: World, bot: Running) -> None:
    carla, maxi = world.senders["chat_admin"], world.senders["member"]
    await command(world, carla, "/settings subscribe everyone", 1)
    [said] = await command(world, maxi, "/subscribe xAI", 1)
    assert said.startswith("Abonniert: xAI.")
    await command(world, carla, "/settings subscribe admins", 1)
    assert await command(world, maxi, "/unsubscribe xAI", 1) == [NEED_ADMIN]
    assert [s.tag for s in bot.store.subscriptions(GROUP)] == ["xAI"]
    assert [row for row in audit_rows(bot) if row[0] == maxi.key] == [
        (maxi.key, "subscribe", "xAI", "ok"),
        (maxi.key, "unsubscribe", "xAI", "refused"),
    ]


# -- who is asked about whom -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("/ban @nobody", "@nobody"),
        ("/ban", None),
        ("/mute @nobody 1h", "@nobody"),
        ("/unban 12345", "telegram:12345"),
        ("/warn", None),
        ("/warnings", None),
    ],
)
async def test_no_rights_is_the_answer_before_any_other(
    world: World, bot: Running, text: str, named: str | None
) -> None:
    """Someone without rights learns nothing about who the bot knows, and the attempt is
    logged with whom it named, as given, however the command names its person."""
    member = world.senders["member"]
    assert await command(world, member, text, 1) == [NEED_ADMIN]
    assert audit_rows(bot) == [(member.key, text.split()[0][1:], named, "refused")]


async def test_a_channel_sender_is_banned_as_a_channel(world: World, bot: Running) -> None:
    """Someone writing as a channel is banned as that channel (banChatSenderChat), never as
    the shared Channel_Bot account. FakeTelegram has no banChatSenderChat, so only the call
    is checked, not what the bot makes of the answer."""
    tg, channel = world.tg, world.senders["channel_sender"]
    said = world.say(channel, "Folgt unserem Kanal!")
    reply = await command(world, world.senders["chat_admin"], "/ban Werbung", 1, reply_to=said)
    assert reply[0] == "@fremdkanal ist in diesem Chat gesperrt."
    await world.barrier()
    [call] = tg.calls("banChatSenderChat")
    assert (call["chat_id"], call["sender_chat_id"]) == (GROUP_ID, -1003000)
    assert tg.calls("banChatMember") == []
    assert await command(world, channel, "/subscribe xAI", 1) == [YOU_ARE_BANNED]


async def test_an_anonymous_admin_is_not_banned_by_reply(world: World, bot: Running) -> None:
    anonymous = world.senders["anonymous_admin"]
    said = world.say(anonymous, "Bitte sachlich bleiben.")
    [refusal] = await command(world, world.senders["chat_admin"], "/ban", 1, reply_to=said)
    assert refusal.startswith("Diese Nachricht kam von der Gruppe selbst")
    assert world.tg.calls("banChatSenderChat") == []
    [answer] = await command(world, anonymous, "/subscribe xAI", 1)
    assert answer.startswith("Abonniert: xAI.")
