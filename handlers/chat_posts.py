"""An article as a post in one chat: in the chat's look (handlers/post_compose.py), in the
language it is shown in, translated when the chat asked for translations and one is stored
(bot/translation.py stores them before delivery)."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.events import Reply
from handlers.i18n import speaking
from handlers.post_compose import PostLook
from handlers.render import article_post, shown_text, wants_translation
from storage.models import Article, ChatSettings, Poll


def chat_post(
    ctx: Ctx, article: Article, poll: Poll | None, language: str, settings: ChatSettings
) -> Reply:
    """The post as delivered, and as every later edit (a vote, live counts) renders it again,
    so that a translated post stays translated and a chat's style stays its style."""
    translate = settings.translate
    translation = (
        ctx.store.texts.translation(article.id, language)
        if wants_translation(article, language, translate)
        else None
    )
    chars = ctx.config.summary_chars
    with speaking(language):
        return article_post(
            article,
            poll,
            summary_chars=chars,
            polls=ctx.config.polls,
            look=PostLook.of(settings),
            shown=shown_text(article, language, translate, translation, chars),
        )
