"""Style polls: casting, moving and taking back a vote, by button or by /vote."""

from __future__ import annotations

import dataclasses

from handlers.buttons import Key, Pressed, button
from handlers.chat_posts import chat_post
from handlers.context import Ctx
from handlers.events import Command, Reply, Rich, UserError
from handlers.i18n import current_language, t
from handlers.registry import Param, command, parse_id
from handlers.render import option_label
from storage.models import Article, PollState, UserRef, VoteOutcome


def parse_option(value: str, maximum: int) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise UserError("error.bad_option", value=value[:20], max=maximum)
    return int(text)


def cast(ctx: Ctx, article_id: int, user: UserRef, option_text: str) -> tuple[Article, VoteOutcome]:
    """Check everything again, then vote, in one write: the article exists and is not
    removed, its poll is open, the option is one of its options. Returns the article (to
    render) and what the vote did."""

    def choose(article: Article | None, poll: PollState | None) -> int:
        if article is None or article.removed:
            raise UserError("error.no_article", id=article_id)
        if poll is None:
            raise UserError("error.no_poll", id=article_id)
        if poll.closed:
            raise UserError("error.poll_closed", id=article_id)
        return parse_option(option_text, poll.options)

    result = ctx.store.vote(article_id, user, choose)
    assert result.article is not None
    return result.article, result.outcome


def notice(ctx: Ctx, outcome: VoteOutcome) -> str:
    """What the voter is told, with the option's label in their language."""
    if outcome.kind == "withdrawn":
        return t("vote.withdrawn")
    option = outcome.option
    defaults = ctx.config.polls.get(current_language.get())
    label = option_label(option.position, option.label, defaults) if defaults else option.label
    return t(f"vote.{outcome.kind}", label=label)


@command("vote", Param("id", "id"), Param("option", "option"))
def cmd_vote(ctx: Ctx, cmd: Command) -> list[Reply]:
    article_id = parse_id(cmd.args[0])
    _article, outcome = cast(ctx, article_id, cmd.user, cmd.args[1])
    # Every post of the article, this chat's included, is refreshed by the coalescing job.
    text = t("vote.on_article", id=article_id, notice=notice(ctx, outcome))
    return [Reply(text=Rich.of(text), notice=text, private=True)]


@button("vote", Key("article", "article"), Key("option"), on_post=True)
def press_vote(ctx: Ctx, pressed: Pressed) -> list[Reply]:
    """A vote button: the pressed post shows the new counts in its own language, the notice
    speaks to the presser in theirs."""
    article_id, option = pressed.keys
    article, outcome = cast(ctx, article_id, pressed.press.user, str(option))
    settings = pressed.chat_settings or ctx.store.chat_settings(pressed.press.chat)
    post = chat_post(ctx, article, outcome.poll, pressed.post_language, settings)
    return [dataclasses.replace(post, edit=True, notice=notice(ctx, outcome))]
