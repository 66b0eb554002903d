"""The host table's own rendering shortcuts draw what DataTable itself would (labtui.tui.dashboard.HostTable):
cells reused by what they show, column widths from the text shown; a click still lands on the row clicked."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.support.frozen import frozen_app
from tests.tui.test_flows import SIZE, _settle, _table


def drawn(lines):
    return [[(s.text, s.style, s.control) for s in line] for line in lines]


async def test_cells_draw_what_datatable_would_draw_after_each_sort(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        checked = 0
        for _ in range(4):
            for row in range(table.row_count):
                for column in range(len(table.columns)):
                    width = table.ordered_columns[column].get_render_width(table)
                    for cursor, hover in ((False, False), (True, False), (False, True), (True, True)):
                        table._cell_render_cache.clear()
                        ours = table._render_cell(row, column, table.rich_style, width, cursor, hover)
                        table._cell_render_cache.clear()
                        theirs = DataTable._render_cell(table, row, column, table.rich_style, width, cursor, hover)
                        assert drawn(ours) == drawn(theirs), (row, column, cursor, hover)
                        checked += 1
            await pilot.press("s")  # the next sort key: rows move, the same looks are reused
            await _settle(app, pilot)
        assert checked == 4 * 7 * 12 * 4


async def test_column_widths_fit_what_the_cells_show(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        for column in table.ordered_columns:
            widths = [len(str(table.get_cell(name, column.key.value))) for name in app.fleet.shown]
            assert column.content_width == max(widths + [len(str(column.label))]), column.key


async def test_a_click_after_a_sort_lands_on_the_row_clicked(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        table = _table(app)
        await pilot.press("s", "s")  # sorted by load: the rows are in another order than by name
        await _settle(app, pilot)
        shown = app.fleet.shown
        assert shown != sorted(shown)
        await pilot.click(table, offset=(8, 1 + 4))  # below the header, the fifth row
        await _settle(app, pilot)
        assert table.current == shown[4]
