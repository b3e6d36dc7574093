"""The German and English catalogues carry the same messages with the same placeholders, and
every message about a count has gettext plural forms in both."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import handlers.dispatch  # noqa: F401  (registers every command)
from handlers.i18n import catalogue, placeholders, plural_catalogue, t
from handlers.registry import COMMANDS
from storage.faults import Fault

ROOT = Path(__file__).resolve().parent.parent
PO_FILES = sorted(ROOT.glob("handlers/locales/*/LC_MESSAGES/*.po"))


def test_same_keys_and_placeholders() -> None:
    de, en = catalogue("de"), catalogue("en")
    assert set(de) == set(en)
    for key in de:
        assert placeholders(de[key]) == placeholders(en[key]), key
    assert set(plural_catalogue("de")) == set(plural_catalogue("en"))


def test_every_message_about_a_count_has_plural_forms_in_both_languages() -> None:
    """A {count} beside a noun needs the noun's plural form: "1 vote", "2 votes". So every
    message with a count is a gettext plural message (msgid_plural) with both forms; the
    one-form may say "the newest entry" without the number, every other form shows it."""
    for language in ("de", "en"):
        singular_with_count = [
            k for k, v in catalogue(language).items() if "count" in placeholders(v)
        ]
        assert singular_with_count == [], language
        for key, forms in plural_catalogue(language).items():
            assert len(forms) == 2, (language, key)
            assert "count" in placeholders(forms[-1]), (language, key)
            other = placeholders(plural_catalogue("de")[key][-1])
            for form in forms:
                assert placeholders(form) - {"count"} == other - {"count"}, (language, key)


def test_no_message_is_picked_by_a_key_suffix() -> None:
    """Plural forms come from gettext, never from a `key.one` message beside the key."""
    for language in ("de", "en"):
        keys = [*catalogue(language), *plural_catalogue(language)]
        assert not [k for k in keys if k.endswith((".one", ".other", ".few", ".many"))]
    for path in PO_FILES:
        assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in path.read_text("utf-8")


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("de", 1, "1 Stimme"),
        ("de", 0, "0 Stimmen"),
        ("de", 2, "2 Stimmen"),
        ("en", 1, "1 vote"),
        ("en", 21, "21 votes"),
    ],
)
def test_the_form_follows_the_count(language: str, count: int, expected: str) -> None:
    assert t("post.total", language, count=count) == expected


def test_every_key_used_in_code_exists() -> None:
    """Literal keys passed to t() or UserError() must be in the catalogue; tn() keys must be
    messages about a count."""
    known = set(catalogue("de")) | set(plural_catalogue("de"))
    missing = []
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            key = node.args[0].value
            if name in {"t", "UserError"} and key not in known:
                missing.append(f"{path.name}: {key}")
            if name == "tn" and key not in plural_catalogue("de"):
                missing.append(f"{path.name}: {key} (not a plural message)")
    assert missing == []


def test_every_usage_placeholder_is_translated() -> None:
    """/help and usage lines name each parameter in the chat's language (WORDS, WÖRTER)."""
    for language in ("de", "en"):
        lines = catalogue(language)
        for spec in COMMANDS.values():
            for param in spec.params:
                assert f"usage.{param.name}" in lines, (language, spec.name, param.name)


def test_every_storage_fault_has_its_line() -> None:
    for language in ("de", "en"):
        lines = catalogue(language)
        assert all(f"storage.{fault.value}" in lines for fault in Fault), language
