"""LabApp: the full-screen face of labtui.

The app gets everything it talks to injected (inventory, status source, deploy starter, history,
ops, clock), so tests and the demo hand it fakes or the simulated lab, and `labtui` hands it the
real SSH pool and deploy engine. Widgets never do I/O: workers read the sources and update them.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.runs.events import Event, Output, Prompt, RunResult
from labtui.inventory.model import Host, Inventory
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.tui import filtering
from labtui.tui import format as fmt
from labtui.tui.deploy_model import RunView
from labtui.tui.dialogs import DeployDialog, PasswordDialog, PlanDialog, QuitDialog, TypeNameDialog, YesNoDialog
from labtui.tui.glyphs import Glyphs, pick
from labtui.tui.sources import DeployChoice, DeployHandle, DeployStarter, HistorySource, StatusSource, maybe_await
from labtui.tui.views import CommandLogScreen, DeployScreen, HelpScreen, HistoryScreen, StreamScreen
from labtui.tui.widgets import SORT_KEYS, HostDetails, HostTable, LabFooter, rich_style

# Events handled between two yields to the UI loop when a deploy floods output.
_EVENT_BATCH = 512
# deploy-rs questions arriving within this many seconds are answered together (parallel runs).
PROMPT_GATHER = 0.3
# Data age and topbar refresh.
AGE_TICK = 1.0
EXTRAS_TTL = 30.0  # seconds a host's fetched generation list is shown before it is fetched again
WIDE = 112  # from this width on, the details panel sits right of the table
TABLE_WIDTH = 84  # what the host table needs to show every column, with a vertical scrollbar
DETAILS_MIN_WIDTH = 32


class OpsSource:
    """Logs, checks and generations of a host, as text; `labtui.tui.adapters.CoreOps` wires the ops modules."""

    def logs(self, host: Host) -> Any:  # AsyncIterator[str]
        raise NotImplementedError

    async def checks(self, host: Host) -> list[str]:
        raise NotImplementedError

    async def generations(self, host: Host) -> list[str]:
        raise NotImplementedError


# (title, help, action) for the palette; every app action is reachable from it.
PALETTE_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Deploy", "deploy the marked hosts (or the selected one)", "deploy"),
    ("Deploy pane", "show the deploy pane of the current or last run", "show_deploy"),
    ("Details", "everything known about the selected host", "details"),
    ("Logs", "follow the journal of the selected host", "logs"),
    ("Checks", "run the health checks of the selected host", "checks"),
    ("Generations", "list the system generations of the selected host", "generations"),
    ("Refresh", "probe the hosts again now", "refresh"),
    ("Filter", "filter hosts by regex, @tag, !negation", "filter"),
    ("Clear filter and marks", "show every host, unmark all", "clear"),
    ("Mark host", "mark or unmark the selected host", "mark"),
    ("Mark all shown", "mark every shown host, or none", "mark_all"),
    ("Sort", "sort by the next column", "sort"),
    ("Reverse sort", "reverse the sort order", "sort_reverse"),
    ("History", "past deploy runs from the journal", "history"),
    ("Command log", "every command labtui ran, copyable", "command_log"),
    ("Cancel deploy", "cancel the running deploy", "cancel_deploy"),
    ("Help", "keys and glyphs", "help"),
    ("Quit", "leave labtui", "quit"),
)


class LabCommands(Provider):
    """Palette: every action, plus `deploy HOST`, `logs HOST`, ... for every host."""

    def _commands(self) -> Iterable[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        assert isinstance(app, LabApp)
        for title, help_text, action in PALETTE_ACTIONS:
            yield title, help_text, partial(app.run_action, action)
        for host in app.inventory.hosts:
            for verb, action in (("Deploy", "deploy_host"), ("Logs", "logs_host"), ("Details", "details_host"),
                                 ("Generations", "generations_host"), ("Checks", "checks_host")):
                yield f"{verb} {host.name}", f"{verb.lower()} of {host.name}", partial(
                    app.run_action, f"{action}('{host.name}')")

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class DetailsScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("l", "app.logs", "Logs"),
                Binding("g", "app.generations", "Generations"), Binding("D", "app.deploy", "Deploy")]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text, id="details-full")
        yield Footer()


class LabApp(App):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere keep it
    TITLE = "labtui"
    COMMANDS = App.COMMANDS | {LabCommands}

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("space", "mark", "Mark", show=False),
        Binding("ctrl+a", "mark_all", "Mark all", show=False),
        Binding("enter", "details", "Details", show=False),
        Binding("D", "deploy", "Deploy"),
        Binding("p", "show_deploy", "Deploy pane", show=False),
        Binding("l", "logs", "Logs"),
        Binding("c", "checks", "Checks", show=False),
        Binding("g", "generations", "Gens", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("s", "sort", "Sort", show=False),
        Binding("S", "sort_reverse", "Reverse sort", show=False),
        Binding("h", "history", "History"),
        Binding("at", "command_log", "Cmds"),
        Binding("escape", "clear", "Clear", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        inventory: Inventory,
        status: StatusSource,
        *,
        deploy: DeployStarter | None = None,
        history: HistorySource | None = None,
        ops: OpsSource | None = None,
        clock: Callable[[], float] = time.time,
        ascii_mode: bool = False,
        command_log: CommandLog = COMMAND_LOG,
        subtitle: str | None = None,
        animate: bool = True,
    ) -> None:
        super().__init__()
        self.inventory = inventory
        self.status = status
        self.deploy_starter = deploy
        self.history = history
        self.ops = ops
        self.clock = clock
        self.glyphs: Glyphs = pick(ascii_mode)
        self.ascii_mode = ascii_mode
        self.command_log = command_log
        self.subtitle_text = subtitle or inventory.flake_dir or inventory.flake
        self.animate = animate
        self.statuses: dict[str, HostStatus] = {}
        self.active_run: RunView | None = None
        self.active_handle: DeployHandle | None = None
        self.last_run: RunView | None = None
        self.deploy_screen: DeployScreen | None = None
        self.finished_runs: list[RunView] = []
        self.run_done = asyncio.Event()  # set each time a run ends (tests wait on it)
        self._wide: bool | None = None
        self._extras_for: str | None = None  # host whose generations/journal deploys were last fetched
        self._generations: dict[str, tuple[float, list[str]]] = {}
        self._journal_runs: dict[str, list[Any]] = {}

    # -- layout ------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="topbar", classes="topbar")
        main = Horizontal(id="main")
        table = HostTable(self.glyphs, self.clock, id="hosts")
        box = VerticalScroll(id="details-box")
        # The layout for this terminal's width is set before the first frame: switching it later
        # costs a full restyle and relayout.
        self._apply_layout(self.size.width, main, table, box, rows=len(self.inventory.hosts))
        with main:
            yield table
            with box:
                yield HostDetails(self.glyphs, self.clock, id="details")
        yield LabFooter()  # the filter Input is mounted the first time `/` is pressed (faster first paint)

    @property
    def table(self) -> HostTable:
        return self.query_one("#hosts", HostTable)

    def on_mount(self) -> None:
        if self.ascii_mode:
            self.add_class("-ascii")
        self.table.hosts = {h.name: h for h in self.inventory.hosts}
        self._load_last_outcomes()
        snapshot = self.status.snapshot()
        known = [st for st in (snapshot.values() if isinstance(snapshot, dict) else snapshot)
                 if st.host in self.table.hosts]
        self.statuses.update({st.host: st for st in known})
        self.table.set_statuses(known)  # builds the rows once, with their values
        self._update_topbar()
        self._show_details()  # before the first frame: filling it later would lay the screen out twice
        # Everything alive now (imports, widgets, CSS) stays alive: keep it out of the collector's full
        # passes, which otherwise stall the UI for tens of ms while a deploy floods output.
        self.call_after_refresh(gc.freeze)
        # Focus now, not through focus()'s call_later: a table focused after the first frame is
        # painted again in full (its render cache is keyed on the focus state).
        self.screen.set_focus(self.table)
        if self.animate:
            self.set_interval(AGE_TICK, self._tick)
        self._follow_status()
        self._announce_running_runs()

    def _announce_running_runs(self) -> None:
        running = getattr(self.history, "running_runs", None)
        try:
            runs = running() if running is not None else []
        except Exception:  # noqa: BLE001 - a journal problem must not stop the dashboard
            return
        for r in runs:
            self.notify(f"deploy {r.run_id} of {', '.join(r.nodes)} is still running: h, then enter, follows it",
                        title="labtui", timeout=10)

    def on_resize(self, event) -> None:
        self._apply_layout(event.size.width, self.query_one("#main"), self.table, self.query_one("#details-box"),
                           rows=len(self.table.shown))

    def _apply_layout(self, width: int, main, table, box, *, rows: int) -> None:
        """Wide terminals: details right of the table, which keeps the ~80 columns it needs; narrow ones:
        the table as tall as its rows (at most 60%), the details below get the rest."""
        wide = width >= WIDE
        self._wide = wide
        line = "ascii" if self.ascii_mode else "solid"
        styles = {
            main: {"layout": "horizontal" if wide else "vertical"},
            table: {"height": "1fr" if wide else rows + 1, "max_height": "100%" if wide else "60%"},
            box: {"width": max(DETAILS_MIN_WIDTH, width - TABLE_WIDTH) if wide else "100%",
                  "border_left": (line, self._muted) if wide else ("none", self._muted),
                  "border_top": ("none", self._muted) if wide else (line, self._muted)},
        }
        for widget, values in styles.items():
            for name, value in values.items():
                if getattr(widget.styles, name) != value:
                    setattr(widget.styles, name, value)

    @property
    def _muted(self) -> str:
        """The theme's $primary-muted (inline styles cannot name CSS variables)."""
        return self.get_css_variables().get("primary-muted", "#3b5a7a")

    def _fit_table(self) -> None:
        if not self._wide:
            self.table.styles.height = len(self.table.shown) + 1

    # -- status ----------------------------------------------------------------------------------
    @work(group="status", exit_on_error=False)
    async def _follow_status(self) -> None:
        async for st in self.status.stream():
            self._apply_status(st)

    def _apply_status(self, st: HostStatus) -> None:
        if st.host not in self.table.hosts:
            return
        self.statuses[st.host] = st
        self.table.set_status(st)
        if st.host == self.table.current:
            self._show_details()
        self._update_topbar()

    def _tick(self) -> None:
        self.table.refresh_ages()
        self._update_topbar()
        if self.screen is self.screen_stack[0]:
            self._show_details()

    def _update_topbar(self) -> None:
        g = self.glyphs
        total = len(self.inventory.hosts)
        counts: dict[HostState, int] = {}
        for name in self.table.hosts:
            st = self.statuses.get(name)
            state = st.state if st else HostState.CONNECTING
            counts[state] = counts.get(state, 0) + 1
        bar = Text()
        bar.append("labtui ", style="bold")
        bar.append(fmt.truncate(self.subtitle_text, 28, g.ellipsis), style="dim")
        bar.append(f"  {total} hosts ")
        for state in (HostState.UP, HostState.DEGRADED, HostState.DOWN, HostState.CONNECTING,
                      HostState.AUTH_FAILED, HostState.HOST_KEY_UNKNOWN, HostState.HOST_KEY_CHANGED):
            if counts.get(state):
                glyph, _, style = fmt.state_cell(g, state)
                bar.append(f" {counts[state]}{glyph}", style=rich_style(style))
        shown = len(self.table.shown)
        if self.table.filter.text:
            bar.append(f"  filter {self.table.filter.text} ({shown}/{total})", style="yellow")
        if self.table.marked:
            bar.append(f"  {len(self.table.marked)} marked", style="bold")
        if self.table.sort_key != "name" or self.table.sort_reverse:
            arrow = g.arrow_down if self.table.sort_reverse else g.arrow_up
            bar.append(f"  sort {self.table.sort_key}{arrow}", style="dim")
        run = self.active_run
        if run is not None and run.running:
            done = sum(1 for v in run.nodes.values() if v.done)
            bar.append(f"  {g.running} deploy {done}/{len(run.nodes)} (p)", style="bold yellow")
        self.query_one("#topbar", Static).update(bar)

    # -- details ---------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#hosts")
    def _highlighted(self) -> None:
        self._show_details()

    @on(DataTable.RowSelected, "#hosts")
    def _selected(self) -> None:
        self.action_details()

    def _deploys_of(self, host: str) -> list[tuple[float, str, str]]:
        """This session's deploys of the host, then the journal's (newest first)."""
        out = []
        for run in reversed(self.finished_runs):
            view = run.nodes.get(host)
            if view and view.outcome:
                out.append((view.finished or run.finished or 0.0, view.outcome, run.method or ""))
        seen = {r.run_id for r in self.finished_runs}
        for summary in self._journal_runs.get(host, []):
            outcome = summary.node_outcomes.get(host)
            if outcome and summary.run_id not in seen:
                out.append((summary.finished or summary.started, outcome, summary.method))
        return sorted(out, key=lambda d: d[0], reverse=True)

    def _show_details(self) -> None:
        name = self.table.current
        host = self.table.hosts.get(name) if name else None
        details = self.query_one("#details", HostDetails)
        gens = self._generations.get(name) if name else None
        details.show(host, self.statuses.get(name) if name else None, self._deploys_of(name) if name else [],
                     gens[1] if gens else None)
        if name and name != self._extras_for:
            self._extras_for = name
            self._load_extras(name)

    @work(group="extras", exclusive=True, exit_on_error=False)
    async def _load_extras(self, name: str) -> None:
        """Generations (over SSH) and past deploys (journal) of the selected host, for its details."""
        host = self.inventory.get(name)
        changed = False
        if self.history is not None:
            try:
                self._journal_runs[name] = self.history.list_runs(name)[:5]
                changed = True
            except Exception:  # noqa: BLE001 - the journal only adds to the panel
                pass
        cached = self._generations.get(name)
        fresh = cached is not None and self.clock() - cached[0] < EXTRAS_TTL
        if self.ops is not None and not fresh:
            try:
                lines = await self.ops.generations(host)
                self._generations[name] = (self.clock(), [_compact_generation(line) for line in lines[1:]])
                changed = True
            except Exception:  # noqa: BLE001 - an unreachable host simply shows none
                pass
        if changed and self.table.current == name:
            self._show_details()

    def _load_last_outcomes(self) -> None:
        if self.history is None:
            return
        for name in self.table.hosts:
            try:
                self.table.last_outcomes[name] = self.history.last_outcome(name)
            except Exception:  # noqa: BLE001 - a journal problem only hides this column
                return

    # -- simple actions ------------------------------------------------------------------------------
    def _selected_host(self) -> Host | None:
        name = self.table.current
        return self.table.hosts.get(name) if name else None

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.glyphs))

    def _filter_box(self) -> Input | None:
        return self.screen_stack[0].query_one_optional("#filter", Input)

    async def action_filter(self) -> None:
        box = self._filter_box()
        if box is None:
            box = Input(placeholder="filter: regex, @tag, !negate  (enter: keep, esc: close)", id="filter")
            await self.screen_stack[0].mount(box, before=self.screen_stack[0].query_one(Footer))
        box.value = self.table.filter.text
        box.add_class("-open")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        flt = filtering.parse(event.value)
        self.table.set_filter(flt)
        self._fit_table()
        self._update_topbar()
        self._show_details()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        flt = filtering.parse(event.value)
        if flt.error:
            self.notify(flt.error, severity="warning")
        self._close_filter()

    def _close_filter(self) -> None:
        box = self._filter_box()
        if box is not None:
            box.remove_class("-open")
        self.table.focus()

    def action_clear(self) -> None:
        box = self._filter_box()
        if box is not None and box.has_class("-open"):
            self._close_filter()
            return
        if self.table.filter.text:
            self.table.set_filter(filtering.parse(""))
            self._fit_table()
        elif self.table.marked:
            self.table.clear_marks()
        self._update_topbar()
        self._show_details()

    def action_mark(self) -> None:
        name = self.table.current
        if name:
            self.table.toggle_mark(name)
            self.table.action_cursor_down()
            self._update_topbar()

    def action_mark_all(self) -> None:
        shown = set(self.table.shown)
        if shown <= self.table.marked:
            self.table.clear_marks()
        else:
            for name in shown - self.table.marked:
                self.table.toggle_mark(name)
        self._update_topbar()

    def action_sort(self) -> None:
        keys = SORT_KEYS
        nxt = keys[(keys.index(self.table.sort_key) + 1) % len(keys)]
        self.table.set_sort(nxt, self.table.sort_reverse)
        self.notify(f"sorted by {nxt}", timeout=1.5)
        self._update_topbar()

    def action_sort_reverse(self) -> None:
        self.table.set_sort(self.table.sort_key, not self.table.sort_reverse)
        self._update_topbar()

    def action_refresh(self) -> None:
        names = self.table.targets() if self.table.marked else [None]
        self._refresh(names)
        self.notify("refreshing " + (", ".join(n for n in names if n) if names != [None] else "all hosts"),
                    timeout=1.5)

    @work(group="refresh", exit_on_error=False)
    async def _refresh(self, names: list[str | None]) -> None:
        for name in names:
            await maybe_await(self.status.refresh(name))

    def action_details(self) -> None:
        host = self._selected_host()
        if host:
            self.action_details_host(host.name)

    def action_details_host(self, name: str) -> None:
        host = self.inventory.get(name)
        gens = self._generations.get(name)
        text = self.query_one("#details", HostDetails).render_text(host, self.statuses.get(name),
                                                                   self._deploys_of(name), gens[1] if gens else None)
        self.push_screen(DetailsScreen(text))

    def action_command_log(self) -> None:
        self.push_screen(CommandLogScreen(self.command_log))

    # -- ops views -----------------------------------------------------------------------------------
    def _ops_or_notice(self, what: str) -> OpsSource | None:
        if self.ops is None:
            self.notify(f"{what} are not available yet in this build", severity="warning")
        return self.ops

    def action_logs(self) -> None:
        host = self._selected_host()
        if host:
            self.action_logs_host(host.name)

    def action_logs_host(self, name: str) -> None:
        ops = self._ops_or_notice("logs")
        if ops is None:
            return
        host = self.inventory.get(name)
        try:
            lines = ops.logs(host)
        except NotImplementedError:
            self.notify("logs are not available yet in this build", severity="warning")
            return
        self.push_screen(StreamScreen(f"journal of {name} (following; esc to stop)", lines))

    def action_checks(self) -> None:
        host = self._selected_host()
        if host:
            self.action_checks_host(host.name)

    def action_checks_host(self, name: str) -> None:
        if self._ops_or_notice("checks") is not None:
            self._text_view(f"health checks of {name}", "checks", name)

    def action_generations(self) -> None:
        host = self._selected_host()
        if host:
            self.action_generations_host(host.name)

    def action_generations_host(self, name: str) -> None:
        if self._ops_or_notice("generations") is not None:
            self._text_view(f"system generations of {name}", "generations", name)

    @work(group="ops", exit_on_error=False)
    async def _text_view(self, title: str, what: str, name: str) -> None:
        assert self.ops is not None
        host = self.inventory.get(name)
        screen = StreamScreen(title, [f"running {what} on {name}{self.glyphs.ellipsis}"])
        await self.push_screen(screen)
        try:
            lines = await getattr(self.ops, what)(host)
        except NotImplementedError:
            lines = [f"{what} are not available yet in this build"]
        except Exception as exc:  # noqa: BLE001 - show what went wrong in the view
            lines = [f"{what} failed: {exc}"]
        screen.write(lines)

    # -- history -------------------------------------------------------------------------------------
    def action_history(self) -> None:
        if self.history is None:
            self.notify("no deploy journal available", severity="warning")
            return
        history = self.history
        self.push_screen(HistoryScreen(lambda: history.list_runs(), self._open_past_run, self.glyphs))

    def _open_past_run(self, run_id: str) -> None:
        assert self.history is not None
        running = [r for r in self.history.list_runs() if r.run_id == run_id and r.outcome is None]
        if running and hasattr(self.history, "attach"):
            if self.active_run is not None and self.active_run.running:
                self.action_show_deploy()
                return
            self.follow_running(run_id, list(running[0].nodes))
            return
        run = RunView()
        try:
            for event in self.history.run_events(run_id):
                run.apply(event)
        except Exception as exc:  # noqa: BLE001
            self.notify(f"cannot read run {run_id}: {exc}", severity="error")
            return
        self.push_screen(DeployScreen(run, self.glyphs, self.clock, title=f"run {run_id} (replayed)", live=False))

    # -- deploy --------------------------------------------------------------------------------------
    def action_deploy(self) -> None:
        names = self.table.targets()
        if names:
            self._start_deploy_flow(names)

    def action_deploy_host(self, name: str) -> None:
        self._start_deploy_flow([name])

    def _start_deploy_flow(self, names: list[str]) -> None:
        if self.deploy_starter is None:
            self.notify("deploys are not available in this build", severity="warning")
            return
        if self.active_run is not None and self.active_run.running:
            self.notify("a deploy is already running; p shows it, x in it cancels it", severity="warning")
            return
        self._deploy_flow([self.inventory.get(n) for n in names])

    @work(group="deploy", exclusive=True, exit_on_error=False)
    async def _deploy_flow(self, hosts: list[Host]) -> None:
        methods = {h.method for h in hosts}
        choice = await self.push_screen_wait(DeployDialog(hosts, default_method=methods.pop() if len(methods) == 1
                                                          else "deploy-rs"))
        if choice is None:
            return
        critical = [h.name for h in hosts if h.critical]
        if critical and not await self.push_screen_wait(TypeNameDialog(critical)):
            self.notify("deploy cancelled")
            return
        await self.run_deploy(hosts, choice)

    async def ask_modal(self, screen: Screen) -> Any:
        """Show a modal from any task (not only workers) and wait for its answer."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(value: Any) -> None:
            if not future.done():
                future.set_result(value)

        self.push_screen(screen, callback=done)
        return await future

    async def _ask_password(self, host: str) -> str | None:
        return await self.ask_modal(PasswordDialog(host))

    async def run_deploy(self, hosts: list[Host], choice: DeployChoice) -> RunView:
        """Start a deploy and follow its events into the deploy pane until it ends."""
        assert self.deploy_starter is not None
        starter = self.deploy_starter

        async def start() -> DeployHandle:
            return await maybe_await(starter(hosts, choice, self._ask_password))

        return await self._run_in_pane([h.name for h in hosts], f"{choice.method} {choice.action} ({choice.mode})",
                                       start)

    async def _run_in_pane(self, nodes: list[str], title: str, start: Callable[[], Any]) -> RunView:
        run = RunView(nodes)
        self.active_run = run
        self.run_done.clear()
        self.deploy_screen = DeployScreen(run, self.glyphs, self.clock, animate=self.animate, title=title)
        await self.push_screen(self.deploy_screen)
        gc.freeze()  # the pane's widgets are long-lived too (see on_mount)
        self._update_topbar()
        try:
            handle = await start()
            self.active_handle = handle
            await self._follow_events(run, handle)
        except Exception as exc:  # noqa: BLE001 - the run failed to start or broke: say so, keep the TUI
            self.notify(f"deploy failed: {exc}", severity="error", timeout=10)
            if run.running:
                run.apply(RunResult(ts=self.clock(), outcome="failed", exit_code=None))
        finally:
            self.active_handle = None
            self._run_finished(run)
        return run

    @work(group="deploy", exclusive=True, exit_on_error=False)
    async def follow_running(self, run_id: str, nodes: list[str]) -> None:
        """Re-attach to a run started earlier (left running when labtui quit, or from `labtui deploy`)."""
        history = self.history
        attach = getattr(history, "attach", None)
        if attach is None:
            return

        async def start() -> DeployHandle:
            return attach(run_id, self._ask_password)

        await self._run_in_pane(nodes, f"run {run_id} (attached)", start)

    async def _follow_events(self, run: RunView, handle: DeployHandle) -> None:
        pending_node: str | None = None
        pending: list[str] = []
        prompts = _PromptBatcher(self, handle)
        count = 0

        def flush() -> None:
            nonlocal pending
            if pending:
                run.apply_lines(pending_node, pending)
                pending = []

        try:
            async for event in handle.events():
                count += 1
                if isinstance(event, Output):
                    if event.node != pending_node:
                        flush()
                        pending_node = event.node
                    pending.append(event.line)
                else:
                    flush()
                    run.apply(event)
                    if isinstance(event, Prompt):
                        prompts.add(event)
                if count % _EVENT_BATCH == 0:
                    flush()
                    await asyncio.sleep(0)  # let the UI draw between bursts
            flush()
        finally:
            prompts.close()

    def _run_finished(self, run: RunView) -> None:
        try:
            self._announce_end(run)
        finally:
            self.run_done.set()

    def _announce_end(self, run: RunView) -> None:
        if run.running:
            # The stream ended without a result (engine crashed): say so rather than spin forever.
            run.apply(RunResult(ts=self.clock(), outcome="failed", exit_code=None))
        self.last_run = run
        self.finished_runs.append(run)
        for name, view in run.nodes.items():
            if view.outcome and name in self.table.hosts:
                self.table.set_last_outcome(name, view.outcome)
        if self.deploy_screen is not None and self.deploy_screen.is_mounted:
            self.deploy_screen.sync()
            self.deploy_screen.focus_first_failure()
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(run.counts().items()))
        severity = "information" if run.outcome == "succeeded" else "error" if run.outcome == "failed" else "warning"
        self.notify(f"deploy {run.outcome}: {counts}", title="labtui", severity=severity, timeout=8)
        self.bell()
        self._update_topbar()
        self._show_details()
        self._refresh([n for n in run.nodes if n in self.table.hosts])
        for name in run.nodes:  # their generations changed
            self._generations.pop(name, None)
        self._extras_for = None

    def action_show_deploy(self) -> None:
        screen = self.deploy_screen
        if screen is None:
            self.notify("no deploy yet in this session; h shows the history", severity="information")
            return
        if self.screen is not screen:
            if screen in self.screen_stack:
                while self.screen is not screen:
                    self.pop_screen()
            else:
                self.push_screen(screen)

    def action_cancel_deploy(self) -> None:
        if self.active_handle is None or self.active_run is None or not self.active_run.running:
            self.notify("no deploy is running")
            return
        self._confirm_cancel()

    @work(group="cancel", exit_on_error=False)
    async def _confirm_cancel(self) -> None:
        if await self.push_screen_wait(YesNoDialog("Cancel the running deploy?")):
            await self.cancel_deploy()

    async def cancel_deploy(self) -> None:
        if self.active_handle is not None:
            self.notify("cancelling the deploy…")
            await maybe_await(self.active_handle.cancel())

    # -- quit ------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        run = self.active_run
        if run is None or not run.running:
            self.exit()
            return
        self._ask_quit()

    @work(group="quit", exit_on_error=False)
    async def _ask_quit(self) -> None:
        run = self.active_run
        assert run is not None
        running = [n for n, v in run.nodes.items() if not v.done]
        detachable = bool(getattr(self.active_handle, "detachable", False))
        answer = await self.push_screen_wait(QuitDialog(running, detachable))
        if answer == "leave":
            self.exit()
        elif answer == "cancel":
            await self.cancel_deploy()
            try:
                await asyncio.wait_for(self.run_done.wait(), 30)
            except asyncio.TimeoutError:
                self.notify("the deploy did not stop within 30 s; quitting anyway", severity="warning")
            self.exit()

    # -- palette ----------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("ASCII glyphs", "toggle plain ASCII glyphs (for terminals without good Unicode)",
                            self.action_toggle_ascii)

    def action_toggle_ascii(self) -> None:
        self.ascii_mode = not self.ascii_mode
        self.set_class(self.ascii_mode, "-ascii")
        self.glyphs = pick(self.ascii_mode)
        self.table.glyphs = self.glyphs
        self.query_one("#details", HostDetails).glyphs = self.glyphs
        self.table.rebuild()
        self._update_topbar()
        self._show_details()


def _compact_generation(line: str) -> str:
    """`   54  2026-11-25T04:48:00 25.11.… 6.6.63  current booted` -> `54 2026-11-25 6.6.63 current booted`
    for the narrow details panel (the `g` view has every column)."""
    parts = line.split()
    if len(parts) < 4 or not parts[0].isdigit():
        return line.strip()
    number, date, _version, kernel, *flags = parts
    if "current" in flags:  # booted/next-boot on the current generation is the normal case: no noise
        flags = ["current"] + [f for f in flags if f not in ("current", "booted", "next-boot")]
    return " ".join([f"{number:>4}", date[:10], kernel, *flags])


class _PromptBatcher:
    """deploy-rs --interactive questions, answered in the dialog without stopping the event stream.

    A parallel run asks once per process, at about the same moment: questions arriving within
    PROMPT_GATHER seconds are shown as one merged plan, and the answer goes to each of their nodes.
    """

    def __init__(self, app: LabApp, handle: DeployHandle) -> None:
        self.app = app
        self.handle = handle
        self.pending: list[Prompt] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, prompt: Prompt) -> None:
        self.pending.append(prompt)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._answer())

    async def _answer(self) -> None:
        while self.pending:
            await asyncio.sleep(PROMPT_GATHER)
            batch, self.pending = self.pending, []
            plan = [entry for prompt in batch for entry in prompt.plan]
            merged = Prompt(ts=batch[-1].ts, plan=plan, question=batch[-1].question)
            yes = bool(await self.app.ask_modal(PlanDialog(merged)))
            nodes = list(dict.fromkeys(e.node for e in plan)) or [None]
            for node in nodes:
                await maybe_await(self.handle.answer_prompt(yes, node))

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            if isinstance(self.app.screen, PlanDialog):
                self.app.pop_screen()  # the run ended while its question was on screen


def run_event_stream(events: Iterable[Event]) -> RunView:
    """Fold a finished list of events (a journal replay) into a RunView."""
    run = RunView()
    for e in events:
        run.apply(e)
    return run
