"""The layers point one way: adapters -> handlers -> storage; only storage writes SQL."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


NETWORK = {"telegram", "discord", "httpx", "aiohttp", "feedparser", "apscheduler"}


def test_storage_imports_no_other_layer_and_no_network() -> None:
    for path, names in imports("storage").items():
        assert not names & ({"bot", "handlers"} | NETWORK), path


def test_handlers_import_no_network_no_sql_and_not_the_bot() -> None:
    for path, names in imports("handlers").items():
        assert not names & ({"bot", "sqlite3", "sqlite_utils"} | NETWORK), path


def test_only_adapters_import_platform_libraries() -> None:
    for path, names in imports("bot").items():
        if names & {"telegram", "discord"}:
            assert "/platforms/" in path, path
        assert not names & {"sqlite3", "sqlite_utils"}, path


def full_imports(package: str) -> dict[str, set[str]]:
    """Every module each file imports, by its dotted name."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


# What an adapter may use of the program around it: the contract, the runtime it talks to,
# its settings and the pacing of sends. Never the wiring, the outbox worker or the store.
ADAPTER_MAY_IMPORT = {"bot.adapter_contract", "bot.runtime", "bot.settings", "bot.pacing"}


def test_adapters_only_translate() -> None:
    for path, names in full_imports("bot/platforms").items():
        for name in names:
            if name.startswith("storage"):
                # Identities and the dataclasses the core hands over, and the pure rules of how
                # a tag is written (completion compares typed tags by key); never the store.
                assert name in {"storage.models", "storage.tags"}, (path, name)
            elif name.startswith("bot.") and not name.startswith("bot.platforms"):
                assert name in ADAPTER_MAY_IMPORT, (path, name)


def test_one_platform_never_imports_another() -> None:
    for path, names in full_imports("bot/platforms").items():
        for platform in ("telegram", "discord"):
            if f"/platforms/{platform}/" not in path:
                assert not any(n.startswith(f"bot.platforms.{platform}") for n in names), path


def test_the_core_imports_no_adapter() -> None:
    """The contract sits beside the runtime: no arrow runs from the core up to an adapter."""
    found = full_imports("bot")
    for core in ("bot/runtime.py", "bot/delivery.py", "bot/adapter_contract.py"):
        assert not any(n.startswith("bot.platforms") for n in found[core]), core


def test_adapter_modules_stay_small() -> None:
    for path in (ROOT / "bot" / "platforms").rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, (path.relative_to(ROOT), lines)
