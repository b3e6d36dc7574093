"""Debug logs without what people write: the platform libraries log whole updates and requests
at DEBUG, and those records keep their wording but show only the size of each value."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

# Loggers of the libraries that see message contents (their own names and their children).
LIBRARIES = frozenset({"telegram", "discord", "httpx", "httpcore", "aiohttp"})
# Method and event names, which say what happened without saying what was written.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def _sized(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, int) for item in value):
        return value  # update ids
    return f"<{type(value).__name__}, {len(str(value))} characters>"


class ContentSizeFilter(logging.Filter):
    """Put on a handler: the libraries' records below INFO show sizes instead of contents."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO or record.name.split(".")[0] not in LIBRARIES:
            return True
        if isinstance(record.args, Mapping):
            record.args = {key: _sized(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_sized(value) for value in record.args)
        elif not isinstance(record.msg, str):
            record.msg = _sized(record.msg)
        return True
