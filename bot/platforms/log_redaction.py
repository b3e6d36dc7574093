"""A log filter that replaces secrets (a bot token, a webhook secret) wherever they appear."""

from __future__ import annotations

import logging
from collections.abc import Iterable


class Redactor(logging.Filter):
    """Replaces secrets in log records, in the message and in a traceback. PTB logs its API
    URL, which holds the token, and InvalidToken quotes the token."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        return text

    def _has_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        if self._has_secret(message):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            if self._has_secret(trace):
                record.exc_info, record.exc_text = None, self.redact(trace)
        return True


class GuardedLoggers:
    """One Redactor put on a set of loggers and taken off again. A filter acts only on the
    records made by its own logger (not its children's), so it goes on each of them."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._loggers: list[logging.Logger] = []

    def guard(self, names: Iterable[str]) -> None:
        for name in dict.fromkeys(names):
            logger = logging.getLogger(name)
            logger.addFilter(self.redactor)
            self._loggers.append(logger)

    def unguard(self) -> None:
        for logger in self._loggers:
            logger.removeFilter(self.redactor)
        self._loggers.clear()
