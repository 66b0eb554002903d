"""A filter letter and what it selects reach the terminal in one frame (labtui.tui.widgets.FilterBox).

Before, the rows a letter selected came a frame after its echo (Input.Changed is a message, handled after the
frame that showed the letter was due): some 30 ms more per letter over SSH. Each frame the compositor hands to
the terminal is recorded here, as the lines it writes."""

from __future__ import annotations

from typing import Any

from textual._compositor import ChopsUpdate, LayoutUpdate

from labtui.tui.widgets import FilterBox
from tests.support.frozen import frozen_app
from tests.tui.test_flows import SIZE, _settle, _table


def written_lines(update: Any) -> dict[int, str]:
    """Screen line -> the text a compositor update writes on it."""
    if isinstance(update, LayoutUpdate):
        return {update.region.y + i: "".join(s.text for s in strip) for i, strip in enumerate(update.strips)}
    if isinstance(update, ChopsUpdate):
        spans: dict[int, str] = {}
        for y, x1, x2 in update.spans:
            pieces = [strip for x, strip in sorted(update.chops[y].items()) if strip is not None and x1 <= x < x2]
            spans[y] = spans.get(y, "") + "".join(s.text for strip in pieces for s in strip)
        return spans
    return {}


def record_frames(app: Any) -> list[dict[int, str]]:
    frames: list[dict[int, str]] = []
    display = app._display

    def recorded(screen: Any, update: Any) -> None:
        frames.append(written_lines(update))
        display(screen, update)

    app._display = recorded
    return frames


async def test_the_letter_typed_and_the_rows_it_selects_are_one_frame(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await pilot.press("slash")
        await _settle(app, pilot)
        box = app.screen.query_one("#filter", FilterBox)
        frames = record_frames(app)
        await pilot.press("p")
        await _settle(app, pilot)
        selected = [name for name in app.fleet.shown]
        assert 0 < len(selected) < len(app.fleet.hosts)  # the letter selects some hosts, not all
        echoed = [f for f in frames if box.region.y in f]
        assert echoed, "the typed letter was never written"
        first = echoed[0]
        assert "filter p (" in first[0], first  # the header says so in the frame that echoes the letter
        rows = "\n".join(first.get(y, "") for y in range(_table(app).region.y, _table(app).region.bottom))
        assert selected[0] in rows  # and the rows it selects are drawn in it too


async def test_a_filter_narrowing_the_table_draws_what_datatable_would(tmp_path):
    from textual.widgets import DataTable

    from tests.tui.test_host_table import drawn

    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        for typed in ("slash", "p", "backspace", "r", "escape"):
            await pilot.press(typed)
            await _settle(app, pilot)
            assert [table.coordinate_to_cell_key((row, 0)).row_key.value for row in range(table.row_count)] \
                == app.fleet.shown
            for row in range(table.row_count):
                for column in range(len(table.columns)):
                    width = table.ordered_columns[column].get_render_width(table)
                    table._cell_render_cache.clear()
                    ours = table._render_cell(row, column, table.rich_style, width)
                    table._cell_render_cache.clear()
                    theirs = DataTable._render_cell(table, row, column, table.rich_style, width)
                    assert drawn(ours) == drawn(theirs), (typed, row, column)
