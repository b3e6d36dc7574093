"""Fake Discord gateway and REST API on 127.0.0.1 that the real discord.py client can drive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import secrets
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self, TypeVar, cast

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import WSMsgType, web

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_MEMBER_PERMISSIONS",
    "Failure",
    "FailureKind",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "RequestRecord",
    "ResponseRecord",
    "ServedFault",
    "patch_discord",
]

Json = dict[str, Any]
PermissionsLike = int | discord.Permissions
T = TypeVar("T")

API_VERSION = 10
API_PREFIX = f"/api/v{API_VERSION}"
DISCORD_EPOCH_MS = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# Gateway opcodes, see discord/gateway.py DiscordWebSocket.
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
HEARTBEAT_ACK_DELAY = 0.05  # seconds, a network's round trip (see _ack_heartbeat)

# Intent bits decide which automatic events a real gateway would send to this session.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MODERATION = 1 << 2
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Channel types used by the fake (discord.ChannelType values).
TEXT, DM, VOICE, CATEGORY, NEWS = 0, 1, 2, 4, 5
PUBLIC_THREAD, PRIVATE_THREAD, FORUM, MEDIA = 11, 12, 15, 16
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})
THREAD_PARENT_TYPES = frozenset({FORUM, MEDIA})
MAX_APPLIED_TAGS = 5  # a forum post carries at most five of its forum's tags

# Interaction types and callback types (discord.InteractionType / InteractionResponseType).
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
# Which callbacks Discord accepts for which interaction type; anything else is a 400.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    APPLICATION_COMMAND: frozenset({CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL}),
    MESSAGE_COMPONENT: frozenset(
        {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL}
    ),
    AUTOCOMPLETE: frozenset({AUTOCOMPLETE_RESULT}),
    MODAL_SUBMIT: frozenset(
        {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE}
    ),
}

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
MESSAGE_DEFAULT, MESSAGE_REPLY, MESSAGE_CHAT_INPUT = 0, 19, 20

ALL_PERMISSIONS = discord.Permissions.all().value
DEFAULT_MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_application_commands=True,
).value
DEFAULT_BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    create_private_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    manage_messages=True,
    manage_threads=True,
    moderate_members=True,
    ban_members=True,
    use_application_commands=True,
).value
# What Discord grants an app in a DM with a user.
DM_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_application_commands=True,
).value
P_ADMINISTRATOR = discord.Permissions(administrator=True).value
P_VIEW = discord.Permissions(view_channel=True).value
P_SEND = discord.Permissions(send_messages=True).value
P_SEND_THREADS = discord.Permissions(send_messages_in_threads=True).value
P_HISTORY = discord.Permissions(read_message_history=True).value
P_MANAGE_MESSAGES = discord.Permissions(manage_messages=True).value
P_PUBLIC_THREADS = discord.Permissions(create_public_threads=True).value
P_PRIVATE_THREADS = discord.Permissions(create_private_threads=True).value
P_MODERATE = discord.Permissions(moderate_members=True).value
P_BAN = discord.Permissions(ban_members=True).value
P_NICKNAMES = discord.Permissions(manage_nicknames=True).value
P_ROLES = discord.Permissions(manage_roles=True).value

VALID_LOCALES = frozenset(locale.value for locale in discord.Locale)
# Discord's documented pattern for command and option names.
COMMAND_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
MENTION_RE = re.compile(r"<@!?(\d+)>")

FailureKind = Literal[
    "missing_access",
    "missing_permissions",
    "unknown_channel",
    "unknown_message",
    "unknown_interaction",
    "rate_limited",
    "server_error",
    "drop",
    "drop_after",  # the request is done, then the connection closes without an answer
    "held",  # the request is done, its answer held back (30 s, or until the fake closes)
]
# Failures served after the fake has done the request: a client that retries repeats it.
AFTER_KINDS = frozenset({"drop_after", "held"})
HOLD_SECONDS = 30.0
RANDOM_ROUTES = ("send_message", "edit_message")
RANDOM_KINDS: tuple[FailureKind, ...] = ("server_error", "rate_limited", "drop", "drop_after")
# status, JSON error code, message: the bodies Discord sends for these failures.
FAILURE_BODIES: dict[str, tuple[int, int, str]] = {
    "missing_access": (403, 50001, "Missing Access"),
    "missing_permissions": (403, 50013, "Missing Permissions"),
    "unknown_channel": (404, 10003, "Unknown Channel"),
    "unknown_message": (404, 10008, "Unknown Message"),
    "unknown_interaction": (404, 10062, "Unknown interaction"),
    "server_error": (500, 0, "500: Internal Server Error"),
}
ALLOWED_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat()


def _perm_value(permissions: PermissionsLike) -> int:
    return permissions.value if isinstance(permissions, discord.Permissions) else int(permissions)


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # discord.py only parses JSON when Content-Type is exactly "application/json", so no charset.
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class _Snowflakes:
    """Monotonic snowflakes with a real timestamp, so ``created_at`` looks sane in discord.py."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


class DiscordError(Exception):
    """Raised by REST handlers; turned into Discord's JSON error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message


def _walk_components(components: Sequence[Json]) -> Iterator[Json]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components", []))
        accessory = component.get("accessory")
        if accessory:
            yield accessory


def _number_components(components: Sequence[Json]) -> list[Json]:
    # Discord assigns a numeric id to every component that has none; discord.py 2.6+ reads it.
    copied: list[Json] = json.loads(json.dumps(list(components)))
    used = {c["id"] for c in _walk_components(copied) if isinstance(c.get("id"), int)}
    counter = 1
    for component in _walk_components(copied):
        if component.get("id") is None:
            while counter in used:
                counter += 1
            component["id"] = counter
            used.add(counter)
    return copied


# --------------------------------------------------------------------------- model


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class FakeMember:
    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=_iso)
    timed_out_until: datetime | None = None

    @property
    def timed_out(self) -> bool:
        return self.timed_out_until is not None and self.timed_out_until > _now()

    def payload(self, user: FakeUser | None = None) -> Json:
        data: Json = {
            "roles": [str(role) for role in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": (
                _iso(self.timed_out_until) if self.timed_out_until else None
            ),
        }
        if user is not None:
            data["user"] = user.payload()
        return data


@dataclass
class FakeChannel:
    id: int
    type: int
    name: str
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: list[Json] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)
    owner_id: int | None = None
    last_message_id: int | None = None
    message_count: int = 0
    auto_archive_duration: int = 1440
    applied_tags: list[int] = field(default_factory=list)
    available_tags: list[Json] = field(default_factory=list)  # a forum's tags for its posts
    created_at: str = field(default_factory=_iso)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    locale: str = "en-US"
    roles: dict[int, FakeRole] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    bans: dict[int, Json] = field(default_factory=dict)
    bot_role_id: int = 0


@dataclass
class FakeMessage:
    """A message as the fake currently holds it (after edits; ``deleted`` instead of removal)."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[Json] = field(default_factory=list)
    components: list[Json] = field(default_factory=list)
    allowed_mentions: Json | None = None
    flags: int = 0
    attachments: list[Json] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    type: int = MESSAGE_DEFAULT
    tts: bool = False
    message_reference: Json | None = None
    created_at: str = field(default_factory=_iso)
    edited_at: str | None = None
    deleted: bool = False
    edits: list[Json] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    webhook_id: int | None = None
    interaction_id: int | None = None
    thread_id: int | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    def walk_components(self) -> list[Json]:
        return list(_walk_components(self.components))

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.walk_components() if "custom_id" in c]

    def component(self, custom_id: str) -> Json | None:
        return next((c for c in self.walk_components() if c.get("custom_id") == custom_id), None)


@dataclass
class ResponseRecord:
    """One thing the bot did with an interaction: the callback, a follow-up, an edit, a delete."""

    kind: Literal[
        "callback",
        "followup",
        "edit_original",
        "delete_original",
        "edit_followup",
        "delete_followup",
    ]
    type: int | None
    data: Json
    message_id: int | None = None

    @property
    def content(self) -> str | None:
        value = self.data.get("content")
        return None if value is None else str(value)

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & FLAG_EPHEMERAL)


@dataclass
class FakeInteraction:
    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user_id: int
    payload: Json
    component_message_id: int | None = None
    callback_type: int | None = None
    original_message_id: int | None = None
    responses: list[ResponseRecord] = field(default_factory=list)


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    name: str = ""
    status: int | None = None
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.method} {self.path} [{self.name}] -> {self.status}{note}"


@dataclass
class Failure:
    """A pending injected failure; ``hits`` counts how often it fired."""

    spec: str
    kind: FailureKind
    channel_id: int | None
    remaining: int
    retry_after: float = 0.05
    via: bool = True
    hits: int = 0

    def matches(self, name: str, method: str, path: str, channel_id: int | None) -> bool:
        if self.remaining <= 0:
            return False
        if self.channel_id is not None and self.channel_id != channel_id:
            return False
        if self.spec in ROUTE_NAMES:
            # A route name must not also match as a regex ("ban" is inside ".../bans/...").
            return self.spec == name
        return re.search(self.spec, f"{method} {path}") is not None


@dataclass(frozen=True)
class _RandomFaults:
    rate: float
    seed: int
    routes: frozenset[str]
    kinds: tuple[FailureKind, ...]
    retry_after: float


@dataclass(frozen=True)
class ServedFault:
    """One failure fail_randomly() served; ``accepted``: the fake had done the request."""

    route: str
    kind: FailureKind
    channel_id: int | None
    accepted: bool


@dataclass
class _GatewaySession:
    number: int
    ws: web.WebSocketResponse
    query: dict[str, str]
    session_id: str | None = None
    seq: int = 0
    intents: int = 0
    identified: bool = False
    closed: bool = False
    identify: Json | None = None
    presence: Json | None = None
    received: list[Json] = field(default_factory=list)
    dispatched: list[tuple[str, Json]] = field(default_factory=list)
    acks: set[asyncio.Task[None]] = field(default_factory=set)  # heartbeat ACKs on their way

    @property
    def open(self) -> bool:
        return not self.closed and not self.ws.closed

    def serves(self, guild_id: int | None) -> bool:
        """Whether this connection receives the guild's events: every guild without sharding,
        else the guilds of its shard, (guild_id >> 22) % shard_count; DMs go to shard 0."""
        shard = (self.identify or {}).get("shard")
        if not shard:
            return True
        shard_id, count = int(shard[0]), int(shard[1])
        return shard_id == (0 if guild_id is None else (guild_id >> 22) % count)


@dataclass
class _Call:
    request: web.Request
    params: dict[str, str]
    body: Any
    files: dict[str, bytes]
    query: dict[str, str]
    record: RequestRecord

    def snowflake(self, name: str) -> int:
        return int(self.params[name])

    @property
    def json(self) -> Json:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def reason(self) -> str | None:
        raw = self.request.headers.get("X-Audit-Log-Reason")
        return urllib.parse.unquote(raw) if raw else None


Handler = Callable[[_Call], Awaitable[Any]]

# method, path regex (after /api/v10), route name (mirrors discord.py's HTTPClient method
# names so fail_next("send_message") reads like the code under test), handler, needs bot token.
_ROUTES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("GET", r"/gateway", "get_gateway", "_rest_gateway", False),
    ("GET", r"/gateway/bot", "get_bot_gateway", "_rest_gateway", True),
    ("GET", r"/users/@me", "static_login", "_rest_me", True),
    ("GET", r"/users/(?P<user_id>\d+)", "get_user", "_rest_get_user", True),
    ("POST", r"/users/@me/channels", "start_private_message", "_rest_create_dm", True),
    ("GET", r"/applications/@me", "get_my_application", "_rest_application", True),
    ("GET", r"/oauth2/applications/@me", "application_info", "_rest_application", True),
    (
        "GET",
        r"/applications/(?P<app_id>\d+)/commands",
        "get_global_commands",
        "_rest_get_commands",
        True,
    ),
    (
        "PUT",
        r"/applications/(?P<app_id>\d+)/commands",
        "bulk_upsert_global_commands",
        "_rest_put_commands",
        True,
    ),
    (
        "GET",
        r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands",
        "get_guild_commands",
        "_rest_get_commands",
        True,
    ),
    (
        "PUT",
        r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands",
        "bulk_upsert_guild_commands",
        "_rest_put_commands",
        True,
    ),
    ("GET", r"/channels/(?P<channel_id>\d+)", "get_channel", "_rest_get_channel", True),
    ("GET", r"/channels/(?P<channel_id>\d+)/messages", "logs_from", "_rest_history", True),
    ("POST", r"/channels/(?P<channel_id>\d+)/messages", "send_message", "_rest_send", True),
    (
        "GET",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
        "get_message",
        "_rest_get_message",
        True,
    ),
    (
        "PATCH",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
        "edit_message",
        "_rest_edit_message",
        True,
    ),
    (
        "DELETE",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
        "delete_message",
        "_rest_delete_message",
        True,
    ),
    (
        "POST",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/threads",
        "start_thread_with_message",
        "_rest_thread_from_message",
        True,
    ),
    (
        "POST",
        r"/channels/(?P<channel_id>\d+)/threads",
        "start_thread_without_message",
        "_rest_start_thread",
        True,
    ),
    ("POST", r"/channels/(?P<channel_id>\d+)/typing", "send_typing", "_rest_typing", True),
    (
        "PUT",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "add_reaction",
        "_rest_add_reaction",
        True,
    ),
    (
        "DELETE",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "remove_own_reaction",
        "_rest_remove_reaction",
        True,
    ),
    (
        "POST",
        r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
        "create_interaction_response",
        "_rest_interaction_callback",
        False,
    ),
    (
        "POST",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)",
        "execute_webhook",
        "_rest_followup",
        False,
    ),
    (
        "GET",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "get_webhook_message",
        "_rest_get_webhook_message",
        False,
    ),
    (
        "PATCH",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "edit_webhook_message",
        "_rest_edit_webhook_message",
        False,
    ),
    (
        "DELETE",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "delete_webhook_message",
        "_rest_delete_webhook_message",
        False,
    ),
    ("GET", r"/guilds/(?P<guild_id>\d+)", "get_guild", "_rest_get_guild", True),
    (
        "GET",
        r"/guilds/(?P<guild_id>\d+)/channels",
        "get_all_guild_channels",
        "_rest_guild_channels",
        True,
    ),
    ("GET", r"/guilds/(?P<guild_id>\d+)/roles", "get_roles", "_rest_guild_roles", True),
    (
        "GET",
        r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)",
        "get_member",
        "_rest_get_member",
        True,
    ),
    (
        "PATCH",
        r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)",
        "edit_member",
        "_rest_edit_member",
        True,
    ),
    ("PUT", r"/guilds/(?P<guild_id>\d+)/bans/(?P<user_id>\d+)", "ban", "_rest_ban", True),
    ("DELETE", r"/guilds/(?P<guild_id>\d+)/bans/(?P<user_id>\d+)", "unban", "_rest_unban", True),
)

ROUTE_NAMES = frozenset(route[2] for route in _ROUTES) | {
    "start_thread_in_forum",
    "get_original_interaction_response",
    "edit_original_interaction_response",
    "delete_original_interaction_response",
}


def _guild_of(data: Json) -> int | None:
    """The guild an event belongs to (GUILD_* events name it as "id"), for shard routing."""
    guild_id = data.get("guild_id")
    return int(guild_id) if guild_id is not None else None


# --------------------------------------------------------------------------- patching


@contextlib.contextmanager
def patch_discord(api_base: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at a fake; restores them on exit.

    discord.py builds every REST URL (bot and webhook/interaction routes) from ``Route.BASE``;
    a non-sharded Client connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` (it never calls
    GET /gateway) and later resumes at READY's ``resume_gateway_url``.
    """
    route_cls = discord.http.Route
    ws_cls = discord.gateway.DiscordWebSocket
    saved_base, saved_gateway = route_cls.BASE, ws_cls.DEFAULT_GATEWAY
    route_cls.BASE = api_base
    ws_cls.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        route_cls.BASE = saved_base
        ws_cls.DEFAULT_GATEWAY = saved_gateway


@contextlib.contextmanager
def _guard_dns(blocked: list[str]) -> Iterator[None]:
    # A tripwire: any name lookup other than loopback (e.g. discord.com) fails loudly and is
    # recorded, so a missed patch can never reach the real Discord.
    original = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name) not in ALLOWED_HOSTS:
            blocked.append(str(name))
            raise socket.gaierror(socket.EAI_NONAME, f"FakeDiscord blocked lookup of {name!r}")
        return original(host, *args, **kwargs)

    socket.getaddrinfo = guarded
    try:
        yield
    finally:
        socket.getaddrinfo = original


# --------------------------------------------------------------------------- the fake


class FakeDiscord:
    """Fake Discord (gateway + REST) for one bot; use as ``async with FakeDiscord() as dc``."""

    def __init__(
        self,
        *,
        bot_id: int = 1_100_000_000_000_000_001,
        bot_name: str = "newsbot",
        application_id: int | None = None,
        token: str = "fake-bot-token",  # noqa: S107 - not a secret, the fake's own token
        heartbeat_interval_ms: int = 41_250,
        patch: bool = True,
        guard_network: bool = True,
        enforce_permissions: bool = True,
    ) -> None:
        self.bot_id = bot_id
        self.application_id = application_id or bot_id
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.enforce_permissions = enforce_permissions
        self._patch = patch
        self._guard_network = guard_network

        self.users: dict[int, FakeUser] = {bot_id: FakeUser(bot_id, bot_name, bot=True)}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.uploads: dict[int, bytes] = {}  # files attached to slash commands, by attachment id
        self.upload_downloads: list[int] = []  # attachment ids the bot downloaded, in order
        self.requests: list[RequestRecord] = []
        self.unhandled: list[RequestRecord] = []
        self.sessions: list[_GatewaySession] = []
        self.failures: list[Failure] = []
        self.random_faults: list[ServedFault] = []  # what fail_randomly() served, in order
        self._random: _RandomFaults | None = None
        self._random_calls: dict[tuple[str, int | None], int] = {}
        self._closing = asyncio.Event()  # ends answers held back by "held"
        self.blocked_hosts: list[str] = []
        self.command_syncs: list[tuple[int | None, Any]] = []
        self.identify_count = 0
        self.resume_count = 0

        self._ids = _Snowflakes()
        self._messages: dict[int, FakeMessage] = {}
        self._interactions: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._commands: dict[int | None, list[Json]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._dm_by_user: dict[int, int] = {}
        self._changed_cond = asyncio.Condition()
        self._routes: list[tuple[str, re.Pattern[str], str, Handler, bool]] = [
            (method, re.compile(pattern + "$"), name, getattr(self, handler), auth)
            for method, pattern, name, handler, auth in _ROUTES
        ]
        self._runner: web.AppRunner | None = None
        self._stack = contextlib.ExitStack()
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def bot(self) -> FakeUser:
        return self.users[self.bot_id]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/", self._handle_gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_rest)
        # Discord's CDN: the files people attached to a slash command.
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._serve_upload)
        # A short shutdown_timeout: aiohttp would otherwise wait 60s for open websockets.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        if self._patch:
            self._stack.enter_context(patch_discord(self.api_base, self.gateway_url))
        if self._guard_network:
            self._stack.enter_context(_guard_dns(self.blocked_hosts))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        try:
            # Close clients before leaving; a still-connected client would try to reconnect.
            for session in self.sessions:
                if session.open:
                    await session.ws.close(code=1001, message=b"fake shutting down")
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            self._stack.close()

    def patched(self) -> contextlib.AbstractContextManager[None]:
        """Patch discord.py at this fake explicitly (when constructed with ``patch=False``)."""
        return patch_discord(self.api_base, self.gateway_url)

    # ----------------------------------------------------------------- configuration

    def add_user(
        self, user_id: int, name: str, *, bot: bool = False, dms_open: bool = True
    ) -> FakeUser:
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = FakeUser(user_id, name, bot=bot, dms_open=dms_open)
        else:
            user.name, user.bot, user.dms_open = name, bot, dms_open
        return user

    def add_guild(
        self,
        guild_id: int,
        name: str,
        owner_id: int,
        *,
        locale: str = "en-US",
        bot_permissions: PermissionsLike = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: PermissionsLike = 0,
    ) -> FakeGuild:
        """Add a guild the bot is in (configure before the client connects)."""
        guild = FakeGuild(guild_id, name, owner_id, locale=locale)
        # @everyone shares the guild's id; member permissions are @everyone | their roles.
        guild.roles[guild_id] = FakeRole(guild_id, "@everyone", _perm_value(everyone_permissions))
        bot_role = FakeRole(
            self._ids.next(), self.bot.name, _perm_value(bot_permissions), position=1, managed=True
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        guild.members[self.bot_id] = FakeMember(self.bot_id, roles=[bot_role.id])
        self.guilds[guild_id] = guild
        if owner_id not in guild.members:
            owner = self.users.get(owner_id)
            self.add_member(guild_id, owner_id, owner.name if owner else f"owner{owner_id}")
        return guild

    def add_role(
        self,
        guild_id: int,
        role_id: int,
        name: str,
        permissions: PermissionsLike,
        *,
        position: int = 1,
    ) -> FakeRole:
        role = FakeRole(role_id, name, _perm_value(permissions), position=position)
        self._guild(guild_id).roles[role_id] = role
        return role

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        permissions: PermissionsLike | None = DEFAULT_MEMBER_PERMISSIONS,
        *,
        roles: Sequence[int] = (),
        nick: str | None = None,
    ) -> FakeMember:
        """Add (or replace) a member; ``permissions`` become a role so discord.py agrees."""
        guild = self._guild(guild_id)
        if user_id in self.users:
            self.users[user_id].name = name  # keep flags such as dms_open set by add_user
        else:
            self.add_user(user_id, name)
        member_roles = list(roles)
        if permissions is not None:
            member_roles.append(self._permission_role(guild, _perm_value(permissions)))
        member = FakeMember(user_id, roles=member_roles, nick=nick)
        guild.members[user_id] = member
        return member

    def set_bot_permissions(self, guild_id: int, permissions: PermissionsLike) -> None:
        guild = self._guild(guild_id)
        guild.roles[guild.bot_role_id].permissions = _perm_value(permissions)

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        type: int = TEXT,
        *,
        parent_id: int | None = None,
        topic: str | None = None,
        position: int | None = None,
        available_tags: Sequence[str] = (),
    ) -> FakeChannel:
        """A channel; `available_tags` names the tags a forum (type 15) offers its posts."""
        guild = self._guild(guild_id)
        tags = [
            {"id": str(self._ids.next()), "name": name, "moderated": False}
            | {"emoji_id": None, "emoji_name": None}
            for name in available_tags
        ]
        channel = FakeChannel(
            channel_id,
            type,
            name,
            guild_id=guild_id,
            parent_id=parent_id,
            topic=topic,
            position=len(guild.channels) if position is None else position,
            # A thread always has an owner (discord.py reads owner_id as a snowflake).
            owner_id=self.bot_id if type in THREAD_TYPES else None,
            available_tags=tags,
        )
        guild.channels[channel_id] = self.channels[channel_id] = channel
        return channel

    def set_overwrite(
        self,
        channel_id: int,
        target_id: int,
        *,
        allow: PermissionsLike = 0,
        deny: PermissionsLike = 0,
    ) -> None:
        """Channel permission overwrite for a role (incl. @everyone = guild id) or a member."""
        channel = self._channel(channel_id)
        guild = self._guild(channel.guild_id or 0)
        kind = 0 if target_id in guild.roles else 1
        channel.overwrites = [o for o in channel.overwrites if int(o["id"]) != target_id]
        channel.overwrites.append(
            {
                "id": str(target_id),
                "type": kind,
                "allow": str(_perm_value(allow)),
                "deny": str(_perm_value(deny)),
            }
        )

    def dm_channel(self, user_id: int) -> int:
        """The id of the bot's DM channel with ``user_id`` (created on first use)."""
        self._user(user_id)
        channel_id = self._dm_by_user.get(user_id)
        if channel_id is None:
            channel_id = self._ids.next()
            self.channels[channel_id] = FakeChannel(channel_id, DM, "", recipients=[user_id])
            self._dm_by_user[user_id] = channel_id
        return channel_id

    # ----------------------------------------------------------------- state queries

    def messages(self, channel_id: int) -> list[FakeMessage]:
        """Messages in a channel, oldest first, in their current state (deleted ones flagged)."""
        return [m for m in self._messages.values() if m.channel_id == channel_id]

    def message(self, message_id: int) -> FakeMessage:
        try:
            return self._messages[message_id]
        except KeyError:
            raise AssertionError(f"FakeDiscord: no message {message_id}") from None

    def interaction(self, interaction_id: int) -> FakeInteraction:
        try:
            return self._interactions[interaction_id]
        except KeyError:
            raise AssertionError(f"FakeDiscord: no interaction {interaction_id}") from None

    def interaction_responses(self, interaction_id: int) -> list[ResponseRecord]:
        return list(self.interaction(interaction_id).responses)

    def commands(self, guild_id: int | None = None) -> list[Json]:
        """Currently registered commands for a scope (None = global), as Discord returns them."""
        return list(self._commands.get(guild_id, []))

    def command(self, name: str, guild_id: int | None = None) -> Json:
        for command in self._commands.get(guild_id, []):
            if command["name"] == name:
                return command
        raise AssertionError(f"FakeDiscord: command {name!r} not registered for scope {guild_id}")

    def requests_for(self, name: str) -> list[RequestRecord]:
        """Requests whose route name (e.g. "send_message") matches."""
        return [r for r in self.requests if r.name == name]

    def member(self, guild_id: int, user_id: int) -> FakeMember:
        try:
            return self._guild(guild_id).members[user_id]
        except KeyError:
            raise AssertionError(f"FakeDiscord: {user_id} is not in guild {guild_id}") from None

    def bans(self, guild_id: int) -> dict[int, Json]:
        return dict(self._guild(guild_id).bans)

    def summary(self) -> str:
        lines = [f"FakeDiscord on {self.base_url}:"]
        for s in self.sessions:
            lines.append(
                f"  gateway session #{s.number}: identified={s.identified} open={s.open} "
                f"seq={s.seq} intents={s.intents}"
            )
        lines.append(f"  last requests ({len(self.requests)} total):")
        lines.extend(f"    {r}" for r in self.requests[-15:])
        if self.unhandled:
            lines.append("  unhandled routes: " + ", ".join(str(r) for r in self.unhandled))
        channels = sorted({m.channel_id for m in self._messages.values()})
        for channel_id in channels:
            msgs = self.messages(channel_id)
            last = msgs[-1]
            lines.append(
                f"  channel {channel_id}: {len(msgs)} messages, last {last.content[:60]!r}"
                f"{' (deleted)' if last.deleted else ''}"
            )
        for i in list(self._interactions.values())[-5:]:
            kinds = ", ".join(f"{r.kind}:{r.type}" for r in i.responses) or "no response"
            lines.append(f"  interaction {i.id} type {i.type}: {kinds}")
        if self.blocked_hosts:
            lines.append(f"  BLOCKED non-local lookups: {self.blocked_hosts}")
        return "\n".join(lines)

    # ----------------------------------------------------------------- failure injection

    def fail_next(
        self,
        route: str,
        channel_id: int | None = None,
        times: int = 1,
        kind: FailureKind = "missing_permissions",
        *,
        retry_after: float = 0.05,
        via: bool = True,
    ) -> Failure:
        """Make the next ``times`` matching requests fail.

        ``route`` is a route name mirroring discord.py's HTTPClient methods ("send_message",
        "edit_message", "create_interaction_response", "edit_member", ...) or a regex searched
        in "METHOD /path" (path without /api/v10), e.g. ``r"^POST /channels/\\d+/messages$"``.
        ``kind="rate_limited"`` answers 429 with ``retry_after`` and, unless ``via=False``, the
        ``Via`` header discord.py needs before it retries. ``"drop"`` closes the connection
        unanswered; note aiohttp retries idempotent methods (GET/PUT/DELETE) once by itself.
        """
        failure = Failure(route, kind, channel_id, times, retry_after=retry_after, via=via)
        self.failures.append(failure)
        return failure

    def fail_randomly(
        self,
        rate: float,
        *,
        seed: int,
        routes: Sequence[str] = RANDOM_ROUTES,
        kinds: Sequence[FailureKind] = RANDOM_KINDS,
        retry_after: float = 0.5,
    ) -> None:
        """Fail about ``rate`` of the requests of ``routes`` with one of ``kinds``, chosen by
        ``seed``; fail_next() failures go first. Served ones are listed in random_faults."""
        self._random = _RandomFaults(rate, seed, frozenset(routes), tuple(kinds), retry_after)

    def stop_failing_randomly(self) -> None:
        self._random = None

    # ----------------------------------------------------------------- waiting

    async def _changed(self) -> None:
        async with self._changed_cond:
            self._changed_cond.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-call bound is the point of this API
        *,
        what: str | None = None,
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        The predicate is re-checked whenever fake state changes (a request, a gateway
        payload, an interaction), so it should look at fake state, not at the client's.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self._changed_cond:
                    # Condition.wait_for only returns once the value is truthy, so never None.
                    return cast(T, await self._changed_cond.wait_for(predicate))
        except TimeoutError:
            label = what or getattr(predicate, "__name__", "predicate")
            raise AssertionError(
                f"FakeDiscord: timed out after {timeout:g}s waiting for {label}\n{self.summary()}"
            ) from None

    async def wait_ready(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        identifies: int = 1,
        guild_id: int | None = None,
    ) -> None:
        """Wait until a client has IDENTIFYed (``identifies`` times in total, for restarts);
        with shards, one whose shard serves ``guild_id`` (None: DMs, which go to shard 0)."""
        await self.wait_for(
            lambda: (
                self.identify_count >= identifies and self._active_session(guild_id) is not None
            ),
            timeout,
            what=f"gateway IDENTIFY #{identifies}",
        )

    async def wait_for_message(
        self,
        channel_id: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        predicate: Callable[[FakeMessage], bool] | None = None,
    ) -> FakeMessage:
        """The newest non-deleted message in the channel (matching ``predicate``)."""

        def find() -> FakeMessage | None:
            for message in reversed(self.messages(channel_id)):
                if not message.deleted and (predicate is None or predicate(message)):
                    return message
            return None

        return await self.wait_for(find, timeout, what=f"a message in channel {channel_id}")

    async def wait_for_interaction_response(
        self,
        interaction_id: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        count: int = 1,
    ) -> ResponseRecord:
        """The ``count``-th response (1 = the callback) to an interaction."""
        interaction = self.interaction(interaction_id)

        def find() -> ResponseRecord | None:
            return interaction.responses[count - 1] if len(interaction.responses) >= count else None

        return await self.wait_for(find, timeout, what=f"response #{count} to {interaction_id}")

    # ----------------------------------------------------------------- driving as people

    async def slash(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        locale: str = "en-US",
        guild_locale: str | None = None,
    ) -> int:
        """Invoke a registered slash command; ``name`` may be "group sub". Returns the id."""
        data = self._command_data(guild_id, name, options or {}, focused=None)
        return await self._create_interaction(
            APPLICATION_COMMAND, guild_id, channel_id, user_id, data, locale, guild_locale
        )

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        locale: str = "en-US",
        guild_locale: str | None = None,
    ) -> int:
        """Send an autocomplete interaction for option ``focused`` (its value as typed)."""
        data = self._command_data(guild_id, name, options, focused=focused)
        return await self._create_interaction(
            AUTOCOMPLETE, guild_id, channel_id, user_id, data, locale, guild_locale
        )

    async def press(
        self,
        channel_id: int,
        message_id: int,
        user_id: int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        locale: str = "en-US",
        stale: bool = False,
    ) -> int:
        """Click a button (or choose ``values`` in a select) on a message the bot sent.

        ``stale``: the person's app still shows an older version of the message and clicks a
        button that is no longer on it (after an edit removed it, or racing that edit). Discord
        then sends the interaction with the message as it is now."""
        message = self.message(message_id)
        if message.channel_id != channel_id or message.deleted:
            raise AssertionError(f"FakeDiscord: message {message_id} not live in {channel_id}")
        component = message.component(custom_id)
        if stale:
            if component is not None:
                raise AssertionError(f"FakeDiscord: {custom_id!r} is still on {message_id}")
            component = {"type": 2, "custom_id": custom_id}
        if component is None:
            raise AssertionError(
                f"FakeDiscord: no component {custom_id!r} on {message_id}; has {message.custom_ids}"
            )
        if component.get("disabled"):
            raise AssertionError(f"FakeDiscord: component {custom_id!r} is disabled")
        data: Json = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        channel = self._channel(channel_id)
        return await self._create_interaction(
            MESSAGE_COMPONENT, channel.guild_id, channel_id, user_id, data, locale, None, message
        )

    async def say(
        self,
        channel_id: int,
        user_id: int,
        content: str,
        *,
        reply_to: int | None = None,
    ) -> FakeMessage:
        """A person posts a message; MESSAGE_CREATE goes to the client as Discord would send it.

        The event goes only to a connected client with the guild/DM messages intent, and
        without the message content intent its content is blanked (unless the bot is
        mentioned), as on Discord. Call ``wait_ready`` first if the client must see it.
        """
        channel = self._channel(channel_id)
        if channel.guild_id is not None and user_id not in self._guild(channel.guild_id).members:
            raise AssertionError(f"FakeDiscord: user {user_id} is not in guild {channel.guild_id}")
        reference = None
        if reply_to is not None:
            reference = {"message_id": str(reply_to), "channel_id": str(channel_id)}
        message = self._new_message(
            channel,
            user_id,
            {"content": content},
            {},
            type=MESSAGE_REPLY if reference else MESSAGE_DEFAULT,
            reference=reference,
        )
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        await self._changed()
        return message

    async def dispatch(self, event: str, data: Json) -> None:
        """Send any DISPATCH event to the connected client (the one whose shard serves the
        event's guild)."""
        session = self._active_session(_guild_of(data))
        if session is None:
            raise AssertionError(
                f"FakeDiscord: no identified client to send {event}\n{self.summary()}"
            )
        await self._send_dispatch(session, event, data)

    async def disconnect(self, code: int = 4000) -> None:
        """Close the client's websocket from the server side; discord.py then RESUMEs."""
        session = self._active_session()
        if session is None:
            raise AssertionError("FakeDiscord: no connected client to disconnect")
        await session.ws.close(code=code, message=b"fake disconnect")

    # ----------------------------------------------------------------- gateway

    def _active_session(self, guild_id: int | None = None) -> _GatewaySession | None:
        # The newest identified open connection is "the" client (restarts make a new one);
        # with shards, the newest one of the shard that serves the guild.
        for session in reversed(self.sessions):
            if session.identified and session.open and session.serves(guild_id):
                return session
        return None

    def shard_sessions(self, shard_id: int) -> list[_GatewaySession]:
        """Connections that IDENTIFYed as this shard."""
        return [
            s
            for s in self.sessions
            if s.identify and (s.identify.get("shard") or [0])[0] == shard_id
        ]

    async def _handle_gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=0)
        await ws.prepare(request)
        session = _GatewaySession(len(self.sessions) + 1, ws, dict(request.query))
        self.sessions.append(session)
        try:
            # Plain text frames: discord.py decompresses only binary frames, so
            # compress=zlib-stream in the query does not oblige us to compress.
            await self._send(
                session, {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                session.received.append(payload)
                await self._on_gateway_payload(session, payload)
                await self._changed()
        finally:
            session.closed = True
            for ack in session.acks:
                ack.cancel()
            await self._changed()
        return ws

    async def _send(self, session: _GatewaySession, payload: Json) -> None:
        payload.setdefault("s", None)
        payload.setdefault("t", None)
        await session.ws.send_str(json.dumps(payload))

    async def _send_dispatch(self, session: _GatewaySession, event: str, data: Json) -> None:
        session.seq += 1
        session.dispatched.append((event, data))
        await self._send(session, {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})

    async def _on_gateway_payload(self, session: _GatewaySession, payload: Json) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == OP_HEARTBEAT:
            ack = asyncio.create_task(self._ack_heartbeat(session))
            session.acks.add(ack)
            ack.add_done_callback(session.acks.discard)
        elif op == OP_IDENTIFY:
            await self._identify(session, data or {})
        elif op == OP_RESUME:
            await self._resume(session, data or {})
        elif op == OP_REQUEST_MEMBERS:
            await self._members_chunk(session, data or {})
        elif op == OP_PRESENCE:
            session.presence = data

    async def _ack_heartbeat(self, session: _GatewaySession) -> None:
        # A moment later, as over a real network: discord.py's keep-alive thread notes when it
        # sent a heartbeat only after the event loop has sent it, so an ACK that is there at
        # once can beat it, and discord.py then takes the whole interval for the latency and
        # logs "Can't keep up, websocket is 41.3s behind" on an idle loop.
        await asyncio.sleep(HEARTBEAT_ACK_DELAY)
        if session.open:
            with contextlib.suppress(ConnectionResetError):
                await self._send(session, {"op": OP_HEARTBEAT_ACK})

    async def _identify(self, session: _GatewaySession, data: Json) -> None:
        if data.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        session.identify = data
        session.intents = int(data.get("intents", 0))
        session.session_id = secrets.token_hex(16)
        guilds = [g for g in self.guilds.values() if session.serves(g.id)]
        ready = {
            "v": API_VERSION,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["fake-discord"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._send_dispatch(session, "READY", ready)
        for guild in guilds:
            await self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(guild))
        session.identified = True
        self.identify_count += 1

    async def _resume(self, session: _GatewaySession, data: Json) -> None:
        previous = next(
            (
                s
                for s in self.sessions
                if s is not session and s.session_id == data.get("session_id")
            ),
            None,
        )
        if previous is None or data.get("token") != self.token:
            await self._send(session, {"op": OP_INVALID_SESSION, "d": False})
            return
        # Events sent while disconnected are not replayed: the fake only sends to open sessions.
        session.session_id = previous.session_id
        session.intents = previous.intents
        session.identify = previous.identify
        session.seq = previous.seq
        session.identified = True
        previous.identified = False
        self.resume_count += 1
        await self._send_dispatch(session, "RESUMED", {"_trace": ["fake-discord"]})

    async def _members_chunk(self, session: _GatewaySession, data: Json) -> None:
        guild = self.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        chunk = {
            "guild_id": str(guild.id),
            "members": [m.payload(self.users[m.user_id]) for m in guild.members.values()],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        }
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch_auto(self, event: str, data: Json, intent: int) -> None:
        # Events the real gateway sends on its own: only when a client listens with that intent.
        session = self._active_session(_guild_of(data))
        if session is not None and session.intents & intent:
            await self._send_dispatch(session, event, data)

    async def _dispatch_message_event(self, event: str, message: FakeMessage) -> None:
        if message.ephemeral:
            return
        session = self._active_session(message.guild_id)
        intent = INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        if session is None or not session.intents & intent:
            return
        payload = self._message_payload(message)
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
            member = self._guild(message.guild_id).members.get(message.author_id)
            if member is not None and message.webhook_id is None:
                payload["member"] = member.payload()
        mentioned = str(self.bot_id) in {u["id"] for u in payload["mentions"]}
        privileged = bool(session.intents & INTENT_MESSAGE_CONTENT)
        if not (
            privileged or mentioned or message.guild_id is None or message.author_id == self.bot_id
        ):
            # Without the message content intent Discord blanks these fields.
            payload.update(content="", embeds=[], attachments=[], components=[])
        await self._send_dispatch(session, event, payload)

    # ----------------------------------------------------------------- interactions

    def _command_data(
        self, guild_id: int | None, name: str, values: Mapping[str, Any], focused: str | None
    ) -> Json:
        root, *path = name.split()
        command = self._find_command(root, guild_id)
        data: Json = {"id": str(command["id"]), "name": root, "type": command.get("type", 1)}
        if command.get("guild_id"):
            # discord.py's CommandTree looks guild commands up by data.guild_id.
            data["guild_id"] = command["guild_id"]
        resolved: Json = {}
        container: list[Json] = []
        data["options"] = container
        schema: list[Json] = command.get("options") or []
        for sub in path:
            option = next(
                (o for o in schema if o["name"] == sub and o["type"] in (1, 2)),
                None,
            )
            if option is None:
                raise AssertionError(f"FakeDiscord: {root!r} has no subcommand {sub!r}")
            node: Json = {"name": sub, "type": option["type"], "options": []}
            container.append(node)
            container = node["options"]
            schema = option.get("options") or []
        known = {o["name"]: o for o in schema}
        for option_name, value in values.items():
            option = known.get(option_name)
            if option is None:
                raise AssertionError(
                    f"FakeDiscord: /{name} has no option {option_name!r}; has {sorted(known)}"
                )
            entry: Json = {"name": option_name, "type": option["type"]}
            if option_name == focused:
                entry["value"] = str(value)
                entry["focused"] = True
            else:
                entry["value"] = self._option_value(option["type"], value, resolved, guild_id)
            container.append(entry)
        if focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            if missing:
                raise AssertionError(f"FakeDiscord: /{name} is missing required options {missing}")
        elif focused not in values:
            raise AssertionError(f"FakeDiscord: focused option {focused!r} needs a value")
        if resolved:
            data["resolved"] = resolved
        return data

    def _find_command(self, name: str, guild_id: int | None) -> Json:
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        registered = {scope: [c["name"] for c in cmds] for scope, cmds in self._commands.items()}
        raise AssertionError(f"FakeDiscord: /{name} is not registered; registered: {registered}")

    def _option_value(
        self, option_type: int, value: Any, resolved: Json, guild_id: int | None
    ) -> Any:
        if option_type == 3:
            return str(value)
        if option_type == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise AssertionError(f"FakeDiscord: integer option got {value!r}")
            return value
        if option_type == 5:
            return bool(value)
        if option_type == 10:
            return float(value)
        if option_type == 11:
            return self._upload(value, resolved)
        snowflake = int(getattr(value, "id", value))
        guild = self.guilds.get(guild_id) if guild_id is not None else None
        if option_type == 9:
            option_type = 8 if guild is not None and snowflake in guild.roles else 6
        if option_type == 6:
            user = self._user(snowflake)
            resolved.setdefault("users", {})[str(snowflake)] = user.payload()
            if guild is not None and snowflake in guild.members:
                member = guild.members[snowflake].payload()
                member["permissions"] = str(self._permissions(guild, snowflake, None))
                resolved.setdefault("members", {})[str(snowflake)] = member
        elif option_type == 7:
            channel = self._channel(snowflake)
            payload = self._channel_payload(channel)
            if guild is not None:
                payload["permissions"] = str(self._permissions(guild, self.bot_id, channel))
            resolved.setdefault("channels", {})[str(snowflake)] = payload
        elif option_type == 8:
            if guild is None or snowflake not in guild.roles:
                raise AssertionError(f"FakeDiscord: no role {snowflake}")
            resolved.setdefault("roles", {})[str(snowflake)] = guild.roles[snowflake].payload()
        else:
            raise AssertionError(f"FakeDiscord: option type {option_type} is not supported")
        return str(snowflake)

    def _upload(self, value: Any, resolved: Json) -> str:
        """An attachment option: `value` is (filename, bytes), or (filename, bytes, size) for a
        file whose announced size differs from the bytes served (a huge one)."""
        filename, data, *announced = value
        attachment_id = self._ids.next()
        self.uploads[attachment_id] = bytes(data)
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        resolved.setdefault("attachments", {})[str(attachment_id)] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": int(announced[0]) if announced else len(data),
            "url": url,
            "proxy_url": url,
            "content_type": "text/x-opml",
        }
        return str(attachment_id)

    async def _serve_upload(self, request: web.Request) -> web.StreamResponse:
        attachment_id = int(request.match_info["attachment_id"])
        if attachment_id not in self.uploads:
            return web.Response(status=404)
        self.upload_downloads.append(attachment_id)
        return web.Response(body=self.uploads[attachment_id])

    async def _create_interaction(
        self,
        interaction_type: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        data: Json,
        locale: str,
        guild_locale: str | None,
        message: FakeMessage | None = None,
    ) -> int:
        await self.wait_ready(guild_id=guild_id)
        channel = self._channel(channel_id)
        if channel.guild_id != guild_id:
            raise AssertionError(
                f"FakeDiscord: channel {channel_id} is in guild {channel.guild_id}, not {guild_id}"
            )
        user = self._user(user_id)
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(24)
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "channel_id": str(channel_id),
            "channel": self._channel_payload(channel),
        }
        if guild_id is not None:
            guild = self._guild(guild_id)
            if user_id not in guild.members:
                raise AssertionError(f"FakeDiscord: user {user_id} is not in guild {guild_id}")
            member = guild.members[user_id].payload(user)
            member["permissions"] = str(self._permissions(guild, user_id, channel))
            payload.update(
                guild_id=str(guild_id),
                guild_locale=guild_locale or guild.locale,
                guild={"id": str(guild_id), "locale": guild.locale, "features": []},
                member=member,
                app_permissions=str(self._permissions(guild, self.bot_id, channel)),
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
            payload["channel"]["permissions"] = member["permissions"]
        else:
            payload.update(
                user=user.payload(),
                app_permissions=str(DM_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if message is not None:
            payload["message"] = self._message_payload(message)
        interaction = FakeInteraction(
            interaction_id,
            token,
            interaction_type,
            guild_id,
            channel_id,
            user_id,
            payload,
            component_message_id=message.id if message else None,
        )
        self._interactions[interaction_id] = interaction
        self._interactions_by_token[token] = interaction
        await self.dispatch("INTERACTION_CREATE", payload)
        await self._changed()
        return interaction_id

    # ----------------------------------------------------------------- REST plumbing

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(API_PREFIX) :] or "/"
        body, files = await self._read_body(request)
        record = RequestRecord(request.method, path, dict(request.query), body)
        self.requests.append(record)
        try:
            return await self._route(request, record, files)
        finally:
            await self._changed()

    async def _route(
        self, request: web.Request, record: RequestRecord, files: dict[str, bytes]
    ) -> web.StreamResponse:
        found = self._find_route(record.method, record.path)
        if found is None:
            record.name, record.note = "unknown", "unknown route"
            self.unhandled.append(record)
            return self._error(record, DiscordError(404, 0, "404: Not Found"))
        (name, handler, auth), params = found
        call = _Call(request, params, record.body, files, record.query, record)
        record.name = self._route_name(name, call)
        if auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._error(record, DiscordError(401, 0, "401: Unauthorized"))
        failure = self._take_failure(record, self._route_channel(call))
        if failure is not None and failure.kind not in AFTER_KINDS:
            return self._fail(request, record, failure)
        try:
            result = await handler(call)
        except DiscordError as exc:
            return self._error(record, exc)
        if failure is not None and failure.kind == "held":
            record.note = "injected held"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), HOLD_SECONDS)
        elif failure is not None:
            return self._fail(request, record, failure)
        if result is None:
            record.status = 204
            return web.Response(status=204)
        record.status = 200
        return _json_response(result)

    def _find_route(
        self, method: str, path: str
    ) -> tuple[tuple[str, Handler, bool], dict[str, str]] | None:
        for route_method, pattern, name, handler, auth in self._routes:
            match = pattern.match(path)
            if route_method == method and match:
                return (name, handler, auth), match.groupdict()
        return None

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, dict[str, bytes]]:
        if not request.can_read_body:
            return None, {}
        if request.content_type == "multipart/form-data":
            # discord.py sends files as multipart with the JSON in a "payload_json" field.
            form = await request.post()
            files: dict[str, bytes] = {}
            payload: Any = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[value.filename] = value.file.read()
                elif key == "payload_json":
                    payload = json.loads(str(value))
            return payload, files
        text = await request.text()
        if request.content_type == "application/json" and text:
            return json.loads(text), {}
        return text or None, {}

    def _route_name(self, name: str, call: _Call) -> str:
        # One URL serves several discord.py methods; name it after the one that was meant.
        if name == "start_thread_without_message":
            channel = self.channels.get(call.snowflake("channel_id"))
            if channel is not None and channel.type in THREAD_PARENT_TYPES:
                return "start_thread_in_forum"
        if name.endswith("_webhook_message") and call.params["message_id"] == "@original":
            return name.replace("_webhook_message", "_original_interaction_response")
        return name

    def _route_channel(self, call: _Call) -> int | None:
        if "channel_id" in call.params:
            return call.snowflake("channel_id")
        if "token" in call.params:
            interaction = self._interactions_by_token.get(call.params["token"])
            return interaction.channel_id if interaction else None
        return None

    def _take_failure(self, record: RequestRecord, channel_id: int | None) -> Failure | None:
        for failure in self.failures:
            if failure.matches(record.name, record.method, record.path, channel_id):
                failure.remaining -= 1
                failure.hits += 1
                return failure
        return self._random_failure(record, channel_id)

    def _random_failure(self, record: RequestRecord, channel_id: int | None) -> Failure | None:
        spec = self._random
        if spec is None or record.name not in spec.routes:
            return None
        call = (record.name, channel_id)
        number = self._random_calls.get(call, 0)
        self._random_calls[call] = number + 1
        # Seeded per route, channel and how many requests came before: the same requests fail
        # the same way on every run, however the client interleaves them.
        rng = random.Random(f"{spec.seed}:{record.name}:{channel_id}:{number}")
        if rng.random() >= spec.rate:
            return None
        kind = rng.choice(spec.kinds)
        self.random_faults.append(ServedFault(record.name, kind, channel_id, kind in AFTER_KINDS))
        return Failure(record.name, kind, channel_id, 0, retry_after=spec.retry_after, hits=1)

    def _fail(self, request: web.Request, record: RequestRecord, failure: Failure) -> web.Response:
        record.note = f"injected {failure.kind}"
        if failure.kind in ("drop", "drop_after"):
            if request.transport is not None:
                request.transport.close()
            # The connection is gone; aiohttp has nothing to write this to.
            raise web.HTTPServiceUnavailable()
        if failure.kind == "rate_limited":
            record.status = 429
            headers = {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": "fake-bucket",
                "X-RateLimit-Scope": "user",
                "Retry-After": str(max(1, round(failure.retry_after))),
            }
            if failure.via:
                # discord.py treats a 429 without Via as a Cloudflare ban and does not retry.
                headers["Via"] = "1.1 google"
            body = {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": False,
                "code": 0,
            }
            return _json_response(body, 429, headers)
        status, code, message = FAILURE_BODIES[failure.kind]
        return self._error(record, DiscordError(status, code, message), note=record.note)

    @staticmethod
    def _error(record: RequestRecord, exc: DiscordError, note: str | None = None) -> web.Response:
        record.status = exc.status
        record.note = note or record.note or exc.message
        return _json_response({"message": exc.message, "code": exc.code}, exc.status)

    # ----------------------------------------------------------------- lookups & permissions

    def _guild(self, guild_id: int) -> FakeGuild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise AssertionError(f"FakeDiscord: no guild {guild_id}") from None

    def _channel(self, channel_id: int) -> FakeChannel:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise AssertionError(f"FakeDiscord: no channel {channel_id}") from None

    def _user(self, user_id: int) -> FakeUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise AssertionError(f"FakeDiscord: no user {user_id}") from None

    def _permission_role(self, guild: FakeGuild, permissions: int) -> int:
        for role in guild.roles.values():
            if role.name == f"perms-{permissions}":
                return role.id
        role = FakeRole(self._ids.next(), f"perms-{permissions}", permissions, position=1)
        guild.roles[role.id] = role
        return role.id

    def _permissions(self, guild: FakeGuild, user_id: int, channel: FakeChannel | None) -> int:
        """Discord's permission algorithm: roles, administrator, then channel overwrites."""
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        if member is None:
            return 0
        base = guild.roles[guild.id].permissions
        for role_id in member.roles:
            if role_id in guild.roles:
                base |= guild.roles[role_id].permissions
        if base & P_ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is not None:
            if channel.is_thread and channel.parent_id in self.channels:
                channel = self.channels[channel.parent_id]
            overwrites = {(int(o["id"]), int(o["type"])): o for o in channel.overwrites}
            everyone = overwrites.get((guild.id, 0))
            if everyone:
                base = (base & ~int(everyone["deny"])) | int(everyone["allow"])
            allow = deny = 0
            for role_id in member.roles:
                role_ow = overwrites.get((role_id, 0))
                if role_ow:
                    allow |= int(role_ow["allow"])
                    deny |= int(role_ow["deny"])
            base = (base & ~deny) | allow
            own = overwrites.get((user_id, 1))
            if own:
                base = (base & ~int(own["deny"])) | int(own["allow"])
        if member.timed_out:
            base &= P_VIEW | P_HISTORY
        return base

    def _require(self, channel: FakeChannel, needed: int) -> None:
        if not self.enforce_permissions or channel.guild_id is None:
            return
        have = self._permissions(self._guild(channel.guild_id), self.bot_id, channel)
        if not have & P_VIEW:
            raise DiscordError(403, 50001, "Missing Access")
        if have & needed != needed:
            raise DiscordError(403, 50013, "Missing Permissions")

    def _require_guild(self, guild: FakeGuild, needed: int, target_id: int | None = None) -> None:
        if not self.enforce_permissions:
            return
        if self._permissions(guild, self.bot_id, None) & needed != needed:
            raise DiscordError(403, 50013, "Missing Permissions")
        if target_id is not None and (
            target_id == guild.owner_id
            or self._permissions(guild, target_id, None) & P_ADMINISTRATOR
        ):
            # Discord's role hierarchy: the bot can never act on the owner or an administrator.
            raise DiscordError(403, 50013, "Missing Permissions")

    def _rest_channel(self, call: _Call) -> FakeChannel:
        channel = self.channels.get(call.snowflake("channel_id"))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    def _rest_message(self, call: _Call) -> FakeMessage:
        message = self._messages.get(call.snowflake("message_id"))
        if message is None or message.deleted or message.channel_id != call.snowflake("channel_id"):
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    def _rest_guild(self, call: _Call) -> FakeGuild:
        guild = self.guilds.get(call.snowflake("guild_id"))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    # ----------------------------------------------------------------- payload builders

    def _channel_payload(self, channel: FakeChannel) -> Json:
        if channel.type == DM:
            return {
                "id": str(channel.id),
                "type": DM,
                "recipients": [self.users[u].payload() for u in channel.recipients],
                "last_message_id": str(channel.last_message_id)
                if channel.last_message_id
                else None,
                "flags": 0,
            }
        data: Json = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "permission_overwrites": list(channel.overwrites),
            "nsfw": False,
            "flags": 0,
            "rate_limit_per_user": 0,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
        }
        if channel.type in (TEXT, NEWS):
            data.update(topic=channel.topic, default_auto_archive_duration=1440)
        elif channel.type == VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        elif channel.type in THREAD_PARENT_TYPES:
            data.update(
                topic=channel.topic,
                available_tags=list(channel.available_tags),
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        elif channel.is_thread:
            del data["permission_overwrites"], data["position"]
            data.update(
                owner_id=str(channel.owner_id),
                message_count=channel.message_count,
                member_count=1,
                total_message_sent=channel.message_count,
                applied_tags=[str(t) for t in channel.applied_tags],
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": channel.auto_archive_duration,
                    "archive_timestamp": channel.created_at,
                    "locked": False,
                    "create_timestamp": channel.created_at,
                },
            )
        return data

    def _guild_create_payload(self, guild: FakeGuild) -> Json:
        channels = [c for c in guild.channels.values() if not c.is_thread]
        threads = [c for c in guild.channels.values() if c.is_thread]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "owner_id": str(guild.owner_id),
            "preferred_locale": guild.locale,
            "features": [],
            "roles": [r.payload() for r in guild.roles.values()],
            "channels": [self._channel_payload(c) for c in channels],
            "threads": [self._channel_payload(c) for c in threads],
            "members": [m.payload(self.users[m.user_id]) for m in guild.members.values()],
            "member_count": len(guild.members),
            "large": False,
            "unavailable": False,
            "joined_at": _iso(),
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "system_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "afk_timeout": 300,
        }

    def _message_payload(self, message: FakeMessage) -> Json:
        mentions = [
            self.users[int(uid)].payload()
            for uid in dict.fromkeys(MENTION_RE.findall(message.content))
            if int(uid) in self.users
        ]
        data: Json = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "type": message.type,
            "content": message.content,
            "author": self.users[message.author_id].payload(),
            "timestamp": message.created_at,
            "edited_timestamp": message.edited_at,
            "tts": message.tts,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": list(message.attachments),
            "embeds": list(message.embeds),
            "components": list(message.components),
            "pinned": False,
            "flags": message.flags,
        }
        if message.webhook_id is not None:
            data["webhook_id"] = str(message.webhook_id)
            data["application_id"] = str(self.application_id)
        if message.interaction_id is not None:
            interaction = self._interactions[message.interaction_id]
            data["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.users[interaction.user_id].payload(),
                "authorizing_integration_owners": interaction.payload[
                    "authorizing_integration_owners"
                ],
            }
        if message.message_reference is not None:
            data["message_reference"] = message.message_reference
            referenced = self._messages.get(int(message.message_reference["message_id"]))
            if referenced is not None and not referenced.deleted:
                data["referenced_message"] = {
                    k: v
                    for k, v in self._message_payload(referenced).items()
                    if k != "referenced_message"
                }
        if message.thread_id is not None and message.thread_id in self.channels:
            thread = self._channel_payload(self.channels[message.thread_id])
            data["thread"] = thread
        return data

    def _application_payload(self) -> Json:
        owner = self.guilds[next(iter(self.guilds))].owner_id if self.guilds else self.bot_id
        return {
            "id": str(self.application_id),
            "name": self.bot.name,
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.users[owner].payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot.payload(),
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            # Must stay null: discord.py warns that interactions would not reach the gateway.
            "interactions_endpoint_url": None,
        }

    # ----------------------------------------------------------------- message mutations

    def _new_message(
        self,
        channel: FakeChannel,
        author_id: int,
        payload: Json,
        files: dict[str, bytes],
        *,
        message_id: int | None = None,
        type: int = MESSAGE_DEFAULT,
        reference: Json | None = None,
        interaction: FakeInteraction | None = None,
        webhook: bool = False,
    ) -> FakeMessage:
        message = FakeMessage(
            message_id or self._ids.next(),
            channel.id,
            channel.guild_id,
            author_id,
            type=type,
            message_reference=reference,
            webhook_id=self.application_id if webhook else None,
            interaction_id=interaction.id if interaction else None,
        )
        self._apply_content(message, payload, files)
        self._messages[message.id] = message
        channel.last_message_id = message.id
        if channel.is_thread:
            channel.message_count += 1
        return message

    def _apply_content(self, message: FakeMessage, payload: Json, files: dict[str, bytes]) -> None:
        if "content" in payload:
            content = payload["content"]
            message.content = "" if content is None else str(content)
        if "embeds" in payload:
            message.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            message.components = _number_components(payload["components"] or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload:
            # LOADING and EPHEMERAL are set by Discord, not by edits.
            keep = message.flags & (FLAG_EPHEMERAL | FLAG_LOADING)
            message.flags = keep | (int(payload["flags"] or 0) & ~FLAG_LOADING)
        if "tts" in payload:
            message.tts = bool(payload["tts"])
        if "attachments" in payload or files:
            attachments: list[Json] = []
            for index, spec in enumerate(payload.get("attachments") or []):
                filename = spec.get("filename") or f"file{index}"
                if filename in files:
                    message.files[filename] = files[filename]
                    attachment_id = self._ids.next()
                    url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
                    attachments.append(
                        {
                            "id": str(attachment_id),
                            "filename": filename,
                            "size": len(files[filename]),
                            "url": url,
                            "proxy_url": url,
                            "content_type": "application/octet-stream",
                            # The alt text, as Discord keeps it.
                            **(
                                {"description": spec["description"]}
                                if spec.get("description")
                                else {}
                            ),
                        }
                    )
                else:
                    kept = next(
                        (a for a in message.attachments if a["id"] == str(spec.get("id"))), None
                    )
                    if kept is not None:
                        attachments.append(kept)
            message.attachments = attachments

    @staticmethod
    def _validate_message(payload: Json, files: dict[str, bytes]) -> None:
        content = payload.get("content") or ""
        if len(str(content)) > 2000:
            raise DiscordError(
                400, 50035, "Invalid Form Body (content: Must be 2000 or fewer in length.)"
            )
        if len(payload.get("embeds") or []) > 10:
            raise DiscordError(
                400, 50035, "Invalid Form Body (embeds: Must be 10 or fewer in length.)"
            )
        has_body = any(
            payload.get(k) for k in ("content", "embeds", "components", "sticker_ids", "poll")
        )
        if not has_body and not files:
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _edit_message(self, message: FakeMessage, payload: Json, files: dict[str, bytes]) -> None:
        message.edits.append(payload)
        self._apply_content(message, payload, files)
        message.flags &= ~FLAG_LOADING
        message.edited_at = _iso()

    # ----------------------------------------------------------------- REST: misc

    async def _rest_gateway(self, call: _Call) -> Json:
        data: Json = {"url": self.gateway_url.rstrip("/")}
        if call.record.name == "get_bot_gateway":
            data["shards"] = 1
            data["session_start_limit"] = {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            }
        return data

    async def _rest_me(self, call: _Call) -> Json:
        return {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0}

    async def _rest_get_user(self, call: _Call) -> Json:
        user = self.users.get(call.snowflake("user_id"))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return user.payload()

    async def _rest_application(self, call: _Call) -> Json:
        return self._application_payload()

    async def _rest_create_dm(self, call: _Call) -> Json:
        recipient = int(call.json.get("recipient_id", 0))
        if recipient not in self.users:
            raise DiscordError(400, 50033, "Invalid Recipients")
        return self._channel_payload(self.channels[self.dm_channel(recipient)])

    # ----------------------------------------------------------------- REST: commands

    def _scope(self, call: _Call) -> int | None:
        if call.snowflake("app_id") != self.application_id:
            raise DiscordError(404, 10002, "Unknown Application")
        if "guild_id" not in call.params:
            return None
        if call.snowflake("guild_id") not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        return call.snowflake("guild_id")

    async def _rest_get_commands(self, call: _Call) -> list[Json]:
        return self.commands(self._scope(call))

    async def _rest_put_commands(self, call: _Call) -> list[Json]:
        scope = self._scope(call)
        payload = call.body if isinstance(call.body, list) else []
        self.command_syncs.append((scope, payload))
        _validate_commands(payload)
        registered: list[Json] = []
        for spec in payload:
            kind = int(spec.get("type", 1))
            key = (scope, kind, spec["name"])
            # Discord keeps a command's id across overwrites as long as name and type match.
            command_id = self._command_ids.setdefault(key, self._ids.next())
            command: Json = {
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
                "type": kind,
                "name": spec["name"],
                "description": spec.get("description", ""),
                "options": spec.get("options", []),
                "name_localizations": spec.get("name_localizations"),
                "description_localizations": spec.get("description_localizations"),
                "default_member_permissions": spec.get("default_member_permissions"),
                "dm_permission": spec.get("dm_permission", True),
                "contexts": spec.get("contexts"),
                "integration_types": spec.get("integration_types", [0]),
                "nsfw": spec.get("nsfw", False),
            }
            if scope is not None:
                command["guild_id"] = str(scope)
            registered.append(command)
        self._commands[scope] = registered
        return registered

    # ----------------------------------------------------------------- REST: channels & messages

    async def _rest_get_channel(self, call: _Call) -> Json:
        channel = self._rest_channel(call)
        self._require(channel, P_VIEW)
        return self._channel_payload(channel)

    async def _rest_history(self, call: _Call) -> list[Json]:
        channel = self._rest_channel(call)
        self._require(channel, P_VIEW | P_HISTORY)
        limit = int(call.query.get("limit", 50))
        before = int(call.query.get("before", 1 << 63))
        after = int(call.query.get("after", 0))
        newest_first = sorted(
            (
                m
                for m in self.messages(channel.id)
                if not m.deleted and not m.ephemeral and after < m.id < before
            ),
            key=lambda m: m.id,
            reverse=True,
        )
        if "after" in call.query and "before" not in call.query:
            # Paging forward from ``after`` yields the oldest ``limit`` messages past it.
            page = newest_first[-limit:]
        else:
            page = newest_first[:limit]
        return [self._message_payload(m) for m in page]

    async def _rest_send(self, call: _Call) -> Json:
        channel = self._rest_channel(call)
        if channel.type == DM and not self.users[channel.recipients[0]].dms_open:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        self._require(channel, P_SEND_THREADS if channel.is_thread else P_SEND)
        self._validate_message(call.json, call.files)
        reference = call.json.get("message_reference")
        if reference is not None:
            # Discord answers snowflakes as strings whatever the client sent.
            reference = {k: str(v) if k.endswith("_id") else v for k, v in reference.items()}
            reference["channel_id"] = str(channel.id)
            if int(reference["message_id"]) not in self._messages:
                raise DiscordError(
                    400, 50035, "Invalid Form Body (message_reference: Unknown message)"
                )
        message = self._new_message(
            channel,
            self.bot_id,
            call.json,
            call.files,
            type=MESSAGE_REPLY if reference else MESSAGE_DEFAULT,
            reference=reference,
        )
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return self._message_payload(message)

    async def _rest_get_message(self, call: _Call) -> Json:
        self._require(self._rest_channel(call), P_VIEW | P_HISTORY)
        return self._message_payload(self._rest_message(call))

    async def _rest_edit_message(self, call: _Call) -> Json:
        self._rest_channel(call)
        message = self._rest_message(call)
        if message.author_id != self.bot_id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._edit_message(message, call.json, call.files)
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return self._message_payload(message)

    async def _rest_delete_message(self, call: _Call) -> None:
        channel = self._rest_channel(call)
        message = self._rest_message(call)
        if message.author_id != self.bot_id:
            self._require(channel, P_MANAGE_MESSAGES)
        message.deleted = True
        event: Json = {"id": str(message.id), "channel_id": str(channel.id)}
        if channel.guild_id is not None:
            event["guild_id"] = str(channel.guild_id)
        intent = INTENT_GUILD_MESSAGES if channel.guild_id else INTENT_DIRECT_MESSAGES
        await self._dispatch_auto("MESSAGE_DELETE", event, intent)

    async def _rest_typing(self, call: _Call) -> None:
        self._require(self._rest_channel(call), P_SEND)

    async def _rest_add_reaction(self, call: _Call) -> None:
        message = self._rest_message(call)
        if call.params["emoji"] not in message.reactions:
            message.reactions.append(call.params["emoji"])

    async def _rest_remove_reaction(self, call: _Call) -> None:
        message = self._rest_message(call)
        if call.params["emoji"] in message.reactions:
            message.reactions.remove(call.params["emoji"])

    # ----------------------------------------------------------------- REST: threads

    def _new_thread(
        self, parent: FakeChannel, name: str, type: int, thread_id: int, body: Json
    ) -> FakeChannel:
        thread = FakeChannel(
            thread_id,
            type,
            name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            applied_tags=[int(t) for t in body.get("applied_tags") or []],
        )
        self.channels[thread_id] = thread
        self._guild(parent.guild_id or 0).channels[thread_id] = thread
        return thread

    async def _announce_thread(self, thread: FakeChannel) -> Json:
        payload = self._channel_payload(thread)
        event = {**payload, "newly_created": True}
        await self._dispatch_auto("THREAD_CREATE", event, INTENT_GUILDS)
        return payload

    async def _rest_thread_from_message(self, call: _Call) -> Json:
        channel = self._rest_channel(call)
        message = self._rest_message(call)
        self._require(channel, P_PUBLIC_THREADS)
        if message.thread_id is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        # Discord gives a thread started from a message the message's id.
        thread = self._new_thread(
            channel, str(call.json.get("name", "")), PUBLIC_THREAD, message.id, call.json
        )
        message.thread_id = thread.id
        return await self._announce_thread(thread)

    async def _rest_start_thread(self, call: _Call) -> Json:
        channel = self._rest_channel(call)
        name = str(call.json.get("name", ""))
        if channel.type in THREAD_PARENT_TYPES:
            self._require(channel, P_SEND)
            offered = {int(tag["id"]) for tag in channel.available_tags}
            applied = [int(t) for t in call.json.get("applied_tags") or []]
            if len(applied) > MAX_APPLIED_TAGS or not set(applied) <= offered:
                raise DiscordError(400, 50035, "Invalid Form Body (applied_tags)")
            starter = call.json.get("message") or {}
            self._validate_message(starter, call.files)
            thread_id = self._ids.next()
            thread = self._new_thread(channel, name, PUBLIC_THREAD, thread_id, call.json)
            # A forum post's starter message shares the thread's id.
            message = self._new_message(
                thread, self.bot_id, starter, call.files, message_id=thread_id
            )
            payload = await self._announce_thread(thread)
            await self._dispatch_message_event("MESSAGE_CREATE", message)
            return {**payload, "message": self._message_payload(message)}
        kind = int(call.json.get("type") or PRIVATE_THREAD)
        self._require(channel, P_PUBLIC_THREADS if kind == PUBLIC_THREAD else P_PRIVATE_THREADS)
        thread = self._new_thread(channel, name, kind, self._ids.next(), call.json)
        return await self._announce_thread(thread)

    # ----------------------------------------------------------------- REST: interactions

    def _interaction_for(self, call: _Call) -> FakeInteraction:
        interaction = self._interactions_by_token.get(call.params["token"])
        if interaction is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return interaction

    async def _rest_interaction_callback(self, call: _Call) -> Json | None:
        interaction = self._interactions.get(call.snowflake("interaction_id"))
        if interaction is None or interaction.token != call.params["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if interaction.callback_type is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        callback_type = int(call.json.get("type", 0))
        data: Json = call.json.get("data") or {}
        if callback_type not in ALLOWED_CALLBACKS.get(interaction.type, frozenset()):
            raise DiscordError(400, 50035, f"Invalid Form Body (type {callback_type})")
        channel = self._channel(interaction.channel_id)
        message: FakeMessage | None = None
        if callback_type == CHANNEL_MESSAGE:
            self._validate_message(data, call.files)
            message = self._interaction_message(
                interaction, channel, data, call.files, loading=False
            )
        elif callback_type == DEFERRED_CHANNEL_MESSAGE:
            message = self._interaction_message(interaction, channel, data, {}, loading=True)
        elif callback_type in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            interaction.original_message_id = interaction.component_message_id
            if callback_type == UPDATE_MESSAGE and interaction.component_message_id is not None:
                message = self._messages[interaction.component_message_id]
                self._edit_message(message, data, call.files)
        interaction.callback_type = callback_type
        interaction.responses.append(
            ResponseRecord("callback", callback_type, data, message.id if message else None)
        )
        if message is not None:
            created = callback_type != UPDATE_MESSAGE
            await self._dispatch_message_event(
                "MESSAGE_CREATE" if created else "MESSAGE_UPDATE", message
            )
        if call.query.get("with_response", "").lower() not in ("1", "true"):
            return None
        # discord.py 2.5+ always asks with_response=1 and parses InteractionCallbackResponse.
        answer: Json = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_id": str(message.id) if message else None,
                "response_message_loading": callback_type == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(message and message.ephemeral),
            }
        }
        if message is not None:
            answer["resource"] = {"type": callback_type, "message": self._message_payload(message)}
        return answer

    def _interaction_message(
        self,
        interaction: FakeInteraction,
        channel: FakeChannel,
        data: Json,
        files: dict[str, bytes],
        *,
        loading: bool,
    ) -> FakeMessage:
        message = self._new_message(
            channel,
            self.bot_id,
            {} if loading else data,
            files,
            type=MESSAGE_CHAT_INPUT if interaction.type == APPLICATION_COMMAND else MESSAGE_DEFAULT,
            interaction=interaction,
            webhook=True,
        )
        if loading:
            # A deferred response is a placeholder; its first edit clears LOADING.
            message.flags = (int(data.get("flags") or 0) & FLAG_EPHEMERAL) | FLAG_LOADING
        interaction.original_message_id = message.id
        return message

    async def _rest_followup(self, call: _Call) -> Json | None:
        interaction = self._interaction_for(call)
        if interaction.callback_type is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        self._validate_message(call.json, call.files)
        channel = self._channel(interaction.channel_id)
        message = self._new_message(
            channel, self.bot_id, call.json, call.files, interaction=interaction, webhook=True
        )
        interaction.responses.append(ResponseRecord("followup", None, call.json, message.id))
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        if call.query.get("wait", "").lower() in ("1", "true"):
            return self._message_payload(message)
        return None

    def _webhook_target(self, call: _Call) -> tuple[FakeInteraction, FakeMessage, bool]:
        interaction = self._interaction_for(call)
        raw = call.params["message_id"]
        original = raw == "@original"
        message_id = interaction.original_message_id if original else int(raw)
        message = self._messages.get(message_id or 0)
        if message is None or message.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return interaction, message, original

    async def _rest_get_webhook_message(self, call: _Call) -> Json:
        return self._message_payload(self._webhook_target(call)[1])

    async def _rest_edit_webhook_message(self, call: _Call) -> Json:
        interaction, message, original = self._webhook_target(call)
        self._edit_message(message, call.json, call.files)
        kind: Literal["edit_original", "edit_followup"] = (
            "edit_original" if original else "edit_followup"
        )
        interaction.responses.append(ResponseRecord(kind, None, call.json, message.id))
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return self._message_payload(message)

    async def _rest_delete_webhook_message(self, call: _Call) -> None:
        interaction, message, original = self._webhook_target(call)
        message.deleted = True
        kind: Literal["delete_original", "delete_followup"] = (
            "delete_original" if original else "delete_followup"
        )
        interaction.responses.append(ResponseRecord(kind, None, {}, message.id))

    # ----------------------------------------------------------------- REST: guilds & moderation

    async def _rest_get_guild(self, call: _Call) -> Json:
        payload = self._guild_create_payload(self._rest_guild(call))
        for key in ("channels", "threads", "members", "voice_states", "presences"):
            del payload[key]
        return payload

    async def _rest_guild_channels(self, call: _Call) -> list[Json]:
        guild = self._rest_guild(call)
        return [self._channel_payload(c) for c in guild.channels.values() if not c.is_thread]

    async def _rest_guild_roles(self, call: _Call) -> list[Json]:
        return [r.payload() for r in self._rest_guild(call).roles.values()]

    def _rest_member(self, guild: FakeGuild, call: _Call) -> FakeMember:
        member = guild.members.get(call.snowflake("user_id"))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return member

    async def _rest_get_member(self, call: _Call) -> Json:
        guild = self._rest_guild(call)
        member = self._rest_member(guild, call)
        return member.payload(self.users[member.user_id])

    async def _rest_edit_member(self, call: _Call) -> Json:
        guild = self._rest_guild(call)
        member = self._rest_member(guild, call)
        body = call.json
        if "communication_disabled_until" in body:
            self._require_guild(guild, P_MODERATE, member.user_id)
            until = body["communication_disabled_until"]
            member.timed_out_until = datetime.fromisoformat(until) if until else None
        if "nick" in body:
            self._require_guild(guild, P_NICKNAMES, member.user_id)
            member.nick = body["nick"]
        if "roles" in body:
            self._require_guild(guild, P_ROLES, member.user_id)
            member.roles = [int(r) for r in body["roles"]]
        payload = member.payload(self.users[member.user_id])
        await self._dispatch_auto(
            "GUILD_MEMBER_UPDATE", {**payload, "guild_id": str(guild.id)}, INTENT_GUILD_MEMBERS
        )
        return payload

    async def _rest_ban(self, call: _Call) -> None:
        guild = self._rest_guild(call)
        user_id = call.snowflake("user_id")
        if user_id not in self.users:
            raise DiscordError(404, 10013, "Unknown User")
        self._require_guild(guild, P_BAN, user_id)
        seconds = call.json.get(
            "delete_message_seconds", call.query.get("delete_message_seconds", 0)
        )
        guild.bans[user_id] = {"reason": call.reason, "delete_message_seconds": int(seconds)}
        # A ban also removes the member from the guild.
        guild.members.pop(user_id, None)
        event = {"guild_id": str(guild.id), "user": self.users[user_id].payload()}
        await self._dispatch_auto("GUILD_BAN_ADD", event, INTENT_GUILD_MODERATION)
        await self._dispatch_auto("GUILD_MEMBER_REMOVE", event, INTENT_GUILD_MEMBERS)

    async def _rest_unban(self, call: _Call) -> None:
        guild = self._rest_guild(call)
        self._require_guild(guild, P_BAN)
        user_id = call.snowflake("user_id")
        if guild.bans.pop(user_id, None) is None:
            raise DiscordError(404, 10026, "Unknown Ban")
        event = {"guild_id": str(guild.id), "user": self.users[user_id].payload()}
        await self._dispatch_auto("GUILD_BAN_REMOVE", event, INTENT_GUILD_MODERATION)


# --------------------------------------------------------------------------- command validation


def _check_localizations(where: str, values: Any, max_len: int, *, name: bool) -> None:
    for locale, text in (values or {}).items():
        if locale not in VALID_LOCALES:
            raise DiscordError(
                400, 50035, f"Invalid Form Body ({where}: invalid locale {locale!r})"
            )
        if name and not COMMAND_NAME_RE.match(str(text)):
            raise DiscordError(400, 50035, f"Invalid Form Body ({where}.{locale}: invalid name)")
        if not 1 <= len(str(text)) <= max_len:
            raise DiscordError(400, 50035, f"Invalid Form Body ({where}.{locale}: bad length)")


def _validate_named(where: str, spec: Json, *, slash: bool) -> None:
    # The checks Discord applies to command/option names and descriptions (with localizations).
    name = str(spec.get("name", ""))
    if slash and (not COMMAND_NAME_RE.match(name) or name != name.lower()):
        raise DiscordError(400, 50035, f"Invalid Form Body ({where}.name: {name!r} is invalid)")
    _check_localizations(
        f"{where}.name_localizations", spec.get("name_localizations"), 32, name=slash
    )
    if slash:
        if not 1 <= len(str(spec.get("description", ""))) <= 100:
            raise DiscordError(400, 50035, f"Invalid Form Body ({where}.description: 1-100 chars)")
        _check_localizations(
            f"{where}.description_localizations",
            spec.get("description_localizations"),
            100,
            name=False,
        )


def _validate_options(where: str, options: Sequence[Json]) -> None:
    if len(options) > 25:
        raise DiscordError(400, 50035, f"Invalid Form Body ({where}: at most 25 options)")
    seen_optional = False
    for index, option in enumerate(options):
        here = f"{where}.{index}"
        _validate_named(here, option, slash=True)
        if option.get("type") in (1, 2):
            _validate_options(f"{here}.options", option.get("options") or [])
            continue
        if option.get("required"):
            if seen_optional:
                raise DiscordError(
                    400, 50035, f"Invalid Form Body ({here}: required after optional)"
                )
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > 25 or (choices and option.get("autocomplete")):
            raise DiscordError(400, 50035, f"Invalid Form Body ({here}.choices)")


def _validate_commands(payload: Sequence[Json]) -> None:
    if len(payload) > 100:
        raise DiscordError(400, 30032, "Maximum number of application commands reached (100)")
    seen: set[tuple[int, str]] = set()
    for index, spec in enumerate(payload):
        kind = int(spec.get("type", 1))
        key = (kind, str(spec.get("name")))
        if key in seen:
            raise DiscordError(400, 50035, f"Invalid Form Body ({index}.name: duplicate)")
        seen.add(key)
        _validate_named(str(index), spec, slash=kind == 1)
        _validate_options(f"{index}.options", spec.get("options") or [])
