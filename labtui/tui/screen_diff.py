"""Only changed cells reach the terminal.

Textual sends every region a widget repaints in full: a table whose one cell changed is sent whole,
a status line re-rendered with the same text is sent again. Over a thin SSH link that is most of the
traffic. `ScreenDiff` keeps what the terminal shows (one character and one rendered style per cell)
and turns each of Textual's compositor updates into cursor moves and the runs of cells that differ,
in the bytes Textual itself would have written for them (its `Strip.render_style`). An update that
changes nothing writes nothing.

The model is reset (everything counts as changed) when the size changes or the app resumes from a
suspend (the terminal may show anything then); `invalidate()` does it on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rich.cells import get_character_cell_size
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.strip import Strip

# Unchanged cells between two changed ones are sent again when that is shorter than moving the cursor
# past them (a move is 6-8 bytes, a cell 1-4 plus the style around it).
GAP = 6
CONTINUATION = ""  # the second cell of a double-width character
UNKNOWN = None  # a cell whose content the terminal may show differently (before the first frame)


class DiffUpdate(CompositorUpdate):
    """What is left of a compositor update once unchanged cells are taken out: already rendered."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render_segments(self, console: Console) -> str:
        return self.text


def _pieces(update: CompositorUpdate) -> Iterator[tuple[int, int, Strip]] | None:
    """(y, x, strip) in the order Textual's `render_segments` writes them; None: an update kind this
    module does not know (it is then written as it is)."""
    if isinstance(update, LayoutUpdate):
        return _layout_pieces(update)
    if isinstance(update, ChopsUpdate):
        return _chops_pieces(update)
    return None


def _layout_pieces(update: LayoutUpdate) -> Iterator[tuple[int, int, Strip]]:
    for y, line in enumerate(update.strips, update.region.y):
        x = update.region.x
        for strip in line:
            yield y, x, strip
            x += strip.cell_length


def _chops_pieces(update: ChopsUpdate) -> Iterator[tuple[int, int, Strip]]:
    # The same walk as ChopsUpdate.render_segments (Textual 8.2).
    for y, x1, x2 in update.spans:
        line = update.chops[y]
        ends = update.chop_ends[y]
        for end, (x, strip) in zip(ends, line.items(), strict=False):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                yield y, x, strip
            else:
                yield y, x, strip.crop(0, min(end, x2) - x)


class ScreenDiff:
    """The terminal's cells as last written, and the diff of each new update against them."""

    def __init__(self) -> None:
        self.width = 0
        self.height = 0
        self._chars: list[list[str | None]] = []
        self._styles: list[list[str | None]] = []  # rendered SGR (and link) per cell
        self._cursor: tuple[int, int] | None = None
        self.cells_sent = 0  # statistics for the benchmarks and tests
        self.updates_skipped = 0

    def invalidate(self) -> None:
        """Forget what the terminal shows: the next update is sent in full."""
        self._chars = [[UNKNOWN] * self.width for _ in range(self.height)]
        self._styles = [[UNKNOWN] * self.width for _ in range(self.height)]
        self._cursor = None

    def _fit(self, width: int, height: int) -> None:
        if (width, height) != (self.width, self.height):
            self.width, self.height = width, height
            self.invalidate()

    def reduce(self, update: CompositorUpdate, size: tuple[int, int], cursor: tuple[int, int],
               color_system: ColorSystem) -> CompositorUpdate | None:
        """The part of `update` that changes the terminal (None: nothing to write). `size` is the
        screen's, `cursor` where Textual leaves the cursor after the update."""
        self._fit(*size)
        pieces = _pieces(update)
        if pieces is None:
            self.invalidate()
            return update
        new_chars: dict[int, list[str | None]] = {}
        new_styles: dict[int, list[str | None]] = {}
        for y, x, strip in pieces:
            if not 0 <= y < self.height:
                continue
            if y not in new_chars:
                new_chars[y] = self._chars[y].copy()
                new_styles[y] = self._styles[y].copy()
            if not _paint(new_chars[y], new_styles[y], x, strip, color_system):
                self.invalidate()  # something this model cannot follow (control codes): send as is
                return update
        out: list[str] = []
        for y in sorted(new_chars):
            self._emit_line(y, new_chars[y], new_styles[y], out)
        if not out and cursor == self._cursor:
            self.updates_skipped += 1
            return None
        self._cursor = cursor
        return DiffUpdate("".join(out))

    def _emit_line(self, y: int, chars: list[str | None], styles: list[str | None], out: list[str]) -> None:
        old_chars, old_styles = self._chars[y], self._styles[y]
        if chars == old_chars and styles == old_styles:
            return
        changed = [i for i, (a, b, c, d) in enumerate(zip(old_chars, chars, old_styles, styles, strict=True))
                   if a != b or c != d]
        self._chars[y], self._styles[y] = chars, styles
        for start, end in _runs(changed, chars, old_chars):
            out.append(f"\x1b[{y + 1};{start + 1}H")
            out.append(_render(chars, styles, start, end))
            self.cells_sent += end - start


def _paint(chars: list[str | None], styles: list[str | None], x: int, strip: Strip,
           color_system: ColorSystem) -> bool:
    """Write a strip's segments into one line's cells from column x; False on a control segment."""
    width = len(chars)
    for text, style, control in strip:
        if control:
            return False
        if not text:
            continue
        key = _style_key(style, color_system)
        if text.isascii():
            n = len(text)
            if x + n > width:
                text = text[: max(0, width - x)]
                n = len(text)
            _orphan_halves(chars, styles, x, x + n)
            chars[x:x + n] = text
            styles[x:x + n] = [key] * n
            x += n
            continue
        for ch in text:
            size = get_character_cell_size(ch)
            if size == 0:
                if x > 0 and chars[x - 1]:
                    chars[x - 1] = f"{chars[x - 1]}{ch}"
                continue
            if x + size > width:
                break
            _orphan_halves(chars, styles, x, x + size)
            chars[x] = ch
            styles[x] = key
            if size == 2:
                chars[x + 1] = CONTINUATION
                styles[x + 1] = key
            x += size
    return True


def _orphan_halves(chars: list[str | None], styles: list[str | None], start: int, end: int) -> None:
    """Writing cells [start, end) over half of a double-width character blanks its other half, as
    terminals do."""
    if start > 0 and chars[start] == CONTINUATION:
        chars[start - 1], styles[start - 1] = " ", ""
    if end < len(chars) and chars[end] == CONTINUATION:
        chars[end], styles[end] = " ", ""


def _style_key(style: Style | None, color_system: ColorSystem) -> str:
    """What the terminal sees of a style: its SGR parameters (and link). Metadata (which row or
    column a cell belongs to) is not drawn and is left out."""
    if style is None:
        return ""
    ansi = style._ansi if style._ansi is not None else Strip.render_ansi(style, color_system)
    return f"{ansi}\0{style._link}" if style._link else ansi


def _runs(changed: Iterable[int], chars: list[str | None], old: list[str | None]) -> Iterator[tuple[int, int]]:
    """Changed columns -> [start, end) runs, joined across small gaps and widened so that no run
    starts or ends inside a double-width character (old or new)."""
    width = len(chars)
    start = end = -1
    for i in changed:
        if start < 0:
            start, end = i, i + 1
        elif i - end <= GAP:
            end = i + 1
        else:
            yield _widen(start, end, chars, old, width)
            start, end = i, i + 1
    if start >= 0:
        yield _widen(start, end, chars, old, width)


def _widen(start: int, end: int, chars: list[str | None], old: list[str | None], width: int) -> tuple[int, int]:
    while start > 0 and (chars[start] == CONTINUATION or old[start] == CONTINUATION):
        start -= 1
    while end < width and (chars[end] == CONTINUATION or old[end] == CONTINUATION):
        end += 1
    return start, end


def _render(chars: list[str | None], styles: list[str | None], start: int, end: int) -> str:
    """Cells [start, end) as Textual renders a segment: `ESC[<sgr>m text ESC[0m` per style run."""
    parts: list[str] = []
    run: list[str] = []
    key = styles[start]
    for i in range(start, end):
        ch = chars[i]
        if ch == CONTINUATION:
            continue
        if styles[i] != key:
            parts.append(_styled("".join(run), key))
            run, key = [], styles[i]
        run.append(ch if ch is not None else " ")
    parts.append(_styled("".join(run), key))
    return "".join(parts)


def _styled(text: str, key: str | None) -> str:
    if not text or not key:
        return text
    ansi, _, link = key.partition("\0")
    output = f"\x1b[{ansi}m{text}\x1b[0m" if ansi else text
    if link:
        output = f"\x1b]8;id={abs(hash(link))};{link}\x1b\\{output}\x1b]8;;\x1b\\"
    return output
