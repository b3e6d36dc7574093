"""Discord interactions in: slash commands and button presses, each answered within Discord's
3 s (deferred when the core takes longer), with the core's replies rendered back."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

import discord

from bot.platforms.discord.identities import (
    Interaction,
    chat_of,
    message_key,
    message_ref,
    user_ref,
)
from bot.platforms.discord.outbound import SEND_ERRORS, Outbound
from bot.platforms.discord.render import NO_MENTIONS, fits_one_message, notice_text, render
from bot.platforms.edit_batching import Shown
from bot.platforms.message_parts import reply_parts
from bot.runtime import Runtime
from handlers.codec import read
from handlers.events import MAX_ATTACHMENT_BYTES, Attachment, Command, Press, Reply
from storage.models import MessageRef

log = logging.getLogger(__name__)

# Discord's 3 s to answer an interaction: past this the core's answer follows a defer.
ANSWER_WITHIN = 2.0
DOWNLOAD_WITHIN = 20.0  # seconds for an attached file (at most MAX_ATTACHMENT_BYTES)
# Commands that act on people on the server need Discord's own right for it besides Manage
# Channels: else a channel manager could have the bot ban or time out people for them.
SERVER_RIGHT = {
    "ban": "ban_members",
    "unban": "ban_members",
    "mute": "moderate_members",
    "unmute": "moderate_members",
    "warn": "moderate_members",
    "warnings": "moderate_members",
    "resetwarnings": "moderate_members",
}


@dataclass(slots=True)
class Turn:
    """One interaction being answered; `thinking` until a deferred command's first reply."""

    interaction: Interaction
    thinking: bool = False


async def download(file: discord.Attachment) -> Attachment:
    """An attached file, downloaded when Discord says it is small enough (and its bytes are);
    a failed download is an attachment without bytes."""
    if file.size > MAX_ATTACHMENT_BYTES:
        return Attachment(file.filename, file.size, None)
    try:
        async with asyncio.timeout(DOWNLOAD_WITHIN):
            data = await file.read()
    except (*SEND_ERRORS, discord.DiscordException) as err:
        log.info("discord: cannot download an attachment: %s", err)
        return Attachment(file.filename, file.size, None)
    if len(data) > MAX_ATTACHMENT_BYTES:
        return Attachment(file.filename, len(data), None)
    return Attachment(file.filename, len(data), data)


def chat_admin_for(permissions: discord.Permissions, command: str) -> bool:
    right = SERVER_RIGHT.get(command)
    return permissions.manage_channels and (right is None or getattr(permissions, right))


def press_of(interaction: Interaction, data: str) -> Press:
    """The press as the core takes it, its data decoded once."""
    pressed = interaction.message
    action, params = read(data)
    return Press(
        chat=chat_of(interaction),
        user=user_ref(interaction.user),
        message=message_ref(interaction, pressed.id) if pressed is not None else None,
        action=action,
        params=params,
        locale=str(interaction.locale),
        is_chat_admin=interaction.guild_id is not None and interaction.permissions.manage_channels,
        button_on_message=pressed is not None and data in custom_ids(pressed.components),
    )


def custom_ids(components: Sequence[object]) -> set[str]:
    """The custom ids of a message's components as Discord sent them with the press, rows and
    containers looked into."""
    found: set[str] = set()
    for component in components:
        custom_id = getattr(component, "custom_id", None)
        if isinstance(custom_id, str):
            found.add(custom_id)
        found |= custom_ids(getattr(component, "children", ()))
        accessory = getattr(component, "accessory", None)
        if accessory is not None:
            found |= custom_ids([accessory])
    return found


class Interactions:
    """Slash commands and presses, for one adapter."""

    def __init__(self, runtime: Runtime, out: Outbound) -> None:
        self.runtime = runtime
        self.out = out
        self.answer_within = ANSWER_WITHIN

    async def run_command(
        self,
        interaction: Interaction,
        name: str,
        args: tuple[str, ...],
        file: discord.Attachment | None = None,
    ) -> None:
        in_server = interaction.guild_id is not None
        cmd = Command(
            chat=chat_of(interaction),
            user=user_ref(interaction.user),
            name=name,
            args=args,
            locale=str(interaction.locale),
            # Checked here, whatever a server set as the command's default permissions.
            is_chat_admin=in_server and chat_admin_for(interaction.permissions, name),
            is_private=not in_server,
        )
        turn = Turn(interaction)
        try:
            work = self._with_file(cmd, file)
            replies = await self._in_time(turn, work, update=False)
            for reply in replies:
                await self._answer(turn, reply)
            if not interaction.response.is_done():
                await interaction.response.defer(ephemeral=True)
                await interaction.delete_original_response()
        except SEND_ERRORS as err:
            log.warning("discord: cannot answer /%s: %s", name, err)
        finally:
            await self.runtime.answered(cmd.chat)

    async def _with_file(self, cmd: Command, file: discord.Attachment | None) -> list[Reply]:
        """The core's replies to the command, with its attached file downloaded first (within
        the time the command has to answer in: a slow download defers it)."""
        if file is not None:
            cmd = dataclasses.replace(cmd, attachment=await download(file))
        return await self.runtime.on_command(cmd)

    async def on_component(self, interaction: Interaction) -> None:
        """A press of any component on any message: the core answers every one, a button that
        is no longer on its message (a closed poll, a removed article, a click racing the edit
        that took it away), a forged or a foreign one included."""
        if interaction.type is not discord.InteractionType.component:
            return
        data = cast(dict[str, Any], interaction.data or {})
        custom_id = data.get("custom_id")
        await self.on_button(interaction, custom_id if isinstance(custom_id, str) else "")

    async def on_button(self, interaction: Interaction, data: str) -> None:
        """One press, answered within Discord's 3 s whatever the core says."""
        press = press_of(interaction, data)
        turn = Turn(interaction)
        try:
            replies = await self._in_time(turn, self.runtime.on_press(press), update=True)
            for reply in replies:
                await self._show(turn, press.message, reply)
            if not interaction.response.is_done():
                await interaction.response.defer()  # nothing to say: the message stays
        except SEND_ERRORS as err:
            log.warning("discord: cannot answer a button press: %s", err)

    async def _show(self, turn: Turn, pressed: MessageRef | None, reply: Reply) -> None:
        """An edit goes to the pressed message (its notice privately after it); anything else
        is an answer to the press."""
        interaction = turn.interaction
        if not (reply.edit and interaction.message is not None):
            await self._answer(turn, reply)
            return
        await self._edit_pressed(interaction, pressed, reply)
        if reply.notice:
            await interaction.followup.send(
                notice_text(reply), ephemeral=True, allowed_mentions=NO_MENTIONS
            )

    async def _in_time(
        self, turn: Turn, work: Coroutine[Any, Any, list[Reply]], *, update: bool
    ) -> list[Reply]:
        """The core's replies; if they take too long for Discord's 3 s, defer first (a press
        keeps its message, a command shows 'thinking' privately) and answer after."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.answer_within)
        if not done:
            try:
                if update:
                    await turn.interaction.response.defer()
                else:
                    await turn.interaction.response.defer(ephemeral=True, thinking=True)
                    turn.thinking = True
            except SEND_ERRORS as err:
                log.warning("discord: cannot defer an interaction: %s", err)
        return await task

    async def _answer(self, turn: Turn, reply: Reply) -> None:
        """A reply to an interaction; one too long for a message (a long /help) as several,
        split between whole lines."""
        for part in reply_parts(reply, fits_one_message):
            await self._answer_one(turn, part)

    async def _answer_one(self, turn: Turn, reply: Reply) -> None:
        """One message of a reply to an interaction: private ones only for the person, posts
        and results for the channel. A public post is recorded so that its counts stay live."""
        interaction = turn.interaction
        kwargs = render(reply, self.out.language).send_kwargs()
        message_id: int | None
        if turn.thinking:
            # The first reply takes the place of 'thinking…' (private, as deferred).
            turn.thinking = False
            if "file" in kwargs:  # an edit takes its uploads as attachments
                kwargs["attachments"] = [kwargs.pop("file")]
            original = await interaction.edit_original_response(**kwargs)
            message_id, private = original.id, original.flags.ephemeral
        elif not interaction.response.is_done():
            sent = await interaction.response.send_message(**kwargs, ephemeral=reply.private)
            message_id, private = sent.message_id, reply.private
        else:
            followup = await interaction.followup.send(**kwargs, ephemeral=reply.private, wait=True)
            message_id, private = followup.id, followup.flags.ephemeral
        if message_id is not None and not private:
            await self.runtime.posted(reply, message_ref(interaction, message_id))

    async def _edit_pressed(
        self, interaction: Interaction, ref: MessageRef | None, reply: Reply
    ) -> None:
        """Edit the pressed message in the answer to the press, batched with the other edits
        of the message, and acknowledge the press either way. The core has recorded the
        message as shown already, and hears when the edit failed."""
        rendered = render(reply, self.out.language)
        kwargs = rendered.edit_kwargs()

        async def send(shown: Shown[str] | None) -> None:
            if not interaction.response.is_done():
                await interaction.response.edit_message(**kwargs)
            else:
                await interaction.edit_original_response(**kwargs)

        try:
            if ref is None:
                await send(None)
            else:
                key = message_key(ref)
                if self.out.edits.busy(key) and not interaction.response.is_done():
                    # Its turn may come later than Discord's 3 s: keep the message meanwhile.
                    await interaction.response.defer()
                shown = Shown(reply.poll_version, rendered.look())
                if await self.out.edits.edit(key, shown, send):
                    await self.runtime.edit_landed(ref, reply)
            if not interaction.response.is_done():
                await interaction.response.defer()  # a newer edit shows the press
        except SEND_ERRORS:
            if ref is not None:
                await self.runtime.edit_failed(ref)
            raise
