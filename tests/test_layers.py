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
