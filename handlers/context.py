"""What every handler gets: the store, the core settings, and the owners."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.moderation import Moderation
from storage.store import Store


@dataclass(frozen=True, slots=True)
class PollDefaults:
    """The default poll question and its five option labels, best first, for one language."""

    question: str
    options: tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class CoreConfig:
    default_language: str = "de"
    backlog: int = 1
    summary_chars: int = 600
    top_prior_weight: float = 5.0
    list_limit: int = 10
    polls: dict[str, PollDefaults] = field(default_factory=dict)
    owners: frozenset[str] = frozenset()  # "platform:user_id"
    warn_limit: int = 3
    warn_action: str = "mute"  # mute, ban or none
    warn_mute_seconds: int = 86400


@dataclass(slots=True)
class Ctx:
    store: Store
    config: CoreConfig
    mod: Moderation = field(init=False)

    def __post_init__(self) -> None:
        self.mod = Moderation(self.store)
