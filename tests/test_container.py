"""The container's files, read as Docker reads them (no Docker engine here): the dependency
layer comes before the code, the ports are exposed, the pinned versions are used, and the
HEALTHCHECK's own command, run as the container would run it, asks a real /healthz."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, open_store
from bot.http_endpoint import HttpEndpoint
from bot.platforms.console import ConsoleAdapter
from bot.settings import load_settings
from storage.models import UserRef
from tests.test_app import Screen

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "a-long-dashboard-token-4711"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = ROOT.joinpath("Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def health_command() -> list[str]:
    (check,) = [rest for word, rest in instructions() if word == "HEALTHCHECK"]
    _, _, command = check.partition("CMD ")
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    steps = instructions()

    def first(word: str, text: str) -> int:
        return next(i for i, (w, rest) in enumerate(steps) if w == word and text in rest)

    manifest = first("COPY", "pyproject.toml")
    assert "constraints.txt" in steps[manifest][1]
    dependencies = first("RUN", "-c constraints.txt")
    code = first("COPY", "bot")
    assert manifest < dependencies < code
    assert all(w != "COPY" or "pyproject" in rest for w, rest in steps[:dependencies])
    assert first("RUN", "--no-deps .") > code
    (exposed,) = [rest.split() for word, rest in steps if word == "EXPOSE"]
    assert set(exposed) == {"8080", "8443"}


def test_constraints_pin_every_dependency() -> None:
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in ROOT.joinpath("constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    for name in ("python-telegram-bot", "discord-py", "prometheus-client", "sqlite-utils"):
        assert name in pinned or name.replace("-py", ".py") in pinned, name


@pytest.fixture
async def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    """A running App with a token-guarded endpoint on 127.0.0.1; its port."""
    monkeypatch.setenv("NEWSBOT_CONFIG", "")
    settings = load_settings(
        db=tmp_path / "bot.db", demo=False, http_listen="127.0.0.1:0", http_token=TOKEN
    )
    app = App(settings, open_store(settings))
    app.add_adapter(
        ConsoleAdapter(
            app.runtime, UserRef("console", "owner"), stdin=io.StringIO(""), stdout=Screen()
        )
    )
    await app.start()
    server = HttpEndpoint(app.runtime, app.scheduler, settings)
    await server.start()
    try:
        assert server.port is not None
        yield server.port
    finally:
        await server.stop()
        await app.shutdown()


async def run_check(port: int, **env: str) -> int:
    """The HEALTHCHECK command as the container runs it, with its environment."""
    command = health_command()
    assert command[0] == "python"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    environ |= {"NEWSBOT_HTTP_LISTEN": f"0.0.0.0:{port}", **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env=environ, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(proc.wait(), timeout=60)


async def test_the_healthcheck_asks_healthz_with_the_token(endpoint: int) -> None:
    assert await run_check(endpoint, NEWSBOT_HTTP_TOKEN=TOKEN) == 0
    assert await run_check(endpoint) != 0  # refused without the token: unhealthy
    assert await run_check(endpoint, NEWSBOT_HTTP_TOKEN="x" * 20) != 0
