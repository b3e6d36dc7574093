"""Settings from NEWSBOT_* environment variables and an optional newsbot.toml."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.http_access import is_loopback, parse_listen
from bot.setting_problems import SettingProblem, problem
from bot.setting_problems import SettingsError as SettingsError
from handlers.context import CoreConfig, PollDefaults
from handlers.i18n import normalise_language
from handlers.registry import clean_name
from storage.location import BadLocation, Location, parse_location
from storage.schedule_times import zone_name

CONFIG_FILE_ENV = "NEWSBOT_CONFIG"
_CHAT_ID = re.compile(r"^-?\d{1,20}$")


def _toml_path() -> Path | None:
    named = os.environ.get(CONFIG_FILE_ENV)
    if named == "":
        return None
    return Path(named or "newsbot.toml")


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of newsbot. Environment variables win over the file."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_", extra="forbid", validate_default=True, frozen=True
    )

    # A SQLite file (a path or sqlite:///path) or postgresql://user:password@host:5432/name.
    db: str = "./data/newsbot.db"
    db_synchronous: str = Field("NORMAL", pattern=r"^(?i:normal|full)$")
    language: str = "de"  # de or en, in any case or form /lang takes (EN, en-GB)
    # The IANA time zone of chats that set none with /timezone (digests, quiet hours).
    timezone: str = "Europe/Berlin"
    demo: bool = True
    demo_interval: float = Field(30.0, gt=0, le=86400)
    backlog: int = Field(1, ge=0, le=20)
    summary_chars: int = Field(600, ge=100, le=3000)
    top_prior_weight: float = Field(5.0, ge=0, le=1000)
    admins: Annotated[list[str], NoDecode] = []
    console_user: str = Field("owner", min_length=1, max_length=64)
    log_level: str = Field("WARNING", pattern=r"^(?i:debug|info|warning|error)$")
    # Who holds a delivery while sending it; a restart with the same id takes back what a
    # crashed run held. Empty: this machine's host name (give each worker on one host its own).
    worker_id: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9._:@-]*$")
    # Several workers on one store (README "Scaling out"): seconds a worker's claim on a
    # delivery, and its lease on a singleton job or on Telegram polling, outlive its last
    # renewal; a worker that dies hands them over at most this much later.
    delivery_lease: float = Field(60.0, ge=3, le=3600)
    job_lease: float = Field(15.0, ge=3, le=600)
    telegram_poll_lease: float = Field(30.0, ge=3, le=600)

    telegram_token: SecretStr | None = None
    discord_token: SecretStr | None = None
    # -- telegram (bot/platforms/telegram/) --
    # The root of the Bot API server; requests go to {root}/bot{token}/{method}.
    telegram_api_url: str = Field("https://api.telegram.org", pattern=r"^https?://[^\s/]+(/\S*)?$")
    # Webhook mode instead of polling when the URL is set; the secret is then required.
    telegram_webhook_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = Field("127.0.0.1", min_length=1, max_length=255)
    telegram_webhook_port: int = Field(8443, ge=1, le=65535)
    # Webhook mode with several workers: how often (seconds) a worker looks for updates that
    # another worker stored and died holding, to handle them itself.
    telegram_orphan_check: float = Field(15.0, gt=0, le=3600)
    # Proactive pacing: messages per second overall and per chat, per minute per group.
    telegram_rate_overall: float = Field(30.0, gt=0, le=1000)
    telegram_rate_per_chat: float = Field(1.0, gt=0, le=100)
    telegram_rate_per_group_minute: int = Field(20, ge=1, le=1200)

    @field_validator("db", mode="before")
    @classmethod
    def _store_location(cls, value: object) -> str:
        text = str(value) if isinstance(value, str | Path) else value
        if not isinstance(text, str):
            raise SettingProblem("settings.bad_db", detail=type(value).__name__)
        try:
            parse_location(text)
        except BadLocation as err:  # it says why, without the password
            raise SettingProblem("settings.bad_db", detail=str(err)) from None
        return text

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> str:
        language = normalise_language(value) if isinstance(value, str) else None
        if language is None:
            raise SettingProblem("settings.expect.choice", str(value), choices=("de", "en"))
        return language

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: object) -> str:
        name = zone_name(value) if isinstance(value, str) else None
        if name is None:
            raise SettingProblem("settings.expect.timezone", str(value)[:64])
        return name

    @property
    def store(self) -> Location:
        """Where the store lives (NEWSBOT_DB); its `display` is safe to show."""
        return parse_location(self.db)

    @field_validator("console_user")
    @classmethod
    def _console_user(cls, value: str) -> str:
        # The terminal's person is named as every person is, so that owners and @name agree.
        name = clean_name(value)
        if not name:
            raise SettingProblem("settings.expect.visible_name")
        return name

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("telegram_webhook_url"):
                raise SettingProblem("settings.required_with", other="NEWSBOT_TELEGRAM_WEBHOOK_URL")
            return None
        # Telegram's secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
        secret = value.get_secret_value()
        letters = secret.replace("_", "").replace("-", "")
        if not 1 <= len(secret) <= 256 or not letters.isascii() or not letters.isalnum():
            raise SettingProblem("settings.expect.webhook_secret")
        return value

    # -- end of telegram --
    # -- discord (bot/platforms/discord/) --
    # Servers whose slash commands are synced directly (instant); empty: global sync.
    discord_guild_ids: str = Field("", pattern=r"^\s*(\d{1,20}\s*(,\s*\d{1,20}\s*)*)?$")
    # Proactive pacing under Discord's 50 requests/s and ~5 messages per 5 s per channel.
    discord_rate_overall: int = Field(25, ge=1, le=45)
    discord_rate_per_channel: int = Field(5, ge=1, le=50)
    discord_ready_timeout: float = Field(60.0, gt=0, le=600)
    # discord.py waits this long after the last server arrives before it is ready.
    discord_guild_ready_timeout: float = Field(2.0, ge=0, le=60)
    # Gateway shards this worker runs (e.g. "0,1") out of discord_shard_count; empty: all of
    # them (one process, discord.py's own choice when the count is empty too).
    discord_shards: str = Field("", pattern=r"^\s*(\d{1,5}\s*(,\s*\d{1,5}\s*)*)?$")
    discord_shard_count: int | None = Field(None, ge=1, le=65535)

    @field_validator("discord_shard_count")
    @classmethod
    def _shards_within_count(cls, value: int | None, info: ValidationInfo) -> int | None:
        shards = _shard_ids(info.data.get("discord_shards", ""))
        if shards and value is None:
            raise ValueError("NEWSBOT_DISCORD_SHARDS needs NEWSBOT_DISCORD_SHARD_COUNT")
        if value is not None and any(shard >= value for shard in shards):
            raise ValueError(f"every shard in NEWSBOT_DISCORD_SHARDS must be below {value}")
        return value

    def discord_shard_ids(self) -> list[int] | None:
        """The shards this worker runs; None: every shard of discord_shard_count."""
        return _shard_ids(self.discord_shards) or None

    # -- end discord --

    # -- http endpoint (bot/http_endpoint.py): /healthz, /metrics and the dashboard --
    # host:port; empty: off. Any address but loopback needs http_token (README "Dashboard").
    http_listen: str = Field("127.0.0.1:8080", max_length=300)
    http_token: SecretStr | None = None
    # /healthz fails once a delivery has waited this many seconds past its time to go out.
    health_pending_age: float = Field(600.0, gt=0, le=7 * 86400)
    log_format: str = Field("text", pattern=r"^(?i:text|json)$")

    @field_validator("http_listen")
    @classmethod
    def _http_listen(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            parse_listen(value)
        except ValueError:
            raise SettingProblem("settings.expect.listen", value) from None
        return value.strip()

    @field_validator("http_token")
    @classmethod
    def _http_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        listen = info.data.get("http_listen")
        if value is None:
            if listen and not is_loopback(parse_listen(listen)[0]):
                raise SettingProblem("settings.http_token_required", other="NEWSBOT_HTTP_LISTEN")
            return None
        token = value.get_secret_value()
        if not 16 <= len(token) <= 256 or not token.isascii() or not token.isprintable():
            raise SettingProblem("settings.expect.http_token")
        return value

    # -- end http endpoint --

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
    # A vote taken by another worker makes posts stale that this worker's refresh job only
    # finds at its next run (its own votes kick it at once): a quarter of a second keeps every
    # worker's share of the edits close behind, for one small query per run when none is due.
    refresh_every: float = Field(0.25, gt=0, le=60)
    sources_every: float = Field(5.0, gt=0, le=3600)
    source_interval: int = Field(300, ge=5, le=7 * 86400)
    max_attempts: int = Field(12, ge=1, le=100)

    # Feeds over HTTP. allow_private_feeds lifts the internal-address check (intranet feeds,
    # tests on loopback); http/https only and the other limits stay.
    allow_private_feeds: bool = False
    feed_timeout: float = Field(20.0, gt=0, le=300)  # a whole fetch, redirects included
    feed_connect_timeout: float = Field(10.0, gt=0, le=120)
    feed_max_bytes: int = Field(5_000_000, ge=10_000, le=5_000_000)  # after decompression
    feed_concurrency: int = Field(10, ge=1, le=200)  # feeds fetched and parsed at once
    feed_per_host: int = Field(2, ge=1, le=20)
    feed_park_after: int = Field(10, ge=1, le=1000)  # failures in a row before parking
    feed_jitter: float = Field(0.1, ge=0, le=0.5)  # next fetch: interval ± this share
    # A lead image is checked once before it is posted, through the feeds' guard; Telegram
    # takes photos by URL up to 5 MB.
    image_max_bytes: int = Field(5_000_000, ge=10_000, le=50_000_000)
    # The posts of a batch wait for its images' checks: a slow image server holds them this
    # long at most (then they go without the picture).
    image_timeout: float = Field(10.0, gt=0, le=120)
    # Full text (sources added with --fulltext): at most one article page per host every
    # this many seconds, and at most this many pages per fetch of a source (the newest).
    fulltext_host_spacing: float = Field(3.0, ge=0, le=300)
    fulltext_max_pages: int = Field(20, ge=1, le=500)
    # Optional generated answers for /ask from an OpenAI-compatible chat-completions server.
    llm_url: str | None = Field(None, pattern=r"^https?://\S+$")
    llm_model: str = Field("", max_length=200)
    llm_api_key: SecretStr | None = None

    @field_validator("llm_model")
    @classmethod
    def _model_with_url(cls, value: str, info: ValidationInfo) -> str:
        # Without a model name the server cannot be asked: say so at start, not at every /ask.
        if info.data.get("llm_url") and not value.strip():
            raise SettingProblem("settings.required_with", other="NEWSBOT_LLM_URL")
        return value

    llm_timeout: float = Field(20.0, gt=0, le=120)

    # What follows the last allowed warning: a mute for warn_mute seconds, a ban, or nothing.
    warn_limit: int = Field(3, ge=1, le=100)
    warn_action: str = Field("mute", pattern=r"^(mute|ban|none)$")
    warn_mute: int = Field(86400, ge=60, le=366 * 86400)
    # What one chat may have at most: subscribed tags (/subscribe) and keyword filters (/filter).
    max_tags_per_chat: int = Field(100, ge=1, le=10_000)
    max_filters_per_chat: int = Field(50, ge=1, le=1000)

    # The weekly style report (README "Weekly report"): Monday 08:00 in `timezone`, to
    # `report_chat` (telegram:ID or discord:CHANNEL), else to the owners' private chats.
    report_chat: str = ""
    weekly_report: bool = True

    @field_validator("report_chat")
    @classmethod
    def _report_chat(cls, value: str) -> str:
        value = value.strip()
        platform, _, chat_id = value.partition(":")
        if value and (platform not in {"telegram", "discord"} or not _CHAT_ID.match(chat_id)):
            raise SettingProblem("settings.expect.report_chat", value[:64])
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("admins", "poll_options_de", "poll_options_en", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("poll_options_de", "poll_options_en")
    @classmethod
    def _five_options(cls, value: list[str]) -> list[str]:
        if len(value) != 5 or any(not v or len(v) > 40 for v in value):
            raise SettingProblem("settings.expect.five_labels")
        return value

    @field_validator("admins")
    @classmethod
    def _admin_refs(cls, value: list[str]) -> list[str]:
        for ref in value:
            platform, _, user = ref.partition(":")
            if platform not in {"telegram", "discord", "console"} or not user:
                raise SettingProblem("settings.expect.admins", ref)
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

    def worker(self) -> str:
        """This process's worker identity: NEWSBOT_WORKER_ID, else the host name."""
        return self.worker_id or socket.gethostname()[:64] or "newsbot"

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
            source_interval=self.source_interval,
            warn_limit=self.warn_limit,
            warn_action=self.warn_action,
            warn_mute_seconds=self.warn_mute,
            max_tags_per_chat=self.max_tags_per_chat,
            max_filters_per_chat=self.max_filters_per_chat,
            translation_model=bool(self.llm_url),
        )


def _shard_ids(text: str) -> list[int]:
    return sorted({int(part) for part in text.replace(" ", "").split(",") if part})


def _five(labels: list[str]) -> tuple[str, str, str, str, str]:
    return (labels[0], labels[1], labels[2], labels[3], labels[4])


def load_settings(**overrides: object) -> Settings:
    named = os.environ.get(CONFIG_FILE_ENV)
    # A file asked for by name and not there is a mistake; only the default newsbot.toml is
    # optional. An empty NEWSBOT_CONFIG means: no settings file.
    if named and not Path(named).is_file():
        raise SettingsError("", "", message="settings.config_missing", params={"path": named})
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        # Plain words, and the value only for a setting that is no secret.
        raise problem(err, Settings.model_fields) from None
    except (OSError, ValueError) as err:
        raise SettingsError(
            "", "", message="settings.file", params={"path": str(_toml_path()), "detail": str(err)}
        ) from None
