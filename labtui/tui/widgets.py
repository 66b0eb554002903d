"""Small widgets every screen shares: a table and a log with the TUI's movement keys, and a screen's filter box."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Self

from textual import events
from textual.binding import Binding, BindingType
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Log

from labtui.tui import actions
from labtui.tui.format import wrap_line


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
    """A Log with j/k scrolling that can wrap its long lines (`wrap`; the screens' `w`).

    It keeps the lines written (up to max_lines) and shows each as one row, or, wrapped, as rows of its width
    (labtui.tui.format.wrap_line), rebuilt when the width changes. Write whole lines (`write_lines`)."""

    BINDINGS = actions.TEXT_KEYS.bindings()

    def __init__(self, *args: Any, wrap: bool = False, **kwargs: Any) -> None:
        self._written: deque[str] = deque()  # before Log's own init: it may clear()
        self._wrap = wrap
        self._wrapped_at = 0  # the width the rows were wrapped at
        super().__init__(*args, **kwargs)
        self._written = deque(maxlen=self.max_lines)

    @property
    def wrap(self) -> bool:
        return self._wrap

    def set_wrap(self, wrap: bool) -> None:
        if wrap != self._wrap:
            self._wrap = wrap
            self._rebuild()

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        lines = [row for line in lines for row in line.splitlines()]
        self._written.extend(lines)
        return super().write_lines(self._rows(lines), scroll_end)

    def clear(self) -> Self:
        self._written.clear()
        return super().clear()

    def _wrap_width(self) -> int:
        """Room for a row: the width less the vertical scrollbar's, shown or not (so rows need no rewrap when it
        comes)."""
        return max(0, self.size.width - self.styles.scrollbar_size_vertical)

    def _rows(self, lines: list[str]) -> list[str]:
        if not self._wrap:
            return lines
        width = self._wrapped_at = self._wrap_width()
        return [row for line in lines for row in wrap_line(line, width)]

    def _rebuild(self) -> None:
        """Every line again, as rows of the current width; the view stays at the end, or about where it was."""
        at_end = self.is_vertical_scroll_end
        before = max(1, self.line_count)
        where = self.scroll_y / before
        super().clear()
        super().write_lines(self._rows(list(self._written)), scroll_end=False)
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(x=0, y=round(where * self.line_count), animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        if self._wrap and self._wrap_width() != self._wrapped_at:
            self._rebuild()


def toggle_wrap(log: KeyLog) -> None:
    """`w` in a view with a log: wrap its long lines or not; the next log view opens the same way."""
    log.set_wrap(not log.wrap)
    log.app.wrap_lines = log.wrap  # type: ignore[attr-defined]


def wrap_wanted(widget: Widget) -> bool:
    """Whether a new log view wraps: as the operator left the last one (no wrap at first)."""
    return bool(getattr(widget.app, "wrap_lines", False))


class FilterBox(Input):
    """A filter's text box whose every change reaches `on_change` at once, while the typed key is handled: the
    letter and what it selects are drawn in the same frame.

    Input.Changed is a message: it reached its handler after the frame that echoed the letter was already due,
    and what the letter selected waited for the next frame (Textual draws at most 60 a second, and the first
    after a pause comes late: 30 ms more per letter over SSH)."""

    def __init__(self, on_change: Callable[[str], None], placeholder: str, **kwargs: Any) -> None:
        super().__init__(placeholder=placeholder, **kwargs)
        self._on_change = on_change

    def watch_value(self, value: str) -> None:
        self._on_change(value)


class ViewFilter(FilterBox):
    """The filter box of a text view or the command log: hidden until `/`, docked above the footer."""

    def __init__(self, on_change: Callable[[str], None],
                 placeholder: str = "filter: a regex, any case  (enter: keep, esc: close)") -> None:
        super().__init__(on_change, placeholder, classes="view-filter")

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
