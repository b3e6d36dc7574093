"""What every handler gets: the store, the core settings, and the owners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from storage.database_thread import DatabaseThread
from storage.moderation import Moderation
from storage.postgres_search import PostgresSearch
from storage.search import Search, search_for
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
    source_interval: int = 300  # seconds between fetches of a source added without one
    warn_limit: int = 3
    warn_action: str = "mute"  # mute, ban or none
    warn_mute_seconds: int = 86400
    max_tags_per_chat: int = 100
    max_filters_per_chat: int = 50
    translation_model: bool = False  # NEWSBOT_LLM_URL is set: /settings translate can work


@dataclass(frozen=True, slots=True)
class Passage:
    """Sentences of one article that may answer a question, given to an answer writer."""

    article_id: int
    title: str
    text: str
    language: str


class AnswerWriter(Protocol):
    """Writes an answer from passages of the archive (a language model, say); None when it
    cannot. The handlers accept the answer only if it cites the #N of a passage it was given."""

    async def write(self, question: str, passages: Sequence[Passage], language: str) -> str | None:
        """The answer to `question` in `language`, citing passages as #N."""


@dataclass(slots=True)
class Ctx:
    """The store (with its moderation and search views) is used only in the database thread
    `db`: a handler written as a plain function runs there whole; an async one, which awaits
    something else too, reaches the store through `await ctx.db.run(...)`."""

    store: Store
    config: CoreConfig
    mod: Moderation = field(init=False)
    search: Search | PostgresSearch = field(init=False)
    answers: AnswerWriter | None = None  # optional generated answers for /ask
    db: DatabaseThread = field(default_factory=DatabaseThread)

    def __post_init__(self) -> None:
        self.mod = Moderation(self.store)
        self.search = search_for(self.store)
