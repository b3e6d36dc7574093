"""The entry points adapters call: a Command or a Press in, replies out, errors translated."""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Importing the command modules fills the registry.
from handlers import (  # noqa: F401
    admin,
    answers,
    articles,
    feeds,
    filters,
    linking,
    moderation,
    schedules,
    subscriptions,
    voting,
)
from handlers.buttons import BUTTONS, ButtonSpec, Pressed
from handlers.context import Ctx
from handlers.events import Command, Press, Reply, Rich, UserError
from handlers.i18n import current_language, format_date, normalise_language, t
from handlers.permissions import MEMBER, require
from handlers.registry import COMMANDS, check_args, clean_name
from storage.faults import storage_fault
from storage.models import ChatRef, ChatSettings, Post, UserRef
from storage.people import Standing

log = logging.getLogger(__name__)


def log_failure(what: str, err: Exception) -> None:
    """In an except block: a bug is logged with its traceback; the database failing (a
    server gone away, a full disk: the bot waits it out and says so once) in one line."""
    fault = storage_fault(err)
    if fault is None:
        log.error("%s failed", what, exc_info=err)
    else:
        log.warning("%s failed: the database is unavailable (%s)", what, fault)


def chat_language(
    ctx: Ctx,
    chat: ChatRef,
    person_locale: str | None = None,
    settings: ChatSettings | None = None,
) -> str:
    """The chat's /lang setting, else the person's own language, else the default. The chat's
    settings are read unless given."""
    settings = settings or ctx.store.chat_settings(chat)
    return (
        normalise_language(settings.language)
        or normalise_language(person_locale)
        or normalise_language(settings.detected_language)
        or ctx.config.default_language
    )


def remember_locale(ctx: Ctx, cmd: Command) -> None:
    """A private chat's deliveries speak the person's language, as their replies do."""
    detected = normalise_language(cmd.locale)
    if (
        cmd.is_private
        and detected
        and ctx.store.chat_settings(cmd.chat).detected_language != detected
    ):
        ctx.store.update_chat_settings(cmd.chat, detected_language=detected)


def arrived(user: UserRef) -> UserRef:
    """A person as they enter the core: their names cleaned once, so that no reply, audit row
    or @name lookup ever sees the raw ones. The id stays what the platform says."""
    return dataclasses.replace(
        user, display_name=clean_name(user.display_name), username=clean_name(user.username)
    )


def check_allowed(ctx: Ctx, user: UserRef, standing: Standing) -> None:
    """Banned people do nothing, not even vote; muted people wait until their mute ends.
    Owners are never locked out."""
    if user.key() in ctx.config.owners:
        return
    if standing.ban is not None:
        raise UserError("mod.you_are_banned")
    if standing.mute is not None:
        raise UserError("mod.you_are_muted", until=format_date(standing.mute.until))


def check_pressed_message(ctx: Ctx, spec: ButtonSpec, press: Press) -> Post | None:
    """A press acts only on what its message shows: a modified client can send any data on
    any message. A message recorded as a post carries only its own article's buttons. A
    message in a chat that is no recorded post carries no article's: the bot records every
    post it shows in a chat (deliveries, public replies such as /article, pressed messages),
    so only a prompt (a confirmation) is pressed there. Two messages may be unknown until
    their first press, which records their article for every later one: one outside any chat
    (Telegram's inline mode), and a post whose send went out but whose answer was lost (a
    timeout, a dropped connection), when the platform shows the pressed button on it. Without
    a message there is nothing a press could replace. Returns the post."""
    message = press.message
    if message is None:
        return None
    post = ctx.store.post_at(message)
    if spec.on_post:
        if post is None and (not message.in_chat or press.button_on_message):
            return None
        if post is not None and post.article_id == spec.article_key(press.params):
            return post
    elif post is None and message.in_chat:
        return None
    raise UserError("error.not_this_post")


def post_language(
    ctx: Ctx, press: Press, post: Post | None, settings: ChatSettings | None = None
) -> str:
    """The language the pressed message shows, for an edit of it: a post keeps the one it was
    posted in; one recorded without it shows its chat's, as a delivery there does; a message
    outside any chat (inline mode) has no chat, and shows its presser's."""
    recorded = normalise_language(post.language) if post is not None else None
    if recorded:
        return recorded
    if press.message is not None and press.message.in_chat:
        known = settings if press.message.chat == press.chat else None
        return chat_language(ctx, press.message.chat, settings=known)
    return current_language.get()


def error_reply(err: UserError) -> Reply:
    return Reply(
        text=Rich.of(t(err.key, **err.params)), notice=t(err.key, **err.params), private=True
    )


def apology() -> Reply:
    return Reply(text=Rich.of(t("error.internal")), notice=t("error.internal"), private=True)


HandlerCall = Callable[[], list[Reply] | Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class _OnLoop:
    """A handler that passed the checks and awaits more than the store (a generated answer):
    it starts on the event loop, in the language the checks chose."""

    language: str
    start: HandlerCall


def _run_or_defer(handler: object, call: HandlerCall) -> list[Reply] | _OnLoop:
    """In the database thread: a plain handler runs now; an async one is left to the loop,
    and not even started here (a coroutine made here would be lost if its caller went)."""
    if inspect.iscoroutinefunction(handler):
        return _OnLoop(current_language.get(), call)
    replies = call()
    if isinstance(replies, list):
        return replies
    return _OnLoop(current_language.get(), lambda: replies)


async def _finished(outcome: list[Reply] | _OnLoop, what: str) -> list[Reply]:
    if isinstance(outcome, list):
        return outcome
    token = current_language.set(outcome.language)
    try:
        replies = outcome.start()
        return replies if isinstance(replies, list) else await replies
    except UserError as err:
        return [error_reply(err)]
    except Exception as err:
        log_failure(what, err)
        return [apology()]
    finally:
        current_language.reset(token)


async def handle_command(ctx: Ctx, cmd: Command) -> list[Reply]:
    """Run one command. A person's mistake comes back translated; a bug is logged once and the
    person gets a short apology. Nothing is half-done: handlers validate before they write.
    The checks and a plain handler run in one call into the database thread."""
    outcome = await ctx.db.run(_command_in_thread, ctx, cmd)
    return await _finished(outcome, f"command /{cmd.name[:40]}")


def _command_in_thread(ctx: Ctx, cmd: Command) -> list[Reply] | _OnLoop:
    token = current_language.set(chat_language(ctx, cmd.chat, cmd.locale))
    try:
        replied = cmd.reply_to_user
        cmd = dataclasses.replace(
            cmd, user=arrived(cmd.user), reply_to_user=replied and arrived(replied)
        )
        spec = COMMANDS.get(cmd.name.lower())
        if spec is None:
            raise UserError("cmd.unknown", name=cmd.name[:40])
        standing = ctx.mod.arrival(cmd.user, cmd.chat)
        remember_locale(ctx, cmd)
        if spec.name != "forgetme":
            check_allowed(ctx, cmd.user, standing)
        args = check_args(spec, cmd.args)
        admitted = dataclasses.replace(cmd, args=args)
        return _run_or_defer(spec.handler, lambda: spec.handler(ctx, admitted))
    except UserError as err:
        return [error_reply(err)]
    except Exception as err:
        log_failure(f"command /{cmd.name[:40]}", err)
        return [apology()]
    finally:
        current_language.reset(token)


async def handle_press(
    ctx: Ctx, press: Press, *, then: Callable[[list[Reply]], None] | None = None
) -> list[Reply]:
    """Run one button press, checked again on arrival by what its button declares: the data
    may be forged or stale, and anyone who sees a message can press its buttons. Replies to
    the presser are in their language; an edit of the pressed post keeps the post's.

    `then` runs in the database thread on the replies: for a plain handler in the same call,
    so that no other call (the refresh job's look for stale posts) comes between the vote and
    what `then` records about it, and a press costs one trip to the database thread."""
    outcome = await ctx.db.run(_press_then, ctx, press, then)
    if isinstance(outcome, list):
        return outcome
    replies = await _finished(outcome, f"press {press.action[:20]}{press.params}")
    if then is not None:
        await ctx.db.run(then, replies)
    return replies


def _press_then(
    ctx: Ctx, press: Press, then: Callable[[list[Reply]], None] | None
) -> list[Reply] | _OnLoop:
    outcome = _press_in_thread(ctx, press)
    if then is not None and isinstance(outcome, list):
        then(outcome)
    return outcome


def _press_in_thread(ctx: Ctx, press: Press) -> list[Reply] | _OnLoop:
    settings = ctx.store.chat_settings(press.chat)
    token = current_language.set(chat_language(ctx, press.chat, press.locale, settings))
    try:
        press = dataclasses.replace(press, user=arrived(press.user))
        spec = BUTTONS.get(press.action)
        if spec is None:
            raise UserError("error.stale_button")
        check_allowed(ctx, press.user, ctx.mod.arrival(press.user, press.chat))
        post = check_pressed_message(ctx, spec, press)
        pressed = Pressed(press, post_language(ctx, press, post, settings), settings)
        if spec.who != MEMBER:
            article_id = spec.article_key(press.params)
            target = f"#{article_id}" if article_id is not None else None
            require(ctx, pressed.command(), spec.who, target=target)
        return _run_or_defer(spec.handler, lambda: spec.handler(ctx, pressed))
    except UserError as err:
        return [error_reply(err)]
    except Exception as err:
        log_failure(f"press {press.action[:20]}{press.params}", err)
        return [apology()]
    finally:
        current_language.reset(token)


async def handle_text(
    ctx: Ctx,
    chat: ChatRef,
    user: UserRef,
    text: str,
    *,
    is_private: bool,
    mentions_bot: bool,
    locale: str | None = None,
) -> list[Reply]:
    """A plain message (not a command): a question in a private chat, or a message that
    mentions the bot in a group, is answered from the archive; anything else gets no reply."""
    question = answers.addressed_question(text, is_private=is_private, mentions_bot=mentions_bot)
    if question is None:
        return []
    outcome = await ctx.db.run(_text_in_thread, ctx, chat, user, question, locale)
    return await _finished(outcome, "answering a plain message")


def _text_in_thread(
    ctx: Ctx, chat: ChatRef, user: UserRef, question: str, locale: str | None
) -> list[Reply] | _OnLoop:
    token = current_language.set(chat_language(ctx, chat, locale))
    try:
        user = arrived(user)
        check_allowed(ctx, user, ctx.mod.arrival(user, chat))
        return _OnLoop(current_language.get(), lambda: answers.answer_message(ctx, question))
    except UserError as err:
        return [error_reply(err)]
    except Exception as err:
        log_failure("answering a plain message", err)
        return [apology()]
    finally:
        current_language.reset(token)
