"""newsbot on Telegram (python-telegram-bot 22): the adapter and the modules it is made of."""

from __future__ import annotations

from bot.platforms.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
