"""What a deploy would change, in the TUI: the deploy dialog's panel of closure diffs (one line per host:
`+3 -1 ~12, +48 MiB, reboot`, or `unchanged`) and a host's full diff as a text view.

The panel asks its PreviewSource (labtui.deploy.preview) when the dialog opens: labtui builds what the flake would
deploy while it asks the hosts what they run; the build's progress shows in the panel's status line meanwhile.
Hosts' words (package names and versions come from store paths) are shown harmless, as Text."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from labtui.closure.report import diff_lines
from labtui.deploy.build import summary as build_summary
from labtui.deploy.preview import HostPreview, Preview
from labtui.inventory.model import Host
from labtui.runs.events import BuildProgress, RunEvent
from labtui.text import harmless
from labtui.tui.format import rich_style
from labtui.tui.screens import TextScreen
from labtui.tui.sources import PreviewSource
from labtui.tui.widgets import KeyTable

_STYLES = {"title": "bold", "upgraded": "$accent", "downgraded": "$warning", "added": "$success",
           "removed": "$error", "implication": "$warning", "size": "$text-muted"}


class PreviewPanel(Vertical):
    """The hosts of a deploy with what it would change on each; `show_diff` opens the highlighted host's."""

    class Ready(Message):
        """The diffs are there (or the preview failed: see the panel's `preview`)."""

    def __init__(self, source: PreviewSource, hosts: Sequence[Host], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # Vertical's id/classes
        self.source = source
        self.hosts = list(hosts)
        self.preview: Preview | None = None
        self.error = ""
        self._building: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="preview-status")
        table: KeyTable = KeyTable(id="preview-table", cursor_type="row", zebra_stripes=False)
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#preview-table", KeyTable)
        table.add_columns("host", "what the deploy changes")
        for host in self.hosts:
            table.add_row(Text(host.name, style="bold"), Text("…", style="dim"), key=host.name)

    def start(self, method: str | None) -> None:
        """Compute (again) the diffs for `method` (each host's own when None)."""
        self.preview = None
        self.error = ""
        self._building.clear()
        self._status(Text("building what the flake would deploy, asking the hosts what they run…", style="dim"))
        table = self.query_one("#preview-table", KeyTable)
        for host in self.hosts:
            table.update_cell(host.name, table.ordered_columns[1].key, Text("…", style="dim"))
        self.run_worker(self._compute(method), group="preview", exclusive=True, exit_on_error=False)

    async def _compute(self, method: str | None) -> None:
        try:
            result = await self.source.preview(self.hosts, method, self._progress)
        except Exception as exc:  # noqa: BLE001 - the dialog stays usable: say why there is no diff
            self.error = str(exc)
            self._status(Text(harmless(f"no diff: {exc}"), style=rich_style("$error")))
            self.post_message(self.Ready())
            return
        self.preview = result
        table = self.query_one("#preview-table", KeyTable)
        column = table.ordered_columns[1].key
        for host in result.hosts:
            table.update_cell(host.host, column, summary_cell(host), update_width=True)
        unchanged = len(self.unchanged)
        self._status(Text("d: the highlighted host's full diff"
                          + (f"  ·  {unchanged} already run{'s' if unchanged == 1 else ''} it" if unchanged else ""),
                          style="dim"))
        self.post_message(self.Ready())

    def _progress(self, event: RunEvent) -> None:
        if isinstance(event, BuildProgress):
            self._building[event.node] = build_summary(event)
            line = "  ".join(f"{node}: {text}" for node, text in sorted(self._building.items()))
            self._status(Text(harmless(f"building: {line}"), style="dim"))

    def _status(self, text: Text) -> None:
        self.query_one("#preview-status", Static).update(text)

    @property
    def unchanged(self) -> set[str]:
        """Hosts that already run what the flake would deploy."""
        if self.preview is None:
            return set()
        return {h.host for h in self.preview.hosts if h.diff is not None and h.diff.unchanged}

    @property
    def current(self) -> HostPreview | None:
        table = self.query_one("#preview-table", KeyTable)
        if self.preview is None or not 0 <= table.cursor_row < len(self.hosts):
            return None
        return self.preview.by_host().get(self.hosts[table.cursor_row].name)


def summary_cell(host: HostPreview) -> Text:
    if host.diff is None:
        return Text(harmless(f"no diff ({host.stage}): {host.error}"), style=rich_style("$error"))
    if host.diff.unchanged:
        return Text("unchanged", style="dim")
    return Text(harmless(host.diff.summary()), style=rich_style("$warning") if host.diff.reboot else "")


def diff_text_lines(host: HostPreview) -> list[str]:
    """A host's diff as the lines of a text view (harmless)."""
    if host.diff is None:
        return [harmless(f"{host.host}: no diff ({host.stage}): {host.error}")]
    head = [harmless(f"{host.host}: {host.diff.summary()}"),
            harmless(f"  runs     {host.diff.current or '?'}"), harmless(f"  deploys  {host.diff.new}")]
    return head + [harmless(text) for _, text in diff_lines(host.diff)]


class DiffScreen(TextScreen):
    """One host's full closure diff: packages by group with old → new versions, sizes, implications."""

    def __init__(self, host: HostPreview) -> None:
        super().__init__(f"what deploying {host.host} changes", diff_text_lines(host))
