"""The button table drives the codec, the checks on arrival and dispatch: a button declared in
one place works end to end, and what it declares is what is checked."""

from __future__ import annotations

import pytest

from handlers.buttons import BUTTONS, Key, Pressed, asks_chat_admin, button
from handlers.codec import DATA_PATTERN, ForgedData, decode, encode, read
from handlers.context import Ctx
from handlers.events import Button, Reply, Rich
from handlers.permissions import BOT_ADMIN, CHAT_ADMIN, MEMBER
from storage.models import ChatRef, MessageRef
from tests.conftest import Chat, add, article, vote_data

GROUP = ChatRef("telegram", "-100777")


def test_the_bots_buttons_declare_themselves() -> None:
    shape = {
        name: ([k.kind for k in spec.keys], spec.who, spec.on_post)
        for name, spec in BUTTONS.items()
    }
    assert shape == {
        "vote": (["article", "number"], MEMBER, True),
        "results": (["article"], MEMBER, True),
        "confirm": (["number", "article"], BOT_ADMIN, False),
        # A digest's entry: it posts the article, and sits on the digest, which is no post.
        "show_article": (["article"], MEMBER, False),
    }
    # Telegram asks who administers a chat only for a button that needs to know.
    assert not any(asks_chat_admin(name) for name in [*BUTTONS, "", "nope"])


def test_the_codec_follows_the_declarations() -> None:
    assert encode(Button("x", "vote", ("12", "3"))) == "nb:vote:12:3"
    assert decode("nb:vote:0012:3") == ("vote", (12, 3))
    # Discord's buttons are found by one template, whatever keys a button carries.
    assert DATA_PATTERN.fullmatch(encode(Button("x", "confirm", ("1", "7"))))
    assert read("nb:confirm:1:7") == ("confirm", (1, 7))
    for wrong in [
        Button("x", "vote", ("12",)),
        Button("x", "nope", ()),
        Button("x", "vote", ("a", "1")),
    ]:
        with pytest.raises(ValueError, match="button"):
            encode(wrong)
    for data in ["nb:vote:12", "nb:results:1:2", "nb:nope:1", "nb:vote:-1:2", "vote:1:2"]:
        with pytest.raises(ForgedData):
            decode(data)
        assert read(data) == ("", ())


async def test_a_new_button_needs_only_its_declaration(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A button for chat admins on a post: the codec makes and reads its data, the person's
    rights and the post it is pressed on are checked, and its handler gets numbers."""
    # Any value: setitem only makes sure the test's button is gone again afterwards.
    monkeypatch.setitem(BUTTONS, "pin", BUTTONS["vote"])
    seen: list[tuple[int, ...]] = []

    @button("pin", Key("article", "article"), Key("slot"), who=CHAT_ADMIN, on_post=True)
    async def press_pin(ctx: Ctx, pressed: Pressed) -> list[Reply]:
        seen.append(pressed.keys)
        return [Reply(text=Rich.of("pinned"), private=True)]

    assert asks_chat_admin("pin")
    group = Chat(ctx, chat=GROUP, is_private=False)
    first = add(ctx, article("Erster Artikel"))
    second = add(ctx, article("Zweiter Artikel"))
    post = group.post(first)
    data = encode(Button("Pin", "pin", (str(first), "2")))

    [refused] = await group.press(data, "mallory", on=post)
    assert refused.notice == "Dafür brauchst du Admin-Rechte in diesem Chat."
    [elsewhere] = await group.press(encode(Button("Pin", "pin", (str(second), "2"))), on=post)
    assert elsewhere.notice == "Dieser Knopf gehört nicht zu diesem Beitrag."
    assert seen == []
    [done] = await group.press(data, "carol", on=post, admin=True)
    assert done.text.plain() == "pinned"
    assert seen == [(first, 2)]
    [entry] = ctx.mod.audit_entries(5)
    assert (entry.action, entry.target, entry.outcome) == ("pin", f"#{first}", "refused")


def test_a_declaration_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="first key must be the article"):
        button("bad", Key("slot"), on_post=True)
    with pytest.raises(ValueError, match="unknown role"):
        button("bad", who="everyone")
    with pytest.raises(ValueError, match="a name is"):
        button("Bad-Name")
    assert "bad" not in BUTTONS


async def test_a_vote_edits_the_post_in_its_language_and_answers_in_the_pressers(
    ctx: Ctx,
) -> None:
    group = Chat(ctx, chat=GROUP, is_private=False)
    aid = add(ctx, article())
    message = MessageRef(GROUP, "m1")
    ctx.store.record_post(aid, message, 0, "de")
    [reply] = await group.press(vote_data(aid, 1), "bob", on=message, locale="en")
    assert reply.notice == "Your vote: Excellent"
    assert (reply.edit, reply.language) == (True, "de")
    assert reply.card is not None and reply.card.footer == "1 Stimme"
