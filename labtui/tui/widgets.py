"""Small widgets every screen shares: a table and a log with the TUI's movement keys, and a screen's filter box."""

from __future__ import annotations

import re
from typing import Any

from textual import events
from textual.binding import Binding, BindingType
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import DataTable, Footer, Input, Log

from labtui.tui import actions


def table_bindings(scope: actions.Scope) -> list[BindingType]:
    """DataTable's keys but enter, and the scope's (tables declare `inherit_bindings=False` and take these).

    Enter belongs to the screen (details, open the run, the host's log): so the footer shows it, and it runs after
    the keys typed before it (a priority binding would overtake a `j` still queued for the table when keys arrive
    in one burst over SSH). A click on a row still selects it (RowSelected)."""
    return [b for b in DataTable.BINDINGS if not (isinstance(b, Binding) and b.key == "enter")] + scope.bindings()


class KeyTable(DataTable[Any], inherit_bindings=False):
    """A DataTable with j/k (every table of the TUI moves the same way)."""

    BINDINGS = table_bindings(actions.TABLE)


class KeyFooter(Footer):
    """The footer of every screen: below PALETTE_HINT_WIDTH columns it leaves out the `^p palette` hint (the help
    names ctrl+p), so the screen's own keys fit 80 columns."""

    PALETTE_HINT_WIDTH = 100

    def on_resize(self, event: events.Resize) -> None:
        wanted = event.size.width >= self.PALETTE_HINT_WIDTH
        if wanted != self.show_command_palette:
            self.show_command_palette = wanted
            if self.is_attached:
                self.call_after_refresh(self.recompose)


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
