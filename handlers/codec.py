"""One codec for button data: `nb:action[:arg...]`, keys only, never state.

Telegram allows 64 bytes of callback_data, Discord 100 characters of custom_id; the codec keeps
under the smaller bound and refuses anything it did not make.
"""

from __future__ import annotations

import re

from handlers.events import Button

PREFIX = "nb"
MAX_BYTES = 64
# action name -> number of integer parameters it carries
ACTIONS: dict[str, int] = {
    "vote": 2,  # article id, option position
    "results": 1,  # article id
    "confirm": 2,  # confirmation kind as int code, target id
}
_PART = re.compile(r"^[0-9]{1,12}$")


class ForgedData(ValueError):
    """Button data that this bot could not have made."""


def encode(button: Button) -> str:
    data = ":".join((PREFIX, button.action, *button.params))
    if button.action not in ACTIONS or len(button.params) != ACTIONS[button.action]:
        raise ValueError(f"unknown button {button.action!r}/{len(button.params)}")
    if len(data.encode()) > MAX_BYTES:
        raise ValueError("button data too long")
    return data


def decode(data: str) -> tuple[str, tuple[str, ...]]:
    """Split button data into action and params; ForgedData for anything malformed."""
    if len(data.encode("utf-8", "replace")) > MAX_BYTES:
        raise ForgedData("too long")
    parts = data.split(":")
    if len(parts) < 2 or parts[0] != PREFIX:
        raise ForgedData("not ours")
    action, params = parts[1], tuple(parts[2:])
    if ACTIONS.get(action) != len(params) or not all(_PART.match(p) for p in params):
        raise ForgedData("malformed")
    return action, params
