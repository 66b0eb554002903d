"""The TUI on plain terminals: NO_COLOR, 16 colours, ASCII (issue 12, points 10 and 11)."""

from __future__ import annotations

from rich.style import Style

from labtui.cli.main import build_parser
from labtui.tui.dashboard import HostTable
from labtui.tui.screens import HelpScreen
from tests.support.frozen import frozen_app
from tests.tui.test_flows import _settle

SMALL = (80, 24)
BLOCKS = "▁▂▃▄▅▆▇▉▊▋▌▍▎▏█"


def _style(cell) -> Style:
    return Style.parse(str(cell.style)) if cell.style else Style()


async def test_without_colour_weight_carries_the_marks(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = frozen_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        table = app.query_one("#hosts", HostTable)
        for host, key in (("nas", "fail"), ("nas", "disk")):  # 1 failed unit, /nix 91% full: errors
            style = _style(table.get_cell(host, key))
            assert style.reverse and style.bold and style.color is None, (host, key)
        down = table.get_cell("old-thinkpad", "st")  # ✖ down
        assert any(Style.parse(str(span.style)).reverse for span in down.spans)
        critical = table.get_cell("reverse-proxy", "name")
        assert any(Style.parse(str(span.style)).reverse for span in critical.spans)  # the critical `!`
        degraded = table.get_cell("nas", "st")
        assert any(Style.parse(str(span.style)).bold for span in degraded.spans)
        for row in app.fleet.shown:  # no mark left to a colour (Textual draws colours as greys, some nearly the bg)
            for key in ("st", "name", "load", "mem", "disk", "drift", "boot", "fail", "last", "age"):
                cell = table.get_cell(row, key)
                styles = [_style(cell)] + ([Style.parse(str(s.style)) for s in cell.spans] if hasattr(cell, "spans")
                                           else [])
                assert all(s.color is None and not s.dim for s in styles), (row, key)


async def test_sixteen_colours_keep_severity_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("TERM", "screen")
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = frozen_app(tmp_path, ansi_colours=None)  # decided by the terminal, as `labtui` does
    assert app.console.color_system == "standard"
    assert app.theme == "ansi-dark"  # the terminal's own colours: yellow warns, red errs, a readable cursor row
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        table = app.query_one("#hosts", HostTable)
        assert _style(table.get_cell("nas", "fail")).color.name == "red"
        assert _style(table.get_cell("nas", "mem")).color is None  # 71%: fine
        await pilot.resize_terminal(130, 40)  # the wide layout's border colour comes from the ANSI theme
        await pilot.pause()
        assert app.query_one("#main").styles.layout.name == "horizontal"


def test_top_level_ascii_reaches_the_demo():
    for argv in (["--ascii", "demo"], ["demo", "--ascii"]):
        parser, _ = build_parser("demo")
        assert parser.parse_args(argv).ascii is True, argv
    parser, _ = build_parser("demo")
    assert parser.parse_args(["demo"]).ascii is False


async def test_ascii_mode_draws_no_block_glyphs_even_in_scrollbars(tmp_path):
    app = frozen_app(tmp_path, ascii_mode=True)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("question_mark")  # the help is longer than the screen: a scrollbar
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and app.screen.query_one("#help").show_vertical_scrollbar
        svg = app.export_screenshot()
        assert not [c for c in BLOCKS if c in svg]
    other = frozen_app(tmp_path / "u")  # the next app (same process) has its Unicode scrollbars back
    async with other.run_test(size=SMALL) as pilot:
        await _settle(other, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert any(c in other.export_screenshot() for c in BLOCKS)
