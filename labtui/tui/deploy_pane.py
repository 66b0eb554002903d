"""The deploy pane: one row per host of a run (stage, steps, time, countdown, last output), the highlighted host's
output below, the summary when it ends; and a host's full deploy log.

Output lines and messages are what hosts and deploy tools printed: shown through `labtui.text.harmless` (as Rich
Text or Log lines, never markup), at the moment they are drawn."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Log, Static
from textual.widgets.data_table import ColumnKey

from labtui.runs.outcomes import counts_text, is_failure
from labtui.text import harmless
from labtui.tui import actions
from labtui.tui import format as fmt
from labtui.tui.build_view import BuildTree
from labtui.tui.deploy_model import NodeView, RunView
from labtui.tui.format import rich_style, styled
from labtui.tui.glyphs import ASCII, Glyphs, bar
from labtui.tui.widgets import KeyLog

Clock = Callable[[], float]

# How often the deploy pane re-renders: 15 Hz keeps countdowns smooth and output fresh, and the
# gap between two frames well under 100 ms even while output floods in (a sync costs ~1 ms).
PANE_REFRESH = 1 / 15
LOG_FLUSH = 0.1
LOG_MAX_LINES = 20_000
TAIL_LINES = 500  # the deploy pane's output panel; the full log is one Enter away


_DEPLOY_RS_TAG = re.compile(r"^[^\x00-\x7f]*\s*[^\x00-\x7f]*\s*\[(deploy|activate|wait|revoke)\]\s*\[([A-Z]+)\]\s*")


def compact_line(line: str) -> str:
    """`🚀 ℹ️ [deploy] [INFO] Building…` -> `deploy: Building…` for the narrow last-output column.

    The emoji go (their width differs between terminals and would shift the columns); the level
    stays only when it says something (WARN, ERROR). Control characters are shown escaped."""
    line = harmless(line)
    m = _DEPLOY_RS_TAG.match(line)
    if not m:
        return line.strip()
    level = "" if m.group(2) == "INFO" else f" {m.group(2)}"
    return f"{m.group(1)}{level}: {line[m.end():]}"


def tail_line(line: str) -> str:
    """A line for the output panel: deploy-rs' tags shortened as by compact_line, other lines as they are
    (indentation kept), control characters shown escaped."""
    return compact_line(line) if _DEPLOY_RS_TAG.match(line) else harmless(line).rstrip()


def ascii_line(line: str) -> str:
    """A deploy-rs line for terminals without good Unicode: tags instead of emoji, `?` for the rest."""
    return compact_line(line).encode("ascii", "replace").decode("ascii")


DEPLOY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("st", " "),
    ("host", "HOST"),
    ("stage", "STAGE"),
    ("progress", "STEPS"),
    ("elapsed", "TIME"),
    ("timer", "TIMEOUT/ROLLBACK"),
    ("line", "LAST OUTPUT"),
)
COUNTDOWN_BAR = 8
LINE_MIN = 12  # the last-output column never gets narrower


class DeployTable(DataTable[Text | str]):
    """One row per host of a deploy run, re-rendered from a RunView on a timer."""

    BINDINGS = actions.TABLE.bindings()

    def __init__(self, run: RunView, glyphs: Glyphs, clock: Clock, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.run = run
        self.glyphs = glyphs
        self.clock = clock
        self._drawn: dict[str, list[tuple[str, str]]] = {}  # host -> (text, style) of each cell shown

    def on_mount(self) -> None:
        for key, label in DEPLOY_COLUMNS:
            # The last-output column has the width the others leave (set by sync): no sideways scrolling.
            self.add_column(label, key=key, width=LINE_MIN if key == "line" else None)
        self.sync()

    def _fit_line_column(self, rows: list[list[Text | str]]) -> int:
        """The last-output column gets what the other columns leave of the pane's width."""
        used = 0
        for i, (_, label) in enumerate(DEPLOY_COLUMNS[:-1]):
            used += max([cell_len(label), *(cell_len(str(cells[i])) for cells in rows)]) + 2 * self.cell_padding
        width = max(LINE_MIN, self.scrollable_content_region.width - used - 2 * self.cell_padding)
        column = self.columns.get(ColumnKey("line"))
        if column is not None and column.width != width:
            column.width = width
            self._require_update_dimensions = True
        return width

    @property
    def current(self) -> str | None:
        names = list(self.run.nodes)
        if 0 <= self.cursor_row < len(names):
            return names[self.cursor_row]
        return None

    def sync(self) -> None:
        """Add rows for new hosts and re-render every row (cheap: a handful of hosts)."""
        now = self.clock()
        rows = {name: self.cells(view, now) for name, view in self.run.nodes.items()}
        width = self._fit_line_column(list(rows.values()))
        for name, cells in rows.items():
            line = cells[-1]
            if isinstance(line, Text):
                line.truncate(width, overflow="ellipsis")
            keys = [fmt.cell_key(cell) for cell in cells]
            if name not in self.rows:
                self.add_row(*cells, key=name)
            else:
                # Only the cells that read differently: DataTable repaints the whole table for each one.
                for (key, _), cell, old, new in zip(DEPLOY_COLUMNS, cells, self._drawn[name], keys, strict=True):
                    if old != new:
                        self.update_cell(name, key, cell, update_width=key != "line")
            self._drawn[name] = keys

    def cells(self, v: NodeView, now: float) -> list[Text | str]:
        g = self.glyphs
        if v.outcome:
            glyph, word, style = fmt.outcome_cell(g, v.outcome)
            where = ""
            before, after = v.generations.get("before"), v.generations.get("after")
            if before is not None and after is not None and before != after:
                where += f" {before}{'→' if g is not ASCII else '->'}{after}"
            status = styled(glyph, style)
            stage = styled(f"{word}{where}", style)
        elif v.stage == "queued":
            waiting = f"wave {v.wave}" if v.wave is not None and v.wave != self.run.wave else "queued"
            status, stage = styled(g.queued, "$secondary"), styled(waiting, "$text-muted")
        else:
            spin = g.spinner[int(now * 8) % len(g.spinner)]  # from the clock: same frame for the same time
            status, stage = styled(spin, "$warning"), styled(harmless(v.stage), "$warning")
        reached, total = v.progress()
        pstyle = "$error" if is_failure(v.outcome) else "$success" if v.outcome else "$warning"
        progress = styled(g.bar_full * reached + g.bar_empty * (total - reached), pstyle)
        elapsed = fmt.duration(v.elapsed(now), precise=True) if v.started is not None else "-"
        timer = self._timer_cell(v, now)
        if v.stall is not None:
            line = styled(f"{g.stall} no output for {v.stall.seconds:.0f}s: {v.stall.hint}", "$warning")
        elif is_failure(v.outcome) and v.message:
            # Where it ended, then why: `push: Failed to push profile…` (the stage column keeps the outcome word).
            where = f"{v.outcome_stage}: " if v.outcome_stage and not v.message.startswith(v.outcome_stage) else ""
            line = styled(harmless(f"{where}{v.message}"), "$error")
        else:
            line = Text(ascii_line(v.last_line) if g is ASCII else compact_line(v.last_line))
        return [status, Text(v.node, style="bold"), stage, progress, elapsed, timer, line]

    def _timer_cell(self, v: NodeView, now: float) -> Text:
        """The countdown while a window is open; once rolled back, a badge that stays."""
        g = self.glyphs
        if v.rollback:
            return Text(f"{g.rolled_back} {v.rollback} rollback", style=rich_style("bold reverse $warning"))
        active = v.active_window(now)
        if active is None:
            if v.confirmed:
                return styled(f"{g.done} confirmed", "$success")
            return Text("")
        label, window = active
        left = fmt.seconds_left(window.deadline, now)
        frac = window.fraction_left(now)
        style = "$error" if frac < 0.25 else "$warning"
        tag = "C" if label == "confirm" else "A"
        return Text.assemble((f"{tag} ", "dim"), (bar(g, frac, COUNTDOWN_BAR), rich_style(style)),
                             (f" {left:>3}s", rich_style(style)))


class DeployScreen(Screen[None]):
    """One row per host of a run; Enter opens the host's log; summary and `f` when it ends."""

    BINDINGS = actions.DEPLOY_PANE.bindings()

    class CancelRequested(Message):
        """The operator asked to cancel the run shown, or one host of it (the app asks to confirm, then cancels)."""

        def __init__(self, node: str | None = None) -> None:
            super().__init__()
            self.node = node

    def __init__(self, run: RunView, glyphs: Glyphs, clock: Clock, *, title: str = "",
                 live: bool = True, animate: bool = True, cancellable: bool = True) -> None:
        super().__init__()
        self.cancellable = cancellable  # a deploy; a rollback or reboot goes on once begun
        self.with_timers = animate
        self._tail_node: str | None = None
        self._tail_seen = 0
        self.run = run
        self.glyphs = glyphs
        self.clock = clock
        self.title_text = title
        self.live = live
        self._summary: Text | str | None = None  # what #run-summary shows
        self._actions: tuple[bool, ...] | None = None  # what check_action depends on
        self.show_builds = True  # the tree of running builds, while labtui builds (`b` hides it)
        self._head: tuple[str, str] | None = None  # what #run-header shows
        self._timer: Timer | None = None  # the refresh while the run goes on

    def compose(self) -> ComposeResult:
        yield Static(id="run-header", classes="topbar")
        yield DeployTable(self.run, self.glyphs, self.clock, id="deploy-rows")
        yield BuildTree(id="builds")
        yield Static(id="tail-title")
        yield Log(id="tail", max_lines=TAIL_LINES, auto_scroll=True)
        yield Static(id="run-summary")
        yield Footer()

    @on(DataTable.RowHighlighted, "#deploy-rows")
    def _follow_highlighted(self) -> None:
        node = self.query_one(DeployTable).current
        if node != self._tail_node:
            self._tail_node = node
            self._tail_seen = 0
            self.query_one("#tail", Log).clear()
            self.query_one("#tail-title", Static).update(
                Text.assemble(("output of ", "dim"), (node or "", "bold"), ("  (enter: full log)", "dim")),
                layout=False)  # two lines high in the stylesheet
            self._flush_tail()

    def _flush_tail(self) -> None:
        """The highlighted host's newest lines, appended in one batch."""
        if self._tail_node is None or self._tail_node not in self.run.nodes:
            return
        view = self.run.nodes[self._tail_node]
        lines = view.lines_since(self._tail_seen)[-TAIL_LINES:]
        self._tail_seen = view.total_lines
        # deploy-rs' tags shortened as in the last-output column: more of each line fits (enter: the lines as printed)
        lines = [ascii_line(line) if self.glyphs is ASCII else tail_line(line) for line in lines]
        if lines:
            tail = self.query_one("#tail", Log)
            tail.write_lines(lines)
            tail.scroll_end(animate=False)

    def on_mount(self) -> None:
        self.query_one(DeployTable).focus()
        self.sync()
        if self.live and self.with_timers:
            self._timer = self.set_interval(PANE_REFRESH, self.sync)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.live and self.run.running and self.cancellable
        if action == "cancel_host":
            if not self.cancellable:
                return False
            node = self.query_one(DeployTable).current
            return self.live and self.run.running and node is not None and not self.run.nodes[node].done
        if action == "first_failure":
            return self.run.first_failure() is not None
        if action == "run_output":  # nothing to show: no key for it (it opened an empty screen)
            return self.run.run_total_lines > 0
        return True

    def sync(self) -> None:
        table = self.query_one(DeployTable)
        table.sync()
        builds = self.query_one(BuildTree)
        builds.set_class(builds.sync(self.run) and self.show_builds, "-shown")
        if self._tail_node is None and table.row_count:
            self._follow_highlighted()
        self._flush_tail()
        now = self.clock()
        run = self.run
        head = Text()
        head.append(self.title_text or f"{run.method or 'deploy'}", style="bold")
        head.append(f"  {fmt.duration(run.elapsed(now), precise=True)}")
        if run.waves:
            failed = [r for r in run.wave_results.values() if not r.ok]
            head.append(f"  wave {run.wave or 1}/{len(run.waves)}" + (" stopped" if failed else ""),
                        style="bold red" if failed else "bold")
        counts = run.counts()
        head.append("  " + counts_text(counts))
        width = self.size.width - 2
        if run.run_id and head.cell_len + len(run.run_id) + 6 <= width:  # whole or not at all (history has it)
            head.append(f"  run {run.run_id}", style=rich_style("$text-muted"))
        head.truncate(width, overflow="ellipsis")
        # One line high whatever it says: no layout pass (a screen-wide relayout 10 times a second is
        # what made the pane stutter under a flood of output); and only when it reads differently.
        if fmt.cell_key(head) != self._head:
            self._head = fmt.cell_key(head)
            self.query_one("#run-header", Static).update(head, layout=False)
        if run.running:
            stalls = [s for s in run.stalls if s.node is None][-1:]
            if stalls:
                s = stalls[0]
                summary: Text | str = Text(f"{self.glyphs.stall} no output for {s.seconds:.0f}s"
                                           f"{f' in {s.stage}' if s.stage else ''}: {s.hint}",
                                           style=rich_style("$warning"))
            elif run.run_lines:
                summary = Text(harmless(run.run_lines[-1]), style=rich_style("$text-muted"))
            else:
                summary = ""
        else:
            summary = self.summary_text()
        if summary != self._summary:  # its height may change: update (and lay out) only when it does
            self._summary = summary
            box = self.query_one("#run-summary", Static)
            box.update(summary)
            box.set_class(not run.running, "-done")
            # The summary took rows from the output panel: keep its last line in view.
            tail = self.query_one("#tail", Log)
            self.call_after_refresh(tail.scroll_end, animate=False)
        # The footer rebuilds its keys on every bindings refresh: only when what they depend on changed.
        current = table.current
        actions = (self.live and run.running, run.first_failure() is not None, run.run_total_lines > 0,
                   current is not None and run.nodes[current].done)
        if actions != self._actions:
            self._actions = actions
            self.refresh_bindings()
        if not run.running and self._timer is not None:
            # An ended run changes no more (late output and the end itself come with a sync of their
            # own): nothing ticks on a finished pane.
            self._timer.stop()
            self._timer = None

    def focus_first_failure(self) -> None:
        """When a run ends, put the cursor (and the output panel) on the first host that failed."""
        node = self.run.first_failure()
        table = self.query_one(DeployTable)
        if node is not None and node in self.run.nodes:
            table.move_cursor(row=list(self.run.nodes).index(node))

    def summary_text(self) -> Text:
        g = self.glyphs
        run = self.run
        out = Text()
        glyph, word, style = fmt.run_cell(g, run.outcome)
        out.append(f"{glyph} run {word}", style=rich_style(f"bold {style}"))
        out.append(f" in {fmt.duration(run.elapsed(self.clock()), precise=True)}: ")
        out.append(counts_text(run.counts()))
        first = run.first_failure()
        if first:
            view = run.nodes[first]
            out.append(f"\nfirst failure: {first}", style=rich_style("bold $error"))
            if view.message:
                out.append(f": {harmless(view.message)}", style=rich_style("$error"))
            out.append("  (f: its log)", style=rich_style("$text-muted"))
        return out

    @on(DataTable.RowSelected, "#deploy-rows")
    def _row_selected(self) -> None:
        self.action_open_log()

    def action_open_log(self) -> None:
        node = self.query_one(DeployTable).current
        if node:
            self.app.push_screen(HostLogScreen(self.run, node, live=self.live, ascii_mode=self.glyphs is ASCII))

    def action_first_failure(self) -> None:
        node = self.run.first_failure()
        if node:
            self.app.push_screen(HostLogScreen(self.run, node, live=self.live, ascii_mode=self.glyphs is ASCII))

    def action_run_output(self) -> None:
        self.app.push_screen(HostLogScreen(self.run, None, live=self.live, ascii_mode=self.glyphs is ASCII))

    def action_toggle_builds(self) -> None:
        self.show_builds = not self.show_builds
        self.sync()

    def action_cancel_run(self) -> None:
        self.post_message(self.CancelRequested())

    def action_cancel_host(self) -> None:
        node = self.query_one(DeployTable).current
        if node is not None:
            self.post_message(self.CancelRequested(node))


class HostLogScreen(Screen[None]):
    """The full output of one host in a run (or the run-wide lines with node=None), following live."""

    BINDINGS = actions.HOST_LOG.bindings()

    def __init__(self, run: RunView, node: str | None, *, live: bool = True, ascii_mode: bool = False) -> None:
        super().__init__()
        self.ascii_mode = ascii_mode
        self.run = run
        self.node = node
        self.live = live
        self._seen = 0

    def compose(self) -> ComposeResult:
        title = f"deploy log of {self.node}" if self.node else "run output (lines without a host)"
        yield Static(Text(title, style="bold"), id="log-title", classes="topbar")
        yield KeyLog(id="log", max_lines=LOG_MAX_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.flush()
        if self.live:
            self.set_interval(LOG_FLUSH, self.flush)
        self.query_one(Log).focus()

    def _source(self) -> tuple[Sequence[str], int]:
        if self.node is None:
            return list(self.run.run_lines), self.run.run_total_lines
        view = self.run.nodes[self.node]
        return view.lines, view.total_lines

    def flush(self) -> None:
        """Append the lines that came since the last flush, in one batch (write_lines is fast)."""
        lines, total = self._source()
        new = total - self._seen
        if new <= 0:
            return
        buffered = list(lines)
        batch = buffered[-min(new, len(buffered)):] if buffered else []
        self._seen = total
        batch = [ascii_line(line) for line in batch] if self.ascii_mode else [harmless(line) for line in batch]
        if batch:
            self.query_one(Log).write_lines(batch)

    def action_end(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = True
        log.scroll_end(animate=False)

    def action_copy(self) -> None:
        lines, _ = self._source()
        # Harmless too: a pasted escape sequence (`ESC [201~` ends a bracketed paste) could run in a shell.
        self.app.copy_to_clipboard("\n".join(harmless(line) for line in lines))
        self.notify(f"copied {len(lines)} lines")


