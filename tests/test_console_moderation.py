"""The role matrix on the terminal adapter: each moderation command by owner, bot admin,
member, banned and muted person gives the expected answer and audit row."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.ingest import store_article
from bot.platforms.console import ConsoleAdapter
from bot.settings import load_settings
from storage.models import UserRef
from tests.conftest import article

ROLES = ("owner", "bot_admin", "member", "banned", "muted")
# command -> roles that may run it in the terminal (a private chat: bot-wide scope)
MATRIX = {
    "/ban @target spam": {"owner", "bot_admin"},
    "/mute @target 1h": {"owner", "bot_admin"},
    "/warn @target": {"owner", "bot_admin"},
    "/remove 1": {"owner", "bot_admin"},
    "/closepoll 1": {"owner", "bot_admin"},
    "/stats": {"owner", "bot_admin"},
    "/audit": {"owner", "bot_admin"},
    "/admin add @target": {"owner"},
}
DENIED = {
    "member": ("Admin-Rechte", "Betreiber"),
    "bot_admin": ("Betreiber",),
    "banned": ("Du bist gesperrt",),
    "muted": ("Du bist stummgeschaltet",),
}


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(db=tmp_path / "bot.db", demo=False)
    app = App(settings, open_store(settings))
    store_article(app.store, settings.core_config(), article())
    mod = app.runtime.ctx.mod
    for name in ("owner", "bot_admin", "member", "banned", "muted", "target"):
        mod.seen(UserRef("console", name, name, name))
    mod.grant_admin(UserRef("console", "bot_admin"), "console:owner")
    mod.ban(UserRef("console", "banned"), "*", "test", "console:owner")
    mod.mute(
        UserRef("console", "muted"),
        "*",
        app.store.now().replace(year=app.store.now().year + 1),
        "test",
        "console:owner",
    )
    return app


async def say(app: App, user: str, line: str) -> str:
    screen = io.StringIO()
    console = ConsoleAdapter(
        app.runtime,
        UserRef("console", user, user, user),
        stdin=io.StringIO(""),
        stdout=screen,
        interactive=False,
    )
    await console.handle_line(line)
    return screen.getvalue()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("line", list(MATRIX))
async def test_role_matrix(app: App, role: str, line: str) -> None:
    before = len(app.runtime.ctx.mod.audit_entries(1000))
    out = await say(app, role, line)
    entries = app.runtime.ctx.mod.audit_entries(1000)
    new = entries[: len(entries) - before]
    if role in MATRIX[line]:
        assert not any(word in out for words in DENIED.values() for word in words), out
        if line not in {"/stats", "/audit"}:  # reading changes nothing and is not logged
            assert new, "an allowed action is audited"
            assert new[-1].actor == f"console:{role}" and new[-1].outcome != "refused"
    else:
        assert any(word in out for word in DENIED[role]), out
        if role in {"member", "bot_admin"}:
            # A refused attempt is one audit row; banned and muted people are ignored.
            assert [(e.actor, e.outcome) for e in new] == [(f"console:{role}", "refused")]
        else:
            assert new == []
        poll = app.store.get_poll(1)
        assert poll is not None and not poll.closed
        assert app.store.get_article(1, include_removed=False) is not None
