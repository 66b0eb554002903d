"""Fleet exec in the TUI: a dialog for the command, and a view with one row per host (status, time, last line)
and the highlighted host's output below, filled as the hosts answer (labtui.ops.exec, through an ExecSource).

The command is split like a shell would (`shlex.split`), then every word is quoted for the remote shell again, so
what the operator types means the same as `labtui exec HOSTS -- WORDS`. Hosts' output is shown harmless."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Checkbox, DataTable, Footer, Input, Label, Log, Static

from labtui.ops.exec import ExecCollector, HostExec
from labtui.runs.events import ExecResult, RunEvent, RunStarted
from labtui.text import harmless
from labtui.tui import actions
from labtui.tui import format as fmt
from labtui.tui.dialogs import Check
from labtui.tui.format import styled
from labtui.tui.glyphs import Glyphs
from labtui.tui.widgets import KeyLog, KeyTable

SYNC_EVERY = 0.1  # seconds between two repaints of the view while output flows
OUTPUT_LINES = 20_000


@dataclass(frozen=True)
class ExecRequest:
    argv: tuple[str, ...]
    sudo: bool = False

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def parse_command(text: str) -> tuple[str, ...]:
    """The words of what the operator typed; ValueError (with why) when it cannot be split or is empty."""
    words = tuple(shlex.split(text))
    if not words:
        raise ValueError("type a command, e.g. `uptime` or `systemctl is-active nginx`")
    return words


class ExecDialog(ModalScreen[ExecRequest | None]):
    """The command to run on the hosts, and whether as root."""

    BINDINGS = actions.EXEC_DIALOG.bindings()

    def __init__(self, hosts: Sequence[str], initial: str = "") -> None:
        super().__init__()
        self.hosts = list(hosts)
        self.initial = initial

    def compose(self) -> ComposeResult:
        names = ", ".join(self.hosts)
        with Vertical(id="dialog"):
            yield Label(Text.assemble(("Run a command on ", "bold"), (f"{len(self.hosts)} host(s): ", ""),
                                      (names, "bold")))
            yield Input(value=self.initial, placeholder="e.g. systemctl is-active nginx", id="exec-command")
            yield Check("as root, through the hosts' sudo settings (like deploy-rs)", value=False, id="exec-sudo")
            yield Static(Text("Words are quoted for the remote shell: use sh -c '…' for pipes. Every run is in the "
                              "history.", style="dim"), id="dialog-note")
            yield Static("[b]enter[/b] run  [b]esc[/b] cancel  [b]tab[/b] next field", id="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#exec-command", Input).focus()

    @on(Input.Submitted, "#exec-command")
    def _submitted(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        try:
            argv = parse_command(self.query_one("#exec-command", Input).value)
        except ValueError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.dismiss(ExecRequest(argv, self.query_one("#exec-sudo", Checkbox).value))

    def action_cancel(self) -> None:
        self.dismiss(None)


EXEC_COLUMNS = (("st", " "), ("host", "HOST"), ("status", "STATUS"), ("time", "TIME"), ("line", "LAST LINE"))


class ExecScreen(Screen[None]):
    """The hosts of one exec: a row each, the highlighted host's output below, a summary when all are done.

    `events` is started when the screen is shown; leaving the screen while hosts still run stops them (the run
    in the journal says which finished)."""

    BINDINGS = actions.EXEC_VIEW.bindings()

    def __init__(self, hosts: Sequence[str], request: ExecRequest, events: Callable[[], AsyncIterator[RunEvent]],
                 glyphs: Glyphs, clock: Callable[[], float]) -> None:
        super().__init__()
        self.request = request
        self.events = events
        self.glyphs = glyphs
        self.clock = clock
        self.collector = ExecCollector(list(hosts))
        self.run_id = ""
        self.started = clock()
        self.finished: float | None = None
        self._shown: str | None = None  # the host whose output the panel shows
        self._shown_lines = 0

    def compose(self) -> ComposeResult:
        yield Static(id="exec-title", classes="topbar")
        yield KeyTable(id="exec-rows", cursor_type="row")
        yield Static(id="exec-output-title")
        yield KeyLog(id="exec-output", max_lines=OUTPUT_LINES, auto_scroll=True)
        yield Static(id="exec-summary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#exec-rows", DataTable)
        for key, label in EXEC_COLUMNS:
            table.add_column(label, key=key)
        for name in self.collector.hosts:
            table.add_row(*self._cells(self.collector.hosts[name]), key=name)
        table.focus()
        self.run_worker(self._follow(), group="exec", exclusive=True, exit_on_error=False)
        self.set_interval(SYNC_EVERY, self.sync)
        self.sync()

    async def _follow(self) -> None:
        async for event in self.events():
            if isinstance(event, RunStarted):
                self.run_id = event.run_id
            self.collector.apply(event)
            if isinstance(event, ExecResult) and all(h.done for h in self.collector.results()):
                self.finished = self.clock()
        self.finished = self.finished or self.clock()
        self.sync()

    @property
    def running(self) -> bool:
        return self.finished is None

    def _cells(self, host: HostExec) -> list[Text]:
        g = self.glyphs
        if not host.done:
            spin = g.spinner[int(self.clock() * 8) % len(g.spinner)]
            status, word = styled(spin, "$warning"), styled("running", "$warning")
        elif host.ok:
            status, word = styled(g.done, "$success"), styled(host.status(), "$success")
        else:
            status, word = styled(g.failed, "$error"), styled(host.status(), "$error")
        elapsed = host.duration if host.duration is not None else self.clock() - self.started
        last = (host.stderr or host.stdout)[-1:] if host.done and not host.ok else (host.stdout or host.stderr)[-1:]
        line = Text(harmless(host.error if host.error and not last else (last[0] if last else "")))
        line.truncate(max(20, self.size.width - 50), overflow="ellipsis")
        return [status, Text(host.host, style="bold"), word, Text(fmt.duration(elapsed, precise=True)), line]

    def sync(self) -> None:
        table = self.query_one("#exec-rows", DataTable)
        for name, host in self.collector.hosts.items():
            for (key, _), cell in zip(EXEC_COLUMNS, self._cells(host), strict=True):
                table.update_cell(name, key, cell, update_width=True)
        results = self.collector.results()
        done = [h for h in results if h.done]
        title = Text.assemble(("exec ", "bold"), (harmless(self.request.text), "bold"),
                              (f"  {'as root  ' if self.request.sudo else ''}{len(done)}/{len(results)} done", ""))
        if self.run_id:
            title.append(f"  run {self.run_id}", style="dim")
        self.query_one("#exec-title", Static).update(title, layout=False)
        self._flush_output()
        if not self.running:
            failed = [h for h in results if not h.ok]
            text = f"{len(results) - len(failed)}/{len(results)} hosts succeeded"
            if failed:
                text += "; failed: " + ", ".join(f"{h.host} ({h.status()})" for h in failed)
            self.query_one("#exec-summary", Static).update(Text(harmless(text), style="red" if failed else "green"))

    @property
    def current(self) -> str | None:
        table = self.query_one("#exec-rows", DataTable)
        names = list(self.collector.hosts)
        return names[table.cursor_row] if 0 <= table.cursor_row < len(names) else None

    @on(DataTable.RowHighlighted, "#exec-rows")
    def _highlighted(self) -> None:
        self._flush_output()

    def _flush_output(self) -> None:
        """The highlighted host's output: all of it when the host changes, then what came since."""
        name = self.current
        if name is None:
            return
        host = self.collector.hosts[name]
        lines = [*host.stdout, *(f"! {line}" for line in host.stderr)] if host.done else host.stdout
        if host.done and host.error:
            lines = [*lines, f"labtui: {host.error}"]
        log = self.query_one("#exec-output", Log)
        if name != self._shown:
            self._shown, self._shown_lines = name, 0
            log.clear()
            self.query_one("#exec-output-title", Static).update(
                Text.assemble(("output of ", "dim"), (name, "bold"), ("  (stderr lines start with !)", "dim")),
                layout=False)
        if len(lines) < self._shown_lines:  # the host finished: its stderr joins the panel
            log.clear()
            self._shown_lines = 0
        new = lines[self._shown_lines:]
        if new:
            log.write_lines([harmless(line) for line in new])
            self._shown_lines = len(lines)

    def action_copy(self) -> None:
        name = self.current
        if name is not None:
            host = self.collector.hosts[name]
            self.app.copy_to_clipboard("\n".join([*host.stdout, *host.stderr]))
            self.notify(f"copied the output of {name}")
