"""NEWSBOT_LOG_FORMAT=json: one JSON object per log line, for log collectors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# What every LogRecord carries; anything else on a record came as `extra=` and is kept.
_STANDARD = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, the extra fields, and a traceback as `exc`. Filters on
    the handler (the secret redaction, the content sizes) have run before this."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)
