"""The layers point one way: adapters -> handlers -> storage; only storage writes SQL."""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import importlib
import inspect
import pkgutil
import types
import typing
from collections.abc import Callable
from pathlib import Path

import storage

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


# -- what leaves storage: dataclasses, never tuples or dicts (house rule 3) -----------------

# A record passed as a bare tuple or dict loses its field names on the way out; a homogeneous
# `tuple[X, ...]` is only an immutable sequence and stays allowed.
_RECORD_LIKE = {dict, collections.abc.Mapping, collections.abc.MutableMapping}


def _records_in(hint: object) -> list[str]:
    """The tuple records, dicts and mappings anywhere inside a type hint."""
    if isinstance(hint, list):  # the parameter list of a Callable
        return [found for item in hint for found in _records_in(item)]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is tuple or hint in _RECORD_LIKE or origin in _RECORD_LIKE:
        return [str(hint)]
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return [str(hint)]
    return [found for arg in args if arg is not Ellipsis for found in _records_in(arg)]


def _storage_modules() -> list[types.ModuleType]:
    return [
        importlib.import_module(f"storage.{info.name}")
        for info in pkgutil.iter_modules(storage.__path__)
    ]


def _public_functions(cls: type) -> dict[str, Callable[..., object]]:
    found: dict[str, Callable[..., object]] = {}
    for name, member in vars(cls).items():
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if not name.startswith("_") and inspect.isfunction(member):
            found[f"{cls.__module__}.{cls.__qualname__}.{name}"] = member
    return found


def _imported_from_storage(package: str) -> set[tuple[str, str]]:
    """(module, name) of everything a package imports from storage, also inside functions."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("storage."):
                found |= {(node.module or "", alias.name) for alias in node.names}
    return found


def test_storage_hands_out_dataclasses_not_tuples_or_dicts() -> None:
    """Every public method of every storage class (the Store front, Moderation, Search, the
    inbox...), every storage function the core imports, and every field of a storage
    dataclass: a return type naming a tuple record, a dict or a Mapping fails."""
    modules = _storage_modules()
    # Annotations name types some modules import only for type checking (Store).
    names = {k: v for module in modules for k, v in vars(module).items() if inspect.isclass(v)}
    checked: dict[str, Callable[..., object]] = {}
    for module in modules:
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                checked |= _public_functions(cls)
    for package in ("bot", "handlers"):
        for module_name, name in _imported_from_storage(package):
            member = getattr(importlib.import_module(module_name), name)
            if inspect.isfunction(member):
                checked[f"{module_name}.{name}"] = member
    assert "storage.store.Store.subscribe" in checked and len(checked) > 100
    leaks = {
        qualname: found
        for qualname, function in checked.items()
        if (found := _records_in(typing.get_type_hints(function, localns=names).get("return")))
    }
    for module in modules:
        for cls in vars(module).values():
            if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                hints = typing.get_type_hints(cls, localns=names)
                for field in dataclasses.fields(cls):
                    if found := _records_in(hints[field.name]):
                        leaks[f"{module.__name__}.{cls.__qualname__}.{field.name}"] = found
    assert not leaks, leaks
