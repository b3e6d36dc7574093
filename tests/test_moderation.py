"""Moderation through bot commands: who may do what, what it changes, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.context import Ctx
from storage.models import ChatRef, UserRef
from tests.conftest import Chat, add, article, vote_data

GROUP = ChatRef("telegram", "-1001")


@pytest.fixture
def group(any_ctx: Ctx) -> Chat:
    return Chat(any_ctx, chat=GROUP, is_private=False)


@pytest.fixture
def dm(any_ctx: Ctx) -> Chat:
    """A private chat on Telegram; user "1" is an owner in the test config."""
    return Chat(any_ctx, chat=ChatRef("telegram", "555"), is_private=True)


def last_audit(ctx: Ctx) -> tuple[str, str, str | None, str]:
    [entry] = ctx.mod.audit_entries(1)
    return entry.actor, entry.action, entry.target, entry.outcome


async def test_owner_grants_bot_admin_and_only_owners_may(dm: Chat, any_ctx: Ctx) -> None:
    await dm.text("/help", user="bob")  # the bot has seen bob
    assert "nur die Betreiber" in await dm.text("/admin add @bob", user="carol")
    assert last_audit(any_ctx) == ("telegram:carol", "admin", None, "refused")
    assert "@bob ist jetzt Bot-Admin" in await dm.text("/admin add @bob", user="1")
    assert last_audit(any_ctx) == ("telegram:1", "admin_add", "telegram:bob", "ok")
    listing = await dm.text("/admin list", user="bob")
    assert "telegram:bob (@bob)" in listing and "telegram:1" in listing
    assert "kein Bot-Admin mehr" in await dm.text("/admin remove @bob", user="1")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", True), ("bot_admin", True), ("chat_admin", True), ("member", False)],
)
async def test_ban_in_a_group_by_role(group: Chat, any_ctx: Ctx, role: str, allowed: bool) -> None:
    actor = {"owner": "1", "bot_admin": "ba", "chat_admin": "ca", "member": "m"}[role]
    if role == "bot_admin":
        any_ctx.mod.grant_admin(UserRef("telegram", "ba"), "telegram:1")
    await group.text("/help", user="spammer")
    replies = await group.say("/ban @spammer Werbung", user=actor, admin=role == "chat_admin")
    text = "\n".join(r.text.plain() for r in replies)
    if allowed:
        assert "gesperrt" in text
        # The platform part is asked for: remove the person from the group.
        assert [(a.kind, a.user.user_id) for r in replies for a in r.actions] == [
            ("ban", "spammer")
        ]
        actor_key, action, target, outcome = last_audit(any_ctx)
        assert (actor_key, action, target) == (f"telegram:{actor}", "ban", "telegram:spammer")
        scope = "*" if role in {"owner", "bot_admin"} else GROUP.key()
        assert outcome == f"scope={scope}"
        assert "Du bist gesperrt" in await group.text("/tags", user="spammer")
    else:
        assert "Admin-Rechte" in text
        assert last_audit(any_ctx) == ("telegram:m", "ban", "@spammer", "refused")
        assert any_ctx.mod.ban_of(UserRef("telegram", "spammer"), GROUP) is None


async def test_banned_votes_stay_stored_but_stop_counting(dm: Chat, any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    await dm.text(f"/vote {aid} 1", user="troll")
    await dm.text(f"/vote {aid} 2", user="fair")
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 2
    version = poll.version
    await dm.text("/ban @troll", user="1")
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 1 and poll.version > version  # posts refresh
    assert any_ctx.store.stats().votes == 2
    [reply] = await dm.press(vote_data(aid, 3), user="troll")
    assert reply.notice == "Du bist gesperrt." and not reply.edit
    await dm.text("/unban @troll", user="1")
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 2


async def test_mute_ends_on_time(dm: Chat, any_ctx: Ctx) -> None:
    now = [datetime(2026, 5, 1, 12, 0, tzinfo=UTC)]
    any_ctx.store.clock = lambda: now[0]
    aid = add(any_ctx, article())
    await dm.text("/help", user="loud")
    assert "stummgeschaltet bis" in await dm.text("/mute @loud 2h laut", user="1")
    assert "Du bist stummgeschaltet" in await dm.text(f"/vote {aid} 1", user="loud")
    now[0] += timedelta(hours=1, minutes=59)
    assert "Du bist stummgeschaltet" in await dm.text("/tags", user="loud")
    now[0] += timedelta(minutes=2)
    assert "Deine Stimme" in await dm.text(f"/vote {aid} 1", user="loud")


async def test_warnings_lead_to_the_configured_action(group: Chat, any_ctx: Ctx) -> None:
    await group.text("/help", user="rude")
    for count in (1, 2):
        reply = await group.text("/warn @rude Ton", user="ca", admin=True)
        assert f"({count} von 3)" in reply
    assert "2 Verwarnungen" in await group.text("/warnings @rude", user="ca", admin=True)
    third = await group.text("/warn @rude Ton", user="ca", admin=True)
    assert "(3 von 3)" in third and "stummgeschaltet bis" in third
    assert any_ctx.mod.mute_of(UserRef("telegram", "rude"), GROUP) is not None
    assert "keine Verwarnungen" in await group.text("/warnings @rude", user="ca", admin=True)


async def test_user_by_reply_by_id_and_unknown_or_ambiguous(group: Chat, any_ctx: Ctx) -> None:
    await group.text("/help", user="x1")
    assert "gesperrt" in await group.text("/ban Spam", user="ca", admin=True, reply_to="x1")
    assert any_ctx.mod.ban_of(UserRef("telegram", "x1"), GROUP) is not None
    assert "kenne ich nicht" in await group.text("/ban @nobody", user="ca", admin=True)
    assert "Wen meinst du?" in await group.text("/ban", user="ca", admin=True)
    # Two people once used the same @name: never guess.
    any_ctx.mod.seen(UserRef("telegram", "a1", "A", "twin"))
    any_ctx.mod.seen(UserRef("telegram", "a2", "B", "twin"))
    assert "mehrere Personen" in await group.text("/ban @twin", user="ca", admin=True)
    # A numeric id is exact even for someone never seen.
    assert "gesperrt" in await group.text("/ban 424242", user="ca", admin=True)


async def test_nobody_moderates_owners_or_themselves(group: Chat, any_ctx: Ctx) -> None:
    await group.text("/help", user="1")
    assert "Admin des Bots" in await group.text("/ban 1", user="ca", admin=True)
    assert "mit dir selbst" in await group.text("/ban @ca", user="ca", admin=True)


async def test_remove_and_restore_an_article(dm: Chat, any_ctx: Ctx) -> None:
    sub = Chat(any_ctx, chat=ChatRef("telegram", "777"))
    aid = add(any_ctx, article())
    await sub.text("/subscribe xAI")
    assert "Dafür brauchst du Bot-Admin-Rechte" in await dm.text(f"/remove {aid}", user="m")
    assert "ist entfernt" in await dm.text(f"/remove {aid} Falschmeldung", user="1")
    assert last_audit(any_ctx) == ("telegram:1", "remove", f"#{aid}", "ok")
    assert [d.status for d in any_ctx.store.deliveries_for_chat(sub.chat)] == ["cancelled"]
    assert "Einen Artikel" in await dm.text(f"/article {aid}")
    assert f"#{aid}" not in await dm.text("/latest")
    assert "ist wieder da" in await dm.text(f"/restore {aid}", user="1")
    assert f"#{aid}" in await dm.text("/latest")


async def test_close_reopen_and_reset_with_confirmation(dm: Chat, any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    await dm.text(f"/vote {aid} 1", user="a")
    assert "geschlossen" in await dm.text(f"/closepoll {aid}", user="1")
    assert "geschlossen" in await dm.text(f"/vote {aid} 2", user="b")
    [post] = await dm.say(f"/article {aid}")
    assert post.buttons == ()
    await dm.text(f"/reopenpoll {aid}", user="1")
    [ask] = await dm.say(f"/resetvotes {aid}", user="1")
    assert "Wirklich die 1 Stimme zu" in ask.text.plain()
    button = ask.buttons[0][0]
    from handlers.codec import encode

    # Someone else pressing the confirmation changes nothing.
    [refused] = await dm.press(encode(button), user="m")
    assert "Bot-Admin-Rechte" in refused.text.plain()
    [done] = await dm.press(encode(button), user="1")
    assert "1 Stimme zu" in done.text.plain()
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 0
    [again] = await dm.press(encode(button), user="1")
    assert "abgelaufen" in again.text.plain()


async def test_audit_stats_why_settings_forgetme(dm: Chat, group: Chat, any_ctx: Ctx) -> None:
    aid = add(any_ctx, article())
    await dm.text(f"/vote {aid} 1", user="m")
    await group.text("/subscribe xAI", user="ca", admin=True)
    assert "Admin-Rechte" in await group.text("/settings threads on", user="m")
    assert "Threads pro Artikel: an" in await group.text(
        "/settings threads on", user="ca", admin=True
    )
    assert "Abos ändern dürfen: alle" in await group.text(
        "/settings subscribe everyone", user="ca", admin=True
    )
    assert "Abonniert: OpenAI" in await group.text("/subscribe OpenAI", user="m")
    audit = await dm.text("/audit 5", user="1")
    assert "settings" in audit and "refused" in audit
    # A chat admin sees only their own chat's entries.
    assert "telegram:1" not in await group.text("/audit", user="ca", admin=True)
    stats = await dm.text("/stats", user="1")
    assert "Artikel: 1" in stats and "1 heute, 1 insgesamt" in stats
    any_ctx.store.pause_chat(GROUP, "bot was kicked from the group chat")
    why = await group.text("/why", user="ca", admin=True)
    assert "pausiert: bot was kicked" in why
    assert "deine 1 Stimme und" in await dm.text("/forgetme", user="m")
    poll = any_ctx.store.get_poll(aid)
    assert poll is not None and poll.total == 0


async def test_help_shows_admin_commands_only_to_admins(group: Chat) -> None:
    assert "/ban" not in await group.text("/help", user="m")
    assert "/ban" in await group.text("/help", user="ca", admin=True)


@pytest.mark.parametrize("duration", ["10", "0m", "400d", "abc", "-5m"])
async def test_bad_durations(dm: Chat, duration: str) -> None:
    await dm.text("/help", user="x")
    assert "keine Dauer" in await dm.text(f"/mute @x {duration}", user="1")


async def test_a_chat_admin_cannot_lift_what_bot_admins_imposed(group: Chat, dm: Chat) -> None:
    await group.text("/help", user="x9")
    await dm.text("/ban @x9", user="1")
    await dm.text("/mute @x9 1h", user="1")
    assert "von den Bot-Admins überall gesperrt" in await group.text(
        "/unban @x9", user="ca", admin=True
    )
    assert "von den Bot-Admins überall stummgeschaltet" in await group.text(
        "/unmute @x9", user="ca", admin=True
    )


async def test_a_bot_admin_sees_and_resets_a_chats_warnings_too(group: Chat, any_ctx: Ctx) -> None:
    await group.text("/help", user="w1")
    await group.text("/warn @w1 Ton", user="ca", admin=True)  # this chat's
    await group.text("/warn @w1 Spam", user="1")  # bot-wide, by an owner
    shown = await group.text("/warnings @w1", user="1")
    assert "2 Verwarnungen" in shown and "Ton" in shown and "Spam" in shown
    assert "1 Verwarnung\n" in await group.text("/warnings @w1", user="ca", admin=True)
    assert "2 Verwarnungen von @w1 zurückgesetzt" in await group.text(
        "/resetwarnings @w1", user="1"
    )
    assert "keine Verwarnungen" in await group.text("/warnings @w1", user="ca", admin=True)
