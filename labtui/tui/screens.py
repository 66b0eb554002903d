"""Full screens besides the dashboard and the deploy pane: a host's journal, checks and generations, the deploy
history, the command log and the help.

What hosts sent is shown through `labtui.text.harmless`, as Log lines or Rich Text (a DataTable reads a str cell
as markup: cells are Text)."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Log, Static

from labtui.commandlog import CommandLog, CommandRecord
from labtui.inventory.model import Host
from labtui.ops.checks import CheckResult
from labtui.ops.generations import ClosureChange, GenerationInfo
from labtui.ops.logs import LogItem, LogStream
from labtui.text import harmless
from labtui.tui import actions
from labtui.tui import format as fmt
from labtui.tui.format import rich_style
from labtui.tui.glyphs import Glyphs
from labtui.tui.sources import RunSummary
from labtui.tui.widgets import KeyFooter, KeyLog, KeyTable, ViewFilter, line_matcher, toggle_wrap, wrap_wanted

LOG_FLUSH = 0.1
HISTORY_POLL = 2.0  # seconds between journal reads while a run shown is still going
LOG_MAX_LINES = 20_000


class TextScreen(Screen[None]):
    """A text shown as it arrives (journal, checks, generations): a title, the lines, `/` to filter, copy."""

    BINDINGS = actions.TEXT_VIEW.bindings()
    SCOPE = actions.TEXT_VIEW

    def __init__(self, title: str, lines: list[str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.initial = lines or []
        self._all: list[str] = []
        self._matcher: re.Pattern[str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold"), id="stream-title", classes="topbar")
        yield KeyLog(id="stream", max_lines=LOG_MAX_LINES, wrap=wrap_wanted(self))
        yield ViewFilter(self._filter_changed)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        if self.initial:
            self.write(self.initial)
        self.begin()

    def begin(self) -> None:
        """Subclasses start fetching what they show here (Textual calls each class's on_mount itself)."""

    def write(self, lines: list[str]) -> None:
        self._all.extend(lines)
        shown = lines if self._matcher is None else [line for line in lines if self._matcher.search(line)]
        if shown:
            self.query_one(Log).write_lines(shown)

    def replace(self, old: str, lines: list[str]) -> None:
        """Take `old` (a "running…" line) away and show `lines` instead."""
        if old in self._all:
            self._all.remove(old)
            self._rewrite()
        self.write(lines)

    @property
    def shown_lines(self) -> list[str]:
        return self._all if self._matcher is None else [line for line in self._all if self._matcher.search(line)]

    def _rewrite(self) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write_lines(self.shown_lines)
        title = Text(self.title_text, style="bold")
        if self._matcher is not None:
            title.append(f"  filter {self._matcher.pattern} ({len(self.shown_lines)}/{len(self._all)} lines)",
                         style=rich_style("$warning"))
        self.query_one("#stream-title", Static).update(title)

    def action_filter(self) -> None:
        self.query_one(ViewFilter).open(self._matcher.pattern if self._matcher is not None else "")

    def _filter_changed(self, text: str) -> None:
        self._matcher = line_matcher(text)
        self._rewrite()

    @on(Input.Submitted, ".view-filter")
    def _filter_submitted(self) -> None:
        self.query_one(ViewFilter).close()
        self.query_one(Log).focus()

    def action_back(self) -> None:
        box = self.query_one(ViewFilter)
        if box.is_open:
            self._filter_submitted()
        elif self._matcher is not None:
            box.value = ""  # the box clears the filter
        else:
            self.app.pop_screen()

    def action_copy(self) -> None:
        lines = self.shown_lines
        self.app.copy_to_clipboard("\n".join(lines))
        self.notify(f"copied {len(lines)} lines")

    def action_wrap(self) -> None:
        toggle_wrap(self.query_one(KeyLog))


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
        self.waiting = f"running checks on {host.name}{glyphs.ellipsis}"
        super().__init__(f"health checks of {host.name}", [self.waiting])
        self.host = host
        self.run = run

    def begin(self) -> None:
        self._run_checks()

    @work(group="ops", exit_on_error=False)
    async def _run_checks(self) -> None:
        name = self.host.name
        if not self.host.checks:
            self.replace(self.waiting,
                         [f"{name} has no health checks; declare them in labtui.toml ([hosts.{name}] checks)"])
            return
        try:
            results = [r async for r in self.run()]
        except Exception as exc:  # noqa: BLE001 - show what went wrong in the view
            self.replace(self.waiting, [f"checks failed: {harmless(str(exc))}"])
            return
        self.replace(self.waiting, fmt.check_lines(results))


class GenerationsScreen(Screen[None]):
    """A host's system generations, newest first, one row each: `d` what changed, `R` roll back to one."""

    BINDINGS = actions.GENERATIONS.bindings()
    SCOPE = actions.GENERATIONS

    class RollbackRequested(Message):
        """Switch `host` to generation `number` (the app asks first, as `labtui rollback` does)."""

        def __init__(self, host: str, number: int) -> None:
            super().__init__()
            self.host = host
            self.number = number

    def __init__(self, host: Host, load: Callable[[], Awaitable[list[GenerationInfo]]], glyphs: Glyphs,
                 diff: Callable[[int, int], Awaitable[list[ClosureChange]]] | None = None) -> None:
        super().__init__()
        self.host = host
        self.load = load
        self.diff = diff
        self.glyphs = glyphs
        self.title_text = f"system generations of {host.name}"
        self.generations: list[GenerationInfo] = []  # newest first, as shown

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold"), classes="topbar")
        yield KeyTable(id="generations", cursor_type="row")
        yield Static(Text(f"listing the generations of {self.host.name}{self.glyphs.ellipsis}"),
                     id="generations-note")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#generations", DataTable)
        for key, label in (("gen", "GEN"), ("date", "DATE"), ("flags", "FLAGS"), ("kernel", "KERNEL"),
                           ("nixos", "NIXOS")):
            table.add_column(label, key=key)
        table.focus()
        self._list()

    @property
    def lines(self) -> list[str]:
        """The list as text (what `y` copies)."""
        return fmt.generation_lines(self.generations)

    @work(group="ops", exit_on_error=False)
    async def _list(self) -> None:
        note = self.query_one("#generations-note", Static)
        try:
            gens = await self.load()
        except Exception as exc:  # noqa: BLE001 - show what went wrong in the view
            note.update(Text(f"generations failed: {harmless(str(exc))}"))
            return
        self.generations = sorted(gens, key=lambda g: g.number, reverse=True)
        table = self.query_one("#generations", DataTable)
        for g in self.generations:
            flags = " ".join(f for f, on in (("current", g.current), ("booted", g.booted), ("next-boot", g.default))
                             if on)
            table.add_row(Text(str(g.number), style="bold" if g.current else ""), g.date[:10],
                          Text(flags, style="bold"), Text(harmless(g.kernel or "-")), Text(harmless(g.nixos_version)),
                          key=str(g.number))
        current = next((i for i, g in enumerate(self.generations) if g.current), 0)
        table.move_cursor(row=current)
        note.update(Text("d: what changed from the highlighted generation to the current one; "
                         "R: roll back to it", style=rich_style("$text-muted")))

    def _highlighted(self) -> GenerationInfo | None:
        row = self.query_one("#generations", DataTable).cursor_row
        return self.generations[row] if 0 <= row < len(self.generations) else None

    def action_diff(self) -> None:
        chosen = self._highlighted()
        current = next((g for g in self.generations if g.current), None)
        if chosen is None or current is None or self.diff is None:
            return
        if chosen.number == current.number:  # the current one: what its deploy changed
            older = [g for g in self.generations if g.number < current.number]
            if not older:
                self.notify("no generation before the current one to compare with")
                return
            a, b = older[0].number, current.number
        else:
            a, b = sorted((chosen.number, current.number))
        self.app.push_screen(DiffScreen(self.host.name, a, b, self.diff, self.glyphs))

    def action_rollback(self) -> None:
        chosen = self._highlighted()
        if chosen is not None:
            self.post_message(self.RollbackRequested(self.host.name, chosen.number))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard("\n".join(self.lines))
        self.notify(f"copied {len(self.generations)} generations")


class DiffScreen(TextScreen):
    """What changed on a host from generation A to B (`labtui generations --diff A B`)."""

    def __init__(self, host: str, a: int, b: int, diff: Callable[[int, int], Awaitable[list[ClosureChange]]],
                 glyphs: Glyphs) -> None:
        self.waiting = f"comparing generation {a} with {b} on {host}{glyphs.ellipsis}"
        super().__init__(f"what changed on {host} from generation {a} to {b}", [self.waiting])
        self.a, self.b = a, b
        self.diff = diff

    def begin(self) -> None:
        self._compare()

    @work(group="ops", exit_on_error=False)
    async def _compare(self) -> None:
        try:
            changes = await self.diff(self.a, self.b)
        except Exception as exc:  # noqa: BLE001 - show what went wrong in the view
            self.replace(self.waiting, [f"diff failed: {harmless(str(exc))}"])
            return
        lines = [harmless(f"{c.package}: {c.change}{', ' if c.change and c.size_delta else ''}{c.size_delta}")
                 for c in changes]
        self.replace(self.waiting, lines or ["no package changed"])


class HistoryScreen(Screen[None]):
    """Past deploy runs from the journal; Enter asks the app to open one (RunChosen)."""

    BINDINGS = actions.HISTORY.bindings()
    SCOPE = actions.HISTORY

    class RunChosen(Message):
        """Replay this run into the deploy pane, or follow it when it is still going."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, load: Callable[[], list[RunSummary]], glyphs: Glyphs, host: str | None = None,
                 problem: Callable[[], str | None] | None = None) -> None:
        super().__init__()
        self.load = load
        self.problem = problem or (lambda: None)  # why only what could be recovered is listed
        self.glyphs = glyphs
        self.host = host
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        title = "deploy history" + (f" of {self.host}" if self.host else "")
        yield Static(Text(title, style="bold"), classes="topbar")
        yield KeyTable(id="history", cursor_type="row")
        yield Static(id="history-empty")
        yield Static(id="history-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_column("WHEN", key="when")
        table.add_column("RESULT", key="result")
        table.add_column("METHOD", key="method")
        table.add_column("HOSTS", key="hosts")
        self.action_reload()
        table.focus()
        # A run listed as running is read again until it ends (a local SQLite read: cheap).
        self.set_interval(HISTORY_POLL, self._poll_running)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def _poll_running(self) -> None:
        if any(r.outcome is None for r in self.runs):
            self.action_reload()

    def action_reload(self) -> None:
        table = self.query_one("#history", DataTable)
        try:
            runs = self.load()
        except Exception as exc:  # noqa: BLE001 - a broken journal must not take the TUI down
            self.query_one("#history-empty", Static).update(Text(f"cannot read the journal: {harmless(str(exc))}"))
            return
        if runs == self.runs and table.row_count == len(runs):
            return  # nothing changed: nothing redrawn
        keep = table.cursor_row
        table.clear()
        self.runs = runs
        g = self.glyphs
        # What the other columns leave: WHEN 11, RESULT 11, METHOD as wide as it is, each with 2 of padding.
        method_width = max((len(r.method) for r in runs), default=6)
        hosts_width = max(12, self.size.width - 11 - 11 - method_width - 8 - 2)
        for run in runs:
            when = _dt.datetime.fromtimestamp(run.started).strftime("%m-%d %H:%M")
            glyph, word, style = fmt.run_cell(g, run.outcome)
            table.add_row(when, Text(f"{glyph} {word}", style=rich_style(style)), Text(harmless(run.method)),
                          self._hosts(run, hosts_width), key=run.run_id)
        problem = self.problem()
        note = f"cannot use the journal: {harmless(problem)}; listing what could be recovered" if problem else ""
        empty = "" if runs else "No deploys recorded yet."
        self.query_one("#history-empty", Static).update(Text("\n".join(filter(None, (note, empty))),
                                                               style=rich_style("bold $error") if note else ""))
        if runs:
            table.move_cursor(row=min(max(keep, 0), len(runs) - 1))
        self._show_detail()

    def _hosts(self, run: RunSummary, width: int) -> Text:
        """`✔web1 ↺web2 +3`: as many hosts as fit, then how many more (the panel below lists them all)."""
        hosts = Text()
        for i, node in enumerate(run.nodes):
            ng, _, ns = fmt.outcome_cell(self.glyphs, run.node_outcomes.get(node))
            item = f"{ng}{harmless(node)}"
            more = f" +{len(run.nodes) - i}"
            last = i == len(run.nodes) - 1
            if hosts.cell_len + (1 if i else 0) + len(item) + (0 if last else len(more) + 1) > width and i:
                hosts.append(more, style="bold")
                break
            hosts.append(" " if i else "")
            hosts.append(item, style=rich_style(ns))
        return hosts

    @on(DataTable.RowHighlighted, "#history")
    def _show_detail(self) -> None:
        """Everything about the highlighted run, wrapped: its id, method, times and every host's outcome."""
        table = self.query_one("#history", DataTable)
        box = self.query_one("#history-detail", Static)
        if not self.runs or not 0 <= table.cursor_row < len(self.runs):
            box.update("")
            return
        run = self.runs[table.cursor_row]
        g = self.glyphs
        glyph, word, style = fmt.run_cell(g, run.outcome)
        out = Text()
        out.append(f"run {harmless(run.run_id)}", style="bold")
        out.append(f"  {harmless(run.method)}  ")
        out.append(f"{glyph} {word}", style=rich_style(style))
        started = _dt.datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M:%S")
        took = f", took {fmt.duration(run.finished - run.started, precise=True)}" if run.finished else ""
        out.append(f"\nstarted {started}{took}\n", style=rich_style("$text-muted"))
        for i, node in enumerate(run.nodes):
            ng, nw, ns = fmt.outcome_cell(g, run.node_outcomes.get(node))
            out.append("  " if i else "")
            out.append(f"{ng or g.running} {harmless(node)} {nw or 'running'}", style=rich_style(ns))
        box.update(out)

    @on(DataTable.RowSelected, "#history")
    def _row_selected(self) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one("#history", DataTable)
        if not self.runs or table.cursor_row < 0:
            return
        self.post_message(self.RunChosen(self.runs[table.cursor_row].run_id))


class CommandLogScreen(Screen[None]):
    """Every command labtui ran (lazygit's `@`), newest last; `/` filters, y copies one, Y copies all (OSC 52)."""

    BINDINGS = actions.COMMAND_LOG.bindings()
    SCOPE = actions.COMMAND_LOG
    TITLE_TEXT = "command log: every command labtui ran (copy and run by hand)"

    def __init__(self, log: CommandLog) -> None:
        super().__init__()
        self.commands = log
        self._unsubscribe: Callable[[], None] | None = None
        self._matcher: re.Pattern[str] | None = None
        self._shown: list[CommandRecord] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(self.TITLE_TEXT, style="bold"), id="commands-title", classes="topbar")
        yield KeyTable(id="commands", cursor_type="row")
        # The highlighted command whole, as you would run it (the COMMAND column cuts long ones at 80 columns).
        yield Static(id="command-detail")
        yield ViewFilter(self._filter_changed,
                         "filter: a regex on host and command, any case  (enter: keep, esc: close)")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#commands", DataTable)
        table.add_column("TIME", key="time")
        table.add_column("WHERE", key="where")
        table.add_column("COMMAND", key="command")
        self._rebuild()
        table.focus()

        def added(record: CommandRecord) -> None:  # from any task: drawn on the app's loop
            self.app.call_later(self._add, record)

        self._unsubscribe = self.commands.subscribe(added)

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def _matches(self, record: CommandRecord) -> bool:
        return self._matcher is None or bool(self._matcher.search(f"{record.where} {record.shown}"))

    def _rebuild(self) -> None:
        table = self.query_one("#commands", DataTable)
        table.clear()
        self._shown = []
        for record in self.commands.records():
            self._add(record)
        table.move_cursor(row=table.row_count - 1)
        title = Text(self.TITLE_TEXT, style="bold")
        if self._matcher is not None:
            title = Text("command log", style="bold")
            title.append(f"  filter {self._matcher.pattern} ({len(self._shown)}/{len(self.commands.records())})",
                         style=rich_style("$warning"))
        self.query_one("#commands-title", Static).update(title)

    def _add(self, record: CommandRecord) -> None:
        if not self._matches(record):
            return
        table = self.query_one("#commands", DataTable)
        when = _dt.datetime.fromtimestamp(record.last or record.ts).strftime("%H:%M:%S")
        # Text cells: a str cell would be read as markup (`[` is common in commands and unit globs).
        where = Text(harmless(record.where) + (f" ×{record.count}" if record.count > 1 else ""))
        if record.key in table.rows:  # it ran again (the status probe): its count and time
            self._shown = [record if r.key == record.key else r for r in self._shown]
            table.update_cell(record.key, "time", when)
            table.update_cell(record.key, "where", where, update_width=True)
            return
        command = record.shown if len(record.shown) < 400 else record.shown[:399] + "…"
        self._shown.append(record)
        table.add_row(when, where, Text(harmless(command.replace("\n", "⏎"))), key=record.key)

    def _records(self) -> list[CommandRecord]:
        return list(self._shown)

    def action_filter(self) -> None:
        self.query_one(ViewFilter).open(self._matcher.pattern if self._matcher is not None else "")

    def _filter_changed(self, text: str) -> None:
        self._matcher = line_matcher(text)
        self._rebuild()

    @on(Input.Submitted, ".view-filter")
    def _filter_submitted(self) -> None:
        self.query_one(ViewFilter).close()
        self.query_one("#commands", DataTable).focus()

    def action_back(self) -> None:
        box = self.query_one(ViewFilter)
        if box.is_open:
            self._filter_submitted()
        elif self._matcher is not None:
            box.value = ""
        else:
            self.app.pop_screen()

    @on(DataTable.RowSelected, "#commands")
    def _row_selected(self) -> None:
        self.action_copy_one()

    @on(DataTable.RowHighlighted, "#commands")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        records = self._records()
        shown = records[event.cursor_row].copyable() if 0 <= event.cursor_row < len(records) else ""
        self.query_one("#command-detail", Static).update(Text(harmless(shown, keep_newlines=True)))

    def action_copy_one(self) -> None:
        table = self.query_one("#commands", DataTable)
        records = self._records()
        if 0 <= table.cursor_row < len(records):
            text = records[table.cursor_row].copyable()
            self.app.copy_to_clipboard(text)
            self.notify(f"copied: {harmless(fmt.truncate(text, 60))}", markup=False)

    def action_copy_all(self) -> None:
        records = self._records()
        self.app.copy_to_clipboard("\n".join(r.copyable() for r in records))
        self.notify(f"copied {len(records)} commands")


class HelpScreen(Screen[None]):
    """Every key (from the action table) and the glyphs."""

    BINDINGS = actions.HELP.bindings()
    SCOPE = actions.HELP

    def __init__(self, glyphs: Glyphs) -> None:
        super().__init__()
        self.glyphs = glyphs

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(actions.help_text(self.glyphs), id="help-text")
        yield KeyFooter()

    def on_resize(self, event: events.Resize) -> None:
        # Wrapped for this width (padding and scrollbar off): a long line goes on under its own text.
        self.query_one("#help-text", Static).update(actions.help_text(self.glyphs, width=event.size.width - 4))
