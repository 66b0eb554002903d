"""Full screens: the deploy pane, a host's deploy log, history, the command log, help, text views."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, Static

from labtui.commandlog import CommandLog, CommandRecord
from labtui.tui import format as fmt
from labtui.tui.deploy_model import RunView
from labtui.tui.glyphs import ASCII, Glyphs
from labtui.tui.sources import RunSummary
from labtui.tui.widgets import DeployTable, ascii_line, rich_style

# How often the deploy pane re-renders: 15 Hz keeps countdowns smooth and output fresh, and the
# gap between two frames well under 100 ms even while output floods in (a sync costs ~1 ms).
PANE_REFRESH = 1 / 15
LOG_FLUSH = 0.1
LOG_MAX_LINES = 20_000
TAIL_LINES = 500  # the deploy pane's output panel; the full log is one Enter away


class DeployScreen(Screen):
    """One row per host of a run; Enter opens the host's log; summary and `f` when it ends."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open_log", "Host log"),
        Binding("f", "first_failure", "First failure"),
        Binding("o", "run_output", "Run output"),
        Binding("x", "cancel_run", "Cancel run"),
    ]

    def __init__(self, run: RunView, glyphs: Glyphs, clock: Callable[[], float], *, title: str = "",
                 live: bool = True, animate: bool = True) -> None:
        super().__init__()
        self.animate = animate
        self._tail_node: str | None = None
        self._tail_seen = 0
        self.run = run
        self.glyphs = glyphs
        self.clock = clock
        self.title_text = title
        self.live = live
        self._summary: Text | str | None = None  # what #run-summary shows
        self._actions: tuple[bool, bool] | None = None  # what check_action depends on

    def compose(self) -> ComposeResult:
        yield Static(id="run-header", classes="topbar")
        yield DeployTable(self.run, self.glyphs, self.clock, id="deploy-rows")
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
        if lines and self.glyphs is ASCII:
            lines = [ascii_line(line) for line in lines]
        if lines:
            tail = self.query_one("#tail", Log)
            tail.write_lines(lines)
            tail.scroll_end(animate=False)

    def on_mount(self) -> None:
        self.query_one(DeployTable).focus()
        self.sync()
        if self.live and self.animate:
            self.set_interval(PANE_REFRESH, self.sync)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.live and self.run.running
        if action == "first_failure":
            return self.run.first_failure() is not None
        return True

    def sync(self) -> None:
        table = self.query_one(DeployTable)
        table.sync()
        if self._tail_node is None and table.row_count:
            self._follow_highlighted()
        self._flush_tail()
        now = self.clock()
        run = self.run
        head = Text()
        head.append(self.title_text or f"{run.method or 'deploy'}", style="bold")
        head.append(f"  {fmt.duration(run.elapsed(now), precise=True)}")
        counts = run.counts()
        head.append("  " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items())))
        if run.run_id:  # last: on a narrow terminal it is the part that gets cut
            head.append(f"  run {run.run_id}", style="dim")
        # One line high whatever it says: no layout pass (a screen-wide relayout 10 times a second is
        # what made the pane stutter under a flood of output).
        self.query_one("#run-header", Static).update(head, layout=False)
        if run.running:
            stalls = [s for s in run.stalls if s.node is None][-1:]
            if stalls:
                s = stalls[0]
                summary: Text | str = Text(f"{self.glyphs.stall} no output for {s.seconds:.0f}s"
                                           f"{f' in {s.stage}' if s.stage else ''}: {s.hint}", style="yellow")
            elif run.run_lines:
                summary = Text(run.run_lines[-1], style="dim")
            else:
                summary = ""
        else:
            summary = self.summary_text()
        if summary != self._summary:  # its height may change: update (and lay out) only when it does
            self._summary = summary
            box = self.query_one("#run-summary", Static)
            box.update(summary)
            box.set_class(not run.running, "-done")
        # The footer rebuilds its keys on every bindings refresh: only when what they depend on changed.
        actions = (self.live and run.running, run.first_failure() is not None)
        if actions != self._actions:
            self._actions = actions
            self.refresh_bindings()

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
        outcome = run.outcome or "finished"
        style = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(outcome, "")
        glyph = {"succeeded": g.done, "failed": g.failed, "cancelled": g.cancelled}.get(outcome, g.dot)
        out.append(f"{glyph} run {outcome}", style=f"bold {style}")
        out.append(f" in {fmt.duration(run.elapsed(self.clock()), precise=True)}: ")
        parts = []
        for key, n in sorted(run.counts().items()):
            parts.append(f"{n} {key.replace('_', ' ')}")
        out.append(", ".join(parts))
        first = run.first_failure()
        if first:
            view = run.nodes[first]
            out.append(f"\nfirst failure: {first}", style="bold red")
            if view.message:
                out.append(f": {view.message}", style="red")
            out.append("  (f: its log)", style="dim")
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

    def action_cancel_run(self) -> None:
        cancel = getattr(self.app, "action_cancel_deploy", None)
        if cancel is not None:
            cancel()


class HostLogScreen(Screen):
    """The full output of one host in a run (or the run-wide lines with node=None), following live."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("G", "end", "Follow"),
                Binding("y", "copy", "Copy log")]

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
        yield Log(id="log", max_lines=LOG_MAX_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.flush()
        if self.live:
            self.set_interval(LOG_FLUSH, self.flush)
        self.query_one(Log).focus()

    def _source(self):
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
        if batch and self.ascii_mode:
            batch = [ascii_line(line) for line in batch]
        if batch:
            self.query_one(Log).write_lines(batch)

    def action_end(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = True
        log.scroll_end(animate=False)

    def action_copy(self) -> None:
        lines, _ = self._source()
        self.app.copy_to_clipboard("\n".join(lines))
        self.notify(f"copied {len(lines)} lines")


class StreamScreen(Screen):
    """Text that keeps coming (a journal being followed), or a finished text (checks, generations)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("y", "copy", "Copy")]

    def __init__(self, title: str, lines: AsyncIterator[str] | list[str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.source = lines
        self._pending: list[str] = []
        self._all: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold"), id="stream-title", classes="topbar")
        yield Log(id="stream", max_lines=LOG_MAX_LINES)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        if isinstance(self.source, list):
            self.write(self.source)
        elif self.source is not None:
            self.set_interval(LOG_FLUSH, self._flush)
            self._follow()

    def write(self, lines: list[str]) -> None:
        self._all.extend(lines)
        self.query_one(Log).write_lines(lines)

    @work(group="stream", exit_on_error=False)
    async def _follow(self) -> None:
        assert self.source is not None and not isinstance(self.source, list)
        try:
            async for line in self.source:
                self._pending.append(line)
        except Exception as exc:  # noqa: BLE001 - shown to the operator, the screen stays usable
            self._pending.append(f"[labtui] stopped: {exc}")
        finally:
            aclose = getattr(self.source, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # noqa: BLE001
                    pass

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.write(batch)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard("\n".join(self._all))
        self.notify(f"copied {len(self._all)} lines")


class HistoryScreen(Screen):
    """Past deploy runs from the journal; Enter replays a run into the deploy pane."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("enter", "open_run", "Open run"),
                Binding("r", "reload", "Reload")]

    def __init__(self, load: Callable[[], list[RunSummary]], open_run: Callable[[str], None], glyphs: Glyphs,
                 host: str | None = None) -> None:
        super().__init__()
        self.load = load
        self.open_run_cb = open_run
        self.glyphs = glyphs
        self.host = host
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        title = "deploy history" + (f" of {self.host}" if self.host else "")
        yield Static(Text(title, style="bold"), classes="topbar")
        yield DataTable(id="history", cursor_type="row")
        yield Static(id="history-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_column("WHEN", key="when")
        table.add_column("RESULT", key="result")
        table.add_column("METHOD", key="method")
        table.add_column("HOSTS", key="hosts")
        table.add_column("RUN", key="run")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        table = self.query_one("#history", DataTable)
        table.clear()
        try:
            self.runs = self.load()
        except Exception as exc:  # noqa: BLE001 - a broken journal must not take the TUI down
            self.query_one("#history-empty", Static).update(f"cannot read the journal: {exc}")
            return
        g = self.glyphs
        for run in self.runs:
            when = _dt.datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M")
            glyph, word, style = fmt.outcome_cell(g, run.outcome) if run.outcome else (g.running, "running", "$warning")
            if run.outcome == "failed":
                glyph, word, style = g.failed, "failed", "$error"
            hosts = Text()
            for i, node in enumerate(run.nodes):
                if i:
                    hosts.append(" ")
                ng, _, ns = fmt.outcome_cell(g, run.node_outcomes.get(node))
                hosts.append(f"{ng}{node}" if ng else node, style=rich_style(ns))
            table.add_row(when, Text(f"{glyph} {word}", style=rich_style(style)), run.method, hosts, run.run_id,
                          key=run.run_id)
        self.query_one("#history-empty", Static).update("" if self.runs else "No deploys recorded yet.")

    @on(DataTable.RowSelected, "#history")
    def _row_selected(self) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one("#history", DataTable)
        if not self.runs or table.cursor_row < 0:
            return
        self.open_run_cb(self.runs[table.cursor_row].run_id)


class CommandLogScreen(Screen):
    """Every command labtui ran (lazygit's `@`), newest last; y copies one, Y copies all (OSC 52)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("y,enter", "copy_one", "Copy line"),
                Binding("Y", "copy_all", "Copy all")]

    def __init__(self, log: CommandLog) -> None:
        super().__init__()
        self.commands = log
        self._unsubscribe: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("command log: every command labtui ran (copy and run by hand)", style="bold"),
                     classes="topbar")
        yield DataTable(id="commands", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#commands", DataTable)
        table.add_column("TIME", key="time")
        table.add_column("WHERE", key="where")
        table.add_column("COMMAND", key="command")
        for record in self.commands.records():
            self._add(record)
        table.move_cursor(row=table.row_count - 1)
        table.focus()
        self._unsubscribe = self.commands.subscribe(lambda r: self.app.call_later(self._add, r))

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def _add(self, record: CommandRecord) -> None:
        table = self.query_one("#commands", DataTable)
        when = _dt.datetime.fromtimestamp(record.ts).strftime("%H:%M:%S")
        command = record.command if len(record.command) < 400 else record.command[:399] + "…"
        table.add_row(when, record.where, command.replace("\n", "⏎"))

    def _records(self) -> list[CommandRecord]:
        return self.commands.records()

    @on(DataTable.RowSelected, "#commands")
    def _row_selected(self) -> None:
        self.action_copy_one()

    def action_copy_one(self) -> None:
        table = self.query_one("#commands", DataTable)
        records = self._records()
        if 0 <= table.cursor_row < len(records):
            text = records[table.cursor_row].copyable()
            self.app.copy_to_clipboard(text)
            self.notify(f"copied: {fmt.truncate(text, 60)}")

    def action_copy_all(self) -> None:
        text = "\n".join(r.copyable() for r in self._records())
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {len(self._records())} commands")


HELP = """\
[b]labtui[/b]: the fleet at a glance, deploys you can watch, by keyboard.

[b]Dashboard[/b]
  [b]{arrows} j k[/b]  move            [b]enter[/b]  details of the host
  [b]space[/b]    mark a host     [b]ctrl+a[/b]  mark all shown / none
  [b]/[/b]        filter: regex on names, [b]@tag[/b], [b]!word[/b] negates; words are ANDed
  [b]s[/b] / [b]S[/b]    sort by next column / reverse
  [b]r[/b]        refresh status now (selected host with marks cleared: all hosts)
  [b]D[/b]        deploy marked hosts (or the selected one)
  [b]p[/b]        back to the deploy pane of the current or last run
  [b]l[/b] logs   [b]c[/b] checks   [b]g[/b] generations of the selected host
  [b]h[/b]        deploy history      [b]@[/b]  command log (every command labtui ran)
  [b]ctrl+p[/b]   command palette: every action, searchable
  [b]?[/b]        this help       [b]esc[/b]  back / clear filter      [b]q[/b]  quit

[b]Deploy dialog[/b]
  [b]m[/b] method (deploy-rs, nixos-rebuild)  [b]a[/b] action (switch, boot, dry-activate)
  [b]p[/b] parallel or atomic   [b]tab[/b] next field  [b]space[/b] toggle   [b]enter[/b] deploy
  Hosts marked critical ask you to type their name.

[b]Deploy pane[/b]
  One row per host: stage, steps done, time, the confirm (C) or activation (A)
  timeout counting down, a rollback badge that stays, the last output line.
  [b]enter[/b] host log   [b]f[/b] first failure's log   [b]o[/b] run output   [b]x[/b] cancel the run

[b]Glyphs[/b]  {up} up  {degraded} degraded  {down} down  {running} running  {done} done
  {queued} queued  {failed} failed  {rolled_back} rolled back  {drift} outdated  {reboot} reboot needed
  [b]name![/b] critical host (deploying it asks you to type its name)
"""


class HelpScreen(Screen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, glyphs: Glyphs) -> None:
        super().__init__()
        self.glyphs = glyphs

    def compose(self) -> ComposeResult:
        g = self.glyphs
        text = HELP.format(up=g.up, degraded=g.degraded, down=g.down, running=g.running, done=g.done,
                           queued=g.queued, failed=g.failed, rolled_back=g.rolled_back, drift=g.drift,
                           reboot=g.reboot, arrows=f"{g.arrow_up} {g.arrow_down}")
        with VerticalScroll(id="help"):
            yield Static(text, id="help-text")
        yield Footer()

