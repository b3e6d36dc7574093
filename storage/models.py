"""Typed records the store takes and returns: identities, articles, polls, outbox, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# What pressing a poll option did to the person's vote.
VoteKind = Literal["cast", "moved", "withdrawn"]
# Where a delivery stands: waiting (or retrying), claimed by a worker, done, given up, parked
# with its chat's subscriptions, or called off (article removed, person forgotten).
DeliveryStatus = Literal["pending", "sending", "sent", "failed", "paused", "cancelled", "digest"]
# How a chat's posts look: as before, short, everything, or a bot admin's template.
PostStyle = Literal["default", "compact", "full", "template"]
IMAGE_OK = "ok"  # the verdict of a lead image that passed its check
# Where a source is read from.
FeedKind = Literal["path", "url"]
# A source is fetched when active; an admin pauses it; too many failures in a row park it.
FeedState = Literal["active", "paused", "parked"]
# Who may change a chat's subscriptions.
SubscribePolicy = Literal["admins", "everyone"]
# A stored platform update: waiting to be handled, handled, or given up after many attempts.
InboxState = Literal["pending", "done", "failed"]


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat, group or channel on one platform. Ids are strings: snowflakes overflow floats."""

    platform: str
    chat_id: str

    def key(self) -> str:
        return f"{self.platform}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person on one platform."""

    platform: str
    user_id: str
    display_name: str = ""
    username: str = ""  # the @handle where the platform has one, without the @

    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


# The chat_id of messages that live in no chat of the bot's (Telegram's inline mode): they are
# addressed by their own id, and the bot may learn of one only when a person presses it.
INLINE_CHAT_ID = "inline"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot sent, to edit or delete later."""

    chat: ChatRef
    message_id: str
    # A photo with the post as its caption (Telegram edits a caption, not a text); not part
    # of the message's identity.
    photo: bool = field(default=False, compare=False)

    @property
    def in_chat(self) -> bool:
        return self.chat.chat_id != INLINE_CHAT_ID


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article as parsed from a file or feed, before it is stored."""

    title: str
    body: str
    tags: tuple[str, ...] = ()
    url: str | None = None
    published: datetime | None = None
    guid: str | None = None
    question: str | None = None
    language: str | None = None
    source: str = "file"
    image: str | None = None  # the lead image's http(s) URL


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    title: str
    body: str
    tags: tuple[str, ...]
    url: str | None
    published: datetime | None
    added: datetime
    language: str
    source: str
    removed: bool = False
    image_url: str | None = None
    # The lead image's check before posting: None not yet checked, "ok", or why it is refused.
    image_verdict: str | None = None
    # The feed's own text when `body` holds the page's full text (a --fulltext source): posts
    # show it; search, /ask and /article use the body.
    summary: str | None = None

    @property
    def shown_image(self) -> str | None:
        """The lead image when its check passed: only that one is ever posted."""
        return self.image_url if self.image_verdict == IMAGE_OK else None

    @property
    def post_text(self) -> str:
        """The text a post summarises: the feed's own, not a page's full text."""
        return self.summary if self.summary is not None else self.body


@dataclass(frozen=True, slots=True)
class PollOption:
    position: int  # 1..5, what a person types in /vote N K
    score: int  # 5 = best
    label: str
    votes: int = 0


@dataclass(frozen=True, slots=True)
class Poll:
    article_id: int
    question: str
    options: tuple[PollOption, ...]
    closed: bool
    version: int

    @property
    def total(self) -> int:
        return sum(o.votes for o in self.options)

    @property
    def mean(self) -> float | None:
        total = self.total
        if total == 0:
            return None
        return sum(o.score * o.votes for o in self.options) / total


@dataclass(frozen=True, slots=True)
class PollState:
    """What a vote press checks before it counts: whether the poll is closed, its options."""

    closed: bool
    options: int


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """What a press of a poll option did."""

    kind: VoteKind
    option: PollOption
    poll: Poll


@dataclass(frozen=True, slots=True)
class VoteResult:
    """A checked press of a poll button: the article it was for (None when there is no such
    article, which the caller's check refuses) and what the vote did."""

    article: Article | None
    outcome: VoteOutcome


@dataclass(frozen=True, slots=True)
class ExportedPoll:
    """An article with its poll and counts, as `newsbot export` writes them."""

    article: Article
    poll: Poll


@dataclass(frozen=True, slots=True)
class TagCount:
    tag: str
    articles: int


@dataclass(frozen=True, slots=True)
class Subscription:
    chat: ChatRef
    tag: str
    active: bool
    reason: str | None
    thread: str = ""  # the forum topic its posts go into ("" for the chat itself)


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """What /subscribe did: the tags newly subscribed, those the chat already had (display
    spellings), and how many backlog articles were queued for the chat."""

    added: list[str]
    already: list[str]
    backlog_queued: int


@dataclass(frozen=True, slots=True)
class TagSubscriptions:
    """How many chats subscribe to a tag (/stats)."""

    tag: str
    chats: int


@dataclass(frozen=True, slots=True)
class RatedArticle:
    article: Article
    votes: int
    mean: float
    rating: float  # Bayesian average


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    article_id: int
    chat: ChatRef
    status: DeliveryStatus
    attempts: int
    next_try: datetime
    message_id: str | None
    last_error: str | None
    thread: str = ""  # the forum topic it goes into ("" for the chat itself)


@dataclass(frozen=True, slots=True)
class DeliveryProblem:
    """The last error of one delivery to a chat (/why)."""

    article_id: int
    status: DeliveryStatus
    error: str


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    article_id: int
    message: MessageRef
    rendered_version: int
    language: str | None = None  # the language it was rendered in


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    location: str
    kind: FeedKind
    tags: tuple[str, ...]
    interval_seconds: int
    state: FeedState
    last_success: datetime | None
    last_error: str | None
    failures: int
    next_fetch: datetime | None
    etag: str | None = None
    last_modified: str | None = None
    # The digest of the last body parsed and stored in full (see bot/sources.py).
    body_hash: str | None = None
    # Each new article's page is fetched and its main text stored as the body (bot/fulltext.py).
    fulltext: bool = False


@dataclass(frozen=True, slots=True)
class FeedAdded:
    """The source at a location, and whether this call created it (else it was known and is
    returned unchanged)."""

    feed: Feed
    created: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    platform: str
    chat_id: str | None
    actor: str
    action: str
    target: str | None
    reason: str | None
    # Free text, not a kind: "ok", "refused", "unchanged"... or what the step left behind
    # ("count=3", "scope=*", "until=...").
    outcome: str


@dataclass(frozen=True, slots=True)
class Translation:
    """An article's title and post summary in another language, as a model wrote them."""

    article_id: int
    language: str
    title: str
    summary: str


@dataclass(frozen=True, slots=True)
class ChatSettings:
    chat: ChatRef
    language: str | None = None
    subscribe_policy: SubscribePolicy = "admins"
    threads: bool = False
    detected_language: str | None = None  # what the person's app reports (private chats)
    images: bool = True  # posts show their article's lead image
    post_style: PostStyle = "default"
    post_template: str | None = None  # used when post_style is "template"
    translate: bool = False  # posts in another language come machine-translated


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What storing one parsed article did."""

    article: Article | None  # None when it was a duplicate
    deliveries: int = 0
    duplicate_of: int | None = None
    tags_dropped: int = 0  # tags beyond MAX_TAGS_PER_ARTICLE, not stored


@dataclass(frozen=True, slots=True)
class DbStats:
    articles: int
    tags: int
    subscriptions: int
    votes: int
    deliveries_pending: int
    deliveries_failed: int
    posts: int
    feeds: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class VoteTally:
    """The votes stored on one article: those its results count, and those of people banned
    bot-wide, which stay stored but do not count."""

    counted: int
    uncounted: int

    @property
    def stored(self) -> int:
        return self.counted + self.uncounted


@dataclass(frozen=True, slots=True)
class Activity:
    """Figures for /stats beyond DbStats."""

    votes_today: int
    feeds_failing: int  # failing now or parked
