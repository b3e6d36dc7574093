"""The fake Bot API server against the real python-telegram-bot client, over 127.0.0.1 only."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    BotCommandScopeAllGroupChats,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import (
    ANONYMOUS_ADMIN_ID,
    CHANNEL_BOT_ID,
    TELEGRAM_SERVICE_ID,
    FakeTelegram,
)

TOKEN = "123:ABC"
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Undo", callback_data="undo:1")]])


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    # httpx honours proxy variables; traffic to the fake must never leave 127.0.0.1.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


def build_app(tg: FakeTelegram) -> Application:  # type: ignore[type-arg]
    # No job queue: the project's tests should not start APScheduler threads they do not need.
    return ApplicationBuilder().token(TOKEN).base_url(tg.base_url).job_queue(None).build()


async def test_bot_send_edit_and_transcript(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice", username="alice")
    async with Bot(TOKEN, base_url=tg.base_url) as bot:
        me = await bot.get_me()
        assert (me.username, me.can_join_groups, me.supports_inline_queries) == (
            "newsbot_test_bot",
            True,
            True,
        )
        sent = await bot.send_message(
            alice.id, "<b>Top</b> story", parse_mode="HTML", reply_markup=KEYBOARD
        )
        assert sent.text == "Top story"
        assert sent.chat.id == alice.id
        assert sent.from_user is not None
        assert sent.from_user.is_bot
        assert sent.reply_markup == KEYBOARD

        new_keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Redo", callback_data="redo")]])
        edited = await bot.edit_message_reply_markup(
            alice.id, sent.message_id, reply_markup=new_keyboard
        )
        assert isinstance(edited, type(sent))
        assert edited.reply_markup == new_keyboard
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(
                alice.id, sent.message_id, reply_markup=new_keyboard
            )
        await bot.edit_message_text("Old story", alice.id, sent.message_id)
        assert await bot.delete_message(alice.id, sent.message_id)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("again", alice.id, sent.message_id)

    record = tg.messages(alice.id)[0]
    assert record["text"] == "Old story"
    assert "reply_markup" not in record  # editMessageText without a keyboard removes it
    assert record["deleted"] is True
    assert tg.edits(alice.id, sent.message_id) == 2
    assert [method for method, _ in tg.requests] == [
        "getMe",
        "getMe",
        "sendMessage",
        "editMessageReplyMarkup",
        "editMessageReplyMarkup",
        "editMessageText",
        "deleteMessage",
        "editMessageText",
    ]
    first_send = tg.calls("sendMessage")[0]
    assert first_send["chat_id"] == 42
    assert first_send["reply_markup"] == KEYBOARD.to_dict()


async def test_application_polling_command_and_callback(tg: FakeTelegram) -> None:
    group = tg.chat(-1001, "supergroup", title="News")
    alice = tg.user(42, "Alice", username="alice")
    seen: list[tuple[int | None, int | None]] = []

    async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        topic = " ".join(context.args or [])
        await update.effective_message.reply_text(f"subscribed {topic}", reply_markup=KEYBOARD)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("undone")
        await query.edit_message_text("unsubscribed")

    async def anything(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        sender = message.from_user.id if message.from_user else None
        seen.append((sender, message.sender_chat.id if message.sender_chat else None))
        # Answering changes server state, which is what wakes tg.wait_for below.
        await context.bot.send_message(message.chat.id, f"seen {len(seen)}")

    app = build_app(tg)
    app.add_handler(CommandHandler("subscribe", subscribe))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.ALL, anything))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            tg.send_text(group, alice, "/subscribe@newsbot_test_bot xAI")
            reply = await tg.wait_for_message(group.id, contains="subscribed xAI")
            assert reply["reply_parameters"]["message_id"] == 1  # reply_text quotes the command

            query_id = tg.press(group, alice, reply["message_id"], "undo:1")
            answer = await tg.wait_for_request("answerCallbackQuery")
            assert answer == tg.callback_answers[query_id]
            assert answer["text"] == "undone"
            await tg.wait_for(
                lambda: tg.message(group.id, reply["message_id"])["text"] == "unsubscribed"
            )

            # A command addressed to another bot is not ours, so it falls through to `anything`.
            tg.send_text(group, alice, "/subscribe@other_bot x")
            tg.send_text(group, None, "as the group", sender_chat=group)
            channel = tg.chat(-1002, "channel", title="Feed", username="feed")
            tg.send_text(group, None, "linked post", sender_chat=channel, automatic_forward=True)
            tg.send_text(group, None, "as a channel", sender_chat=channel)
            tg.send_text(channel, None, "channel post")
            await tg.wait_for(lambda: len(seen) == 5)
        finally:
            await app.updater.stop()
            await app.stop()
    assert seen == [
        (42, None),
        (ANONYMOUS_ADMIN_ID, group.id),
        (TELEGRAM_SERVICE_ID, channel.id),
        (CHANNEL_BOT_ID, channel.id),
        (None, channel.id),
    ]
    assert tg.pending_updates == []  # updater.stop() confirmed everything it fetched
    assert [m["text"] for m in tg.messages(group.id)] == [
        "unsubscribed",
        *(f"seen {i}" for i in range(1, 5)),
    ]
    assert [m["text"] for m in tg.messages(channel.id)] == ["seen 5"]


async def test_private_command_inline_query_and_inline_edit(tg: FakeTelegram) -> None:
    bob = tg.user(7, "Bob", language_code="en")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "welcome")

    async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.inline_query is not None
        article = InlineQueryResultArticle(
            "r1", "xAI", InputTextMessageContent("xAI news"), reply_markup=KEYBOARD
        )
        await update.inline_query.answer([article], cache_time=0)

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("read")

    app = build_app(tg)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(InlineQueryHandler(inline))
    app.add_handler(CallbackQueryHandler(press))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            tg.send_text(bob, bob, "/start")
            assert (await tg.wait_for_message(bob.id))["text"] == "welcome"
            query_id = tg.inline_query(bob, "xAI")
            await tg.wait_for(lambda: query_id in tg.inline_answers)
            tg.chosen_inline_result(bob, "r1", "inline-1")
            tg.press(None, bob, None, "undo:1", inline_message_id="inline-1")
            await tg.wait_for(lambda: tg.inline_messages["inline-1"]["text"] == "read")
        finally:
            await app.updater.stop()
            await app.stop()
    assert tg.inline_messages["inline-1"]["edits"] == 1


async def test_get_updates_offsets_and_webhook_conflict(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    async with Bot(TOKEN, base_url=f"{tg.api_root}/bot") as bot:
        assert await bot.get_updates(timeout=0) == ()
        first, second = tg.send_text(alice, alice, "one"), tg.send_text(alice, alice, "two")
        updates = await bot.get_updates(timeout=1, limit=1)
        assert [u.update_id for u in updates] == [first]
        updates = await bot.get_updates(offset=first + 1, timeout=1)
        assert [u.update_id for u in updates] == [second]
        assert updates[0].message is not None
        assert updates[0].message.text == "two"
        assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret")
        assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        assert await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert tg.webhook == {"url": ""}


async def test_seeded_random_failures_repeat_and_say_what_was_done(tg: FakeTelegram) -> None:
    async def send_twelve(fake: FakeTelegram) -> list[str]:
        alice = fake.user(42, "Alice")
        # Short read timeout: "timeout" holds the answer past it.
        request = HTTPXRequest(read_timeout=0.2)
        outcomes: list[str] = []
        async with Bot(TOKEN, base_url=fake.base_url, request=request) as bot:
            for n in range(12):
                try:
                    await bot.send_message(alice.id, f"post {n}")
                    outcomes.append("ok")
                except NetworkError as err:  # TimedOut is a NetworkError too
                    outcomes.append(type(err).__name__)
        return outcomes

    kinds = ("server_error", "timeout", "drop_unprocessed")
    tg.fail_randomly(0.5, seed=1, methods=("sendMessage",), kinds=kinds, delay=1.0)
    outcomes = await send_twelve(tg)
    served = [(f.kind, f.accepted) for f in tg.random_faults]
    assert {kind for kind, _ in served} == set(kinds)
    assert outcomes.count("ok") == 12 - len(served)
    # A held answer was sent all the same; the other two kinds did nothing.
    assert len(tg.all_messages()) == outcomes.count("ok") + served.count(("timeout", True))
    assert [r["text"] for r in tg.messages_sent_since(1)] == [
        r["text"] for r in tg.all_messages()[1:]
    ]
    tg.clear_failures()
    assert (await send_twelve(tg)) == ["ok"] * 12

    # The same seed fails the same calls again, in a fresh fake.
    async with FakeTelegram(token=TOKEN) as again:
        again.fail_randomly(0.5, seed=1, methods=("sendMessage",), kinds=kinds, delay=1.0)
        assert await send_twelve(again) == outcomes
        assert [(f.kind, f.accepted) for f in again.random_faults] == served


async def test_injected_errors_map_to_ptb_exceptions(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, building RetryAfter emits a PTBDeprecationWarning (an error here).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    alice, group = tg.user(42, "Alice"), tg.chat(-5, "group", title="Old")
    async with Bot(TOKEN, base_url=tg.base_url) as bot:
        tg.fail_next("sendMessage", chat_id=alice.id, kind="flood", retry_after=3)
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(alice.id, "hi")
        assert flood.value.retry_after.total_seconds() == 3  # type: ignore[union-attr]

        tg.fail_next("sendMessage", kind="blocked")
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(alice.id, "hi")
        tg.fail_next("sendMessage", chat_id=group.id, kind="migrated")
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(group.id, "hi")
        assert migrated.value.new_chat_id == -1005
        tg.fail_next("sendMessage", kind="chat_not_found")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(alice.id, "hi")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(999, "never registered")
        tg.fail_next("getChat", kind="server_error")
        with pytest.raises(NetworkError):
            await bot.get_chat(alice.id)

        # The filter on chat_id leaves other chats alone; the failure stays armed for alice.
        tg.fail_next("sendMessage", chat_id=alice.id, kind="kicked")
        assert (await bot.send_message(group.id, "fine")).text == "fine"
        with pytest.raises(Forbidden, match="kicked"):
            await bot.send_message(alice.id, "hi")

        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("sendNewsDigest", api_kwargs={"chat_id": alice.id})
    assert tg.unknown_methods == ["sendNewsDigest"]
    assert [kind for _, kind in tg.injected] == [
        "flood",
        "blocked",
        "migrated",
        "chat_not_found",
        "server_error",
        "kicked",
    ]
    assert tg.messages(alice.id) == []
    assert len(tg.messages(group.id)) == 1


async def test_drop_and_timeout_record_the_message_but_not_the_answer(tg: FakeTelegram) -> None:
    alice = tg.user(42, "Alice")
    request = HTTPXRequest(read_timeout=0.5)
    async with Bot(TOKEN, base_url=tg.base_url, request=request) as bot:
        tg.fail_next("sendMessage", kind="drop")
        with pytest.raises(NetworkError):
            await bot.send_message(alice.id, "maybe sent")
        tg.fail_next("sendMessage", kind="timeout", delay=5)
        with pytest.raises(TimedOut):
            await bot.send_message(alice.id, "slow")
        tg.fail_next("sendMessage", kind="drop_unprocessed")
        with pytest.raises(NetworkError):
            await bot.send_message(alice.id, "lost")
    assert [m["text"] for m in tg.messages(alice.id)] == ["maybe sent", "slow"]
    assert len(tg.calls("sendMessage")) == 3


async def test_commands_members_and_moderation(tg: FakeTelegram) -> None:
    group, alice = tg.chat(-1003, "supergroup", title="Mods"), tg.user(42, "Alice")
    tg.set_member(group, alice, "creator")
    async with Bot(TOKEN, base_url=tg.base_url) as bot:
        await bot.set_my_commands([("subscribe", "Follow a topic")])
        await bot.set_my_commands([("subscribe", "Thema folgen")], language_code="de")
        assert [c.command for c in await bot.get_my_commands(language_code="de")] == ["subscribe"]
        await bot.set_my_commands(
            [("digest", "Daily digest")], scope=BotCommandScopeAllGroupChats()
        )
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await bot.set_my_commands([("Subscribe", "uppercase is invalid")])
        assert (await bot.get_chat_member(group.id, alice.id)).status == "creator"
        assert [m.user.id for m in await bot.get_chat_administrators(group.id)] == [42]
        assert (await bot.get_chat(group.id)).title == "Mods"
        assert await bot.restrict_chat_member(
            group.id, 43, permissions=ChatPermissions(can_send_messages=False)
        )
        assert (await bot.get_chat_member(group.id, 43)).status == "restricted"
        assert await bot.ban_chat_member(group.id, 43)
        assert (await bot.get_chat_member(group.id, 43)).status == "kicked"
        assert await bot.unban_chat_member(group.id, 43, only_if_banned=True)
        assert (await bot.get_chat_member(group.id, 43)).status == "left"
        tg.my_chat_member(group, alice, "member", "kicked")
        with pytest.raises(Forbidden, match="kicked from the supergroup"):
            await bot.send_message(group.id, "still here?")
        channel = tg.chat(-1009, "channel", title="Feed", username="feed")
        post = await bot.send_message("@feed", "fresh post")
        assert post.chat.id == channel.id
        assert post.sender_chat is not None
        assert post.sender_chat.id == channel.id
        # Multipart upload: parsed and recorded, then 404 (PTB reports that as InvalidToken).
        with pytest.raises(InvalidToken):
            await bot.send_document(group.id, b"data", filename="a.txt")
        upload = {"filename": "a.txt", "size": 4, "data": b"data"}
        assert tg.calls("sendDocument")[0]["document"] == upload
        assert await bot.close()
        assert await bot.log_out()
    assert tg.commands_for({"type": "all_group_chats"}) == [
        {"command": "digest", "description": "Daily digest"}
    ]
    assert tg.commands == {
        "": [{"command": "subscribe", "description": "Follow a topic"}],
        "de": [{"command": "subscribe", "description": "Thema folgen"}],
    }


async def test_wrong_token_is_rejected(tg: FakeTelegram) -> None:
    bot = Bot("123:WRONG", base_url=tg.base_url)
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await bot.initialize()
    await bot.shutdown()


async def test_wait_for_times_out_with_a_summary(tg: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.1s(.|\n)*requests"):
        await tg.wait_for(lambda: False, timeout=0.1, what="nothing")


async def test_webhook_delivery_to_ptb_webhook_server(tg: FakeTelegram) -> None:
    with socket.socket() as probe:  # a free loopback port for PTB's own webhook server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    got: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        assert update.effective_message.text is not None
        got.append(update.effective_message.text)
        await update.effective_message.reply_text("echo")

    alice = tg.user(42, "Alice")
    app = build_app(tg)
    app.add_handler(MessageHandler(filters.TEXT, echo))
    url = f"http://127.0.0.1:{port}/hook"
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path="hook", webhook_url=url, secret_token="s3cret"
        )
        try:
            assert tg.webhook["url"] == url
            assert tg.webhook["secret_token"] == "s3cret"
            assert (
                await tg.post_update_to(url, tg.send_text(alice, alice, "bad"), secret_token="nope")
                == 403
            )
            assert (
                await tg.post_update_to(
                    url, tg.send_text(alice, alice, "good"), secret_token="s3cret"
                )
                == 200
            )
            await tg.wait_for_message(alice.id, "echo")
            assert got == ["good"]
        finally:
            await app.updater.stop()
            await app.stop()
    with pytest.raises(AssertionError, match="non-loopback"):
        await tg.post_update_to("http://example.com/hook", {})
