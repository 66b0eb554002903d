"""What the details panel adds to a host's status: its latest generations (over SSH, kept EXTRAS_TTL seconds) and
its past deploys, this session's and the journal's (pure asyncio, no Textual)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from labtui.inventory.model import Host
from labtui.tui import format as fmt
from labtui.tui.deploy_model import RunView
from labtui.tui.sources import HistorySource, OpsSource, RunSummary

EXTRAS_TTL = 30.0  # seconds a host's fetched generation list is shown before it is fetched again
JOURNAL_RUNS = 5  # past deploys of a host read from the journal

# A past deploy of a host: (when, outcome, what ran).
PastDeploy = tuple[float, str, str]


class HostExtras:
    def __init__(self, history: HistorySource | None, ops: OpsSource | None, clock: Callable[[], float]) -> None:
        self.history = history
        self.ops = ops
        self.clock = clock
        self._generations: dict[str, tuple[float, list[str]]] = {}  # host -> (fetched at, compact lines)
        self._journal_runs: dict[str, list[RunSummary]] = {}

    def generations(self, host: str) -> list[str] | None:
        """The host's generations as the panel shows them (newest first), None until fetched."""
        cached = self._generations.get(host)
        return cached[1] if cached else None

    def has_generations(self, host: str) -> bool:
        return host in self._generations

    def deploys(self, host: str, session_runs: Sequence[RunView]) -> list[PastDeploy]:
        """This session's deploys of the host, then the journal's (newest first)."""
        out = []
        for run in reversed(session_runs):
            view = run.nodes.get(host)
            if view and view.outcome:
                out.append((view.finished or run.finished or 0.0, view.outcome, run.method or ""))
        seen = {r.run_id for r in session_runs}
        for summary in self._journal_runs.get(host, []):
            outcome = summary.node_outcomes.get(host)
            if outcome and summary.run_id not in seen:
                out.append((summary.finished or summary.started, outcome, summary.method))
        return sorted(out, key=lambda d: d[0], reverse=True)

    async def load(self, host: Host) -> bool:
        """Read the journal's deploys of the host and fetch its generations unless fresh; True when anything new
        came. A journal or host that cannot answer only leaves its part out."""
        name = host.name
        changed = False
        if self.history is not None:
            try:
                self._journal_runs[name] = self.history.list_runs(name)[:JOURNAL_RUNS]
                changed = True
            except Exception:  # noqa: BLE001 - the journal only adds to the panel
                pass
        cached = self._generations.get(name)
        fresh = cached is not None and self.clock() - cached[0] < EXTRAS_TTL
        if self.ops is not None and not fresh:
            try:
                gens = sorted(await self.ops.generations(host), key=lambda g: g.number, reverse=True)
                self._generations[name] = (self.clock(), [fmt.compact_generation(g) for g in gens])
                changed = True
            except Exception:  # noqa: BLE001 - an unreachable host simply shows none
                pass
        return changed

    def forget_generations(self, hosts: Sequence[str]) -> None:
        """A deploy changed them."""
        for host in hosts:
            self._generations.pop(host, None)
