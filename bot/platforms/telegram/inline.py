"""Inline mode: '@bot words' lists matching articles as posts with their poll, and a chosen
one is remembered so that its counts stay live."""

from __future__ import annotations

import logging
import re

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.platforms.telegram.identities import INLINE, chat_ref
from bot.platforms.telegram.inbound import Context
from bot.platforms.telegram.outbound import NO_PREVIEW
from bot.platforms.telegram.render import fit, keyboard, render_html, shorten
from bot.runtime import Runtime
from handlers.events import Reply
from storage.models import MessageRef

log = logging.getLogger(__name__)

INLINE_PAGE = 50  # results per inline answer
INLINE_MAX = 200  # results over all pages of one inline query
INLINE_CACHE_SECONDS = 5  # counts change: let Telegram cache inline answers only briefly
_RESULT_ID = re.compile(r"^([0-9]{1,12})v([0-9]{1,12})$")


def page_offset(offset: str) -> int:
    try:
        return min(max(int(offset or 0), 0), INLINE_MAX)
    except ValueError:
        return 0


def inline_result(post: Reply) -> InlineQueryResultArticle | None:
    """A post as an inline result; its id names the article and the counts it shows."""
    if post.article_id is None:
        return None
    card = post.card
    title = card.title if card else post.text.plain().split("\n", 1)[0]
    description = card.summary if card else ""
    return InlineQueryResultArticle(
        id=f"{post.article_id}v{post.poll_version or 0}",
        title=shorten(title, 100) or f"#{post.article_id}",
        description=shorten(description, 150) or None,
        input_message_content=InputTextMessageContent(
            render_html(fit(post.text)),
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
        ),
        reply_markup=keyboard(post.buttons),
    )


class Inline:
    """The inline query and chosen result handlers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def on_query(self, update: Update, context: Context) -> None:
        query = update.inline_query
        if query is None:
            return
        person = query.from_user
        offset = page_offset(query.offset)
        found = await self.runtime.find_posts(
            query.query, chat_ref(person.id), person.language_code, limit=offset + INLINE_PAGE
        )
        posts = found[offset:]
        results = [r for r in (inline_result(p) for p in posts) if r is not None]
        more = len(posts) >= INLINE_PAGE and offset + INLINE_PAGE < INLINE_MAX
        try:
            await query.answer(
                results,
                cache_time=INLINE_CACHE_SECONDS,
                is_personal=True,
                next_offset=str(offset + INLINE_PAGE) if more else "",
            )
        except TelegramError as err:
            log.info("cannot answer inline query: %s", err)

    async def on_chosen(self, update: Update, context: Context) -> None:
        """Someone sent one of our inline results: remember the message, with the counts it
        was rendered with (they are in the result id), so the refresh job keeps it live."""
        chosen = update.chosen_inline_result
        if chosen is None or not chosen.inline_message_id:
            return
        match = _RESULT_ID.match(chosen.result_id)
        if match is None:
            return
        article_id, version = int(match[1]), int(match[2])
        if await self.runtime.post_for(article_id, chat_ref(INLINE)) is None:
            return
        message = MessageRef(chat_ref(INLINE), chosen.inline_message_id)
        # It shows the language the sender's results were in, whoever presses it later.
        person = chosen.from_user
        language = await self.runtime.language(chat_ref(person.id), person.language_code)
        shown = Reply(article_id=article_id, poll_version=version, language=language)
        await self.runtime.posted(shown, message)
