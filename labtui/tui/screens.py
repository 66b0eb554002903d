"""Full screens besides the dashboard and the deploy pane: a host's journal, checks and generations, the deploy
history, the command log and the help.

What hosts sent is shown through `labtui.text.harmless`, as Log lines or Rich Text (a DataTable reads a str cell
as markup: cells are Text)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Awaitable, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, Static

from labtui.commandlog import CommandLog, CommandRecord
from labtui.inventory.model import Host
from labtui.ops.checks import CheckResult
from labtui.ops.generations import GenerationInfo
from labtui.ops.logs import LogItem, LogStream
from labtui.text import harmless
from labtui.tui import actions
from labtui.tui import format as fmt
from labtui.tui.format import rich_style
from labtui.tui.glyphs import Glyphs
from labtui.tui.sources import RunSummary

LOG_FLUSH = 0.1
LOG_MAX_LINES = 20_000


class TextScreen(Screen[None]):
    """A text shown as it arrives (checks, generations): a title, the lines, copy."""

    BINDINGS = actions.TEXT_VIEW.bindings()

    def __init__(self, title: str, lines: list[str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.initial = lines or []
        self._all: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold"), id="stream-title", classes="topbar")
        yield Log(id="stream", max_lines=LOG_MAX_LINES)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        if self.initial:
            self.write(self.initial)
        self.begin()

    def begin(self) -> None:
        """Subclasses start fetching what they show here (Textual calls each class's on_mount itself)."""

    def write(self, lines: list[str]) -> None:
        self._all.extend(lines)
        self.query_one(Log).write_lines(lines)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard("\n".join(self._all))
        self.notify(f"copied {len(self._all)} lines")


class LogScreen(TextScreen):
    """A host's journal, following: the core's LogStream, written in batches; closing the screen stops it."""

    def __init__(self, title: str, stream: LogStream) -> None:
        super().__init__(title)
        self.stream = stream
        self._pending: list[str] = []
        self._unsubscribe: Callable[[], None] | None = None

    def begin(self) -> None:
        self._unsubscribe = self.stream.subscribe(self._arrived)
        self.set_interval(LOG_FLUSH, self._flush)
        self._follow()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _arrived(self, item: LogItem) -> None:
        self._pending.append(fmt.log_line(item))

    @work(group="stream", exit_on_error=False)
    async def _follow(self) -> None:
        """Runs the stream for as long as the screen is open (closing it cancels this worker and the stream)."""
        try:
            await self.stream.start()
        except Exception as exc:  # noqa: BLE001 - shown to the operator, the screen stays usable
            self._pending.append(f"[labtui] stopped: {harmless(str(exc))}")

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.write(batch)


class ChecksScreen(TextScreen):
    """A host's health checks, run when the screen opens; failures first."""

    def __init__(self, host: Host, run: Callable[[], AsyncIterator[CheckResult]], glyphs: Glyphs) -> None:
        super().__init__(f"health checks of {host.name}", [f"running checks on {host.name}{glyphs.ellipsis}"])
        self.host = host
        self.run = run

    def begin(self) -> None:
        self._run_checks()

    @work(group="ops", exit_on_error=False)
    async def _run_checks(self) -> None:
        name = self.host.name
        if not self.host.checks:
            self.write([f"{name} has no health checks; declare them in labtui.toml ([hosts.{name}] checks)"])
            return
        try:
            self.write(fmt.check_lines([r async for r in self.run()]))
        except Exception as exc:  # noqa: BLE001 - show what went wrong in the view
            self.write([f"checks failed: {harmless(str(exc))}"])


class GenerationsScreen(TextScreen):
    """A host's system generations, listed when the screen opens."""

    def __init__(self, host: Host, load: Callable[[], Awaitable[list[GenerationInfo]]], glyphs: Glyphs) -> None:
        super().__init__(f"system generations of {host.name}", [f"running generations on {host.name}{glyphs.ellipsis}"])
        self.load = load

    def begin(self) -> None:
        self._list()

    @work(group="ops", exit_on_error=False)
    async def _list(self) -> None:
        try:
            self.write(fmt.generation_lines(await self.load()))
        except Exception as exc:  # noqa: BLE001 - show what went wrong in the view
            self.write([f"generations failed: {harmless(str(exc))}"])


class HistoryScreen(Screen[None]):
    """Past deploy runs from the journal; Enter asks the app to open one (RunChosen)."""

    BINDINGS = actions.HISTORY.bindings()

    class RunChosen(Message):
        """Replay this run into the deploy pane, or follow it when it is still going."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, load: Callable[[], list[RunSummary]], glyphs: Glyphs, host: str | None = None) -> None:
        super().__init__()
        self.load = load
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
            self.query_one("#history-empty", Static).update(Text(f"cannot read the journal: {harmless(str(exc))}"))
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
                hosts.append(f"{ng}{harmless(node)}" if ng else harmless(node), style=rich_style(ns))
            table.add_row(when, Text(f"{glyph} {word}", style=rich_style(style)), Text(harmless(run.method)), hosts,
                          Text(harmless(run.run_id)), key=run.run_id)
        self.query_one("#history-empty", Static).update("" if self.runs else "No deploys recorded yet.")

    @on(DataTable.RowSelected, "#history")
    def _row_selected(self) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one("#history", DataTable)
        if not self.runs or table.cursor_row < 0:
            return
        self.post_message(self.RunChosen(self.runs[table.cursor_row].run_id))


class CommandLogScreen(Screen[None]):
    """Every command labtui ran (lazygit's `@`), newest last; y copies one, Y copies all (OSC 52)."""

    BINDINGS = actions.COMMAND_LOG.bindings()

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
        def added(record: CommandRecord) -> None:  # from any task: drawn on the app's loop
            self.app.call_later(self._add, record)

        self._unsubscribe = self.commands.subscribe(added)

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def _add(self, record: CommandRecord) -> None:
        table = self.query_one("#commands", DataTable)
        when = _dt.datetime.fromtimestamp(record.ts).strftime("%H:%M:%S")
        command = record.command if len(record.command) < 400 else record.command[:399] + "…"
        # Text cells: a str cell would be read as markup (`[` is common in commands and unit globs).
        table.add_row(when, Text(harmless(record.where)), Text(harmless(command.replace("\n", "⏎"))))

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
            self.notify(f"copied: {harmless(fmt.truncate(text, 60))}", markup=False)

    def action_copy_all(self) -> None:
        text = "\n".join(r.copyable() for r in self._records())
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {len(self._records())} commands")


class HelpScreen(Screen[None]):
    """Every key (from the action table) and the glyphs."""

    BINDINGS = actions.HELP.bindings()

    def __init__(self, glyphs: Glyphs) -> None:
        super().__init__()
        self.glyphs = glyphs

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(actions.help_text(self.glyphs), id="help-text")
        yield Footer()
