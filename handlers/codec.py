"""One codec for button data: `nb:action[:key...]`, keys only, never state.

Telegram allows 64 bytes of callback_data, Discord 100 characters of custom_id; the codec keeps
under the smaller bound and refuses anything it did not make. Which actions exist and how many
keys each carries is the button table's (handlers/buttons.py).
"""

from __future__ import annotations

import re

from handlers.buttons import BUTTONS
from handlers.events import Button

PREFIX = "nb"
MAX_BYTES = 64
_KEY = re.compile(r"^[0-9]{1,12}$")
# The shape of all data encode() makes, whatever buttons are declared (Discord's DynamicItem
# template).
DATA_PATTERN = re.compile(PREFIX + r":[a-z_]{1,20}(?::[0-9]{1,12})*")


class ForgedData(ValueError):
    """Button data that this bot could not have made."""


def encode(button: Button) -> str:
    spec = BUTTONS.get(button.action)
    if spec is None or len(button.params) != len(spec.keys):
        raise ValueError(f"unknown button {button.action!r}/{len(button.params)}")
    if not all(_KEY.match(p) for p in button.params):
        raise ValueError(f"button {button.action!r}: keys are whole numbers")
    data = ":".join((PREFIX, button.action, *button.params))
    if len(data.encode()) > MAX_BYTES:
        raise ValueError("button data too long")
    return data


def decode(data: str) -> tuple[str, tuple[int, ...]]:
    """Split button data into its action and keys; ForgedData for anything malformed."""
    if len(data.encode("utf-8", "replace")) > MAX_BYTES:
        raise ForgedData("too long")
    parts = data.split(":")
    if len(parts) < 2 or parts[0] != PREFIX:
        raise ForgedData("not ours")
    action, keys = parts[1], parts[2:]
    spec = BUTTONS.get(action)
    if spec is None or len(keys) != len(spec.keys) or not all(_KEY.match(k) for k in keys):
        raise ForgedData("malformed")
    return action, tuple(int(k) for k in keys)


def read(data: str) -> tuple[str, tuple[int, ...]]:
    """What an adapter makes of a press's raw data, once: its action and keys, or ("", ()) for
    data this bot did not make, which the core answers as a stale button."""
    try:
        return decode(data)
    except ForgedData:
        return "", ()
