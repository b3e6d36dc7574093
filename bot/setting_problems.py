"""A setting newsbot cannot use, in plain words: "NEWSBOT_LANGUAGE must be de or en, not fr"."""

from __future__ import annotations

from typing import Any

from babel.lists import format_list
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from handlers.i18n import current_language, t
from handlers.registry import clean_name

# What each setting with a fixed set of values accepts (any case).
CHOICES: dict[str, tuple[str, ...]] = {
    "language": ("de", "en"),
    "db_synchronous": ("normal", "full"),
    "log_level": ("debug", "info", "warning", "error"),
    "warn_action": ("mute", "ban", "none"),
    "log_format": ("text", "json"),
}
# Settings with a pattern of their own: the message that says what they take.
PATTERNS = {
    "worker_id": "settings.expect.worker_id",
    "telegram_api_url": "settings.expect.url",
    "telegram_webhook_url": "settings.expect.url",
    "llm_url": "settings.expect.url",
    "discord_guild_ids": "settings.expect.guild_ids",
}
# Never echoed back: tokens and secrets, and addresses that can carry a password or a key.
SECRET = frozenset(
    {"telegram_token", "discord_token", "telegram_webhook_secret", "llm_api_key", "db"}
    | {"http_token"}
    | {name for name in PATTERNS if name.endswith("_url")}
)
_NUMBER_ERRORS = frozenset(
    {
        "greater_than", "greater_than_equal", "less_than", "less_than_equal", "int_parsing",
        "int_from_float", "float_parsing", "float_type", "int_type", "finite_number",
    }
)  # fmt: skip


class SettingProblem(ValueError):
    """Raised by a setting's own check: `key` (settings.expect.*) says what it takes; `value`
    is the part that is wrong, when it may be shown."""

    def __init__(self, key: str, value: str | None = None, **params: object) -> None:
        super().__init__(key)
        self.key, self.value, self.params = key, value, params


class SettingsError(Exception):
    """Settings that cannot be used: one line, said in the current language when printed,
    never with a secret's value, no traceback."""

    def __init__(
        self,
        name: str,
        expected: str,
        value: str | None = None,
        *,
        message: str = "settings.must",
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(name)
        self.name, self.expected, self.value = name, expected, value
        self.message, self.params = message, params or {}

    def __str__(self) -> str:
        language = current_language.get()
        params = {
            key: format_list(list(v), style="or", locale=language) if isinstance(v, tuple) else v
            for key, v in self.params.items()
        }
        expected = t(self.expected, language, **params) if self.expected else ""
        message = self.message
        if self.value is not None and message == "settings.must":
            message = "settings.must_not"
        return t(message, language, name=self.name, expected=expected, value=self.value, **params)


Expected = tuple[str, dict[str, object]]  # a settings.expect.* key and its parameters


def problem(err: ValidationError, fields: dict[str, FieldInfo]) -> SettingsError:
    """The first problem of a failed validation, in plain words."""
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    name = f"NEWSBOT_{field.upper()}" if field else "?"
    own = first.get("ctx", {}).get("error")
    if isinstance(own, SettingProblem):
        return _own(name, field, own)
    expected = _expected(field, first["type"], fields)
    if expected is not None:
        key, params = expected
        return SettingsError(name, key, _shown(field, first.get("input")), params=params)
    return _other(name, field, first, own)


def _own(name: str, field: str, own: SettingProblem) -> SettingsError:
    """A problem one of the settings' own checks found."""
    if own.key.startswith("settings.expect."):
        shown = own.value if field not in SECRET else None
        return SettingsError(name, own.key, shown, params=own.params)
    return SettingsError(name, "", message=own.key, params=own.params)


def _expected(field: str, kind: str, fields: dict[str, FieldInfo]) -> Expected | None:
    """What a setting takes, for a value of the wrong kind or out of its range."""
    if field in CHOICES:
        return "settings.expect.choice", {"choices": CHOICES[field]}
    if kind == "string_pattern_mismatch" and field in PATTERNS:
        return PATTERNS[field], {}
    if kind == "bool_parsing":
        return "settings.expect.boolean", {}
    if kind in _NUMBER_ERRORS and field in fields:
        return _number(fields[field])
    return None


def _other(name: str, field: str, error: ErrorDetails, own: object) -> SettingsError:
    kind = error["type"]
    if kind == "extra_forbidden":
        return SettingsError(name, "", message="settings.unknown")
    if kind in {"string_too_long", "string_too_short"}:
        limit = error.get("ctx", {}).get("max_length")
        if limit is None:
            return SettingsError(name, "settings.expect.not_empty")
        return SettingsError(name, "settings.expect.at_most_chars", params={"max": limit})
    if isinstance(own, ValueError) and field not in SECRET:
        # A library's check (a path that cannot be a store): its words, never the value.
        return SettingsError(name, "", message="settings.because", params={"detail": str(own)})
    return SettingsError(name, "", message="settings.unusable")


def _shown(field: str, value: Any) -> str | None:
    """The value a person gave, cleaned and cut, unless it is a secret or not plain text."""
    if field in SECRET or not isinstance(value, str | int | float):
        return None
    return clean_name(str(value))[:40] or None


def _number(info: FieldInfo) -> Expected:
    whole = info.annotation is int
    low, above, high = _bounds(info)
    if whole and above and low is not None:
        low, above = low + 1, False
    if low is None or high is None:
        return ("settings.expect.whole" if whole else "settings.expect.number"), {}
    if above:
        key = "settings.expect.number_above"
    else:
        key = "settings.expect.whole_from" if whole else "settings.expect.number_from"
    return key, {"low": _plain(low), "high": _plain(high)}


def _bounds(info: FieldInfo) -> tuple[float | None, bool, float | None]:
    """The lowest value, whether it is excluded (gt), and the highest (le)."""
    low: float | None = None
    above = False
    high: float | None = None
    # pydantic keeps Field(ge=..., gt=..., le=...) as metadata objects with those attributes.
    for rule in info.metadata:
        if getattr(rule, "ge", None) is not None:
            low = float(rule.ge)
        elif getattr(rule, "gt", None) is not None:
            low, above = float(rule.gt), True
        if getattr(rule, "le", None) is not None:
            high = float(rule.le)
    return low, above, high


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)
