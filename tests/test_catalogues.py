"""The German and English catalogues carry the same messages with the same placeholders."""

from __future__ import annotations

import ast
from pathlib import Path

from handlers.i18n import catalogue, placeholders
from storage.faults import Fault

ROOT = Path(__file__).resolve().parent.parent


def test_same_keys_and_placeholders() -> None:
    de, en = catalogue("de"), catalogue("en")
    assert set(de) == set(en)
    for key in de:
        assert placeholders(de[key]) == placeholders(en[key]), key


def test_every_key_used_in_code_exists() -> None:
    """Literal keys passed to t() or UserError() must be in the catalogue."""
    known = set(catalogue("de"))
    missing = []
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", ""))
                in {"t", "tn", "UserError"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value not in known
            ):
                missing.append(f"{path.name}: {node.args[0].value}")
    assert missing == []


def test_every_storage_fault_has_its_line() -> None:
    for language in ("de", "en"):
        lines = catalogue(language)
        assert all(f"storage.{fault.value}" in lines for fault in Fault), language
