"""The dashboard's widgets: the host table, the details panel, and the deploy pane's table."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from labtui.inventory.model import Host
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.tui import format as fmt
from labtui.tui.deploy_model import NodeView, RunView
from labtui.tui.filtering import Filter
from labtui.tui.glyphs import ASCII, Glyphs, bar

# Theme variables cannot go into Rich Text styles; these plain ANSI names degrade well on 16/256 colours.
_RICH = {"$success": "green", "$warning": "yellow", "$error": "red", "$text-muted": "dim",
         "$secondary": "blue", "$accent": "magenta", "": ""}


def rich_style(style: str) -> str:
    return _RICH.get(style, style)


def styled(text: str, style: str) -> Text:
    return Text(text, style=rich_style(style))


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

SORT_KEYS: tuple[str, ...] = ("name", "state", "load", "mem", "disk", "up", "gen", "age")

_STATE_ORDER = {HostState.HOST_KEY_CHANGED: 0, HostState.AUTH_FAILED: 1, HostState.HOST_KEY_UNKNOWN: 2,
                HostState.DOWN: 3, HostState.DEGRADED: 4, HostState.CONNECTING: 5, HostState.UP: 6}


def set_cell(table: DataTable, row: str, key: str, cell: Text | str) -> None:
    """update_cell, re-measuring the column only when the value is wider than it (measuring is slow)."""
    column = table.columns.get(key)  # type: ignore[call-overload]
    wider = column is not None and cell_len(str(cell)) > column.content_width
    table.update_cell(row, key, cell, update_width=wider)


class LabFooter(Footer):
    """A Footer that rebuilds its keys once per refresh, however often the bindings changed.

    Textual's Footer recomposes (about 1 ms per key) on every `bindings_updated` signal; at start-up
    focus, screen resume and idle each send one, which delayed the first dashboard frame."""

    _recompose_pending = False

    def bindings_changed(self, screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        await self.recompose()


class HostTable(DataTable):
    """One row per host; knows the inventory, the latest statuses, marks, filter and sort order."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, glyphs: Glyphs, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.glyphs = glyphs
        self.clock = clock
        self.hosts: dict[str, Host] = {}
        self.statuses: dict[str, HostStatus] = {}
        self.last_outcomes: dict[str, str | None] = {}
        self.marked: set[str] = set()
        self.filter = Filter("")
        self.sort_key = "name"
        self.sort_reverse = False
        self._shown: list[str] = []

    def on_mount(self) -> None:
        for key, label in HOST_COLUMNS:
            self.add_column(label, key=key)

    # -- data in -------------------------------------------------------------------------------
    def set_hosts(self, hosts: list[Host]) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.rebuild()

    def set_status(self, status: HostStatus) -> None:
        self.statuses[status.host] = status
        if status.host in self._shown:
            self._update_row(status.host)

    def set_statuses(self, statuses: list[HostStatus]) -> None:
        """Many at once (the first snapshot): one rebuild instead of a row update each."""
        for st in statuses:
            self.statuses[st.host] = st
        self.rebuild()

    def set_last_outcome(self, host: str, outcome: str | None) -> None:
        self.last_outcomes[host] = outcome
        if host in self._shown:
            self._update_row(host)

    def refresh_ages(self) -> None:
        for name in self._shown:
            self._set_cell(name, "age", self._age_cell(name))

    # -- selection ---------------------------------------------------------------------------------
    @property
    def shown(self) -> list[str]:
        return list(self._shown)

    @property
    def current(self) -> str | None:
        if not self._shown or self.cursor_row < 0 or self.cursor_row >= len(self._shown):
            return None
        return self._shown[self.cursor_row]

    def toggle_mark(self, name: str) -> None:
        self.marked.symmetric_difference_update({name})
        self._update_row(name)

    def clear_marks(self) -> None:
        marked, self.marked = self.marked, set()
        for name in marked:
            if name in self._shown:
                self._update_row(name)

    def targets(self) -> list[str]:
        """Marked hosts (in display order), else the host under the cursor."""
        if self.marked:
            order = self._shown + [n for n in self.hosts if n not in self._shown]
            return [n for n in order if n in self.marked]
        return [self.current] if self.current else []

    def set_filter(self, flt: Filter) -> None:
        self.filter = flt
        self.rebuild()

    def set_sort(self, key: str, reverse: bool) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self.rebuild()

    # -- rendering ---------------------------------------------------------------------------------
    def _sort_value(self, name: str):
        """The value sorted on; None when unknown (unknown values go last whatever the direction)."""
        st = self.statuses.get(name)
        key = self.sort_key
        if key == "name":
            return name
        if st is None:
            return None
        return {
            "state": _STATE_ORDER.get(st.state, 9),
            "load": fmt.load_ratio(st),
            "mem": st.mem_used_percent,
            "disk": fmt.worst_disk(st),
            "up": st.uptime_s,
            "gen": st.generation,
            "age": -(st.answered_at or 0),
        }[key]

    def rebuild(self) -> None:
        keep = self.current
        names = sorted(n for n, h in self.hosts.items() if self.filter.matches(h))
        values = {n: self._sort_value(n) for n in names}
        known = sorted((n for n in names if values[n] is not None), key=lambda n: values[n],
                       reverse=self.sort_reverse)
        names = known + [n for n in names if values[n] is None]
        self._shown = names
        self.clear()
        for name in names:
            self.add_row(*self._cells(name), key=name)
        if keep in names:
            self.move_cursor(row=names.index(keep))

    def _update_row(self, name: str) -> None:
        row = self.rows.get(name)  # type: ignore[call-overload]
        if row is None:
            return
        for (key, _), cell in zip(HOST_COLUMNS, self._cells(name)):
            self._set_cell(name, key, cell)

    def _set_cell(self, row: str, key: str, cell: Text | str) -> None:
        set_cell(self, row, key, cell)

    def _age_cell(self, name: str) -> Text:
        st = self.statuses.get(name)
        if st is None or st.answered_at is None:
            return styled("-", "$text-muted")
        age = self.clock() - st.answered_at
        host = self.hosts.get(name)
        stale = host is not None and age > 3 * max(host.poll_interval, 1.0)
        return styled(fmt.duration(age), "$warning" if stale else "$text-muted")

    def _cells(self, name: str) -> list[Text | str]:
        g = self.glyphs
        host = self.hosts[name]
        st = self.statuses.get(name)
        mark = g.mark if name in self.marked else g.unmark
        if st is None:
            glyph, _, style = fmt.state_cell(g, HostState.CONNECTING)
        else:
            glyph, _, style = fmt.state_cell(g, st.state)
        state = Text.assemble((mark, "bold reverse" if name in self.marked else ""), (glyph, rich_style(style)))
        title = Text(name, style="bold" if host.critical else "")
        if host.critical:
            title.append("!", style=rich_style("$error"))
        last_glyph, last_word, last_style = fmt.outcome_cell(g, self.last_outcomes.get(name))
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
        fail = styled(str(len(st.failed_units)), "$error") if st.failed_units else styled("0", "$text-muted")
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
    """Everything known about the selected host."""

    def __init__(self, glyphs: Glyphs, clock: Callable[[], float], **kwargs) -> None:
        super().__init__("", **kwargs)
        self.glyphs = glyphs
        self.clock = clock

    def show(self, host: Host | None, status: HostStatus | None, deploys: list[tuple[float, str, str]] | None = None,
             generations: list[str] | None = None) -> None:
        self.update(self.render_text(host, status, deploys or [], generations))

    def render_text(self, host: Host | None, st: HostStatus | None, deploys: list[tuple[float, str, str]],
                    generations: list[str] | None) -> Text:
        g = self.glyphs
        out = Text()
        if host is None:
            out.append("No host selected.", style="dim")
            return out
        state = st.state if st else HostState.CONNECTING
        glyph, word, style = fmt.state_cell(g, state)
        out.append(host.name, style="bold")
        out.append(f"  {glyph} {word}", style=rich_style(style))
        if host.critical:
            out.append("  CRITICAL", style="bold " + rich_style("$error"))
        out.append("\n")
        tags = " ".join(f"@{t}" for t in host.tags) or "-"
        out.append(f"{host.ssh.destination}", style="dim")
        if host.ssh.port:
            out.append(f":{host.ssh.port}", style="dim")
        out.append(f"  {host.method}  {tags}\n", style="dim")
        if st is None:
            out.append("waiting for the first probe…\n", style="dim")
            return out
        # A degraded host's error names its failed units, shown on their own line below.
        repeats_units = bool(st.failed_units) and all(u in (st.error or "") for u in st.failed_units)
        if st.error and not repeats_units:
            out.append(f"{st.error}\n", style=rich_style("$error"))
            if st.hint:
                out.append(f"hint: {st.hint}\n", style="italic")
        if st.answered_at is None:
            return out
        age = self.clock() - st.answered_at
        rtt = f"  rtt {st.rtt_ms:.0f} ms" if st.rtt_ms is not None else ""
        out.append(f"data {fmt.duration(age)} old{rtt}\n", style="dim")
        # What needs attention first: it must stay visible in the small 80x24 panel.
        if st.failed_units:
            out.append("failed ", style="bold")
            out.append(", ".join(st.failed_units) + "\n", style=rich_style("$error"))
        self._drift_and_reboot(out, st)
        out.append("gen    ", style="bold")
        gen_date = f" ({st.generation_date[:10]})" if st.generation_date else ""
        out.append(f"{st.generation if st.generation is not None else '-'}{gen_date}")
        if st.nixos_version:
            out.append(f"  nixos {st.nixos_version}")
        out.append("\n")
        current = st.current_system.path if st.current_system else st.system_profile
        out.append("system ", style="bold")
        out.append(f"{fmt.short_store_path(current)}\n", style="dim")
        if st.load:
            cpus = f" ({st.cpus} cpus)" if st.cpus else ""
            out.append("load   ", style="bold")
            out.append(f"{st.load[0]:.2f} {st.load[1]:.2f} {st.load[2]:.2f}{cpus}\n")
        if st.mem_total_bytes:
            out.append("memory ", style="bold")
            out.append(f"{fmt.percent(st.mem_used_percent)} of {fmt.human_bytes(st.mem_total_bytes)}\n")
        for d in st.disks:
            out.append("disk   ", style="bold")
            out.append(f"{d.mount} ", style="")
            out.append(f"{d.percent:.0f}%", style=rich_style(fmt.level_style(d.percent, 80, 90)))
            out.append(f" of {fmt.human_bytes(d.total_bytes)}\n")
        out.append("uptime ", style="bold")
        out.append(f"{fmt.duration(st.uptime_s)}")
        if st.system_running:
            out.append(f"  systemd {st.system_running}", style="" if st.system_running == "running" else "yellow")
        out.append("\n")
        if generations:
            out.append("generations", style="bold")
            out.append("  (g: all)\n", style="dim")
            for line in generations[:6]:
                out.append(f"{line.rstrip()}\n")
        if deploys:
            out.append("last deploys\n", style="bold")
            for ts, outcome, what in deploys[:5]:
                glyph, word, style = fmt.outcome_cell(g, outcome)
                when = _dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")
                out.append(f"  {when} ")
                out.append(f"{glyph} {word}", style=rich_style(style))
                out.append(f" {what}\n", style="dim")
        for key, why in sorted(st.missing.items()):
            if key not in ("drift", "flake_path"):
                out.append(f"{key}: {why}\n", style="dim")
        return out

    def _drift_and_reboot(self, out: Text, st: HostStatus) -> None:
        g = self.glyphs
        out.append("drift  ", style="bold")
        if st.drift == "outdated":
            out.append(f"{g.drift} outdated", style="yellow")
            out.append(f": flake builds {fmt.short_store_path(st.flake_path)}\n", style="dim")
        elif st.drift == "in sync":
            out.append(f"{g.in_sync} in sync with the flake\n", style="green")
        else:
            reason = st.missing.get("drift") or st.missing.get("flake_path") or "flake not evaluated yet"
            out.append(f"{g.unknown} unknown ({reason})\n", style="dim")
        out.append("reboot ", style="bold")
        if st.reboot_needed:
            booted = st.booted_system.kernel if st.booted_system else None
            now_k = st.current_system.kernel if st.current_system else None
            detail = (f" (booted {fmt.short_store_path(booted)}, current {fmt.short_store_path(now_k)})"
                      if booted and now_k else "")
            out.append(f"{g.reboot} needed{detail}\n", style="yellow")
        elif st.reboot_needed is False:
            out.append("not needed\n", style="dim")
        else:
            out.append("unknown\n", style="dim")


_DEPLOY_RS_TAG = re.compile(r"^[^\x00-\x7f]*\s*[^\x00-\x7f]*\s*\[(deploy|activate|wait|revoke)\]\s*\[([A-Z]+)\]\s*")


def compact_line(line: str) -> str:
    """`🚀 ℹ️ [deploy] [INFO] Building…` -> `deploy: Building…` for the narrow last-output column.

    The emoji go (their width differs between terminals and would shift the columns); the level
    stays only when it says something (WARN, ERROR)."""
    m = _DEPLOY_RS_TAG.match(line)
    if not m:
        return line.strip()
    level = "" if m.group(2) == "INFO" else f" {m.group(2)}"
    return f"{m.group(1)}{level}: {line[m.end():]}"


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


class DeployTable(DataTable):
    """One row per host of a deploy run, re-rendered from a RunView on a timer."""

    BINDINGS = [Binding("j", "cursor_down", "Down", show=False), Binding("k", "cursor_up", "Up", show=False)]

    def __init__(self, run: RunView, glyphs: Glyphs, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.run = run
        self.glyphs = glyphs
        self.clock = clock
        self._line_width = 40

    def on_mount(self) -> None:
        for key, label in DEPLOY_COLUMNS:
            self.add_column(label, key=key)
        self.sync()

    def _fit_line_column(self) -> None:
        """The last-output column gets what the other columns leave of the pane's width."""
        used = sum(col.get_render_width(self) for key, col in self.columns.items() if key.value != "line")
        self._line_width = max(12, self.size.width - used - 2 * self.cell_padding - 1)

    @property
    def current(self) -> str | None:
        names = list(self.run.nodes)
        if 0 <= self.cursor_row < len(names):
            return names[self.cursor_row]
        return None

    def sync(self) -> None:
        """Add rows for new hosts and re-render every row (cheap: a handful of hosts)."""
        self._fit_line_column()
        now = self.clock()
        for name, view in self.run.nodes.items():
            cells = self.cells(view, now)
            if name not in self.rows:
                self.add_row(*cells, key=name)
            else:
                for (key, _), cell in zip(DEPLOY_COLUMNS, cells):
                    self.update_cell(name, key, cell, update_width=True)

    def cells(self, v: NodeView, now: float) -> list[Text | str]:
        g = self.glyphs
        if v.outcome:
            glyph, word, style = fmt.outcome_cell(g, v.outcome)
            where = f" ({v.outcome_stage})" if v.outcome in ("failed",) and v.outcome_stage else ""
            before, after = v.generations.get("before"), v.generations.get("after")
            if before is not None and after is not None and before != after:
                where += f" {before}{'→' if g is not ASCII else '->'}{after}"
            status = styled(glyph, style)
            stage = styled(f"{word}{where}", style)
        elif v.stage == "queued":
            status, stage = styled(g.queued, "$secondary"), styled("queued", "$text-muted")
        else:
            spin = g.spinner[int(now * 8) % len(g.spinner)]  # from the clock: same frame for the same time
            status, stage = styled(spin, "$warning"), styled(v.stage, "$warning")
        reached, total = v.progress()
        pstyle = "$error" if v.outcome in ("failed", "rolled_back") else "$success" if v.outcome else "$warning"
        progress = styled(g.bar_full * reached + g.bar_empty * (total - reached), pstyle)
        elapsed = fmt.duration(v.elapsed(now), precise=True) if v.started is not None else "-"
        timer = self._timer_cell(v, now)
        if v.stall is not None:
            line = styled(f"{g.stall} no output for {v.stall.seconds:.0f}s: {v.stall.hint}", "$warning")
        elif v.outcome in ("failed", "rolled_back") and v.message:
            line = styled(v.message, "$error")
        else:
            line = Text(ascii_line(v.last_line) if g is ASCII else compact_line(v.last_line))
        line.truncate(self._line_width, overflow="ellipsis")
        return [status, Text(v.node, style="bold"), stage, progress, elapsed, timer, line]

    def _timer_cell(self, v: NodeView, now: float) -> Text:
        """The countdown while a window is open; once rolled back, a badge that stays."""
        g = self.glyphs
        if v.rollback:
            return Text(f"{g.rolled_back} {v.rollback} rollback", style="bold reverse yellow")
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
