"""The dashboard's widgets: the host table and the details panel (views of the fleet model), the footer, and the
full-screen details of a host."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Any

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.renderables.styled import Styled
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellKey, ColumnKey, Row, RowKey

from labtui.inventory.model import Host
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.text import harmless
from labtui.tui import actions
from labtui.tui import format as fmt
from labtui.tui.details_model import PastDeploy
from labtui.tui.fleet import Change, Fleet
from labtui.tui.format import rich_style, styled
from labtui.tui.glyphs import Glyphs
from labtui.tui.widgets import KeyFooter, table_bindings

# Column key -> header. Order is the display order.
HOST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("st", " "),
    ("name", "HOST"),
    ("load", "LOAD"),
    ("mem", "MEM"),
    ("disk", "DISK"),
    ("up", "UP"),
    ("gen", "GEN"),
    ("drift", "DRIFT"),
    ("boot", "BOOT"),
    ("fail", "FAIL"),
    ("last", "LAST"),
    ("age", "AGE"),
)

Clock = Callable[[], float]
SegmentLines = list[list[Segment]]
CONTENT_CACHE = 4096  # rendered cells kept by what they show (a screenful is ~500)


_AGE = [key for key, _ in HOST_COLUMNS].index("age")


def set_cell(table: DataTable[Any], row: str, key: str, cell: Text | str) -> None:
    """update_cell, re-measuring the column only when the value is wider than it (measuring is slow)."""
    column = table.columns.get(key)  # type: ignore[call-overload]
    wider = column is not None and cell_len(str(cell)) > column.content_width
    table.update_cell(row, key, cell, update_width=wider)


class LabFooter(KeyFooter):
    """A Footer that rebuilds its keys once per refresh, however often the bindings changed.

    Textual's Footer recomposes (about 1 ms per key) on every `bindings_updated` signal; at start-up
    focus, screen resume and idle each send one, which delayed the first dashboard frame."""

    _recompose_pending = False

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        await self.recompose()


class HostTable(DataTable[Text | str], inherit_bindings=False):
    """One row per shown host of the fleet model; it keeps no state of its own but the cursor."""

    BINDINGS = table_bindings(actions.HOST_TABLE)  # enter is the screen's

    def __init__(self, fleet: Fleet, glyphs: Glyphs, clock: Clock, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.fleet = fleet
        self.glyphs = glyphs
        self.clock = clock
        self._drawn: dict[str, list[tuple[str, str]]] = {}  # shown host -> (text, style) of each cell
        self._by_content: dict[tuple[Any, ...], SegmentLines] = {}  # see _render_cell
        self._meta_styles: dict[tuple[Style | None, int, int], Style] = {}  # see _with_meta

    def on_mount(self) -> None:
        for key, label in HOST_COLUMNS:
            self.add_column(label, key=key)

    @property
    def current(self) -> str | None:
        return self.fleet.shown_at(self.cursor_row)

    def show(self, change: Change) -> None:
        """Bring the rows up to date with a change of the fleet."""
        if change.order:
            self.rebuild()
            return
        for name in change.rows:
            self._update_row(name)

    def refresh_ages(self) -> None:
        """The AGE cells; only those whose text changed are written (the age is coarse: it changes when
        data turns stale, not every second)."""
        for name in self.fleet.shown:
            drawn = self._drawn.get(name)
            if drawn is not None:
                text, style = self._age(name)
                if (text, fmt.rich_style(style)) != drawn[_AGE]:  # cell_key of its cell, without making it
                    self._update_row(name)

    def rebuild(self) -> None:
        """The rows in the fleet's order (after a sort, a filter, the first snapshot); the cursor stays on
        its host. Rows that stay are moved, not made again: only hosts newly shown get new rows, whose
        cells alone are measured (DataTable.clear() and add_row() for every host took a tenth of a second
        at 500 hosts, and remove_row() reindexes every row each time)."""
        keep = self.current
        names = self.fleet.shown
        wanted = set(names)
        gone = [name for name in self._drawn if name not in wanted]
        new = [name for name in names if name not in self._drawn]
        if not self._drawn or len(new) > len(names) // 2:
            self._fill(names)  # first rows, or most of them new: start over
        else:
            self._reorder(names, gone, new)
        if keep in wanted:
            self.move_cursor(row=names.index(keep))

    def _fill(self, names: list[str]) -> None:
        self.clear()
        self._drawn.clear()
        for name in names:
            cells = self._cells(name)
            self.add_row(*cells, key=name)
            self._drawn[name] = [fmt.cell_key(c) for c in cells]

    def _reorder(self, names: list[str], gone: list[str], new: list[str]) -> None:
        """DataTable's own bookkeeping (rows, data, row locations) brought to `names` in one pass."""
        columns = [ColumnKey(key) for key, _ in HOST_COLUMNS]
        for name in gone:
            row = RowKey(name)
            if self._updated_cells:
                for column in columns:
                    self._updated_cells.discard(CellKey(row, column))
            del self.rows[row], self._data[row], self._drawn[name]
        for name in new:
            row = RowKey(name)
            cells = self._cells(name)
            self._data[row] = dict(zip(columns, cells, strict=True))
            self.rows[row] = Row(row, 1)
            self._new_rows.add(row)  # measured for column widths on the next idle
            self._drawn[name] = [fmt.cell_key(c) for c in cells]
        self._row_locations = TwoWayDict({RowKey(name): i for i, name in enumerate(names)})
        self._update_count += 1
        if gone or new:
            self._require_update_dimensions = True  # the table's height and maybe its column widths
        self.cursor_coordinate = self.cursor_coordinate  # kept within the rows
        self.refresh()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Column widths for new rows from the text they show (one line each: its width is its length), then
        DataTable's own pass for any other row. DataTable formats and measures every cell of every new row
        through Rich: a tenth of a second at 500 hosts before the first frame."""
        rest: list[RowKey] = []
        widths = [0] * len(HOST_COLUMNS)
        for row_key in new_rows:
            row = self.rows.get(row_key)
            drawn = self._drawn.get(row_key.value) if row_key.value is not None else None
            if row is None or drawn is None or row.height != 1 or row.label is not None:
                rest.append(row_key)
                continue
            for i, (text, _) in enumerate(drawn):
                widths[i] = max(widths[i], cell_len(text))
        for column, width in zip(self.ordered_columns, widths, strict=True):
            column.content_width = max(column.content_width, width)
        super()._update_dimensions(rest)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        """DataTable's cell rendering, reusing what a cell showing the same text was rendered as.

        DataTable keys its cell cache on the row's position and drops it whenever rows move, so after a sort
        or a filter every cell on screen went through Rich again (~40 ms a screenful). Most cells read like
        many others (`-`, `0`, `=`, `<15`, a glyph, a percentage): they are rendered once per look, without
        the row/column meta Textual puts on every segment for mouse clicks, which is added afterwards."""
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 and column_index >= 0 else None
        drawn = self._drawn.get(row_key.value) if row_key is not None and row_key.value is not None else None
        if (row_key is None or drawn is None or self.fixed_rows or self.fixed_columns
                or self.rows[row_key].height != 1):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        if column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
                     self._pseudo_class_state)
        lines = self._cell_render_cache.get(cache_key)
        if lines is not None:
            return lines
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        content_key = (column_index, drawn[column_index], width, base_style, component_style, post_style)
        plain = self._by_content.get(content_key)
        if plain is None:
            pre_style = base_style + component_style
            plain = self._one_line(self._data[row_key][column_key], width, pre_style, post_style)
            if plain is None:  # not a short one-line text: Rich's whole way
                _, cells = self._get_row_renderables(row_index)
                options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
                plain = self.app.console.render_lines(
                    Styled(Padding(cells[column_index], (0, self.cell_padding)), pre_style=pre_style,
                           post_style=post_style), options)
            if len(self._by_content) >= CONTENT_CACHE:
                self._by_content.clear()
            self._by_content[content_key] = plain
        lines = [[Segment(seg.text, self._with_meta(seg.style, row_index, column_index), seg.control)
                  if not seg.control else seg for seg in line] for line in plain]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _one_line(self, cell: Text | str, width: int, pre_style: Style,
                  post_style: Style | None) -> SegmentLines | None:
        """A cell whose text fits its column on one line, drawn as Rich draws it inside DataTable (padding, the
        text's own segments, spaces to the column's width, padding; each between the row's and the cursor's
        style), without Rich's layout passes: a cell not seen before costs less than half. None: anything else."""
        if isinstance(cell, str):
            if "[" in cell:  # DataTable reads a str as markup
                return None
            cell = Text(cell)
        pad = self.cell_padding
        fill = width - 2 * pad - cell.cell_len
        if fill < 0 or "\n" in cell.plain or cell.justify not in (None, "default", "left"):
            return None

        def styled(segment: Segment) -> Segment:
            combined = pre_style + segment.style
            return Segment(segment.text, combined + post_style if post_style else combined)

        edge = styled(Segment(" " * pad, Style.null()))
        line = [edge] if pad else []
        # As Rich does: the text's own style becomes a span under its other spans (Text.join).
        line += [styled(segment) for segment in Text("").join([cell]).render(self.app.console) if segment.text]
        if fill:
            line.append(styled(Segment(" " * fill, Style.null())))
        if pad:
            line.append(edge)
        return [line]

    def _with_meta(self, style: Style | None, row: int, column: int) -> Style:
        """`style` with the cell's position for mouse clicks, made once per style and screen position: after a
        sort or a filter the rows on screen are new, their styles and positions are not (Style addition is
        slow when it misses Rich's own small cache: a few ms a screenful)."""
        key = (style, row, column)
        found = self._meta_styles.get(key)
        if found is None:
            if len(self._meta_styles) >= CONTENT_CACHE:
                self._meta_styles.clear()
            meta = Style.from_meta({"row": row, "column": column})
            found = self._meta_styles[key] = style + meta if style is not None else meta
        return found

    def move_to(self, name: str) -> None:
        self.move_cursor(row=self.fleet.shown.index(name))

    def _update_row(self, name: str) -> None:
        """Write the cells of `name` whose text or style changed, and repaint that row alone.

        DataTable.update_cell repaints the whole table and drops every row's render cache (one global
        update counter); at fleet size that made each status update cost a full table render. Here the
        row's values change in place, the caches are emptied without the counter moving (rows that are
        not repainted are rendered again only when shown), and only the row's line is refreshed:
        rows off screen cost nothing to paint."""
        drawn = self._drawn.get(name)
        if drawn is None:
            return  # not shown (filtered out)
        cells = self._cells(name)
        keys = [fmt.cell_key(c) for c in cells]
        changed = [i for i, (old, new) in enumerate(zip(drawn, keys, strict=True)) if old != new]
        if not changed:
            return
        self._drawn[name] = keys
        row = RowKey(name)
        data = self._data[row]
        for i in changed:
            key = HOST_COLUMNS[i][0]
            column = self.columns[ColumnKey(key)]
            if cell_len(keys[i][0]) > column.content_width:
                self.update_cell(name, key, cells[i], update_width=True)  # the column grows: a relayout
            else:
                data[ColumnKey(key)] = cells[i]
        for cache in (self._row_render_cache, self._cell_render_cache, self._line_cache,
                      self._row_renderable_cache):
            cache.clear()
        index = self._row_locations.get(row)
        if index is not None:
            self.refresh_row(index)

    def _age(self, name: str) -> tuple[str, str]:
        """The AGE cell's text and style (refresh_ages asks for every host each second: no Text made)."""
        st = self.fleet.statuses.get(name)
        if st is None or st.answered_at is None:
            return "-", "$text-muted"
        host = self.fleet.hosts.get(name)
        text, stale = fmt.data_age(self.clock() - st.answered_at, host.poll_interval if host else None)
        return text, "$warning" if stale else "$text-muted"

    def _age_cell(self, name: str) -> Text:
        return styled(*self._age(name))

    def _cells(self, name: str) -> list[Text | str]:
        g = self.glyphs
        fleet = self.fleet
        host = fleet.hosts[name]
        st = fleet.statuses.get(name)
        marked = name in fleet.marked
        glyph, _, style = fmt.state_cell(g, fleet.state(name))
        state = Text.assemble((g.mark if marked else g.unmark, "bold reverse" if marked else ""),
                              (glyph, rich_style(style)))
        title = Text(name, style="bold" if host.critical else "")
        if host.critical:
            title.append("!", style=rich_style("$error"))
        last_glyph, _, last_style = fmt.outcome_cell(g, fleet.last_outcomes.get(name))
        last = styled(f"{last_glyph}", last_style) if last_glyph else styled("-", "$text-muted")
        if st is None or (st.answered_at is None and st.state is not HostState.UP):
            dash = styled("-", "$text-muted")
            return [state, title, dash, dash, dash, dash, dash, dash, dash, dash, last, self._age_cell(name)]
        ratio = fmt.load_ratio(st)
        mem = st.mem_used_percent
        disk = fmt.worst_disk(st)
        drift = {"outdated": styled(f"{g.drift} old", "$warning"), "in sync": styled(g.in_sync, "$success")}.get(
            st.drift, styled(g.unknown, "$text-muted"))
        boot = (styled(g.reboot, "$warning") if st.reboot_needed
                else styled("-", "$text-muted") if st.reboot_needed is False else styled(g.unknown, "$text-muted"))
        fail = styled(str(st.failed_units_count), "$error") if st.failed_units else styled("0", "$text-muted")
        return [
            state,
            title,
            styled(fmt.load(st), fmt.level_style(ratio, 0.7, 1.0)),
            styled(fmt.percent(mem), fmt.level_style(mem, 80, 95)),
            styled(fmt.percent(disk), fmt.level_style(disk, 80, 90)),
            fmt.duration(st.uptime_s),
            str(st.generation) if st.generation is not None else "-",
            drift,
            boot,
            fail,
            last,
            self._age_cell(name),
        ]


class HostDetails(Static):
    """Everything known about the selected host (what the host reported is made harmless: labtui.text)."""

    def __init__(self, glyphs: Glyphs, clock: Clock, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.glyphs = glyphs
        self.clock = clock
        self._shown: Text | None = None
        self._reserved = 0  # the panel's height, in lines

    def show(self, host: Host | None, status: HostStatus | None, deploys: list[PastDeploy] | None = None,
             generations: list[str] | None = None) -> None:
        """Show the host; nothing is repainted when the text is what is shown already, and the screen is
        laid out again only when the lines changed length (the panel may then need more room)."""
        text = self.render_text(host, status, deploys or [], generations)
        shown = self._shown
        if shown is not None and text.plain == shown.plain and text.spans == shown.spans:
            return
        # A layout pass reflows and repaints the whole screen (the host table too). A text that fits the
        # panel's box gets the box's height, so moving the cursor over hosts repaints the panel alone;
        # only a text taller than the box (it scrolls) lays the screen out when its height changes.
        height = self._height(text)
        self._shown = text
        if height is None:
            self.update(text)
            return
        box = self.parent.scrollable_content_region.height if isinstance(self.parent, Widget) else 0
        target = max(height, box)
        if target != self._reserved:
            self._reserved = target
            self.styles.height = target
        self.update(text, layout=False)

    def _height(self, text: Text) -> int | None:
        """Lines the text takes at the panel's width (None before the panel has a size)."""
        width = self.content_region.width
        if width <= 0 or not self.is_attached:
            return None
        return len(text.wrap(self.app.console, width))

    def render_text(self, host: Host | None, st: HostStatus | None, deploys: list[PastDeploy],
                    generations: list[str] | None) -> Text:
        g = self.glyphs
        out = Text()
        if host is None:
            out.append("No host selected.", style=rich_style("$text-muted"))
            return out
        state = st.state if st else HostState.CONNECTING
        glyph, word, style = fmt.state_cell(g, state)
        out.append(host.name, style="bold")
        out.append(f"  {glyph} {word}", style=rich_style(style))
        if host.critical:
            out.append("  CRITICAL", style="bold " + rich_style("$error"))
        out.append("\n")
        tags = " ".join(f"@{t}" for t in host.tags) or "-"
        out.append(f"{host.ssh.destination}", style=rich_style("$text-muted"))
        if host.ssh.port:
            out.append(f":{host.ssh.port}", style=rich_style("$text-muted"))
        out.append(f"  {host.method}  {tags}\n", style=rich_style("$text-muted"))
        if st is None:
            out.append(f"waiting for the first probe{g.ellipsis}\n", style=rich_style("$text-muted"))
            return out
        # A degraded host's error names its failed units, shown on their own line below.
        repeats_units = bool(st.failed_units) and all(u in (st.error or "") for u in st.failed_units)
        if st.error and not repeats_units:
            out.append(f"{harmless(st.error)}\n", style=rich_style("$error"))
            if st.hint:
                out.append(f"hint: {harmless(st.hint)}\n", style="italic")
        if st.answered_at is None:
            return out
        age, _ = fmt.data_age(self.clock() - st.answered_at, host.poll_interval)
        rtt = f"  rtt {st.rtt_ms:.0f} ms" if st.rtt_ms is not None else ""
        out.append(f"data {age} old{rtt}\n", style=rich_style("$text-muted"))
        # What needs attention first: it must stay visible in the small 80x24 panel.
        if st.failed_units:
            out.append("failed ", style="bold")
            more = f" and {st.failed_units_more} more" if st.failed_units_more else ""
            out.append(", ".join(harmless(u) for u in st.failed_units) + more + "\n", style=rich_style("$error"))
        self._drift_and_reboot(out, st)
        out.append("gen    ", style="bold")
        gen_date = f" ({harmless(st.generation_date[:10])})" if st.generation_date else ""
        out.append(f"{st.generation if st.generation is not None else '-'}{gen_date}")
        if st.nixos_version:
            out.append(f"  nixos {harmless(st.nixos_version)}")
        out.append("\n")
        current = st.current_system.path if st.current_system else st.system_profile
        out.append("system ", style="bold")
        out.append(f"{fmt.short_store_path(current, ellipsis=g.ellipsis)}\n", style=rich_style("$text-muted"))
        if st.load:
            cpus = f" ({st.cpus} cpus)" if st.cpus else ""
            out.append("load   ", style="bold")
            out.append(f"{st.load[0]:.2f} {st.load[1]:.2f} {st.load[2]:.2f}{cpus}\n")
        if st.mem_total_bytes:
            out.append("memory ", style="bold")
            out.append(f"{fmt.percent(st.mem_used_percent)} of {fmt.human_bytes(st.mem_total_bytes)}\n")
        for d in st.disks:
            out.append("disk   ", style="bold")
            out.append(f"{harmless(d.mount)} ", style="")
            out.append(f"{d.percent:.0f}%", style=rich_style(fmt.level_style(d.percent, 80, 90)))
            out.append(f" of {fmt.human_bytes(d.total_bytes)}\n")
        out.append("uptime ", style="bold")
        out.append(f"{fmt.duration(st.uptime_s)}")
        if st.system_running:
            out.append(f"  systemd {harmless(st.system_running)}",
                       style=rich_style("" if st.system_running == "running" else "$warning"))
        out.append("\n")
        if generations:
            out.append("generations", style="bold")
            out.append("  (g: all)\n", style=rich_style("$text-muted"))
            for line in generations[:6]:
                out.append(f"{harmless(line.rstrip())}\n")
        if deploys:
            out.append("last deploys\n", style="bold")
            for ts, outcome, what in deploys[:5]:
                glyph, word, style = fmt.outcome_cell(g, outcome)
                when = _dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")
                out.append(f"  {when} ")
                out.append(f"{glyph} {word}", style=rich_style(style))
                out.append(f" {harmless(what)}\n", style=rich_style("$text-muted"))
        for key, why in sorted(st.missing.items()):
            if key not in ("drift", "flake_path"):
                out.append(f"{harmless(key)}: {harmless(why)}\n", style=rich_style("$text-muted"))
        return out

    def _drift_and_reboot(self, out: Text, st: HostStatus) -> None:
        g = self.glyphs
        out.append("drift  ", style="bold")
        if st.drift == "outdated":
            out.append(f"{g.drift} outdated", style=rich_style("$warning"))
            out.append(f": flake builds {fmt.short_store_path(st.flake_path, ellipsis=g.ellipsis)}\n",
                       style=rich_style("$text-muted"))
        elif st.drift == "in sync":
            out.append(f"{g.in_sync} in sync with the flake\n", style=rich_style("$success"))
        else:
            reason = st.missing.get("drift") or st.missing.get("flake_path") or "flake not evaluated yet"
            out.append(f"{g.unknown} unknown ({harmless(reason)})\n", style=rich_style("$text-muted"))
        out.append("reboot ", style="bold")
        if st.reboot_needed:
            reason = fmt.reboot_reason(st.current_system, st.booted_system, "->" if g.ascii else "→")
            detail = f": {reason}" if reason else ""
            out.append(f"{g.reboot} needed{detail}\n", style=rich_style("$warning"))
        elif st.reboot_needed is False:
            out.append("not needed\n", style=rich_style("$text-muted"))
        else:
            out.append("unknown\n", style=rich_style("$text-muted"))


class DashboardScreen(Screen[None]):
    """The fleet dashboard, the app's first screen. It owns the dashboard's keys, so they never act while another
    screen is shown; its widgets come from the app's compose (mounted before the first frame) and what the keys do
    lives on the app, which owns the fleet model and the deploy controller."""

    BINDINGS = actions.DASHBOARD.bindings()
    SCOPE = actions.DASHBOARD


class DetailsScreen(Screen[None]):
    """The details panel's text of one host, full screen (enter on a host); its keys act on that host."""

    BINDINGS = actions.DETAILS.bindings()
    SCOPE = actions.DETAILS

    def __init__(self, host: str, text: Text) -> None:
        super().__init__()
        self.host = host
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text, id="details-full")
        yield KeyFooter()

    async def _run(self, action: str) -> None:
        await self.app.run_action(f"app.{action}_host({self.host!r})")

    async def action_logs(self) -> None:
        await self._run("logs")

    async def action_checks(self) -> None:
        await self._run("checks")

    async def action_generations(self) -> None:
        await self._run("generations")

    async def action_deploy(self) -> None:
        await self._run("deploy")

    async def action_rollback(self) -> None:
        await self._run("rollback")

    async def action_reboot(self) -> None:
        await self._run("reboot")
