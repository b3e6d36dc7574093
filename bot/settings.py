"""Settings from NEWSBOT_* environment variables and an optional newsbot.toml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from handlers.context import CoreConfig, PollDefaults

CONFIG_FILE_ENV = "NEWSBOT_CONFIG"


def _toml_path() -> Path:
    return Path(os.environ.get(CONFIG_FILE_ENV, "newsbot.toml"))


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of newsbot. Environment variables win over the file."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_", extra="forbid", validate_default=True, frozen=True
    )

    db: Path = Path("./data/newsbot.db")
    db_synchronous: str = Field("NORMAL", pattern=r"^(?i:normal|full)$")
    language: str = Field("de", pattern=r"^(de|en)$")
    demo: bool = True
    demo_interval: float = Field(30.0, gt=0, le=86400)
    backlog: int = Field(1, ge=0, le=20)
    summary_chars: int = Field(600, ge=100, le=3000)
    top_prior_weight: float = Field(5.0, ge=0, le=1000)
    admins: Annotated[list[str], NoDecode] = []
    console_user: str = Field("owner", min_length=1, max_length=64)
    log_level: str = Field("WARNING", pattern=r"^(?i:debug|info|warning|error)$")

    telegram_token: SecretStr | None = None
    discord_token: SecretStr | None = None

    poll_question_de: str = "Wie bewerten Sie den Schreibstil des Artikels?"
    poll_question_en: str = "How would you rate the writing style of this article?"
    poll_options_de: Annotated[list[str], NoDecode] = [
        "Sehr gut",
        "Gut",
        "Befriedigend",
        "Ausreichend",
        "Mangelhaft",
    ]
    poll_options_en: Annotated[list[str], NoDecode] = [
        "Excellent",
        "Good",
        "Fair",
        "Poor",
        "Bad",
    ]

    # How often the scheduler looks at the outbox, sources and stale counts.
    deliver_every: float = Field(1.0, gt=0, le=60)
    refresh_every: float = Field(1.0, gt=0, le=60)
    sources_every: float = Field(5.0, gt=0, le=3600)
    source_interval: int = Field(300, ge=5, le=7 * 86400)
    max_attempts: int = Field(12, ge=1, le=100)

    # What follows the last allowed warning: a mute for warn_mute seconds, a ban, or nothing.
    warn_limit: int = Field(3, ge=1, le=100)
    warn_action: str = Field("mute", pattern=r"^(mute|ban|none)$")
    warn_mute: int = Field(86400, ge=60, le=366 * 86400)

    @field_validator("admins", "poll_options_de", "poll_options_en", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("poll_options_de", "poll_options_en")
    @classmethod
    def _five_options(cls, value: list[str]) -> list[str]:
        if len(value) != 5 or any(not v or len(v) > 40 for v in value):
            raise ValueError("needs exactly five labels of 1 to 40 characters")
        return value

    @field_validator("admins")
    @classmethod
    def _admin_refs(cls, value: list[str]) -> list[str]:
        for ref in value:
            platform, _, user = ref.partition(":")
            if platform not in {"telegram", "discord", "console"} or not user:
                raise ValueError(f"{ref!r} is not platform:id (telegram, discord or console)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()),
        )

    def owners(self) -> frozenset[str]:
        # The terminal's default person owns the bot on this machine.
        return frozenset([*self.admins, f"console:{self.console_user}"])

    def core_config(self) -> CoreConfig:
        return CoreConfig(
            default_language=self.language,
            backlog=self.backlog,
            summary_chars=self.summary_chars,
            top_prior_weight=self.top_prior_weight,
            polls={
                "de": PollDefaults(self.poll_question_de, _five(self.poll_options_de)),
                "en": PollDefaults(self.poll_question_en, _five(self.poll_options_en)),
            },
            owners=self.owners(),
            warn_limit=self.warn_limit,
            warn_action=self.warn_action,
            warn_mute_seconds=self.warn_mute,
        )


def _five(labels: list[str]) -> tuple[str, str, str, str, str]:
    return (labels[0], labels[1], labels[2], labels[3], labels[4])


class SettingsError(Exception):
    """Settings that cannot be used: one line for the person, no traceback."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "?"
        name = f"NEWSBOT_{where.upper()}" if where != "?" else where
        # Only the message, never the input: the input may be a token.
        raise SettingsError(f"{name}: {first['msg']}") from None
    except (OSError, ValueError) as err:
        raise SettingsError(f"{_toml_path()}: {err}") from None
