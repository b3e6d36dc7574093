"""newsbot on Discord (discord.py 2.7): the adapter and the modules it is made of."""

from __future__ import annotations

from bot.platforms.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
