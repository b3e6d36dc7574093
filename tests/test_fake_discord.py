"""The real discord.py 2.7 client connects to and works against tests.fakes.discord_api."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_api import FailureKind, FakeDiscord

GUILD = 700_000_000_000_000_001
OWNER = 700_000_000_000_000_002
ALICE = 700_000_000_000_000_003
NEWS = 700_000_000_000_000_010
FORUM = 700_000_000_000_000_011
GERMAN = {"ping": "anpingen", "Check the bot": "Bot prüfen", "Text to echo": "Text zum Echo"}


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        fake.add_user(OWNER, "owner")
        fake.add_guild(GUILD, "News Guild", owner_id=OWNER, locale="de")
        fake.add_channel(GUILD, NEWS, "news")
        fake.add_channel(GUILD, FORUM, "articles", type=discord.ChannelType.forum.value)
        fake.add_member(GUILD, ALICE, "alice")
        yield fake


def make_bot(*, message_content: bool = False) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = message_content
    # Without message content only mention prefixes work (and discord.py warns otherwise).
    prefix = "!" if message_content else commands.when_mentioned
    # A short guild_ready_timeout: discord.py otherwise waits 2s after the last GUILD_CREATE.
    return commands.Bot(command_prefix=prefix, intents=intents, guild_ready_timeout=0.05)


@contextlib.asynccontextmanager
async def running(client: discord.Client, dc: FakeDiscord) -> AsyncIterator[discord.Client]:
    """login + connect in a task until ready; on exit close and await the connect task."""
    await client.login(dc.token)
    task = asyncio.create_task(client.connect())
    try:
        async with asyncio.timeout(10):
            await client.wait_until_ready()
        yield client
    finally:
        await client.close()
        async with asyncio.timeout(5):
            await task


# --------------------------------------------------------------------------- (1) connect


async def test_plain_client_logs_in_and_sees_guild(dc: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    async with running(client, dc):
        assert client.user is not None
        assert client.user.id == dc.bot_id
        assert client.application_id == dc.application_id
        guild = client.get_guild(GUILD)
        assert guild is not None
        assert guild.name == "News Guild"
        assert guild.owner_id == OWNER
        assert isinstance(guild.get_channel(NEWS), discord.TextChannel)
        assert isinstance(guild.get_channel(FORUM), discord.ForumChannel)
        news = guild.get_channel(NEWS)
        assert news is not None
        assert news.permissions_for(guild.me).send_messages
        assert not news.permissions_for(guild.me).administrator
    session = dc.sessions[0]
    assert session.identify is not None
    assert session.intents == discord.Intents.default().value
    assert session.query["encoding"] == "json"
    assert session.query["v"] == "10"
    assert [r.name for r in dc.requests[:2]] == ["static_login", "application_info"]
    assert dc.unhandled == []
    assert dc.blocked_hosts == []


async def test_patch_is_restored_on_exit() -> None:
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as fake:
        assert fake.api_base == discord.http.Route.BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert before[0] == "https://discord.com/api/v10"


async def test_resume_after_server_side_disconnect(dc: FakeDiscord) -> None:
    bot = make_bot(message_content=True)
    arrived = asyncio.Event()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.content == "after resume":
            arrived.set()

    async with running(bot, dc):
        await dc.disconnect(code=4000)
        await dc.wait_for(lambda: dc.resume_count == 1, what="RESUME")
        # The resumed session receives new events.
        await dc.say(NEWS, ALICE, "after resume")
        async with asyncio.timeout(5):
            await arrived.wait()
    assert dc.identify_count == 1
    assert len(dc.sessions) == 2


# --------------------------------------------------------------------------- (2) slash commands


class German(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return GERMAN.get(string.message) if locale is discord.Locale.german else None


async def test_guild_slash_command_sync_invoke_and_followups(dc: FakeDiscord) -> None:
    bot = make_bot()

    @app_commands.command(
        name=app_commands.locale_str("ping"), description=app_commands.locale_str("Check the bot")
    )
    @app_commands.describe(text=app_commands.locale_str("Text to echo"))
    async def ping(interaction: discord.Interaction, text: str) -> None:
        perms = interaction.permissions
        await interaction.response.send_message(
            f"pong {text} {interaction.locale.value}/{interaction.guild_locale} "
            f"manage_guild={perms.manage_guild} send={interaction.app_permissions.send_messages}"
        )
        await interaction.followup.send("just for you", ephemeral=True)
        await interaction.edit_original_response(content="pong (edited)")

    bot.tree.add_command(ping, guild=discord.Object(GUILD))
    async with running(bot, dc):
        await bot.tree.set_translator(German())
        synced = await bot.tree.sync(guild=discord.Object(GUILD))
        assert [c.name for c in synced] == ["ping"]

        command = dc.command("ping", GUILD)
        assert command["name_localizations"] == {"de": "anpingen"}
        assert command["description_localizations"] == {"de": "Bot prüfen"}
        assert command["options"][0]["type"] == discord.AppCommandOptionType.string.value
        assert command["options"][0]["description_localizations"] == {"de": "Text zum Echo"}
        assert dc.command_syncs[-1][0] == GUILD
        assert dc.commands(None) == []

        iid = await dc.slash(GUILD, NEWS, ALICE, "ping", {"text": "hi"}, locale="de")
        first = await dc.wait_for_interaction_response(iid)
        assert first.kind == "callback"
        assert first.type == 4
        assert first.content == "pong hi de/de manage_guild=False send=True"
        followup = await dc.wait_for_interaction_response(iid, count=2)
        assert followup.kind == "followup"
        assert followup.ephemeral
        edit = await dc.wait_for_interaction_response(iid, count=3)
        assert edit.kind == "edit_original"

    original = dc.message(first.message_id or 0)
    assert original.content == "pong (edited)"
    assert original.channel_id == NEWS
    assert original.interaction_id == iid
    assert not original.ephemeral
    assert dc.message(followup.message_id or 0).ephemeral
    assert dc.requests_for("edit_original_interaction_response")[0].status == 200


async def test_deferred_dm_command_and_autocomplete(dc: FakeDiscord) -> None:
    bot = make_bot()
    users: list[discord.User | discord.Member] = []

    @bot.tree.command(name="subscribe", description="Subscribe to a tag")
    async def subscribe(interaction: discord.Interaction, tags: str, days: int = 7) -> None:
        users.append(interaction.user)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content=f"subscribed {tags} for {days} days")

    @subscribe.autocomplete("tags")
    async def tags_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = ("xAI", "OpenAI", "Anthropic")
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()]

    async with running(bot, dc):
        await bot.tree.sync()
        assert dc.command("subscribe")["options"][1] == {
            **dc.command("subscribe")["options"][1],
            "name": "days",
            "type": discord.AppCommandOptionType.integer.value,
            "required": False,
        }
        dm = dc.dm_channel(ALICE)
        iid = await dc.slash(None, dm, ALICE, "subscribe", {"tags": "xAI", "days": 3})
        deferred = await dc.wait_for_interaction_response(iid)
        assert deferred.type == 5
        await dc.wait_for_interaction_response(iid, count=2)

        ac = await dc.autocomplete(GUILD, NEWS, ALICE, "subscribe", {"tags": "opE"}, focused="tags")
        choices = await dc.wait_for_interaction_response(ac)
        assert choices.type == 8
        assert choices.data["choices"] == [{"name": "OpenAI", "value": "OpenAI"}]

    reply = dc.message(deferred.message_id or 0)
    assert reply.channel_id == dm
    assert reply.ephemeral
    assert not reply.loading
    assert reply.content == "subscribed xAI for 3 days"
    assert isinstance(users[0], discord.User)
    assert not isinstance(users[0], discord.Member)


async def test_unregistered_command_and_wait_timeout_fail_loudly(dc: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    async with running(client, dc):
        with pytest.raises(AssertionError, match="not registered"):
            await dc.slash(GUILD, NEWS, ALICE, "nope")
    with pytest.raises(AssertionError, match=r"timed out after 0\.05s waiting for nothing"):
        await dc.wait_for(lambda: False, timeout=0.05, what="nothing")


# --------------------------------------------------------------------------- (3) components


class Counter(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.count = 0

    @discord.ui.button(label="+1", custom_id="counter:plus", style=discord.ButtonStyle.primary)
    async def plus(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        self.count += 1
        await interaction.response.edit_message(content=f"count={self.count}", view=self)

    @discord.ui.button(label="done", custom_id="counter:done")
    async def done(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        await interaction.response.edit_message(view=self)
        self.stop()


async def test_view_buttons_edit_the_message(dc: FakeDiscord) -> None:
    bot = make_bot()
    async with running(bot, dc):
        channel = bot.get_channel(NEWS)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("count=0", view=Counter())
        assert dc.message(sent.id).custom_ids == ["counter:plus", "counter:done"]

        iid = await dc.press(NEWS, sent.id, ALICE, "counter:plus")
        response = await dc.wait_for_interaction_response(iid)
        assert response.type == 7
        assert dc.message(sent.id).content == "count=1"

        await dc.wait_for_interaction_response(await dc.press(NEWS, sent.id, ALICE, "counter:done"))
        assert all(
            c.get("disabled") for c in dc.message(sent.id).walk_components() if c["type"] == 2
        )
        with pytest.raises(AssertionError, match="disabled"):
            await dc.press(NEWS, sent.id, ALICE, "counter:plus")
    assert len(dc.message(sent.id).edits) == 2


class Vote(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"vote:(?P<article>[0-9]+):(?P<count>[0-9]+)",
):
    def __init__(self, article: int, count: int = 0) -> None:
        self.article = article
        self.count = count
        super().__init__(
            discord.ui.Button(label=f"Votes: {count}", custom_id=f"vote:{article}:{count}")
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[discord.ui.View],
        match: re.Match[str],
        /,
    ) -> Vote:
        return cls(int(match["article"]), int(match["count"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        self.count += 1
        self.item.label = f"Votes: {self.count}"
        self.custom_id = f"vote:{self.article}:{self.count}"
        await interaction.response.edit_message(view=self.view)


class VoteBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
        )

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Vote)


async def test_dynamic_item_survives_a_client_restart(dc: FakeDiscord) -> None:
    first = VoteBot()
    async with running(first, dc):
        channel = first.get_channel(NEWS)
        assert isinstance(channel, discord.TextChannel)
        view = discord.ui.View(timeout=None)
        view.add_item(Vote(42))
        sent = await channel.send("Article 42", view=view)
        await dc.wait_for_interaction_response(await dc.press(NEWS, sent.id, ALICE, "vote:42:0"))
        assert dc.message(sent.id).custom_ids == ["vote:42:1"]

    second = VoteBot()
    async with running(second, dc):
        await dc.wait_ready(identifies=2)
        await dc.wait_for_interaction_response(await dc.press(NEWS, sent.id, ALICE, "vote:42:1"))
    message = dc.message(sent.id)
    assert message.custom_ids == ["vote:42:2"]
    assert message.walk_components()[1]["label"] == "Votes: 2"
    assert dc.identify_count == 2


# --------------------------------------------------------------------------- (4) failures


@contextlib.asynccontextmanager
async def logged_in(dc: FakeDiscord) -> AsyncIterator[discord.Client]:
    """REST only: enough for failure injection, no gateway needed."""
    client = discord.Client(intents=discord.Intents.default())
    await client.login(dc.token)
    try:
        yield client
    finally:
        await client.close()


async def test_failure_kinds_surface_as_discord_exceptions(dc: FakeDiscord) -> None:
    async with logged_in(dc) as client:
        channel = client.get_partial_messageable(NEWS)
        expected: list[tuple[FailureKind, type[discord.HTTPException], int, int]] = [
            ("missing_access", discord.Forbidden, 403, 50001),
            ("missing_permissions", discord.Forbidden, 403, 50013),
            ("unknown_channel", discord.NotFound, 404, 10003),
        ]
        for kind, exc_type, status, code in expected:
            dc.fail_next("send_message", channel_id=NEWS, kind=kind)
            with pytest.raises(exc_type) as info:
                await channel.send("hello")
            assert (info.value.status, info.value.code) == (status, code)

        # Another channel's failure does not fire here.
        other = dc.fail_next("send_message", channel_id=FORUM, kind="missing_access")
        await channel.send("unaffected")
        assert other.hits == 0

        dc.fail_next("send_message", kind="rate_limited", retry_after=0.01)
        await channel.send("after a 429")
        assert [r.status for r in dc.requests_for("send_message")][-2:] == [429, 200]

        dc.fail_next(r"^POST /channels/\d+/messages$", kind="rate_limited", via=False)
        with pytest.raises(discord.HTTPException) as info:
            await channel.send("cloudflare")
        assert info.value.status == 429

        # discord.py retries a 500 after a 1s backoff.
        server_error = dc.fail_next("send_message", kind="server_error")
        await channel.send("after a 500")
        assert server_error.hits == 1

        dc.fail_next("send_message", kind="drop")
        with pytest.raises(aiohttp.ClientError):
            await channel.send("dropped")
        assert dc.requests_for("send_message")[-1].note == "injected drop"

    contents = [m.content for m in dc.messages(NEWS)]
    assert contents == ["unaffected", "after a 429", "after a 500"]


async def test_seeded_random_failures_repeat_and_say_what_was_done(dc: FakeDiscord) -> None:
    outcomes: list[str] = []
    dc.fail_randomly(0.5, seed=4, kinds=("drop_after", "rate_limited"), retry_after=0.01)
    async with logged_in(dc) as client:
        channel = client.get_partial_messageable(NEWS)
        for n in range(12):
            try:
                await channel.send(f"post {n}")
                outcomes.append("ok")
            except aiohttp.ClientError:
                outcomes.append("reset")
        dc.stop_failing_randomly()
        await channel.send("calm again")
    served = [(f.kind, f.accepted) for f in dc.random_faults]
    assert {kind for kind, _ in served} == {"drop_after", "rate_limited"}
    # A reset after the message was made leaves it there; a 429 is retried by discord.py.
    assert outcomes.count("reset") == served.count(("drop_after", True)) > 0
    assert len(dc.messages(NEWS)) == 13
    assert all(f.channel_id == NEWS and f.route == "send_message" for f in dc.random_faults)

    # The same seed fails the same requests again, in a fresh fake.
    async with FakeDiscord() as again:
        again.add_user(OWNER, "owner")
        again.add_guild(GUILD, "News Guild", owner_id=OWNER)
        again.add_channel(GUILD, NEWS, "news")
        again.fail_randomly(0.5, seed=4, kinds=("drop_after", "rate_limited"), retry_after=0.01)
        async with logged_in(again) as client:
            for n in range(12):
                with contextlib.suppress(aiohttp.ClientError):
                    await client.get_partial_messageable(NEWS).send(f"post {n}")
        assert [(f.kind, f.accepted) for f in again.random_faults] == served


async def test_permissions_dms_and_unknown_routes(dc: FakeDiscord) -> None:
    dc.add_user(999, "closed", dms_open=False)
    async with logged_in(dc) as client:
        shards, url, _ = await client.http.get_bot_gateway()
        assert (shards, url) == (1, dc.gateway_url.rstrip("/"))
        fetched = await client.fetch_channel(NEWS)
        assert isinstance(fetched, discord.TextChannel)
        assert fetched.name == "news"
        alice = await client.fetch_user(ALICE)
        await alice.send("welcome")
        assert dc.messages(dc.dm_channel(ALICE))[0].content == "welcome"

        channel = client.get_partial_messageable(NEWS)
        dc.set_bot_permissions(GUILD, discord.Permissions(view_channel=True))
        with pytest.raises(discord.Forbidden) as info:
            await channel.send("no send permission")
        assert info.value.code == 50013

        dc.set_overwrite(NEWS, GUILD, deny=discord.Permissions(view_channel=True))
        with pytest.raises(discord.Forbidden) as info:
            await channel.send("cannot see")
        assert info.value.code == 50001

        user = await client.fetch_user(999)
        with pytest.raises(discord.Forbidden) as dm_closed:
            await user.send("hi")
        assert dm_closed.value.code == 50007

        with pytest.raises(discord.NotFound):
            await client.http.request(discord.http.Route("GET", "/nope/{x}", x=1))
        assert [r.path for r in dc.unhandled] == ["/nope/1"]

        with pytest.raises(discord.HTTPException) as invalid:
            await client.http.bulk_upsert_global_commands(
                dc.application_id, payload=[{"name": "Bad Name", "description": "x", "type": 1}]
            )
        assert (invalid.value.status, invalid.value.code) == (400, 50035)

    with pytest.raises(OSError, match="blocked"):
        socket.getaddrinfo("discord.com", 443)
    assert dc.blocked_hosts == ["discord.com"]


# --------------------------------------------------------------------------- more REST surface


async def test_prefix_command_threads_forum_and_moderation(dc: FakeDiscord) -> None:
    bot = make_bot(message_content=True)

    @bot.command()
    async def echo(ctx: commands.Context[commands.Bot], *, text: str) -> None:
        await ctx.reply(text)

    async with running(bot, dc):
        asked = await dc.say(NEWS, ALICE, "!echo hello there")
        reply = await dc.wait_for_message(NEWS, predicate=lambda m: m.author_id == dc.bot_id)
        assert reply.content == "hello there"
        assert reply.message_reference is not None
        assert reply.message_reference["message_id"] == str(asked.id)

        forum = bot.get_channel(FORUM)
        assert isinstance(forum, discord.ForumChannel)
        post = await forum.create_thread(
            name="Article 1", content="Summary", embed=discord.Embed(title="Headline")
        )
        starter = dc.messages(post.thread.id)[0]
        assert starter.id == post.thread.id
        assert starter.embeds[0]["title"] == "Headline"
        assert dc.channels[post.thread.id].parent_id == FORUM

        news = bot.get_channel(NEWS)
        assert isinstance(news, discord.TextChannel)
        root = await news.send("discuss")
        thread = await root.create_thread(name="Discussion")
        await thread.send("first!")
        history = [m.content async for m in news.history(limit=2)]
        assert history == ["discuss", "hello there"]
        assert thread.id == root.id
        assert dc.messages(thread.id)[0].content == "first!"

        guild = bot.get_guild(GUILD)
        assert guild is not None
        alice = await guild.fetch_member(ALICE)
        await alice.timeout(timedelta(minutes=10), reason="spam")
        assert dc.member(GUILD, ALICE).timed_out
        owner = await guild.fetch_member(OWNER)
        with pytest.raises(discord.Forbidden):
            await owner.timeout(timedelta(minutes=10))

        await guild.ban(alice, reason="spam links", delete_message_seconds=60)
        assert dc.bans(GUILD)[ALICE] == {"reason": "spam links", "delete_message_seconds": 60}
        await guild.unban(discord.Object(ALICE))
        assert dc.bans(GUILD) == {}

        await root.edit(content="discuss here")
        assert dc.message(root.id).content == "discuss here"
        assert dc.message(root.id).edits[0]["content"] == "discuss here"
        await root.delete()
        assert dc.message(root.id).deleted
