"""What a person did and what the bot answers, free of any platform's objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.models import ChatRef, MessageRef, UserRef


class UserError(Exception):
    """A person's mistake: the message key and its arguments go back to them, translated."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class Span:
    """One run of text in the neutral markup; adapters render and escape it for their platform."""

    text: str
    style: str = "plain"  # plain, bold, italic, code, link, pre (a block in a fixed-width font)
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Rich:
    """A small neutral markup: a sequence of spans. Nothing in it is pre-escaped."""

    spans: tuple[Span, ...] = ()

    def __add__(self, other: Rich) -> Rich:
        return Rich(self.spans + other.spans)

    def plain(self) -> str:
        return "".join(s.text for s in self.spans)

    @staticmethod
    def of(*parts: Span | str) -> Rich:
        return Rich(tuple(p if isinstance(p, Span) else Span(p) for p in parts))

    @staticmethod
    def join(parts: list[Rich], sep: str = "\n") -> Rich:
        spans: list[Span] = []
        for i, part in enumerate(parts):
            if i:
                spans.append(Span(sep))
            spans.extend(part.spans)
        return Rich(tuple(spans))


def bold(text: str) -> Span:
    return Span(text, "bold")


def italic(text: str) -> Span:
    return Span(text, "italic")


def code(text: str) -> Span:
    return Span(text, "code")


def pre(text: str) -> Span:
    """Lines whose columns must line up (the bars of /results): a fixed-width block."""
    return Span(text, "pre")


def link(text: str, url: str) -> Span:
    return Span(text, "link", url)


@dataclass(frozen=True, slots=True)
class Button:
    """A button: its label, and the keys its press carries (never state)."""

    label: str
    action: str
    params: tuple[str, ...] = ()
    text_twin: str | None = None  # the command that does the same, shown in the terminal


@dataclass(frozen=True, slots=True)
class ArticleCard:
    """The parts of an article post, for adapters that lay posts out richly (Discord embeds)."""

    article_id: int
    title: str
    summary: str
    tags: tuple[str, ...]
    url: str | None
    published: datetime | None
    question: str
    footer: str
    image: str | None = None  # the lead image, checked


@dataclass(frozen=True, slots=True)
class MemberAction:
    """Something only the platform can do to a person in a chat: remove them (ban), let them
    back (unban), silence them until a time (mute) or lift that (unmute)."""

    kind: str
    chat: ChatRef
    user: UserRef
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Image:
    """A picture sent with a reply (a chart): PNG bytes and the text that says what it shows,
    for people who cannot see it (Discord's alt text) and where no picture can be shown."""

    png: bytes
    alt: str
    filename: str = "chart.png"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says. `edit` replaces the pressed message; `notice` is a short toast."""

    text: Rich = field(default_factory=Rich)
    buttons: tuple[tuple[Button, ...], ...] = ()
    edit: bool = False
    notice: str | None = None
    private: bool = False  # concerns only the person: ephemeral where the platform can
    article_id: int | None = None  # a post of this article: record it to refresh its counts
    poll_version: int | None = None
    card: ArticleCard | None = None
    actions: tuple[MemberAction, ...] = ()
    language: str | None = None  # the language a post was rendered in
    image: str | None = None  # a post's lead image (checked): a photo, a preview, an embed image
    chart: Image | None = None  # a chart sent with the text where the platform shows pictures


# The largest file an adapter downloads for a command (an OPML file of a few thousand feeds).
MAX_ATTACHMENT_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a command: its name, its size as the platform announced it, and its
    bytes; `data` is None when it was not downloaded (larger than MAX_ATTACHMENT_BYTES, or the
    download failed)."""

    name: str
    size: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class Command:
    """A command a person sent, already translated out of the platform's objects."""

    chat: ChatRef
    user: UserRef
    name: str
    args: tuple[str, ...] = ()
    locale: str | None = None  # the person's own language as the platform reports it
    is_chat_admin: bool = False
    is_private: bool = True
    reply_to_user: UserRef | None = None  # the person whose message this command answers
    thread: str = ""  # the forum topic it was sent in ("" for none); replies go there too
    attachment: Attachment | None = None  # a file sent with it (/feeds import)


@dataclass(frozen=True, slots=True)
class Press:
    """A button press: the action and keys decoded once from the platform's callback data
    (codec.read); action "" for data this bot did not make."""

    chat: ChatRef
    user: UserRef
    message: MessageRef | None
    action: str
    params: tuple[int, ...]
    locale: str | None = None
    is_chat_admin: bool = False
    # The platform itself (not the presser's app) showed the pressed message carrying this
    # very button: the bot made that message, with this article's buttons on it.
    button_on_message: bool = False


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply addressed to a chat: what a delivery sends. It carries all that the send needs
    (the language is the reply's), so an adapter never asks the core in the middle of one."""

    chat: ChatRef
    reply: Reply
    threads: bool = False  # open a discussion thread under a post, where the platform can
    topic: str = ""  # the forum topic (Telegram message_thread_id) it goes into; "" for none
