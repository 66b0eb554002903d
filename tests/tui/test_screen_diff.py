"""ScreenDiff: the terminal ends up showing exactly what Textual's own output would show, with only the
changed cells written. Random frames (ASCII, double-width glyphs, styles, partial and full updates) are
replayed on two model terminals, one fed Textual's bytes and one the diff's."""

from __future__ import annotations

import random

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from labtui.tui.screen_diff import ScreenDiff
from tests.support.vt import Screen

W, H = 40, 8
STYLES = [None, Style(bold=True), Style(color="red"), Style(color="green", bgcolor="grey23"),
          Style(reverse=True), Style(color="red", meta={"row": 3})]  # meta is not drawn
WORDS = ["web1", "●", "✔ ok", "12%", "⏵", "漢字", "-", "  ", "nas", "↺ back"]


def console() -> Console:
    return Console(color_system="256", force_terminal=True, width=W, height=H)


def random_strip(rng: random.Random, width: int) -> Strip:
    segments, used = [], 0
    while used < width:
        word = rng.choice(WORDS)
        strip_width = Strip([Segment(word)]).cell_length
        if used + strip_width > width:
            word = " " * (width - used)
            strip_width = width - used
        segments.append(Segment(word, rng.choice(STYLES)))
        used += strip_width
    return Strip(segments, width)


def layout_update(rng: random.Random) -> LayoutUpdate:
    return LayoutUpdate([[random_strip(rng, W)] for _ in range(H)], Region(0, 0, W, H))


def chops_update(rng: random.Random, cuts: list[int]) -> ChopsUpdate:
    """Some lines repainted in chops between `cuts`, each span a random part of its line."""
    chops: list[dict[int, Strip | None]] = []
    spans = []
    for y in range(H):
        line: dict[int, Strip | None] = dict.fromkeys(cuts[:-1])
        if rng.random() < 0.5:
            for start, end in zip(cuts, cuts[1:], strict=False):
                line[start] = random_strip(rng, end - start)
            x1 = rng.randrange(0, W - 1)
            spans.append((y, x1, rng.randrange(x1 + 1, W + 1)))
        chops.append(line)
    if not spans:
        spans.append((0, 0, W))
        chops[0] = {start: random_strip(rng, end - start) for start, end in zip(cuts, cuts[1:], strict=False)}
    return ChopsUpdate(chops, spans, [cuts[1:] for _ in range(H)])


@pytest.mark.parametrize("seed", range(8))
def test_the_terminal_shows_what_textual_would_have_shown(seed):
    rng = random.Random(seed)
    con = console()
    reference, diffed = Screen(W, H), Screen(W, H)
    diff = ScreenDiff()
    cuts = [0, 7, 19, 30, W]
    textual_bytes = diff_bytes = 0
    for step in range(60):
        update = layout_update(rng) if step % 10 == 0 else chops_update(rng, cuts)
        full = update.render_segments(con)
        reference.feed(full)
        reduced = diff.reduce(update, (W, H), (0, 0), con._color_system)
        if reduced is not None:
            out = reduced.render_segments(con)
            diffed.feed(out)
            diff_bytes += len(out.encode())
        textual_bytes += len(full.encode())
        assert diffed.cells == reference.cells, f"seed {seed}, step {step}"
    assert diff_bytes < textual_bytes


def test_an_update_that_changes_nothing_writes_nothing():
    rng = random.Random(1)
    con = console()
    diff = ScreenDiff()
    update = layout_update(rng)
    assert diff.reduce(update, (W, H), (0, 0), con._color_system) is not None
    assert diff.reduce(update, (W, H), (0, 0), con._color_system) is None
    # ...unless the cursor moved: then only the cursor is written (by Textual, after the update).
    moved = diff.reduce(update, (W, H), (3, 2), con._color_system)
    assert moved is not None and moved.render_segments(con) == ""


def test_one_changed_cell_is_sent_alone():
    con = console()
    diff = ScreenDiff()
    line = [Segment("web1  ", None), Segment("12%", Style(color="red")), Segment(" " * (W - 9))]
    first = LayoutUpdate([[Strip(line)] for _ in range(H)], Region(0, 0, W, H))
    diff.reduce(first, (W, H), (0, 0), con._color_system)
    changed = list(line)
    changed[1] = Segment("13%", Style(color="red"))
    second = LayoutUpdate([[Strip(changed)] if y == 4 else [Strip(line)] for y in range(H)], Region(0, 0, W, H))
    reduced = diff.reduce(second, (W, H), (0, 0), con._color_system)
    assert reduced is not None
    assert reduced.render_segments(con) == "\x1b[5;8H\x1b[31m3\x1b[0m"


def test_a_new_size_or_invalidate_sends_everything_again():
    rng = random.Random(2)
    con = console()
    diff = ScreenDiff()
    update = layout_update(rng)
    diff.reduce(update, (W, H), (0, 0), con._color_system)
    diff.invalidate()
    again = diff.reduce(update, (W, H), (0, 0), con._color_system)
    assert again is not None and diff.cells_sent == 2 * W * H
