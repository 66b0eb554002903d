"""Small widgets every screen shares: a table and a log with the TUI's movement keys, and a screen's filter box."""

from __future__ import annotations

import re
from typing import Any

from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import DataTable, Input, Log

from labtui.tui import actions


class KeyTable(DataTable[Any]):
    """A DataTable with j/k (every table of the TUI moves the same way)."""

    BINDINGS = actions.TABLE.bindings()


class KeyLog(Log):
    """A Log with j/k scrolling."""

    BINDINGS = actions.TEXT_KEYS.bindings()


class ViewFilter(Input):
    """The filter box of a text view or the command log: hidden until `/`, docked above the footer."""

    def __init__(self, placeholder: str = "filter: a regex, any case  (enter: keep, esc: close)") -> None:
        super().__init__(placeholder=placeholder, classes="view-filter")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, value: str) -> None:
        self.value = value
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        self.remove_class("-open")


class AsciiScrollBarRender(ScrollBarRender):
    """Scrollbars of whole cells, no block glyphs (--ascii): the thumb is reverse video."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8


def use_ascii_scrollbars(ascii_mode: bool) -> None:
    """Every scrollbar drawn from now on (Textual keeps the renderer on the ScrollBar class)."""
    ScrollBar.renderer = AsciiScrollBarRender if ascii_mode else ScrollBarRender


def line_matcher(text: str) -> re.Pattern[str] | None:
    """What a filter box's text matches: a regex, any case; text that is no valid regex matches literally."""
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)
