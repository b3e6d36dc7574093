"""Discord's people, channels and messages as the core's refs."""

from __future__ import annotations

from typing import Any

import discord

from storage.models import ChatRef, MessageRef, UserRef

PLATFORM = "discord"

Interaction = discord.Interaction[Any]
Channel = discord.abc.GuildChannel | discord.Thread | discord.abc.PrivateChannel


def chat_ref(channel_id: int | str | None) -> ChatRef:
    return ChatRef(PLATFORM, str(channel_id))


def message_key(message: MessageRef) -> str:
    return f"{message.chat.chat_id}/{message.message_id}"


def user_ref(user: discord.abc.User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.display_name, user.name)


def _forum_of(channel: object) -> discord.ForumChannel | None:
    """The forum a forum post (a thread) belongs to."""
    if isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel):
        return channel.parent
    return None


def chat_of(interaction: Interaction) -> ChatRef:
    """Where a command counts: the channel, but for a forum's post its forum (a forum has no
    message box of its own; its settings and subscriptions are the forum's)."""
    forum = _forum_of(interaction.channel)
    return chat_ref(forum.id if forum is not None else interaction.channel_id)


def message_ref(interaction: Interaction, message_id: int) -> MessageRef:
    """A message in the interaction's channel as the outbox records it: a forum post's first
    message (its id is the thread's) belongs to the forum, like the delivery."""
    channel = interaction.channel
    forum = _forum_of(channel)
    if forum is not None and channel is not None and message_id == channel.id:
        return MessageRef(chat_ref(forum.id), str(message_id))
    return MessageRef(chat_ref(interaction.channel_id), str(message_id))
