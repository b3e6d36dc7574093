"""In-process fake of the Telegram Bot API (aiohttp on 127.0.0.1) for end-to-end tests."""

from __future__ import annotations

# The `timeout` parameters bound waits on the fake's own state; they are the intended API.
# ruff: noqa: ASYNC109
import asyncio
import contextlib
import html
import ipaddress
import itertools
import json
import random
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
T = TypeVar("T")
ChatType = Literal["private", "group", "supergroup", "channel"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]
FailureKind = Literal[
    "flood",  # 429 with parameters.retry_after
    "blocked",  # 403 bot was blocked by the user
    "kicked",  # 403 bot was kicked from the group chat
    "deactivated",  # 403 user is deactivated
    "chat_not_found",  # 400 chat not found
    "migrated",  # 400 with parameters.migrate_to_chat_id
    "server_error",  # 500
    "drop",  # processed and recorded, then the connection is closed without an answer
    "drop_unprocessed",  # the connection is closed before processing: only the request is logged
    "timeout",  # processed and recorded, the answer held back past the client's read timeout
    "unmappable",  # not processed; "ok" with a result of the wrong shape, which no client maps
]
# Failures served after the fake has done the call: a client that retries may repeat it.
ACCEPTED_KINDS = frozenset({"drop", "timeout"})
RANDOM_METHODS = ("sendMessage", "editMessageText", "editMessageReplyMarkup")
RANDOM_KINDS: tuple[FailureKind, ...] = (
    "server_error",
    "flood",
    "timeout",
    "drop",
    "drop_unprocessed",
)

DEFAULT_TOKEN = "123:ABC"
# Well-known service accounts Telegram puts into "from" when the real sender is hidden.
ANONYMOUS_ADMIN_ID = 1087968824  # "GroupAnonymousBot": an anonymous group admin
TELEGRAM_SERVICE_ID = 777000  # "Telegram": automatic forwards from a linked channel
CHANNEL_BOT_ID = 136817688  # "Channel_Bot": a user writing in a group as one of their channels
MAX_TEXT_LENGTH = 4096
MAX_DOWNLOAD_BYTES = 20 * 2**20  # what getFile lets a bot download
MAX_CAPTION_LENGTH = 1024
PHOTO_REFUSED = "Bad Request: wrong file identifier/HTTP URL specified"
MAX_LONG_POLL = 50.0  # Telegram itself caps long polling at 50 seconds

_SERVICE_USERS: dict[int, JSON] = {
    ANONYMOUS_ADMIN_ID: {"first_name": "Group", "username": "GroupAnonymousBot", "is_bot": True},
    TELEGRAM_SERVICE_ID: {"first_name": "Telegram", "is_bot": False},
    CHANNEL_BOT_ID: {"first_name": "Channel", "username": "Channel_Bot", "is_bot": True},
}
_ERRORS: dict[str, tuple[int, str]] = {
    "flood": (429, "Too Many Requests: retry after {retry_after}"),
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "kicked": (403, "Forbidden: bot was kicked from the group chat"),
    "deactivated": (403, "Forbidden: user is deactivated"),
    "chat_not_found": (400, "Bad Request: chat not found"),
    "migrated": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
    "server_error": (500, "Internal Server Error"),
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a content and reply markup of the current message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
# PTB form-encodes every value as JSON except plain str values, which it sends raw. These
# parameters are strings even when they look like numbers or booleans, so never JSON-decode them.
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "inline_query_id",
        "inline_message_id", "url", "secret_token", "language_code", "next_offset",
        "description", "short_description", "name", "title", "ip_address", "switch_pm_text",
        "switch_pm_parameter", "business_connection_id", "message_effect_id", "custom_title",
        "photo",
    }
)  # fmt: skip
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
# Every field PTB requires for ChatMemberAdministrator / ChatMemberRestricted.
_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
    "can_delete_stories", "can_pin_messages",
)  # fmt: skip
_RESTRICTED_FLAGS = (
    "can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages",
    "can_send_polls", "can_send_other_messages", "can_add_web_page_previews", "can_manage_topics",
    "can_send_audios", "can_send_documents", "can_send_photos", "can_send_videos",
    "can_send_video_notes", "can_send_voice_notes", "can_edit_tag", "can_react_to_messages",
)  # fmt: skip


class ApiError(Exception):
    """A Bot API error answer; handlers raise it so one place renders the wire format."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def response(self) -> web.Response:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.code)


@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "de"
    is_bot: bool = False
    last_name: str | None = None

    def to_dict(self) -> JSON:
        d: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        return d | _present(self, "last_name", "username", "language_code")


@dataclass(frozen=True)
class TgChat:
    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None  # private chats carry the user's names instead of a title
    last_name: str | None = None
    is_forum: bool | None = None  # a supergroup whose messages live in topics

    def to_dict(self) -> JSON:
        d: JSON = {"id": self.id, "type": self.type}
        return d | _present(self, "title", "username", "first_name", "last_name", "is_forum")


ChatRef = TgChat | TgUser | int  # a user stands for their private chat with the bot
UserRef = TgUser | int


@dataclass
class _Failure:
    method: str  # lower-cased: Telegram matches method names case-insensitively
    chat_id: str | None
    remaining: int | None  # None: until clear_failures()
    kind: FailureKind
    retry_after: int
    migrate_to: int
    delay: float
    description: str | None


@dataclass(frozen=True)
class _RandomFaults:
    rate: float
    seed: int
    methods: frozenset[str]  # lower-cased
    kinds: tuple[FailureKind, ...]
    retry_after: int
    delay: float


@dataclass(frozen=True)
class ServedFault:
    """One failure fail_randomly() served: which call, how, and whether the fake had done the
    call before failing it (then a client that retries does it twice)."""

    method: str
    kind: FailureKind
    chat_id: str | None
    accepted: bool


@dataclass
class _Msg:
    chat: TgChat
    wire: JSON  # the Message object as Telegram would serialise it now
    record: JSON | None = None  # bot messages only: the params as sent plus current state
    reply_to: JSON | None = None
    deleted: bool = False


def _present(obj: object, *keys: str) -> JSON:
    return {k: getattr(obj, k) for k in keys if getattr(obj, k) is not None}


def _decode(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # e.g. chat_id="@channelname"


def _photo_size(upload: JSON) -> JSON:
    """A PhotoSize for an uploaded PNG: its width and height from the PNG header."""
    data: bytes = upload["data"]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    unique = f"png{len(data)}x{width}x{height}"
    return {
        "file_id": f"AgAC{unique}",
        "file_unique_id": unique,
        "width": width,
        "height": height,
        "file_size": len(data),
    }


def _utf16_len(text: str) -> int:
    # Telegram entity offsets and lengths count UTF-16 code units, not code points.
    return len(text.encode("utf-16-le")) // 2


def _visible_text(text: str, parse_mode: str | None) -> str:
    # Good enough for HTML: real Telegram returns the text with its markup turned into entities.
    if (parse_mode or "").upper() == "HTML":
        return html.unescape(re.sub(r"<[^>]*>", "", text))
    return text


def command_entities(text: str) -> list[JSON]:
    """bot_command entities as Telegram marks them (every /cmd or /cmd@bot after whitespace)."""
    return [
        {"type": "bot_command", "offset": _utf16_len(text[: m.start()]), "length": _utf16_len(m[0])}
        for m in _COMMAND_RE.finditer(text)
    ]


def member_dict(user: JSON, status: MemberStatus, **extra: Any) -> JSON:
    """A ChatMember object with every field PTB requires for that status."""
    d: JSON = {"status": status, "user": user}
    if status in ("creator", "administrator"):
        d["is_anonymous"] = False
    if status == "administrator":
        d |= dict.fromkeys(_ADMIN_RIGHTS, True) | {"can_be_edited": False}
        d["can_promote_members"] = False
    elif status == "restricted":
        d |= dict.fromkeys(_RESTRICTED_FLAGS, False) | {"is_member": True, "until_date": 0}
    elif status == "kicked":
        d["until_date"] = 0
    return d | extra


class FakeTelegram:
    """A Bot API server on 127.0.0.1 plus helpers to act as Telegram users in tests."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "newsbot_test_bot"):
        self.token, self.bot_username = token, bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.port = 0
        # Public state for assertions (read it, do not mutate it).
        self.requests: list[tuple[str, JSON]] = []
        self.unknown_methods: list[str] = []
        self.injected: list[tuple[str, str]] = []  # (method, failure kind) actually served
        self.callback_answers: dict[str, JSON] = {}  # callback_query_id -> params
        self.inline_answers: dict[str, JSON] = {}  # inline_query_id -> params
        self.inline_messages: dict[str, JSON] = {}  # inline_message_id -> current state
        self.webhook: JSON = {"url": ""}
        # Photo URLs Telegram cannot fetch or will not take (sendPhoto answers PHOTO_REFUSED).
        self.refused_photos: set[str] = set()
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(100_000_001)
        self._query_ids = itertools.count(4_611_686_018_427_387_001)
        self._inline_ids = itertools.count(1)
        self._last_mid: dict[int, int] = {}
        self._messages: dict[tuple[int, int], _Msg] = {}
        self._bot_records: list[JSON] = []  # every message the bot sent, in order
        self._users: dict[int, TgUser] = {}
        self._chats: dict[int, TgChat] = {}
        self._members: dict[tuple[int, int], JSON] = {}
        self._blocked_by: set[int] = set()
        self._topics: dict[tuple[int, int], str] = {}  # (chat, thread id) -> open/closed/deleted
        self._files: dict[str, bytes] = {}  # file_id -> the bytes people sent
        self.file_downloads: list[str] = []  # file paths the bot downloaded, in order
        self._open_queries: set[str] = set()
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._failures: list[_Failure] = []
        self._random: _RandomFaults | None = None
        self._random_calls: dict[tuple[str, str], int] = {}
        self.random_faults: list[ServedFault] = []  # what fail_randomly() served, in order
        # Replaced on every state change so that waiters sleep until "something happened".
        self._change = asyncio.Event()
        self._closed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getme": lambda p: self.bot_user,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": lambda p: self._commands.get(_commands_key(p), []),
            "deletemycommands": lambda p: bool(self._commands.pop(_commands_key(p), True)),
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "editmessagetext": lambda p: self._edit(p, text_edit=True),
            "editmessagecaption": lambda p: self._edit(p, text_edit=False, caption_edit=True),
            "editmessagereplymarkup": lambda p: self._edit(p, text_edit=False),
            "deletemessage": self._delete_message,
            "answercallbackquery": lambda p: self._answer(p, "callback_query_id"),
            "answerinlinequery": lambda p: self._answer(p, "inline_query_id"),
            "getchat": self._get_chat,
            "getfile": self._get_file,
            "getchatmember": lambda p: self._member(self._chat_from(p), int(p["user_id"])),
            "getchatadministrators": self._get_admins,
            "banchatmember": lambda p: self._set_status(p, "kicked", p.get("until_date", 0)),
            "unbanchatmember": self._unban,
            "restrictchatmember": self._restrict,
            "close": lambda p: True,
            "logout": lambda p: True,
        }

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # handler_cancellation: a client abandoning a long poll must not keep its handler alive.
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2,
            handler_cancellation=True,
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self.port, self._runner = sock.getsockname()[1], runner
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        self._changed()  # wakes long polls and held answers, so shutdown does not wait on them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.api_root}/bot"

    @property
    def bot_user(self) -> JSON:
        flags = {"can_join_groups": True, "can_read_all_group_messages": False}
        flags |= {"supports_inline_queries": True, "can_connect_to_business": False}
        return self._user_dict(self.bot_id) | flags | {"has_main_web_app": False}

    # ----------------------------------------------------------------- people and chats
    def user(
        self, id: int, first_name: str, username: str | None = None, language_code: str = "de"
    ) -> TgUser:
        """Register a user (and their private chat with the bot)."""
        return self._register_user(TgUser(id, first_name, username, language_code))

    def chat(
        self,
        id: int,
        type: ChatType,
        title: str | None = None,
        username: str | None = None,
        *,
        is_forum: bool = False,
    ) -> TgChat:
        if type == "private":
            name = self._users[id].first_name if id in self._users else str(id)
            chat = TgChat(id, type, username=username, first_name=name)
        else:
            forum = True if is_forum else None
            chat = TgChat(id, type, title=title or f"Chat {id}", username=username, is_forum=forum)
        self._chats[id] = chat
        return chat

    # ----------------------------------------------------------------- forum topics
    def open_topic(self, chat: ChatRef) -> int:
        """A new topic in a forum supergroup; returns its message_thread_id (as in Telegram,
        the id of the service message that created it)."""
        c = self._chat_of(chat)
        assert c.is_forum, f"chat {c.id} is no forum: tg.chat(..., is_forum=True)"
        thread = self._new_message_id(c.id)
        self._topics[(c.id, thread)] = "open"
        return thread

    def close_topic(self, chat: ChatRef, thread: int) -> None:
        """Close the topic: sending into it answers TOPIC_CLOSED."""
        self._topics[(self._chat_of(chat).id, thread)] = "closed"

    def delete_topic(self, chat: ChatRef, thread: int) -> None:
        """Delete the topic: sending into it answers "message thread not found"."""
        self._topics[(self._chat_of(chat).id, thread)] = "deleted"

    def _check_topic(self, chat: TgChat, params: JSON) -> int | None:
        raw = params.get("message_thread_id")
        if raw is None or not chat.is_forum:
            return None  # outside a forum Telegram ignores it (reply threads)
        state = self._topics.get((chat.id, int(raw)), "deleted")
        if state == "closed":
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        if state == "deleted":
            raise ApiError(400, "Bad Request: message thread not found")
        return int(raw)

    def set_member(self, chat: ChatRef, user: UserRef, status: MemberStatus, **extra: Any) -> None:
        """Configure what getChatMember answers; `user` may be the bot itself (tg.bot_id)."""
        uid = user.id if isinstance(user, TgUser) else user
        self._members[(self._chat_of(chat).id, uid)] = member_dict(
            self._user_dict(uid), status, **extra
        )
        self._changed()

    # ----------------------------------------------------------------- driving as people
    def send_text(
        self,
        chat: ChatRef,
        user: UserRef | None,
        text: str,
        *,
        sender_chat: ChatRef | None = None,
        automatic_forward: bool = False,
        reply_to: int | None = None,
        topic: int | None = None,
    ) -> int:
        """Enqueue a message (a channel_post in channels) update; returns its update_id.

        With topic: sent inside that topic of a forum supergroup (tg.open_topic).

        With sender_chat: the chat itself means an anonymous group admin; a channel with
        automatic_forward=True a linked channel's post forwarded into its discussion group;
        any other channel a user writing as that channel.
        """
        c = self._chat_of(chat)
        mid, now = self._new_message_id(c.id), int(time.time())
        msg: JSON = {"message_id": mid, "date": now, "chat": c.to_dict(), "text": text}
        if c.type == "channel":
            msg["sender_chat"] = c.to_dict()  # channel posts have no "from"
        elif sender_chat is not None:
            sc = self._chat_of(sender_chat)
            msg["sender_chat"] = sc.to_dict()
            if sc.id == c.id:
                msg["from"] = self._user_dict(ANONYMOUS_ADMIN_ID)
            elif automatic_forward:
                origin = {"type": "channel", "chat": sc.to_dict(), "message_id": mid, "date": now}
                msg["from"] = self._user_dict(TELEGRAM_SERVICE_ID)
                msg |= {"is_automatic_forward": True, "forward_origin": origin}
            else:
                msg["from"] = self._user_dict(CHANNEL_BOT_ID)
        else:
            msg["from"] = self._user_of(c.id if user is None else user).to_dict()
        if entities := command_entities(text):
            msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = self._wire_or_inaccessible(c, reply_to)
        if topic is not None:
            msg |= {"message_thread_id": topic, "is_topic_message": True}
        self._messages[(c.id, mid)] = _Msg(c, msg)
        return self._enqueue({"channel_post" if c.type == "channel" else "message": msg})

    def send_document(
        self,
        chat: ChatRef,
        user: UserRef,
        data: bytes,
        file_name: str,
        caption: str = "",
        *,
        announced_size: int | None = None,
    ) -> int:
        """Enqueue a message with a document (and a caption, commands marked as Telegram marks
        them); its bytes are served by getFile and the file URL. `announced_size`: the
        file_size Telegram reports, when it should differ from the bytes (a huge file)."""
        c = self._chat_of(chat)
        mid, now = self._new_message_id(c.id), int(time.time())
        file_id = f"doc-{c.id}-{mid}"
        self._files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": "text/x-opml",
            "file_size": len(data) if announced_size is None else announced_size,
        }
        msg: JSON = {"message_id": mid, "date": now, "chat": c.to_dict(), "document": document}
        msg["from"] = self._user_of(user).to_dict()
        if caption:
            msg["caption"] = caption
            if entities := command_entities(caption):
                msg["caption_entities"] = entities
        self._messages[(c.id, mid)] = _Msg(c, msg)
        return self._enqueue({"message": msg})

    def press(
        self,
        chat: ChatRef | None,
        user: UserRef,
        message_id: int | None,
        data: str,
        *,
        inline_message_id: str | None = None,
    ) -> str:
        """Enqueue a callback_query for a button of a bot message; returns the query id."""
        qid = str(next(self._query_ids))
        query: JSON = {"id": qid, "from": self._user_of(user).to_dict(), "data": data}
        if inline_message_id is not None:
            query |= {"inline_message_id": inline_message_id, "chat_instance": "-1"}
        else:
            assert chat is not None, "press() needs a chat, or inline_message_id"
            assert message_id is not None, "press() needs a message_id, or inline_message_id"
            c = self._chat_of(chat)
            query["chat_instance"] = str(-7919 * c.id)
            query["message"] = self._wire_or_inaccessible(c, message_id)
        self._open_queries.add(qid)
        self._enqueue({"callback_query": query})
        return qid

    def inline_query(
        self, user: UserRef, query: str, *, offset: str = "", chat_type: str = "sender"
    ) -> str:
        """Enqueue an inline_query update; returns the inline query id."""
        qid = str(next(self._query_ids))
        self._open_queries.add(qid)
        body = {"id": qid, "from": self._user_of(user).to_dict(), "query": query, "offset": offset}
        self._enqueue({"inline_query": body | {"chat_type": chat_type}})
        return qid

    def chosen_inline_result(
        self,
        user: UserRef,
        result_id: str,
        inline_message_id: str | None = None,
        *,
        query: str = "",
    ) -> int:
        """Enqueue chosen_inline_result and create the inline message the bot may then edit."""
        imid = inline_message_id or f"AgAAAFake{next(self._inline_ids):06d}"
        record: JSON = {"inline_message_id": imid, "result_id": result_id, "edits": 0}
        for answer in reversed(self.inline_answers.values()):  # the latest answer wins
            found = [r for r in answer.get("results", []) if r.get("id") == result_id]
            if found:
                content = found[0].get("input_message_content") or {}
                record["text"] = content.get("message_text")
                record["parse_mode"] = content.get("parse_mode")
                record["reply_markup"] = found[0].get("reply_markup")
                break
        self.inline_messages[imid] = {k: v for k, v in record.items() if v is not None}
        body: JSON = {"result_id": result_id, "from": self._user_of(user).to_dict(), "query": query}
        return self._enqueue({"chosen_inline_result": body | {"inline_message_id": imid}})

    def my_chat_member(
        self,
        chat: ChatRef,
        user: UserRef,
        old_status: MemberStatus = "left",
        new_status: MemberStatus = "member",
    ) -> int:
        """The bot's membership changed (added, promoted, kicked; kicked in private: blocked)."""
        c, bot = self._chat_of(chat), self._user_dict(self.bot_id)
        new = self._members[(c.id, self.bot_id)] = member_dict(bot, new_status)
        if c.type == "private" and new_status == "kicked":
            self._blocked_by.add(c.id)
        elif c.type == "private":
            self._blocked_by.discard(c.id)
        body = {
            "chat": c.to_dict(),
            "from": self._user_of(user).to_dict(),
            "date": int(time.time()),
        }
        body |= {"old_chat_member": member_dict(bot, old_status), "new_chat_member": new}
        return self._enqueue({"my_chat_member": body})

    def take_update(self, update_id: int) -> JSON:
        """Remove a queued update (e.g. to deliver it with post_update_to instead of polling)."""
        for i, update in enumerate(self._updates):
            if update["update_id"] == update_id:
                return self._updates.pop(i)
        raise KeyError(f"update {update_id} is not queued")

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._updates)

    # ----------------------------------------------------------------- failure injection
    def fail_next(
        self,
        method: str,
        *,
        chat_id: int | str | None = None,
        times: int | None = 1,
        kind: FailureKind = "flood",
        retry_after: int = 1,
        migrate_to_chat_id: int | None = None,
        delay: float = 10.0,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (None: all, until clear_failures) fail.

        chat_id restricts it to calls for that chat; delay is how long "timeout" holds the
        answer back; migrate_to_chat_id defaults to -100<abs(chat_id)>.
        """
        if migrate_to_chat_id is None:
            migrate_to_chat_id = int(f"-100{abs(chat_id) if isinstance(chat_id, int) else 1}")
        chat = None if chat_id is None else str(chat_id)
        failure = _Failure(
            method.lower(), chat, times, kind, retry_after, migrate_to_chat_id, delay, description
        )
        self._failures.append(failure)

    def fail_randomly(
        self,
        rate: float,
        *,
        seed: int,
        methods: tuple[str, ...] = RANDOM_METHODS,
        kinds: tuple[FailureKind, ...] = RANDOM_KINDS,
        retry_after: int = 1,
        delay: float = 20.0,
    ) -> None:
        """Fail about `rate` of the calls of `methods` with one of `kinds`, chosen by `seed`.

        fail_next() failures go first. "timeout" holds the answer for `delay` seconds (past
        the client's read timeout); served failures are listed in random_faults.
        """
        lowered = frozenset(m.lower() for m in methods)
        self._random = _RandomFaults(rate, seed, lowered, tuple(kinds), retry_after, delay)

    def clear_failures(self) -> None:
        self._failures.clear()
        self._random = None

    # ----------------------------------------------------------------- reading state
    def messages(self, chat: ChatRef) -> list[JSON]:
        """Bot-sent messages in a chat, oldest first, with later edits and a `deleted` flag."""
        cid = chat if isinstance(chat, int) else chat.id
        found = [m.record for (c, _), m in self._messages.items() if c == cid and m.record]
        return sorted(found, key=lambda r: int(r["message_id"]))

    def all_messages(self) -> list[JSON]:
        """Bot-sent messages of every chat, in the order they were sent (records as messages()
        gives them, with later edits): for checks over thousands of chats."""
        return list(self._bot_records)

    def messages_sent_since(self, count: int) -> list[JSON]:
        """The bot's messages after its first `count` ones: lets a waiting predicate look
        only at what is new."""
        return self._bot_records[count:]

    def message(self, chat: ChatRef, message_id: int) -> JSON:
        record = self._messages[(chat if isinstance(chat, int) else chat.id, message_id)].record
        assert record is not None, f"message {message_id} in {chat} was not sent by the bot"
        return record

    def edits(self, chat: ChatRef, message_id: int) -> int:
        return int(self.message(chat, message_id)["edits"])

    def calls(self, method: str) -> list[JSON]:
        """Params of every call of `method`, in order."""
        return [p for m, p in self.requests if m.lower() == method.lower()]

    @property
    def commands(self) -> dict[str, list[JSON]]:
        """setMyCommands for the default scope by language_code ("" = no language_code)."""
        default = json.dumps({"type": "default"}, sort_keys=True)
        return {lang: cmds for (scope, lang), cmds in self._commands.items() if scope == default}

    def commands_for(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSON]:
        return self._commands.get(
            _commands_key({"scope": scope, "language_code": language_code}), []
        )

    def summary(self, last: int = 15) -> str:
        """The last requests, for failure messages; getUpdates polls are only counted."""
        shown = [(m, p) for m, p in self.requests if m.lower() != "getupdates"][-last:]
        lines = [f"  {m} {json.dumps(p, ensure_ascii=False, default=str)[:200]}" for m, p in shown]
        head = f"{len(self.requests)} requests ({len(self.calls('getUpdates'))} getUpdates), last:"
        return "\n".join([head, *(lines or ["  (none)"])])

    # ----------------------------------------------------------------- waiting
    async def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, *, what: str = ""
    ) -> T:
        """The predicate's first truthy value, re-checked whenever the fake's state changes.

        Only server-side state wakes it up, so the predicate should look at the fake.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            if (remaining := deadline - loop.time()) <= 0:
                waited = f"timed out after {timeout}s waiting for {what or predicate}"
                raise AssertionError(f"{waited}\n{self.summary()}")
            await self._wait_change(remaining)
        return result

    async def wait_for_message(
        self,
        chat: ChatRef,
        contains: str | None = None,
        timeout: float = 5.0,
        *,
        after_message_id: int = 0,
    ) -> JSON:
        """The first bot message in the chat after after_message_id whose text (or a photo's
        caption) has `contains`."""

        def find() -> JSON | None:
            for r in self.messages(chat):
                shown = str(r.get("text", r.get("caption")))
                if r["message_id"] > after_message_id and (contains or "") in shown:
                    return r
            return None

        return await self.wait_for(find, timeout, what=f"a message in {chat} with {contains!r}")

    async def wait_for_request(
        self,
        method: str,
        timeout: float = 5.0,
        *,
        where: Callable[[JSON], bool] | None = None,
        count: int = 1,
    ) -> JSON:
        """Params of the count-th call of `method` (that satisfies `where`)."""

        def find() -> JSON | None:
            hits = [p for p in self.calls(method) if where is None or where(p)]
            return hits[count - 1] if len(hits) >= count else None

        return await self.wait_for(find, timeout, what=f"{count} x {method}")

    async def post_update_to(
        self, url: str, update: JSON | int, secret_token: str | None = None, timeout: float = 5.0
    ) -> int:
        """POST an update (a dict, or a queued update's id) to a webhook on 127.0.0.1.

        Returns the HTTP status.
        """
        host = urlsplit(url).hostname or ""
        try:
            loopback = ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
        except ValueError:
            loopback = False
        assert loopback, f"refusing to POST to non-loopback address {url!r}"
        payload = self.take_update(update) if isinstance(update, int) else update
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, json=payload, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ----------------------------------------------------------------- plumbing
    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _wait_change(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._change.wait(), timeout)

    def _enqueue(self, body: JSON) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **body})
        self._changed()
        return update_id

    def _new_message_id(self, chat_id: int) -> int:
        # Message ids count per chat in Telegram, so two chats can share an id: keep it that way.
        self._last_mid[chat_id] = self._last_mid.get(chat_id, 0) + 1
        return self._last_mid[chat_id]

    def _register_user(self, user: TgUser) -> TgUser:
        self._users[user.id] = user
        names = _present(user, "username", "first_name", "last_name")
        self._chats.setdefault(user.id, TgChat(user.id, "private", **names))
        return user

    def _user_of(self, user: UserRef) -> TgUser:
        if isinstance(user, TgUser):
            return self._users.get(user.id) or self._register_user(user)
        return self._users.get(user) or self._register_user(TgUser(user, f"User{user}"))

    def _user_dict(self, user_id: int) -> JSON:
        if user_id == self.bot_id:
            return {
                "id": user_id,
                "is_bot": True,
                "first_name": "Newsbot Test",
                "username": self.bot_username,
            }
        if user_id in _SERVICE_USERS:
            return {"id": user_id, **_SERVICE_USERS[user_id]}
        return self._user_of(user_id).to_dict()

    def _chat_of(self, chat: ChatRef) -> TgChat:
        if isinstance(chat, TgChat):
            return self._chats.setdefault(chat.id, chat)
        if isinstance(chat, TgUser):
            chat = self._user_of(chat).id
        if chat not in self._chats:
            raise KeyError(f"unknown chat {chat}: register it with tg.chat(...) or tg.user(...)")
        return self._chats[chat]

    def _chat_from(self, params: JSON) -> TgChat:
        """Resolve chat_id (an int or "@username") like Telegram: unknown is 'chat not found'."""
        raw = params.get("chat_id")
        if isinstance(raw, str) and raw.startswith("@"):
            names = {f"@{c.username}".lower(): c for c in self._chats.values() if c.username}
            chat = names.get(raw.lower())
        else:
            with contextlib.suppress(TypeError, ValueError):  # JSON clients may send "42"
                raw = int(raw)  # type: ignore[arg-type]
            chat = self._chats.get(raw) if isinstance(raw, int) else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _writable_chat(self, params: JSON) -> TgChat:
        chat = self._chat_from(params)
        status = self._member(chat, self.bot_id)["status"]
        if chat.type == "private" and chat.id in self._blocked_by:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.type != "private" and status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.type != "private" and status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        if chat.type == "channel" and status not in ("creator", "administrator"):
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")
        return chat

    def _wire_or_inaccessible(self, chat: TgChat, message_id: int) -> JSON:
        msg = self._messages.get((chat.id, message_id))
        if msg is None or msg.deleted:  # Telegram sends an InaccessibleMessage (date 0) instead
            return {"chat": chat.to_dict(), "message_id": message_id, "date": 0}
        return msg.wire

    def _bot_wire(self, msg: _Msg) -> JSON:
        r = msg.record
        assert r is not None
        wire: JSON = {"message_id": r["message_id"], "date": r["date"], "chat": msg.chat.to_dict()}
        if msg.chat.type == "channel":
            wire["sender_chat"] = msg.chat.to_dict()
        else:
            wire["from"] = self._user_dict(self.bot_id)
        if "photo" in r:
            # Telegram answers with the sizes it made of the picture, and the caption.
            if isinstance(r["photo"], dict):  # uploaded: its size from the PNG header
                wire["photo"] = [_photo_size(r["photo"])]
            else:  # fetched from its URL
                mid = r["message_id"]
                size = {"file_id": f"photo-{mid}", "file_unique_id": f"p{mid}"}
                wire["photo"] = [size | {"width": 320, "height": 240, "file_size": 1000}]
            if r.get("caption"):
                wire["caption"] = _visible_text(r["caption"], r.get("parse_mode"))
        else:
            wire["text"] = _visible_text(r["text"], r.get("parse_mode"))
        wire |= {key: r[key] for key in ("entities", "reply_markup") if r.get(key)}
        if msg.reply_to is not None:
            wire["reply_to_message"] = msg.reply_to
        if r["edits"]:
            wire["edit_date"] = r["edit_date"]
        return wire

    # ----------------------------------------------------------------- HTTP
    async def _read_params(self, request: web.Request) -> JSON:
        params: JSON = {k: _decode(k, v) for k, v in request.query.items()}
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            return params | (body if isinstance(body, dict) else {})
        # post() parses both the urlencoded and the multipart bodies PTB sends.
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                with value.file as upload:  # a temporary file: close it, or it leaks a warning
                    data = upload.read()
                    params[key] = {"filename": value.filename, "size": len(data), "data": data}
            else:
                params[key] = _decode(key, str(value))
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        method = request.match_info["method"]
        params = await self._read_params(request)
        self.requests.append((method, params))
        self._changed()
        failure = self._take_failure(method, params)
        kind = failure.kind if failure else None
        if failure is not None and kind in _ERRORS:
            return self._failure_error(failure).response()
        if kind == "drop_unprocessed":
            return self._drop(request)
        if kind == "unmappable":
            return web.json_response({"ok": True, "result": "not an object"})
        try:
            if method.lower() == "getupdates":
                result = await self._get_updates(params)
            elif (handler := self._methods.get(method.lower())) is not None:
                result = handler(params)
            else:
                self.unknown_methods.append(method)
                raise ApiError(404, "Not Found: method not found")
        except ApiError as exc:
            return exc.response()
        except (KeyError, TypeError, ValueError) as exc:  # missing or ill-typed parameters
            return ApiError(400, f"Bad Request: invalid parameters ({exc!r})").response()
        finally:
            self._changed()
        if kind == "drop":
            return self._drop(request)
        if failure is not None and kind == "timeout":
            # Bounded: held for `delay` seconds, or until the fake shuts down.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), failure.delay)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        # Closing the transport makes the client see "server disconnected" instead of an answer.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)

    def _take_failure(self, method: str, params: JSON) -> _Failure | None:
        chat_id = str(params.get("chat_id"))
        for failure in self._failures:
            if failure.method == method.lower() and failure.chat_id in (None, chat_id):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                self.injected.append((method, failure.kind))
                return failure
        return self._random_failure(method, params)

    def _random_failure(self, method: str, params: JSON) -> _Failure | None:
        spec = self._random
        if spec is None or method.lower() not in spec.methods:
            return None
        chat = params.get("chat_id")
        key = str(chat if chat is not None else params.get("callback_query_id", ""))
        call = (method.lower(), key)
        number = self._random_calls.get(call, 0)
        self._random_calls[call] = number + 1
        # Seeded per method, chat and how many calls came before: the same calls fail in the
        # same way on every run, however the client interleaves its requests.
        rng = random.Random(f"{spec.seed}:{call[0]}:{key}:{number}")
        if rng.random() >= spec.rate:
            return None
        kind = rng.choice(spec.kinds)
        self.injected.append((method, kind))
        chat_id = None if chat is None else str(chat)
        self.random_faults.append(ServedFault(method, kind, chat_id, kind in ACCEPTED_KINDS))
        return _Failure(
            method.lower(), None, 1, kind, spec.retry_after, 0, spec.delay, description=None
        )

    @staticmethod
    def _failure_error(failure: _Failure) -> ApiError:
        code, description = _ERRORS[failure.kind]
        if failure.kind == "flood":
            text = description.format(retry_after=failure.retry_after)
            return ApiError(code, text, {"retry_after": failure.retry_after})
        if failure.kind == "migrated":
            return ApiError(code, description, {"migrate_to_chat_id": failure.migrate_to})
        return ApiError(code, failure.description or description)

    # ----------------------------------------------------------------- Bot API methods
    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook["url"]:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_LONG_POLL)
        if offset:  # asking from an offset confirms (forgets) every update below it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closed.is_set():
            if (remaining := deadline - loop.time()) <= 0:
                break
            await self._wait_change(remaining)
        return self._updates[: min(max(limit, 1), 100)]

    def _set_webhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        settings = {k: v for k, v in params.items() if k != "drop_pending_updates"}
        self.webhook = {"url": "", **settings}
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {"url": ""}
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        info = {"url": self.webhook["url"], "has_custom_certificate": False}
        kept = ("max_connections", "allowed_updates")
        extra = {k: v for k, v in self.webhook.items() if k in kept}
        return info | extra | {"pending_update_count": len(self._updates)}

    def _set_my_commands(self, params: JSON) -> bool:
        commands = list(params["commands"])
        for command in commands:
            if not _COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")  # e.g. upper case
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[_commands_key(params)] = commands
        return True

    def _send_message(self, params: JSON) -> JSON:
        chat = self._writable_chat(params)
        topic = self._check_topic(chat, params)
        text = params.get("text")
        visible = _visible_text(text, params.get("parse_mode")) if isinstance(text, str) else ""
        if not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return self._store_sent(chat, params, topic)

    def _store_sent(self, chat: TgChat, params: JSON, topic: int | None) -> JSON:
        reply = params.get("reply_parameters")
        if reply is None and "reply_to_message_id" in params:
            reply = {"message_id": params["reply_to_message_id"]}
        reply_to = None
        if reply:
            target = self._messages.get((chat.id, int(reply["message_id"])))
            if target is not None and not target.deleted:
                reply_to = target.wire
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        mid = self._new_message_id(chat.id)
        state = {"chat_id": chat.id, "message_id": mid, "date": int(time.time()), "edits": 0}
        msg = _Msg(chat, {}, params | state | {"deleted": False}, reply_to)
        msg.wire = self._bot_wire(msg)
        if topic is not None:
            msg.wire |= {"message_thread_id": topic, "is_topic_message": True}
        self._messages[(chat.id, mid)] = msg
        assert msg.record is not None
        self._bot_records.append(msg.record)
        return msg.wire

    def _send_photo(self, params: JSON) -> JSON:
        """sendPhoto: an uploaded file (multipart, as the bot sends charts), or an http(s) URL
        that Telegram fetches itself (a lead image; one in refused_photos it refuses)."""
        chat = self._writable_chat(params)
        topic = self._check_topic(chat, params)
        photo = params.get("photo")
        if isinstance(photo, dict):
            if not photo.get("data"):
                raise ApiError(400, "Bad Request: there is no photo in the request")
        elif not isinstance(photo, str) or photo in self.refused_photos:
            raise ApiError(400, PHOTO_REFUSED)
        caption = params.get("caption")
        visible = _visible_text(caption, params.get("parse_mode")) if caption else ""
        if _utf16_len(visible) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return self._store_sent(chat, params, topic)

    def _edit(self, params: JSON, *, text_edit: bool, caption_edit: bool = False) -> JSON | bool:
        msg: _Msg | None = None
        if params.get("inline_message_id") is not None:
            record = self.inline_messages.get(str(params["inline_message_id"]))
            if record is None:
                raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        else:
            msg = self._messages.get((self._chat_from(params).id, int(params["message_id"])))
            if msg is None or msg.deleted:
                raise ApiError(400, "Bad Request: message to edit not found")
            if msg.record is None:
                raise ApiError(400, "Bad Request: message can't be edited")
            record = msg.record
        if text_edit and "photo" in record:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if caption_edit and "photo" not in record:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        if caption_edit:
            caption = _visible_text(str(params.get("caption") or ""), params.get("parse_mode"))
            if len(caption) > MAX_CAPTION_LENGTH:
                raise ApiError(400, "Bad Request: message caption is too long")
        # Like Telegram, an edit without reply_markup removes the keyboard.
        keys: tuple[str, ...] = ("reply_markup",)
        if text_edit:
            keys = ("text", "parse_mode", "entities", "reply_markup")
        elif caption_edit:
            keys = ("caption", "parse_mode", "reply_markup")
        new = {key: params.get(key) for key in keys}
        if text_edit and not _visible_text(str(new["text"] or ""), new["parse_mode"]).strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if all(new[key] == record.get(key) for key in keys):
            raise ApiError(400, NOT_MODIFIED)
        for key, value in new.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        record["edits"] += 1
        record["edit_date"] = int(time.time())
        if msg is None:
            return True  # inline messages: Telegram answers True rather than a Message
        msg.wire = self._bot_wire(msg)
        return msg.wire

    def _delete_message(self, params: JSON) -> bool:
        msg = self._messages.get((self._chat_from(params).id, int(params["message_id"])))
        if msg is None or msg.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        msg.deleted = True
        if msg.record is not None:
            msg.record["deleted"] = True
        return True

    def _answer(self, params: JSON, id_key: str) -> bool:
        qid = str(params[id_key])
        if qid not in self._open_queries:  # unknown, or answered before
            raise ApiError(400, QUERY_INVALID)
        self._open_queries.discard(qid)
        if id_key == "callback_query_id":
            self.callback_answers[qid] = params
        else:
            self.inline_answers[qid] = params
        return True

    def _get_chat(self, params: JSON) -> JSON:
        kinds = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription")
        gifts = dict.fromkeys((*kinds, "gifts_from_channels"), True)
        full = {"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}
        return self._chat_from(params).to_dict() | full  # ChatFullInfo

    def _get_file(self, params: JSON) -> JSON:
        file_id = str(params["file_id"])
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self._files[file_id])
        if size > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        path = f"documents/{file_id}.opml"
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size} | {
            "file_path": path
        }

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        file_id = path.removeprefix("documents/").removesuffix(".opml")
        if file_id not in self._files:
            return web.Response(status=404)
        self.file_downloads.append(path)
        self._changed()
        return web.Response(body=self._files[file_id], content_type="application/octet-stream")

    def _member(self, chat: TgChat, user_id: int) -> JSON:
        if (chat.id, user_id) in self._members:
            return self._members[(chat.id, user_id)]
        # Bots must be admins to post in channels; everyone else defaults to a plain member.
        admin = chat.type == "channel" and user_id == self.bot_id
        return member_dict(self._user_dict(user_id), "administrator" if admin else "member")

    def _get_admins(self, params: JSON) -> list[JSON]:
        chat = self._chat_from(params)
        if chat.type == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        members = [m for (cid, _), m in self._members.items() if cid == chat.id]
        if (chat.id, self.bot_id) not in self._members:
            members.append(self._member(chat, self.bot_id))
        return [m for m in members if m["status"] in ("creator", "administrator")]

    def _set_status(self, params: JSON, status: MemberStatus, until: int = 0, **extra: Any) -> bool:
        chat, user_id = self._chat_from(params), int(params["user_id"])
        if chat.type == "private":
            raise ApiError(
                400, "Bad Request: method is available for supergroup and channel chats only"
            )
        if status in ("kicked", "restricted"):
            extra["until_date"] = until
        self._members[(chat.id, user_id)] = member_dict(self._user_dict(user_id), status, **extra)
        return True

    def _unban(self, params: JSON) -> bool:
        current = self._member(self._chat_from(params), int(params["user_id"]))["status"]
        if params.get("only_if_banned") and current != "kicked":
            return True
        return self._set_status(params, "left")

    def _restrict(self, params: JSON) -> bool:
        rights = {k: v for k, v in dict(params["permissions"]).items() if k.startswith("can_")}
        return self._set_status(params, "restricted", params.get("until_date", 0), **rights)


def _commands_key(params: JSON) -> tuple[str, str]:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    return scope, str(params.get("language_code") or "")
