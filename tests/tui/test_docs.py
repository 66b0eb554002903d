"""docs/tui.md describes every key of every screen and every `:` command (issue 12, point 15): it is read from the
same table the keys, the footer and the help come from, so a key added without its line fails here."""

from __future__ import annotations

from pathlib import Path

from labtui.tui import actions
from labtui.tui.command_line import VERBS

DOC = Path(__file__).resolve().parents[2] / "docs" / "tui.md"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _documented(key: str, keys_doc: str) -> bool:
    if len(key) == 1:
        return f"`{key}`" in keys_doc
    return key.lower() in keys_doc.lower()


def test_every_key_of_every_screen_is_in_the_docs():
    keys_doc = _section(DOC.read_text(encoding="utf-8"), "Keys")
    missing = []
    for scope in actions.HELP_SCOPES:
        for action in scope.actions:
            if not action.keys:
                continue
            for key in action.shown_keys().split():
                if not _documented(key, keys_doc):
                    missing.append(f"{scope.title}: {key} ({action.help or action.label})")
    assert not missing, missing


def test_every_command_of_the_command_line_is_in_the_docs():
    doc = _section(DOC.read_text(encoding="utf-8"), "The `:` command line")
    for verb in VERBS:
        assert f"`{verb.example or verb.name}" in doc or f"`{verb.name} " in doc, verb.name
        for alias in verb.aliases:
            assert f"`{alias}`" in doc, alias


def test_rollback_reboot_and_diff_from_the_tui_are_in_the_docs():
    doc = _section(DOC.read_text(encoding="utf-8"), "Rollback, reboot and diff from the TUI")
    for what in ("**Rollback**", "**Reboot**", "**Diff**", "critical host's name must be typed", "labtui history"):
        assert what in doc, what
