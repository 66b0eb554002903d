"""Colour: --color=auto|always|never, NO_COLOR only when set and not empty (https://no-color.org)."""

from __future__ import annotations

import io
import os

import pytest

from labtui.cli import common
from labtui.cli.main import build_parser


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _auto():
    common.set_color_mode("auto")
    yield
    common.set_color_mode("auto")


@pytest.mark.parametrize(("no_color", "tty", "expected"), [
    (None, True, True), ("", True, True), ("1", True, False), ("0", True, False), (None, False, False)])
def test_auto_follows_the_terminal_and_a_non_empty_no_color(monkeypatch, no_color, tty, expected):
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert common.use_color(Terminal() if tty else io.StringIO()) is expected


def test_always_and_never_win_over_everything(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    common.set_color_mode("always")
    assert common.use_color(io.StringIO()) is True
    monkeypatch.delenv("NO_COLOR")
    common.set_color_mode("never")
    assert common.use_color(Terminal()) is False


@pytest.mark.parametrize(("mode", "no_color", "after"), [
    ("auto", "", None), ("auto", "1", "1"), ("never", None, "1"), ("always", "1", None), ("auto", None, None)])
def test_the_tui_sees_what_labtui_decided(monkeypatch, mode, no_color, after):
    """Textual goes monochrome on any NO_COLOR, even empty: the environment is set to labtui's decision."""
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    common.set_color_mode(mode)
    common.prepare_tui_colors()
    assert os.environ.get("NO_COLOR") == after


def test_color_is_taken_before_and_after_the_verb():
    parser, _ = build_parser("history")
    assert parser.parse_args(["--color", "never", "history"]).color == "never"
    assert parser.parse_args(["history", "--color=always"]).color == "always"
    assert parser.parse_args(["history"]).color == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["--color", "sometimes", "history"])
