"""What a Discord user sees first: replies in the order they belong, a /help that fits and
lists only what the person may use, questions by direct message, results bars that line up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.article_input import parse_text_article
from handlers.i18n import t
from tests.discord_helpers import (
    ALICE,
    GUILD,
    MOD,
    NEWS,
    OWNER,
    article,
    configure,
    running_bot,
)
from tests.fakes.discord_api import FakeDiscord


async def test_subscribe_confirms_before_the_newest_article_follows(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(article())
        # The answer to the command is slow on the way (a rate limit Discord lifts after a
        # moment): the newest article must still wait for it.
        dc.fail_next("create_interaction_response", kind="rate_limited", retry_after=1.0)
        answer = await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        assert t("sub.backlog", "de") in (answer.content or "")
        post = await bot.post_in(NEWS, article_id)
        shown = [m.id for m in dc.messages(NEWS)]
        confirmation = next(m.id for m in dc.messages(NEWS) if m.interaction_id is not None)
        assert shown.index(confirmation) < shown.index(post.id)


async def help_messages(dc: FakeDiscord, channel: int, user: int, **kw: Any) -> list[str]:
    """Every message of one /help, once its last line (the language hint) has arrived."""
    locale = kw.pop("locale", "de")
    iid = await dc.slash(kw.pop("guild", GUILD), channel, user, "help", None, locale=locale)
    interaction = dc.interaction(iid)
    footer = t("help.footer", locale[:2])

    def complete() -> list[str] | None:
        texts = [r.content or "" for r in interaction.responses if r.kind != "delete_original"]
        return texts if any(footer in text for text in texts) else None

    return await dc.wait_for(complete, what="the whole /help")


def commands_in(texts: list[str]) -> list[str]:
    return re.findall(r"`/(\w+)", "\n".join(texts))


async def test_help_lists_what_each_person_may_use_newcomers_first_and_whole(
    dc: FakeDiscord, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure(
        monkeypatch,
        tmp_path,
        dc,
        NEWSBOT_DISCORD_RATE_PER_CHANNEL="50",
        NEWSBOT_ADMINS=f"discord:{OWNER}",
    )
    async with running_bot(dc) as bot:
        del bot
        member = commands_in(await help_messages(dc, NEWS, ALICE))
        # A newcomer's first steps first, in the order they take them; nothing for admins.
        assert member[:5] == ["latest", "vote", "results", "ask", "search"]
        assert member.index("search") < member.index("lang") < member.index("forgetme")
        assert not {"subscribe", "ban", "audit", "why", "feeds", "stats"} & set(member)

        # A channel manager: the chat's moderation, none of the bot admins' commands.
        manager = commands_in(await help_messages(dc, NEWS, MOD))
        assert manager[:7] == ["subscribe", "latest", "vote", "results", "ask", "search", "article"]
        assert {"ban", "mute", "warn", "audit", "why"} <= set(manager)
        assert not {"feeds", "stats", "remove", "resetvotes", "admin"} & set(manager)
        assert manager.index("forgetme") < manager.index("ban")

        # The bot's owner has every command: in whole messages of at most 2,000 characters,
        # ending with the language hint, no line cut off.
        for locale in ("de", "en-US"):
            texts = await help_messages(dc, NEWS, OWNER, locale=locale)
            assert all(len(text) <= 2000 for text in texts)
            assert not any(text.endswith("…") for text in texts)
            shown = commands_in(texts)
            assert {"feeds", "admin", "stats", "resetvotes", "ban"} <= set(shown)
            assert len(shown) == len(set(shown))
            assert texts[-1].endswith(t("help.footer", locale[:2]))

        # In a direct message, a member sees what they may do there: subscribe for themselves.
        dm = commands_in(await help_messages(dc, dc.dm_channel(ALICE), ALICE, guild=None))
        assert dm[0] == "subscribe"
        assert "why" in dm
        assert "ban" not in dm


async def test_a_question_by_direct_message_is_answered_like_ask(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(article())
        await dc.wait_ready()
        dm = dc.dm_channel(ALICE)
        asked = await dc.say(dm, ALICE, "Wer will Sprachmodelle von xAI anbieten?")
        answer = await dc.wait_for_message(dm, predicate=lambda m: m.author_id == dc.bot_id)
        assert "Microsoft" in (answer.content or "")
        assert f"#{article_id}" in (answer.content or "")
        assert answer.id > asked.id

        # Not a question: no answer (a chat with the bot is not flooded with hints).
        await dc.say(dm, ALICE, "danke")
        # In a server, a question that mentions the bot is answered in its channel.
        await dc.say(NEWS, ALICE, f"<@{dc.bot_id}> wer will Modelle von xAI anbieten?")
        in_server = await dc.wait_for_message(NEWS, predicate=lambda m: m.author_id == dc.bot_id)
        assert f"#{article_id}" in (in_server.content or "")
        bot_messages = [m for m in dc.messages(dm) if m.author_id == dc.bot_id]
        assert len(bot_messages) == 1


UNTITLED = (
    "Microsoft nimmt die Grok-Modelle von xAI in seine Azure AI Foundry auf, wie der Konzern "
    "am Montag in Redmond mitteilte. Die Verwaltung und Abrechnung erfolgen direkt durch "
    "Microsoft.\nTags: Microsoft + xAI\n"
)


async def test_an_article_without_a_title_line_gets_a_short_title_said_once(
    dc: FakeDiscord,
) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(parse_text_article(UNTITLED.encode()))
        await bot.slash(NEWS, MOD, "subscribe", {"tags": "xAI"})
        embed = (await bot.post_in(NEWS, article_id)).embeds[0]
        # The first clause, whole: not the first sentence cut mid-phrase.
        assert (
            embed["title"]
            == "Microsoft nimmt die Grok-Modelle von xAI in seine Azure AI Foundry auf"
        )
        # The summary goes on after it instead of saying it again.
        assert embed["description"].startswith("… wie der Konzern am Montag in Redmond mitteilte.")
        assert "Azure AI Foundry" not in embed["description"]
        assert (
            "Die Verwaltung und Abrechnung erfolgen direkt durch Microsoft." in embed["description"]
        )


async def test_results_bars_line_up_in_a_code_block(dc: FakeDiscord) -> None:
    async with running_bot(dc) as bot:
        article_id = await bot.ingest(article())
        await bot.slash(NEWS, ALICE, "vote", {"id": article_id, "option": 2})
        answer = await bot.slash(NEWS, ALICE, "results", {"id": article_id})
        block = re.search(r"```\n(.*?)\n```", answer.content or "", re.DOTALL)
        assert block is not None, answer.content
        rows = block.group(1).split("\n")
        assert [row[:2] for row in rows] == ["1.", "2.", "3.", "4.", "5."]
        assert "\\" not in block.group(1)  # nothing escaped inside: it is shown as it is
        assert len({row.index("█") if "█" in row else row.index("░") for row in rows}) == 1
        assert len({len(row) for row in rows}) == 1
