"""Keyword filters per chat (/filter), /why N and the per-chat limits, as a chat uses them,
through the real handlers and store on both engines."""

from __future__ import annotations

import dataclasses

import pytest

from bot.settings import SettingsError, load_settings
from handlers.context import Ctx
from storage.models import ChatRef, MessageRef
from tests.conftest import Chat, add, article

ELECTION = dict(
    title="Die Wahlen in Hessen",
    body="Die Parteien werben um Stimmen. Künstliche Intelligenz schreibt Reden.",
    tags=("Politik",),
)
CRYPTO = dict(
    title="Kryptobörse meldet Rekord",
    body="Bitcoin steigt. Die Börse freut sich über die Krypto-Anleger.",
    tags=("Politik", "Finanzen"),
)
WEATHER = dict(title="Sonne am Wochenende", body="Es bleibt warm und trocken.", tags=("Politik",))


def queued(ctx: Ctx, chat: Chat) -> list[int]:
    return [d.article_id for d in ctx.store.deliveries_for_chat(chat.chat)]


def group(ctx: Ctx) -> Chat:
    return Chat(ctx, chat=ChatRef("telegram", "-100"), is_private=False)


async def test_filters_are_added_listed_removed_and_cleared(any_chat: Chat, any_ctx: Ctx) -> None:
    assert "keine Filter" in await any_chat.text("/filter list")
    assert "1. nur mit: Wahl" in await any_chat.text("/filter include Wahl")
    assert "2. ohne: Börse" in await any_chat.text('/filter exclude "Börse"')
    assert "3. ohne: künstliche intelligenz" in await any_chat.text(
        "/filter exclude „künstliche intelligenz“"
    )
    assert "schon" in await any_chat.text("/filter include Wahl")
    assert "schon" in await any_chat.text("/filter include WAHLEN")  # the same word
    listing = await any_chat.text("/filter list")
    assert "1. nur mit: Wahl" in listing and "2. ohne: Börse" in listing
    assert "Filter entfernt: 2. ohne: Börse" in await any_chat.text("/filter remove 2")
    assert "2. ohne: künstliche intelligenz" in await any_chat.text("/filter list")
    assert "2 Filter entfernt" in await any_chat.text("/filter clear")
    assert "keine Filter" in await any_chat.text("/filter list")
    actions = [e.action for e in any_ctx.store.audit_log.entries(20)]
    assert actions.count("filter_include") == 1 and actions.count("filter_exclude") == 2
    assert "filter_remove" in actions and "filter_clear" in actions


async def test_a_filtered_article_never_becomes_a_delivery(any_chat: Chat, any_ctx: Ctx) -> None:
    await any_chat.text("/subscribe Politik")
    await any_chat.text("/filter include Wahl")  # "Wahlen" is the same word, inflected
    await any_chat.text("/filter exclude Börse")
    election = add(any_ctx, article(**ELECTION))
    crypto = add(any_ctx, article(**CRYPTO))  # "Kryptobörse" is no whole "Börse"...
    weather = add(any_ctx, article(**WEATHER))  # ...but has no include either
    assert queued(any_ctx, any_chat) == [election]
    await any_chat.text("/filter clear")
    await any_chat.text("/filter exclude boerse")  # not how search folds "ö": no match
    await any_chat.text("/filter exclude BORSE")  # case and accents folded: "Börse" matches
    again = add(any_ctx, article(**{**CRYPTO, "title": "Krypto nochmals"}))
    sunny = add(any_ctx, article(**{**WEATHER, "title": "Wieder Sonne"}))
    assert queued(any_ctx, any_chat) == [election, sunny]
    assert again not in queued(any_ctx, any_chat) and crypto != weather


async def test_other_chats_without_filters_get_every_article(any_chat: Chat, any_ctx: Ctx) -> None:
    other = Chat(any_ctx, chat=ChatRef("console", "other"))
    await other.text("/subscribe Politik")
    await any_chat.text("/subscribe Politik")
    await any_chat.text("/filter exclude Wahl")
    election = add(any_ctx, article(**ELECTION))
    assert queued(any_ctx, other) == [election]
    assert queued(any_ctx, any_chat) == []


async def test_a_pattern_runs_on_re2(any_chat: Chat, any_ctx: Ctx) -> None:
    """(a+)+! on a run of a's without the "!" takes Python's backtracking re longer than any
    test may run; re2 answers at once, and the article without the "!" passes."""
    await any_chat.text("/subscribe Politik")
    assert "1. ohne: re:(a+)+!" in await any_chat.text("/filter exclude re:(a+)+!")
    await any_chat.text("/filter exclude re:krypto\\w*")  # case folded: "Kryptobörse"
    long_a = add(any_ctx, article(title="Schrei", body="a" * 5000, tags=("Politik",)))
    add(any_ctx, article(title="Falle", body="a" * 500 + "!", tags=("Politik",)))
    add(any_ctx, article(**CRYPTO))
    assert queued(any_ctx, any_chat) == [long_a]


async def test_bad_filters_are_refused_with_a_reason(any_chat: Chat, any_ctx: Ctx) -> None:
    assert "mindestens ein Wort" in await any_chat.text('/filter include ""')
    assert "mindestens ein Wort" in await any_chat.text("/filter exclude „ !!! “")
    assert "mindestens ein Wort" in await any_chat.text("/filter exclude re:")
    assert "höchstens 200 Zeichen" in await any_chat.text("/filter exclude re:" + "a" * 201)
    refused = await any_chat.text("/filter exclude re:(?<=a)b")
    assert "Dieses Muster geht nicht: invalid perl operator: (?<=" in refused
    assert "Dieses Muster geht nicht" in await any_chat.text("/filter exclude re:a{1001}")
    too_large = await any_chat.text("/filter exclude re:\\pL{1000}")  # over re2's 1 MiB
    assert "Dieses Muster geht nicht: pattern too large - compile failed" in too_large
    assert "höchstens 12 Wörter" in await any_chat.text("/filter include " + "wort " * 13)
    for n in range(10):
        assert "hinzugefügt" in await any_chat.text(f"/filter exclude re:muster{n}")
    assert "höchstens 10 Muster" in await any_chat.text("/filter exclude re:muster10")
    assert "Keine Filternummer: zwei" in await any_chat.text("/filter remove zwei")
    assert "Einen Filter 99 hat dieser Chat nicht" in await any_chat.text("/filter remove 99")
    assert "So geht es" in await any_chat.text("/filter sort")
    assert "So geht es" in await any_chat.text("/filter remove")
    assert len(any_ctx.store.filters.of(any_chat.chat)) == 10
    refusals = [e for e in any_ctx.store.audit_log.entries(50) if e.outcome != "ok"]
    assert {e.outcome for e in refusals} >= {"refused:empty", "refused:pattern_invalid"}


async def test_groups_need_chat_admin_rights_to_change_filters(any_ctx: Ctx) -> None:
    chat = group(any_ctx)
    assert "Admin-Rechte" in await chat.text("/filter include Wahl", user="7")
    assert "Admin-Rechte" in await chat.text("/filter clear", user="7")
    assert any_ctx.store.filters.of(chat.chat) == []
    assert "hinzugefügt" in await chat.text("/filter include Wahl", user="7", admin=True)
    assert "Admin-Rechte" in await chat.text("/filter remove 1", user="7")
    assert "nur mit: Wahl" in await chat.text("/filter list", user="7")  # reading is free
    assert "Admin-Rechte" in await chat.text("/why 1", user="7")
    refused = [e for e in any_ctx.store.audit_log.entries(20) if e.outcome == "refused"]
    assert len(refused) >= 3


async def test_the_filter_limit_per_chat(any_ctx: Ctx) -> None:
    ctx = Ctx(
        store=any_ctx.store, config=dataclasses.replace(any_ctx.config, max_filters_per_chat=2)
    )
    chat = Chat(ctx)
    await chat.text("/filter include eins")
    await chat.text("/filter exclude zwei")
    assert "hat 2 Filter, mehr dürfen es nicht sein" in await chat.text("/filter include drei")
    assert "schon" in await chat.text("/filter include eins")  # a repeat is no new filter
    ctx.db.close()


async def test_the_tag_limit_per_chat(any_ctx: Ctx) -> None:
    ctx = Ctx(store=any_ctx.store, config=dataclasses.replace(any_ctx.config, max_tags_per_chat=3))
    chat = Chat(ctx)
    assert "Abonniert" in await chat.text("/subscribe eins zwei")
    refused = await chat.text("/subscribe drei vier")
    assert "höchstens 3 Schlagwörter abonnieren und hat 2" in refused
    assert [s.tag for s in ctx.store.subscriptions(chat.chat)] == ["eins", "zwei"]
    assert "Schon abonniert" in await chat.text("/subscribe zwei")
    assert "Abonniert: drei" in await chat.text("/subscribe drei zwei")
    ctx.db.close()


@pytest.mark.parametrize("name", ["NEWSBOT_MAX_TAGS_PER_CHAT", "NEWSBOT_MAX_FILTERS_PER_CHAT"])
def test_a_bad_limit_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    monkeypatch.setenv(name, "viele")
    with pytest.raises(SettingsError, match=name):
        load_settings()
    monkeypatch.setenv(name, "0")
    with pytest.raises(SettingsError, match=name):
        load_settings()
    monkeypatch.setenv(name, "7")
    assert 7 in (load_settings().max_tags_per_chat, load_settings().max_filters_per_chat)


async def test_the_backlog_of_a_subscription_passes_the_filters(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    election = add(any_ctx, article(**ELECTION))
    add(any_ctx, article(**CRYPTO))
    await any_chat.text("/filter exclude Börse")
    assert "neueste passende" in await any_chat.text("/subscribe Politik")
    assert queued(any_ctx, any_chat) == [election]


async def test_why_says_what_became_of_an_article(any_chat: Chat, any_ctx: Ctx) -> None:
    before = add(any_ctx, article(**WEATHER))
    await any_chat.text("/subscribe Finanzen")
    election = add(any_ctx, article(**ELECTION))
    assert "keines der Schlagwörter dieses Chats (seine: Politik)" in await any_chat.text(
        f"/why {election}"
    )
    await any_chat.text("/subscribe Politik")
    await any_chat.text("/filter exclude Wahl")
    await any_chat.text("/filter include Sonne")
    later = add(any_ctx, article(**{**ELECTION, "title": "Wahl in Bayern"}))
    assert "von Filter 1. ohne: Wahl zurückgehalten" in await any_chat.text(f"/why {later}")
    crypto = add(any_ctx, article(**CRYPTO))
    assert "zu keinem Einschluss-Filter" in await any_chat.text(f"/why {crypto}")
    assert "bevor der Chat abonniert hat" in await any_chat.text(f"/why {before}")
    sunny = add(any_ctx, article(**{**WEATHER, "title": "Wieder Sonne"}))
    assert "steht für diesen Chat an" in await any_chat.text(f"/why {sunny}")
    [delivery] = any_ctx.store.claim_deliveries(["console"])
    any_ctx.store.delivery_sent(delivery.id, MessageRef(any_chat.chat, "m9"), 1)
    assert f"#{sunny} wurde hier am " in await any_chat.text(f"/why {sunny}")
    await any_chat.text(f"/remove {sunny} Doppelt", user="owner")
    assert "aus dem Archiv entfernt" in await any_chat.text(f"/why {sunny}")
    assert "Einen Artikel #999 gibt es nicht" in await any_chat.text("/why 999")
    assert "„neun“ ist keine Artikelnummer" in await any_chat.text("/why neun")
    assert "nichts pausiert" in await any_chat.text("/why")  # the chat as a whole


async def test_why_names_a_failed_delivery_and_a_paused_subscription(
    any_chat: Chat, any_ctx: Ctx
) -> None:
    await any_chat.text("/subscribe Politik")
    failed = add(any_ctx, article(**ELECTION))
    [delivery] = any_ctx.store.claim_deliveries(["console"])
    any_ctx.store.delivery_failed(delivery.id, "Nachricht zu lang")
    assert "konnte hier nicht gepostet werden: Nachricht zu lang" in await any_chat.text(
        f"/why {failed}"
    )
    any_ctx.store.pause_chat(any_chat.chat, "der Bot wurde entfernt")
    paused = add(any_ctx, article(**WEATHER))
    assert "Abo von Politik ist pausiert, weil der Bot wurde entfernt" in await any_chat.text(
        f"/why {paused}"
    )


async def test_filters_move_with_a_chat_that_gets_a_new_id(any_ctx: Ctx) -> None:
    old, new = group(any_ctx), Chat(any_ctx, chat=ChatRef("telegram", "-100999"), is_private=False)
    await old.text("/subscribe Politik", admin=True)
    await old.text("/filter exclude Wahl", admin=True)
    any_ctx.store.migrate_chat(old.chat, new.chat)  # Telegram: a group became a supergroup
    assert "1. ohne: Wahl" in await new.text("/filter list")
    assert any_ctx.store.filters.of(old.chat) == []
    add(any_ctx, article(**ELECTION))
    assert queued(any_ctx, new) == []


async def test_a_replaced_filter_applies_to_the_next_article(any_chat: Chat, any_ctx: Ctx) -> None:
    """Fan-out keeps each chat's filters between articles: a filter removed and another added
    (the same count, on SQLite the same place) must still be seen."""
    await any_chat.text("/subscribe Politik")
    await any_chat.text("/filter exclude Wahl")
    add(any_ctx, article(**ELECTION))
    await any_chat.text("/filter remove 1")
    await any_chat.text("/filter exclude Sonne")
    election = add(any_ctx, article(**{**ELECTION, "title": "Wahl in Bayern"}))
    add(any_ctx, article(**WEATHER))
    assert queued(any_ctx, any_chat) == [election]
