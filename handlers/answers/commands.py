"""The entry points: /search, /ask, and the plain messages the dispatcher passes on."""

from __future__ import annotations

import re

from handlers.answers.replies import extractive_reply, generated_reply, search_reply
from handlers.answers.retrieval import find_answer
from handlers.answers.words import is_question, words_of
from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError
from handlers.i18n import t
from handlers.registry import MAX_TOTAL_CHARS, Param, clean_arg, command

# @handles (the bot's, or anyone's) are not part of the question; e-mail addresses stay.
_MENTION = re.compile(r"(?<![\w@])@\w[\w.]*[,:]?")


async def answer_question(ctx: Ctx, question: str) -> list[Reply]:
    """The answer to a question from the archive, or an honest "the archive has no answer"."""
    answer, words = await ctx.db.run(find_answer, ctx, question)
    if not words:
        raise UserError("search.common_words" if words_of(question) else "ask.no_words")
    if answer is None:
        return [Reply(text=Rich.of(t("ask.none")))]
    generated = await generated_reply(ctx, question, answer)
    return [generated or extractive_reply(answer)]


def addressed_question(text: str, *, is_private: bool, mentions_bot: bool) -> str | None:
    """The question in a plain message meant for the bot: a question in a private chat, or
    anything that mentions the bot in a group (adapters tell). None: not for the bot."""
    question = " ".join(_MENTION.sub(" ", text).split())
    if mentions_bot or (is_private and is_question(question)):
        return question
    return None


async def answer_message(ctx: Ctx, question: str) -> list[Reply]:
    """A plain message's question answered like /ask; an empty one gets a hint."""
    if len(question) > MAX_TOTAL_CHARS:
        raise UserError("error.too_long", limit=MAX_TOTAL_CHARS)
    question = clean_arg(question)
    if not words_of(question):
        return [Reply(text=Rich.of(t("ask.hint")))]
    return await answer_question(ctx, question)


@command("search", Param("words", "words"))
def cmd_search(ctx: Ctx, cmd: Command) -> list[Reply]:
    return [search_reply(ctx, " ".join(cmd.args))]


@command("ask", Param("question", "words"))
async def cmd_ask(ctx: Ctx, cmd: Command) -> list[Reply]:
    return await answer_question(ctx, " ".join(cmd.args))
