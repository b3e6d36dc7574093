"""The entry points adapters call: a Command or a Press in, replies out, errors translated."""

from __future__ import annotations

import dataclasses
import logging

# Importing the command modules fills the registry.
from handlers import (  # noqa: F401
    admin,
    answers,
    articles,
    feeds,
    moderation,
    subscriptions,
    voting,
)
from handlers.codec import ForgedData, decode
from handlers.context import Ctx
from handlers.events import Command, Press, Reply, Rich, UserError
from handlers.i18n import current_language, format_date, normalise_language, t
from handlers.registry import COMMANDS, check_args
from storage.models import ChatRef, UserRef

log = logging.getLogger(__name__)


def chat_language(ctx: Ctx, chat: ChatRef, person_locale: str | None = None) -> str:
    """The chat's /lang setting, else the person's own language, else the default."""
    settings = ctx.store.chat_settings(chat)
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


def check_allowed(ctx: Ctx, user: UserRef, chat: ChatRef) -> None:
    """Banned people do nothing, not even vote; muted people wait until their mute ends.
    Owners are never locked out."""
    if user.key() in ctx.config.owners:
        return
    if ctx.mod.ban_of(user, chat) is not None:
        raise UserError("mod.you_are_banned")
    mute = ctx.mod.mute_of(user, chat)
    if mute is not None:
        raise UserError("mod.you_are_muted", until=format_date(mute.until))


def error_reply(err: UserError) -> Reply:
    return Reply(
        text=Rich.of(t(err.key, **err.params)), notice=t(err.key, **err.params), private=True
    )


def apology() -> Reply:
    return Reply(text=Rich.of(t("error.internal")), notice=t("error.internal"), private=True)


async def handle_command(ctx: Ctx, cmd: Command) -> list[Reply]:
    """Run one command. A person's mistake comes back translated; a bug is logged once and the
    person gets a short apology. Nothing is half-done: handlers validate before they write."""
    token = current_language.set(chat_language(ctx, cmd.chat, cmd.locale))
    try:
        spec = COMMANDS.get(cmd.name.lower())
        if spec is None:
            raise UserError("cmd.unknown", name=cmd.name[:40])
        ctx.mod.seen(cmd.user)
        remember_locale(ctx, cmd)
        if spec.name != "forgetme":
            check_allowed(ctx, cmd.user, cmd.chat)
        args = check_args(spec, cmd.args)
        return await spec.handler(ctx, dataclasses.replace(cmd, args=args))
    except UserError as err:
        return [error_reply(err)]
    except Exception:
        log.exception("command /%s failed", cmd.name[:40])
        return [apology()]
    finally:
        current_language.reset(token)


async def handle_press(ctx: Ctx, press: Press, data: str) -> list[Reply]:
    """Run one button press from its raw data, checked again on arrival: the data may be forged
    or stale, and anyone who sees a message can press its buttons."""
    token = current_language.set(chat_language(ctx, press.chat, press.locale))
    try:
        try:
            action, params = decode(data)
        except ForgedData:
            raise UserError("error.stale_button") from None
        ctx.mod.seen(press.user)
        check_allowed(ctx, press.user, press.chat)
        if action == "vote":
            return await voting.press_vote(ctx, press, params)
        if action == "confirm":
            as_command = Command(
                chat=press.chat,
                user=press.user,
                name="confirm",
                locale=press.locale,
                is_chat_admin=press.is_chat_admin,
            )
            return await moderation.confirm_press(ctx, as_command, params)
        if action == "results":
            return await articles.press_results(ctx, press, params)
        raise UserError("error.stale_button")
    except UserError as err:
        return [error_reply(err)]
    except Exception:
        log.exception("press %r failed", data[:64])
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
    token = current_language.set(chat_language(ctx, chat, locale))
    try:
        ctx.mod.seen(user)
        check_allowed(ctx, user, chat)
        return await answers.answer_message(ctx, question)
    except UserError as err:
        return [error_reply(err)]
    except Exception:
        log.exception("answering a plain message failed")
        return [apology()]
    finally:
        current_language.reset(token)
