"""LabApp: the full-screen face of labtui, wiring only.

The fleet model (labtui.tui.fleet) keeps what the dashboard shows, the deploy controller (labtui.tui.controller)
runs deploys, the sources (labtui.tui.sources) are injected: `labtui.tui.assemble.build_app` builds the app for
`labtui`, `labtui demo`, tests, screenshots and benchmarks. Widgets do no I/O: workers read the sources and hand
what they get to the models and widgets.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rich.color import ColorSystem
from rich.console import RenderableType
from rich.text import Text
from textual import events, on, work
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, VerticalScroll
from textual.events import Resize
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static

from labtui.commandlog import CommandLog
from labtui.deploy.orchestrator import default_parallel
from labtui.errors import UserError
from labtui.inventory.model import Host, Inventory
from labtui.ops.generations import GenerationInfo, current_of, rollback_target
from labtui.ops.privilege import privilege_for
from labtui.runs.events import GOOD_OUTCOMES, Prompt, RunEvent
from labtui.runs.outcomes import counts_text, run_look
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.text import harmless
from labtui.tui import actions, filtering
from labtui.tui import format as fmt
from labtui.tui.collector import IdleCollector
from labtui.tui.command_line import parse as parse_command_line
from labtui.tui.command_line import verb_names
from labtui.tui.controller import DeployController
from labtui.tui.dashboard import DashboardScreen, DetailsScreen, HostDetails, HostTable, LabFooter
from labtui.tui.deploy_model import RunView
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.details_model import HostExtras
from labtui.tui.dialogs import (
    CommandLine,
    DeployDialog,
    PasswordDialog,
    PlanDialog,
    QuitDialog,
    TypeNameDialog,
    YesNoDialog,
)
from labtui.tui.exec_view import ExecDialog, ExecRequest, ExecScreen, parse_command
from labtui.tui.fleet import NOTHING, SORT_KEYS, Change, Fleet
from labtui.tui.format import rich_style
from labtui.tui.glyphs import Glyphs, pick
from labtui.tui.screen_diff import ScreenDiff
from labtui.tui.screens import (
    ChecksScreen,
    CommandLogScreen,
    DiffScreen,
    GenerationsScreen,
    HelpScreen,
    HistoryScreen,
    LogScreen,
)
from labtui.tui.sources import OpsSource, Sources
from labtui.tui.terminal import HangupDriver
from labtui.tui.widgets import FilterBox, use_ascii_scrollbars

AGE_TICK = 1.0  # data age and topbar refresh
UPDATE_PERIOD = 0.1  # status updates are shown together, at most this often
EXTRAS_DELAY = 0.3  # a host's generations are fetched once the cursor rests this long on it
WIDE = 112  # from this width on, the details panel sits right of the table
TABLE_WIDTH = 84  # what the host table needs to show every column, with a vertical scrollbar
DETAILS_MIN_WIDTH = 32

Clock = Callable[[], float]
T = TypeVar("T")


class LabCommands(Provider):
    """The command palette: the action table's entries for the screen it was opened on (its own actions, the global
    ones, and the per-host ones for each host): nothing acts on a screen that is not shown."""

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        assert isinstance(app, LabApp)
        scope = getattr(self.screen, "SCOPE", None)
        for entry in actions.palette_entries(scope, app.fleet.hosts):
            yield entry.title, entry.help, partial(app.run_action, entry.action)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class LabApp(App[None]):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere keep it
    TITLE = "labtui"
    COMMANDS = App.COMMANDS | {LabCommands}
    BINDINGS = actions.GLOBAL.bindings()  # the dashboard's keys are its screen's (DashboardScreen)

    def __init__(self, inventory: Inventory, sources: Sources, *, clock: Clock, ascii_mode: bool,
                 command_log: CommandLog, subtitle: str, animate: bool, ansi_colours: bool | None = None) -> None:
        super().__init__(driver_class=HangupDriver if sys.platform != "win32" else None)
        fmt.use_colour(not self.no_color)  # NO_COLOR: weight (bold, reverse) carries what colour would
        if ansi_colours is None:
            ansi_colours = self.console.color_system in ("standard", "windows")
        if ansi_colours and not self.no_color:
            # 16 colours: the terminal's own ANSI colours (Textual's theme would be mapped onto them, turning warnings
            # red and errors magenta, the selected row white on cyan).
            self.theme = "ansi-dark"
        self.inventory = inventory
        self.sources = sources
        self.clock = clock
        self.glyphs: Glyphs = pick(ascii_mode)
        self.ascii_mode = ascii_mode
        self.command_log = command_log
        self.subtitle_text = subtitle
        self.with_timers = animate  # False: no ticking data ages, spinners and countdowns (still pictures)
        self.fleet = Fleet(inventory.hosts)
        self.deploys = DeployController(self, sources.deploy, sources.history, clock)
        self.deploy_screen: DeployScreen | None = None
        self._run_title = ""
        self.wrap_lines = False  # log views wrap long lines (`w` there; the next one opens the same way)
        self.command_history: list[str] = []  # lines typed on the `:` line, oldest first (up/down go through them)
        self._wide: bool | None = None
        self.extras = HostExtras(sources.history, sources.ops, clock)
        self._extras_for: str | None = None  # host whose generations/journal deploys were last fetched
        self._extras_asked = 0.0  # time.monotonic() of that
        self.screen_diff = ScreenDiff()  # what the terminal shows: only changed cells are written
        self._topbar_text: Text | None = None
        self._pending = NOTHING  # status changes not shown yet (coalesced: labtui.tui.app.UPDATE_PERIOD)
        self._pending_details = False
        self._flush_timer: Timer | None = None
        self._connected_frozen = False  # see _update_topbar
        self._host_table: HostTable | None = None  # see `table`
        self.collector = IdleCollector()  # full garbage collections when nobody types (labtui.tui.collector)

    # -- layout ------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen()

    def compose(self) -> ComposeResult:  # the dashboard's widgets (on the default screen)
        yield Static(id="topbar", classes="topbar")
        main = Horizontal(id="main")
        table = HostTable(self.fleet, self.glyphs, self.clock, id="hosts")
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
        # Looked up once: statuses ask for it a hundred times a second at 500 hosts, and it lives as long as the app.
        if self._host_table is None or not self._host_table.is_attached:
            self._host_table = self.query_one("#hosts", HostTable)
        return self._host_table

    @property
    def details(self) -> HostDetails:
        return self.query_one("#details", HostDetails)

    def on_mount(self) -> None:
        self.app_resume_signal.subscribe(self, self._terminal_may_differ)
        use_ascii_scrollbars(self.ascii_mode)
        if self.ascii_mode:
            self.add_class("-ascii")
        self._load_last_outcomes()
        # The first snapshot builds the rows once, with their values.
        self.table.show(self.fleet.set_statuses(self.sources.status.snapshot().values()))
        self._update_topbar()
        self._show_details()  # before the first frame: filling it later would lay the screen out twice
        # Everything alive now (imports, widgets, CSS) stays alive: keep it out of the collector's full
        # passes, which otherwise stall the UI for tens of ms while a deploy floods output.
        self.call_after_refresh(self._freeze_long_lived)
        # Focus now, not through focus()'s call_later: a table focused after the first frame is
        # painted again in full (its render cache is keyed on the focus state).
        self.screen.set_focus(self.table)
        if self.with_timers:
            self.set_interval(AGE_TICK, self._tick)
        self._follow_status()
        self._announce_running_runs()

    def _announce_running_runs(self) -> None:
        history = self.sources.history
        if history is None or not history.CAN_ATTACH:
            return
        try:
            runs = history.running_runs()
        except Exception:  # noqa: BLE001 - a journal problem must not stop the dashboard
            return
        for r in runs:
            self.notify(harmless(f"deploy {r.run_id} of {', '.join(r.nodes)} is still running: h, then enter, "
                                 "follows it"), title="labtui", timeout=10, markup=False)

    # -- the terminal ------------------------------------------------------------------------------
    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        """Textual's display step, with each compositor update cut down to the cells that change
        (labtui.tui.screen_diff). Only when Textual is about to write to a real terminal."""
        update: object = renderable  # a CompositorUpdate is a renderable Rich's types do not list
        if (isinstance(update, CompositorUpdate) and self._driver is not None and not self.is_headless
                and not self.is_inline and self._running and not self._closed and not self._batch_count):
            cursor = self.screen.outer_size.clamp_offset(self.cursor_position)
            update = self.screen_diff.reduce(update, (self.size.width, self.size.height), (cursor.x, cursor.y),
                                             self.console._color_system or ColorSystem.TRUECOLOR)
        super()._display(screen, update)  # type: ignore[arg-type]

    def _terminal_may_differ(self, _app: App[Any]) -> None:
        """After a suspend the terminal may show anything: the next frame is written in full."""
        self.screen_diff.invalidate()

    def on_resize(self, event: Resize) -> None:
        self._apply_layout(event.size.width, self.query_one("#main"), self.table, self.query_one("#details-box"),
                           rows=len(self.fleet.shown))

    def _apply_layout(self, width: int, main: Widget, table: Widget, box: Widget, *, rows: int) -> None:
        """Wide terminals: details right of the table, which keeps the ~80 columns it needs; narrow ones:
        the table as tall as its rows (at most 60%), the details below get the rest."""
        wide = width >= WIDE
        self._wide = wide
        line = "ascii" if self.ascii_mode else "solid"
        styles: dict[Widget, dict[str, object]] = {
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
        value = self.get_css_variables().get("primary-muted", "#3b5a7a")
        try:
            Color.parse(value)
        except ColorParseError:  # an ANSI theme's "ansi_blue 50%": its colour without the blend
            value = value.split()[0]
        return value

    def _fit_table(self) -> None:
        if not self._wide:
            self.table.styles.height = len(self.fleet.shown) + 1

    # -- the fleet ---------------------------------------------------------------------------------
    @work(group="status", exit_on_error=False)
    async def _follow_status(self) -> None:
        async for st in self.sources.status.stream():
            self._take_status(st)

    def _take_status(self, status: HostStatus) -> None:
        """Statuses stream in (a fleet of 500 sends a hundred a second): the model takes each at once, the
        screen shows them together at most every UPDATE_PERIOD, with the header counted once per batch. The
        worker runs on the app's loop and calls this directly: a Textual message per status cost more than
        the model's own work."""
        self._pending |= self.fleet.set_status(status)
        self._pending_details |= status.host == self._extras_for or status.host == self._current()
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(UPDATE_PERIOD, self._show_pending)

    def _current(self) -> str | None:
        table = self._host_table
        return table.current if table is not None and table.is_attached else None

    def _show_pending(self) -> None:
        self._flush_timer = None
        change, self._pending = self._pending, NOTHING
        details, self._pending_details = self._pending_details, False
        if not self.screen_stack or self.screen_stack[0].query_one_optional("#hosts", HostTable) is None:
            return  # the app is closing: its widgets are gone, updates still queued
        self._show_change(change)
        if details:
            self._show_details()

    def _show_change(self, change: Change) -> None:
        """Rows, table height and header after a change of the fleet model."""
        if not change:
            return
        self.table.show(change)
        if change.order:
            self._fit_table()
        if change.header:
            self._update_topbar()

    def _freeze_long_lived(self) -> None:
        """Out of the collector's sight: what is alive now lives as long as the app. With the timers running, full
        passes wait for a quiet tick (labtui.tui.collector); without them (still pictures) CPython's own remain."""
        if self.with_timers:
            self.collector.freeze()
        else:
            gc.freeze()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.collector.input_seen()
        await super().on_event(event)

    def _tick(self) -> None:
        self.collector.tick()
        self.table.refresh_ages()
        self._update_topbar()
        if self.screen is self.screen_stack[0]:
            self._show_details()

    def _update_topbar(self) -> None:
        g = self.glyphs
        counts = self.fleet.counts()
        if not self._connected_frozen and counts.total and not any(
                state is HostState.CONNECTING for state, _ in counts.states):
            # Every host has answered once: its SSH connection (thousands of objects at fleet size) lives as
            # long as the app. Out of the collector's passes too, which otherwise stall a key press for tens
            # of ms at 500 hosts.
            self._connected_frozen = True
            self.call_after_refresh(self._freeze_long_lived)
        bar = Text()
        bar.append("labtui ", style="bold")
        bar.append(fmt.truncate(self.subtitle_text, 28, g.ellipsis), style=rich_style("$text-muted"))
        bar.append(f"  {counts.total} hosts ")
        for state, n in counts.states:
            glyph, _, style = fmt.state_cell(g, state)
            bar.append(f" {n}{glyph}", style=rich_style(style))
        if counts.filter_text:
            bar.append(f"  filter {counts.filter_text} ({counts.shown}/{counts.total})", style=rich_style("$warning"))
        if counts.marked:
            bar.append(f"  {counts.marked} marked", style="bold")
        if counts.sort_key != "name" or counts.sort_reverse:
            arrow = g.arrow_down if counts.sort_reverse else g.arrow_up
            bar.append(f"  sort {counts.sort_key}{arrow}", style=rich_style("$text-muted"))
        run = self.deploys.active_run
        if run is not None and run.running:
            done = sum(1 for v in run.nodes.values() if v.done)
            bar.append(f"  {g.running} deploy {done}/{len(run.nodes)} (p)", style=rich_style("bold $warning"))
        if self._topbar_text is None or bar.plain != self._topbar_text.plain or bar.spans != self._topbar_text.spans:
            self._topbar_text = bar
            self.query_one("#topbar", Static).update(bar, layout=False)  # one line, always

    def _load_last_outcomes(self) -> None:
        history = self.sources.history
        if history is None:
            return
        for name in self.fleet.hosts:
            try:
                self.fleet.set_last_outcome(name, history.last_outcome(name))
            except Exception:  # noqa: BLE001 - a journal problem only hides this column
                return

    # -- details ---------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#hosts")
    def _highlighted(self) -> None:
        self._show_details()

    @on(DataTable.RowSelected, "#hosts")
    def _selected(self) -> None:
        self.action_details()

    def _show_details(self) -> None:
        name = self.table.current
        if name is None:
            self.details.show(None, None)
            return
        self.details.show(self.fleet.hosts[name], self.fleet.statuses.get(name),
                          self.extras.deploys(name, self.deploys.finished_runs), self.extras.generations(name))
        if name != self._extras_for:
            self._extras_for = name
            now = time.monotonic()
            moving, self._extras_asked = now - self._extras_asked < EXTRAS_DELAY, now
            self._load_extras(self.fleet.hosts[name], EXTRAS_DELAY if moving else 0.0)

    @work(group="extras", exclusive=True, exit_on_error=False)
    async def _load_extras(self, host: Host, delay: float) -> None:
        """Generations (over SSH) and past deploys (journal) of the selected host, for its details. While the
        cursor runs over hosts, only the host it rests on is asked (the next move cancels this worker)."""
        if delay:
            await asyncio.sleep(delay)
        if await self.extras.load(host) and self.table.current == host.name:
            self._show_details()

    # -- dashboard actions ---------------------------------------------------------------------------
    def _selected_host(self) -> Host | None:
        name = self.table.current
        return self.fleet.hosts.get(name) if name else None

    def open_view(self, screen: Screen[Any]) -> None:
        """Show a view; one of the same kind already on top is replaced, so views never stack up (`g` then `g`)."""
        top = self.screen
        if top is not self.screen_stack[0] and type(top) is type(screen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Over a dialog, the global keys wait: a dialog expects its answer first.
        if action in ("help", "command_line") and isinstance(self.screen, ModalScreen):
            return False
        return True

    def action_help(self) -> None:
        self.open_view(HelpScreen(self.glyphs))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's "Screenshot" saves to ~/Downloads, which a jump host rarely has: ours (actions.GLOBAL) replaces it.
        return (c for c in super().get_system_commands(screen) if c.title != "Screenshot")

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        self.call_after_refresh(self._save_screenshot, filename, path)  # once the palette is gone

    def _save_screenshot(self, filename: str | None, path: str | None) -> None:
        name = filename or time.strftime("labtui-%Y%m%d-%H%M%S.svg", time.localtime(self.clock()))
        target = Path(path or os.getcwd()) / name
        try:
            target.write_text(self.export_screenshot(), encoding="utf-8")
        except OSError as exc:
            self.notify(f"cannot save the screenshot to {target}: {exc.strerror or exc}", severity="error",
                        markup=False)
            return
        self.notify(f"screenshot saved: {target}", timeout=4, markup=False)  # a path may hold `[`

    def _filter_box(self) -> Input | None:
        return self.screen_stack[0].query_one_optional("#filter", Input)

    async def action_filter(self) -> None:
        box = self._filter_box()
        if box is None:
            box = FilterBox(self._filter_changed, "filter: regex, @tag, !negate  (enter: keep, esc: close)",
                            id="filter")
            await self.screen_stack[0].mount(box, before=self.screen_stack[0].query_one(Footer))
        box.value = self.fleet.filter.text
        box.add_class("-open")
        box.focus()

    def _filter_changed(self, text: str) -> None:
        self._show_change(self.fleet.set_filter(filtering.parse(text)))
        self._show_details()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        flt = filtering.parse(event.value)
        if flt.error:
            self.notify(harmless(flt.error), severity="warning", markup=False)
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
        if self.fleet.filter.text:
            self._show_change(self.fleet.set_filter(filtering.parse("")))
        else:
            self._show_change(self.fleet.clear_marks())
        self._show_details()

    def action_mark(self) -> None:
        name = self.table.current
        if name:
            self._show_change(self.fleet.toggle_mark(name))
            self.table.action_cursor_down()

    def action_mark_all(self) -> None:
        self._show_change(self.fleet.mark_all_shown())

    def action_sort(self) -> None:
        key = self.fleet.next_sort_key()
        self._show_change(self.fleet.set_sort(key, self.fleet.sort_reverse))
        self.notify(f"sorted by {key}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        self._show_change(self.fleet.set_sort(self.fleet.sort_key, not self.fleet.sort_reverse))

    def action_refresh(self) -> None:
        names: list[str | None] = list(self.fleet.targets(self.table.current)) if self.fleet.marked else [None]
        self._refresh(names)
        self.notify("refreshing " + (", ".join(n for n in names if n) if names != [None] else "all hosts"),
                    timeout=1.5)

    def _refresh(self, names: list[str | None]) -> None:
        for name in names:
            self.sources.status.refresh(name)

    def action_details(self) -> None:
        host = self._selected_host()
        if host:
            self.action_details_host(host.name)

    def action_details_host(self, name: str) -> None:
        text = self.details.render_text(self.inventory.get(name), self.fleet.statuses.get(name),
                                        self.extras.deploys(name, self.deploys.finished_runs),
                                        self.extras.generations(name))
        self.open_view(DetailsScreen(name, text))

    def action_command_log(self) -> None:
        self.open_view(CommandLogScreen(self.command_log))

    def on_unmount(self) -> None:
        use_ascii_scrollbars(False)
        self.collector.stop()

    def get_key_display(self, binding: Binding) -> str:
        """The footer's key names; in ASCII mode plain words (`enter`, not Textual's `⏎`)."""
        shown = super().get_key_display(binding)
        if self.ascii_mode and not shown.isascii():
            return binding.key.split(",")[0].replace("_", " ")
        return shown

    def action_toggle_ascii(self) -> None:
        self.ascii_mode = not self.ascii_mode
        use_ascii_scrollbars(self.ascii_mode)
        self.set_class(self.ascii_mode, "-ascii")
        self.glyphs = pick(self.ascii_mode)
        self.table.glyphs = self.glyphs
        self.details.glyphs = self.glyphs
        self.table.rebuild()
        self._update_topbar()
        self._show_details()
        self.refresh_bindings()  # the footer's key names (enter)

    # -- a host's journal, checks, generations ------------------------------------------------------
    def _not_available(self, what: str) -> None:
        self.notify(f"{what} are not available in this build", severity="warning")

    def action_logs(self) -> None:
        host = self._selected_host()
        if host:
            self.action_logs_host(host.name)

    def action_logs_host(self, name: str) -> None:
        if self.sources.ops is None:
            self._not_available("logs")
            return
        stream = self.sources.ops.logs(self.inventory.get(name))
        self.open_view(LogScreen(f"journal of {name} (following; esc to stop)", stream))

    def action_checks(self) -> None:
        host = self._selected_host()
        if host:
            self.action_checks_host(host.name)

    def action_checks_host(self, name: str) -> None:
        ops = self.sources.ops
        if ops is None:
            self._not_available("checks")
            return
        host = self.inventory.get(name)
        self.open_view(ChecksScreen(host, partial(ops.checks, host), self.glyphs))

    def action_generations(self) -> None:
        host = self._selected_host()
        if host:
            self.action_generations_host(host.name)

    def action_generations_host(self, name: str) -> None:
        ops = self.sources.ops
        if ops is None:
            self._not_available("generations")
            return
        host = self.inventory.get(name)
        self.open_view(GenerationsScreen(host, partial(ops.generations, host), self.glyphs,
                                         diff=partial(ops.diff, host)))

    def action_diff_host(self, name: str, numbers: list[int]) -> None:
        """`:diff HOST A [B]`: what changed from generation A to B (B: the current one)."""
        ops = self.sources.ops
        if ops is None:
            self._not_available("generations")
            return
        host = self.inventory.get(name)
        if len(numbers) == 2:
            self.open_view(DiffScreen(name, numbers[0], numbers[1], partial(ops.diff, host), self.glyphs))
            return
        self._diff_with_current(host, numbers[0])

    @work(group="ops", exclusive=True, exit_on_error=False)
    async def _diff_with_current(self, host: Host, number: int) -> None:
        ops = self.sources.ops
        assert ops is not None
        try:
            current = current_of(await ops.generations(host))
        except Exception as exc:  # noqa: BLE001 - one line, the TUI goes on
            self.notify(harmless(f"{host.name}: cannot list its generations: {exc}"), severity="error", markup=False)
            return
        if current is None:
            self.notify(f"{host.name}: no current generation to compare with", severity="warning")
            return
        a, b = sorted((number, current.number))
        self.open_view(DiffScreen(host.name, a, b, partial(ops.diff, host), self.glyphs))

    # -- rollback and reboot (labtui.ops.recorded: the CLI's, asked the same way) ------------------------
    async def _confirm(self, question: str, hosts: list[Host], doing: str) -> bool:
        """As `labtui rollback`/`reboot` ask: yes/no; a critical host's name typed."""
        critical = [h.name for h in hosts if h.critical]
        answer: bool | None
        if critical:
            answer = await self.ask_modal(TypeNameDialog(critical, doing=doing, question=question))
        else:
            answer = await self.ask_modal(YesNoDialog(question))
        return bool(answer)

    def _ops_available(self, what: str) -> OpsSource | None:
        if self.sources.ops is None:
            self._not_available(what)
            return None
        if self.deploys.running:
            self.notify(f"a deploy is running; {what} when it is over (p shows it)", severity="warning")
            return None
        return self.sources.ops

    def action_rollback(self) -> None:
        host = self._selected_host()
        if host:
            self.action_rollback_host(host.name)

    def action_rollback_host(self, name: str, numbers: list[int] | None = None) -> None:
        if self._ops_available("rollbacks") is not None:
            self._rollback_flow(self.inventory.get(name), numbers[0] if numbers else None)

    @on(GenerationsScreen.RollbackRequested)
    def _rollback_to(self, message: GenerationsScreen.RollbackRequested) -> None:
        self.action_rollback_host(message.host, [message.number])

    @work(group="deploy", exclusive=True, exit_on_error=False)
    async def _rollback_flow(self, host: Host, to: int | None) -> None:
        ops = self.sources.ops
        assert ops is not None
        try:
            gens = await ops.generations(host)
            target = rollback_target(gens, to)
        except Exception as exc:  # noqa: BLE001 - UserError or SSH: one line, nothing done
            self.notify(harmless(f"{host.name}: {getattr(exc, 'message', exc)}"), severity="error", markup=False)
            return
        current = current_of(gens)
        if current is not None and target.number == current.number:
            self.notify(f"{host.name} already runs generation {target.number}; nothing to do")
            return

        def describe(g: GenerationInfo) -> str:
            return harmless(f"{g.number} ({g.date[:10]}, NixOS {g.nixos_version or '?'}, kernel {g.kernel or '?'})")

        question = (f"Roll back {host.name}? It switches from generation "
                    f"{describe(current) if current else '?'} to {describe(target)}.")
        if not await self._confirm(question, [host], "roll back"):
            self.notify("rollback cancelled; nothing was done")
            return
        password = None
        if privilege_for(host).needs_password:
            password = await self.ask_password(host.name)
            if password is None:
                return
        await self.deploys.follow_events([host.name], f"rollback of {host.name} to generation {target.number}",
                                         lambda: ops.rollback(host, target, current, password))

    def action_reboot(self) -> None:
        names = self.fleet.targets(self.table.current)
        if names:
            self.action_reboot_names(names)

    def action_reboot_host(self, name: str) -> None:
        self.action_reboot_names([name])

    def action_reboot_names(self, names: list[str]) -> None:
        if self._ops_available("reboots") is not None:
            self._reboot_flow([self.inventory.get(n) for n in names])

    @work(group="deploy", exclusive=True, exit_on_error=False)
    async def _reboot_flow(self, hosts: list[Host]) -> None:
        ops = self.sources.ops
        assert ops is not None
        reasons = []
        for h in hosts:  # what the status says: the operator picks with it in view (the CLI skips unneeded ones)
            st = self.fleet.statuses.get(h.name)
            why = fmt.reboot_reason(st.current_system, st.booted_system) if st is not None else ""
            needed = st.reboot_needed if st is not None else None
            reasons.append(f"{h.name}: " + ("reboot needed" + (f" ({why})" if why else "") if needed
                                            else "no reboot needed (booted = current)" if needed is False
                                            else "reboot needed: unknown"))
        question = (f"Reboot {', '.join(h.name for h in hosts)}, one at a time, following each back to service?\n"
                    + "\n".join(reasons))
        if not await self._confirm(question, hosts, "reboot"):
            self.notify("reboot cancelled; nothing was done")
            return
        passwords: dict[str, str] = {}
        for h in hosts:
            if privilege_for(h).needs_password:
                password = await self.ask_password(h.name)
                if password is None:
                    return
                passwords[h.name] = password
        await self.deploys.follow_events([h.name for h in hosts], f"reboot of {', '.join(h.name for h in hosts)}",
                                         lambda: ops.reboot(hosts, passwords))

    # -- the `:` line --------------------------------------------------------------------------------
    def action_command_line(self) -> None:
        self._command_line()

    @work(group="command-line", exclusive=True, exit_on_error=False)
    async def _command_line(self) -> None:
        line = await self.ask_modal(CommandLine(self.command_history, verb_names(), list(self.fleet.hosts)))
        if not line:
            return
        try:
            command = parse_command_line(line, self.inventory)
        except UserError as exc:
            self.notify(harmless(exc.message), severity="warning", markup=False, timeout=6)
            return
        defaults = self.fleet.targets(self.table.current)
        action = command.action(defaults)
        if action is None:
            self.notify(f"`{command.verb.name}` needs a host: name one, or mark or select one", severity="warning")
            return
        await self.run_action(action)

    def action_deploy_names(self, names: list[str]) -> None:
        self._start_deploy_flow(names)

    def action_set_filter(self, text: str) -> None:
        flt = filtering.parse(text)
        if flt.error:
            self.notify(flt.error, severity="warning")
        self._show_change(self.fleet.set_filter(flt))
        self._show_details()

    def action_sort_by(self, text: str) -> None:
        key = text.strip().lstrip("-") or "name"
        if key not in SORT_KEYS:
            self.notify(f"cannot sort by `{harmless(key)}`; one of {', '.join(SORT_KEYS)}", severity="warning",
                        markup=False)
            return
        self._show_change(self.fleet.set_sort(key, text.strip().startswith("-")))

    # -- fleet exec ----------------------------------------------------------------------------------
    def action_exec(self) -> None:
        names = self.fleet.targets(self.table.current)
        if names:
            self._exec_flow(names, "")

    def action_exec_host(self, name: str) -> None:
        self._exec_flow([name], "")

    def action_exec_command(self, command: str) -> None:
        """Run `command` (a command line) on the marked hosts, else the selected one: for the `:` line."""
        names = self.fleet.targets(self.table.current)
        if not names:
            return
        try:
            argv = parse_command(command)
        except ValueError as exc:
            self.notify(harmless(str(exc)), severity="warning", markup=False)
            return
        self._run_exec(names, ExecRequest(argv))

    @work(group="exec", exclusive=True, exit_on_error=False)
    async def _exec_flow(self, names: list[str], initial: str) -> None:
        if self.sources.exec is None:
            self._not_available("commands on hosts")
            return
        request = await self.push_screen_wait(ExecDialog(names, initial))
        if request is not None:
            self._run_exec(names, request)

    def _run_exec(self, names: list[str], request: ExecRequest) -> None:
        source = self.sources.exec
        if source is None:
            self._not_available("commands on hosts")
            return
        hosts = [self.inventory.get(n) for n in names]

        async def events() -> AsyncIterator[RunEvent]:
            passwords: dict[str, str] = {}
            if request.sudo:
                for host in hosts:
                    if privilege_for(host).needs_password:
                        password = await self.ask_password(host.name)
                        if password is None:
                            return
                        passwords[host.name] = password
            async for event in source.run(hosts, request.argv, sudo=request.sudo, passwords=passwords):
                yield event

        self.open_view(ExecScreen(names, request, events, self.glyphs, self.clock))

    # -- history -------------------------------------------------------------------------------------
    def action_history(self) -> None:
        self.action_history_host(None)

    def action_history_host(self, name: str | None) -> None:
        history = self.sources.history
        if history is None:
            self.notify("no deploy journal available", severity="warning")
            return
        # `problem` is optional: a source that does not subclass HistorySource may lack it
        self.open_view(HistoryScreen(partial(history.list_runs, name), self.glyphs, host=name,
                                     problem=getattr(history, "problem", None)))

    @on(HistoryScreen.RunChosen)
    def _open_past_run(self, message: HistoryScreen.RunChosen) -> None:
        history = self.sources.history
        assert history is not None
        run_id = message.run_id
        running = [r for r in history.list_runs() if r.run_id == run_id and r.outcome is None]
        if running and history.CAN_ATTACH:
            if self.deploys.running:
                self.action_show_deploy()
                return
            self._attach_run(run_id, list(running[0].nodes))
            return
        run = RunView()
        try:
            for event in history.run_events(run_id):
                run.apply(event)
        except Exception as exc:  # noqa: BLE001
            self.notify(harmless(f"cannot read run {run_id}: {exc}"), severity="error", markup=False)
            return
        self.push_screen(DeployScreen(run, self.glyphs, self.clock, title=f"run {run_id} (replayed)", live=False))

    @work(group="deploy", exclusive=True, exit_on_error=False)
    async def _attach_run(self, run_id: str, nodes: list[str]) -> None:
        await self.deploys.attach(run_id, nodes)

    # -- deploys: the controller's face --------------------------------------------------------------
    def action_deploy(self) -> None:
        names = self.fleet.targets(self.table.current)
        if names:
            self._start_deploy_flow(names)

    def action_deploy_host(self, name: str) -> None:
        self._start_deploy_flow([name])

    def _start_deploy_flow(self, names: list[str]) -> None:
        if self.deploys.starter is None:
            self.notify("deploys are not available in this build", severity="warning")
            return
        if self.deploys.running:
            self.notify("a deploy is already running; p shows it, x in it cancels it", severity="warning")
            return
        self._deploy_flow([self.inventory.get(n) for n in names])

    @work(group="deploy", exclusive=True, exit_on_error=False)
    async def _deploy_flow(self, hosts: list[Host]) -> None:
        methods = {h.method for h in hosts}
        default = methods.pop() if len(methods) == 1 else "deploy-rs"
        choice = await self.push_screen_wait(DeployDialog(hosts, default_method=default, preview=self.sources.preview,
                                                          parallel=default_parallel(self.inventory)))
        if choice is None:
            return
        # The dialog may have left out hosts that already run what the flake would deploy: they are not part of the
        # run (no typed name for them, no row waiting for a question they will never ask).
        hosts = [h for h in hosts if h.name in choice.hosts]
        critical = [h.name for h in hosts if h.critical]
        if critical and not await self.push_screen_wait(TypeNameDialog(critical)):
            self.notify("deploy cancelled")
            return
        await self.deploys.deploy(hosts, choice)

    async def ask_modal(self, screen: Screen[T]) -> T | None:
        """Show a modal from any task (not only workers) and wait for its answer."""
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()

        def done(value: T | None) -> None:
            if not future.done():
                future.set_result(value)

        self.push_screen(screen, callback=done)
        return await future

    async def show_run(self, run: RunView, title: str) -> None:
        self._run_title = title
        self.deploy_screen = DeployScreen(run, self.glyphs, self.clock, animate=self.with_timers, title=title,
                                          cancellable=self.deploys.cancellable)
        await self.push_screen(self.deploy_screen)
        self._freeze_long_lived()  # the pane's widgets are long-lived too (see on_mount)
        self._update_topbar()

    async def ask_plan(self, prompt: Prompt) -> bool:
        answer: bool | None = await self.ask_modal(PlanDialog(prompt))
        return bool(answer)

    async def ask_password(self, host: str) -> str | None:
        return await self.ask_modal(PasswordDialog(host))

    def drop_plan_question(self) -> None:
        if isinstance(self.screen, PlanDialog):
            self.pop_screen()

    def run_failed(self, message: str) -> None:
        # The message may quote a host or a tool (an SSH error, a supervisor's failure): never markup.
        self.notify(harmless(message), severity="error", timeout=10, markup=False)

    def run_ended(self, run: RunView) -> None:
        for name, view in run.nodes.items():
            if view.outcome:
                self._show_change(self.fleet.set_last_outcome(name, view.outcome))
        # Hosts deployed are done with: unmarked, so the next D does not deploy them again unseen. Those that did not
        # succeed stay marked (D retries them) and the header says how many.
        self._show_change(self.fleet.unmark(n for n, v in run.nodes.items() if v.outcome in GOOD_OUTCOMES))
        if self.deploy_screen is not None and self.deploy_screen.is_mounted:
            self.deploy_screen.sync()
            self.deploy_screen.focus_first_failure()
        counts = counts_text(run.counts())
        tone = run_look(run.outcome).tone
        severity: SeverityLevel = "information" if tone == "good" else "error" if tone == "bad" else "warning"
        if self.screen is not self.deploy_screen:  # on the pane, its summary says it (a toast would cover it)
            self.notify(f"deploy {run_look(run.outcome).word}: {counts}", title="labtui", severity=severity, timeout=8)
        self.bell()
        self._update_topbar()
        self._show_details()
        self._refresh([n for n in run.nodes if n in self.fleet.hosts])
        self.extras.forget_generations(list(run.nodes))  # a deploy changed them
        self._extras_for = None

    def action_show_deploy(self) -> None:
        run = self.deploys.active_run
        if run is None:
            self.notify("no deploy yet in this session; h shows the history", severity="information")
            return
        screen = self.deploy_screen
        if screen is not None and screen in self.screen_stack:
            while self.screen is not screen:
                self.pop_screen()
            return
        # A popped screen is gone for good (Textual removes its widgets): show the run on a new one.
        self.deploy_screen = DeployScreen(run, self.glyphs, self.clock, animate=self.with_timers,
                                          title=self._run_title, cancellable=self.deploys.cancellable)
        self.push_screen(self.deploy_screen)

    @on(DeployScreen.CancelRequested)
    def _cancel_requested(self, message: DeployScreen.CancelRequested) -> None:
        if message.node is None:
            self.action_cancel_deploy()
        elif self.deploys.running:
            self._confirm_cancel_host(message.node)

    @work(group="cancel", exit_on_error=False)
    async def _confirm_cancel_host(self, node: str) -> None:
        run = self.deploys.active_run
        together = run is not None and run.processes == 1 and len(run.nodes) > 1
        question = (f"Cancel {node}? It shares one deploy process with the other hosts (atomic): the whole run "
                    "is cancelled." if together else f"Cancel {node}'s deploy? The other hosts go on.")
        if await self.push_screen_wait(YesNoDialog(question)):
            self.notify(f"cancelling {node}{self.glyphs.ellipsis}")
            await self.deploys.cancel(None if together else node)

    def action_cancel_deploy(self) -> None:
        if self.deploys.active_handle is None or not self.deploys.running:
            self.notify("no deploy is running")
            return
        self._confirm_cancel()

    @work(group="cancel", exit_on_error=False)
    async def _confirm_cancel(self) -> None:
        if await self.push_screen_wait(YesNoDialog("Cancel the running deploy?")):
            await self.cancel_deploy()

    async def cancel_deploy(self) -> None:
        if self.deploys.active_handle is not None:
            self.notify(f"cancelling the deploy{self.glyphs.ellipsis}")
            await self.deploys.cancel()

    # -- quit ------------------------------------------------------------------------------------
    def terminal_gone(self, return_code: int) -> None:
        """The terminal hung up (or SIGTERM): quit now, asking nothing. A running deploy goes on in its
        supervisor process (what the quit dialog's `leave` does)."""
        self.exit(return_code=return_code)

    async def action_quit(self) -> None:
        if not self.deploys.running:
            self.exit()
            return
        self._ask_quit()

    @work(group="quit", exit_on_error=False)
    async def _ask_quit(self) -> None:
        answer = await self.push_screen_wait(QuitDialog(self.deploys.running_nodes(), self.deploys.detachable))
        if answer == "leave":
            self.exit()
        elif answer == "cancel":
            await self.cancel_deploy()
            try:
                await asyncio.wait_for(self.deploys.run_done.wait(), 30)
            except TimeoutError:
                self.notify("the deploy did not stop within 30 s; quitting anyway", severity="warning")
            self.exit()
