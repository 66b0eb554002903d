"""What the deploy pane shows, folded from the deploy event stream (pure, no Textual).

`RunView.apply(event)` takes the events of a run (labtui.runs.events.RunEvent) in order, live or replayed
from the journal, and keeps one `NodeView` per host: stage, timing, the confirm/activation windows as
deadlines (event ts + seconds, so countdowns never drift with UI ticks), a rollback that stays
visible, the last output line and a bounded buffer of that host's output.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import assert_never

from labtui.runs.events import (
    ActivationWindow,
    BuildProgress,
    CheckResultEvent,
    Confirmed,
    ConfirmWindow,
    ExecResult,
    GenerationSwitched,
    NodeResult,
    NodeState,
    Output,
    PasswordPrompt,
    Prompt,
    PromptAnswered,
    RebootProgress,
    Rollback,
    RollbackResult,
    RunEvent,
    RunResult,
    RunStarted,
    StageChanged,
    Stall,
    WaveResult,
    WaveStarted,
)
from labtui.runs.outcomes import is_failure

# Lines kept per host for the log view; older lines are dropped (the journal keeps the full log).
MAX_LINES_PER_NODE = 20_000
# Stages drawn in the progress indicator, in the order a deploy goes through them.
PROGRESS_STAGES = ("check", "eval", "build", "push", "activate", "confirm")


@dataclass
class Window:
    """A timeout the target is counting down (magic-rollback confirm, activation wait)."""

    started: float
    seconds: int

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def fraction_left(self, now: float) -> float:
        if self.seconds <= 0:
            return 0.0
        return max(0.0, min(1.0, (self.deadline - now) / self.seconds))


@dataclass
class NodeView:
    node: str
    profile: str | None = None
    stage: str = "queued"
    stage_since: float | None = None
    started: float | None = None
    finished: float | None = None
    stages_seen: list[str] = field(default_factory=list)
    confirm: Window | None = None
    activation: Window | None = None
    confirmed: bool = False
    rollback: str | None = None  # kind of the rollback (auto, magic, revoke, health); stays once set
    generation_removed: int | None = None
    outcome: str | None = None
    outcome_stage: str | None = None
    message: str = ""
    last_line: str = ""
    stall: Stall | None = None
    generations: dict[str, int | None] = field(default_factory=dict)  # "before"/"after" -> number (node_state)
    build: BuildProgress | None = None  # the latest progress of labtui's own build of this node
    wave: int | None = None  # its wave (1-based) when the run has waves
    build_lines: dict[str, str] = field(default_factory=dict)  # drv -> the builder's last line already shown
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES_PER_NODE))
    total_lines: int = 0  # lines ever received (the deque may have dropped the oldest)

    @property
    def running(self) -> bool:
        return self.outcome is None and self.stage != "queued"

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished if self.finished is not None else now) - self.started

    def progress(self) -> tuple[int, int]:
        """(stages reached, stages in the indicator)."""
        reached = 0
        for i, stage in enumerate(PROGRESS_STAGES):
            if stage in self.stages_seen:
                reached = i + 1
        if self.outcome == "succeeded":
            reached = len(PROGRESS_STAGES)
        return reached, len(PROGRESS_STAGES)

    def active_window(self, now: float) -> tuple[str, Window] | None:
        """The countdown to show: the confirm window once it opened, else the activation window."""
        if self.done or self.confirmed:
            return None
        if self.confirm is not None:
            return "confirm", self.confirm
        if self.activation is not None:
            return "activate", self.activation
        return None

    def lines_since(self, seen_total: int) -> list[str]:
        """Lines received after the first `seen_total` ones (those still buffered)."""
        new = self.total_lines - seen_total
        if new <= 0:
            return []
        new = min(new, len(self.lines))
        return list(self.lines)[-new:]


class RunView:
    """One deploy run as the pane shows it."""

    def __init__(self, nodes: list[str] | None = None) -> None:
        self.run_id: str | None = None
        self.method: str | None = None
        self.argv: list[str] = []
        self.processes = 0  # deploy processes of the run (one for several hosts: atomic)
        self.nodes: dict[str, NodeView] = {}
        self.run_lines: deque[str] = deque(maxlen=MAX_LINES_PER_NODE)
        self.run_total_lines = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.outcome: str | None = None
        self.exit_code: int | None = None
        self.prompt: Prompt | None = None
        self.waves: list[list[str]] = []  # the run's plan of waves ([] without)
        self.wave: int | None = None  # the wave being deployed
        self.wave_results: dict[int, WaveResult] = {}
        self.stalls: list[Stall] = []
        self.rollbacks: list[Rollback] = []
        self.events_seen = 0
        for n in nodes or []:
            self._node(n)

    # -- folding -------------------------------------------------------------------------------
    def _node(self, name: str) -> NodeView:
        view = self.nodes.get(name)
        if view is None:
            view = self.nodes[name] = NodeView(name)
        return view

    def _start(self, view: NodeView, ts: float) -> None:
        if view.started is None:
            view.started = ts

    def apply(self, event: RunEvent) -> None:
        self.events_seen += 1
        if self.started is None:
            self.started = event.ts
        match event:
            case RunStarted():
                self.run_id, self.method, self.argv = event.run_id, event.method, list(event.argv)
                self.processes = len(event.argvs) or 1
                self.started = event.ts
                for n in event.nodes:
                    self._node(n)
                self.waves = [list(w) for w in event.waves]
                for number, nodes in enumerate(self.waves, 1):
                    for n in nodes:
                        self._node(n).wave = number
            case StageChanged():
                targets = [self._node(event.node)] if event.node else [v for v in self.nodes.values() if not v.done]
                for view in targets:
                    self._start(view, event.ts)
                    view.stage, view.stage_since = event.stage, event.ts
                    if event.profile:
                        view.profile = event.profile
                    if event.stage not in view.stages_seen:
                        view.stages_seen.append(event.stage)
                    view.stall = None
            case ConfirmWindow():
                view = self._node(event.node)
                self._start(view, event.ts)
                view.confirm = Window(event.ts, event.seconds)
                if "confirm" not in view.stages_seen:
                    view.stages_seen.append("confirm")
                view.stage, view.stage_since = "confirm", event.ts
            case ActivationWindow():
                view = self._node(event.node)
                self._start(view, event.ts)
                view.activation = Window(event.ts, event.seconds)
            case Confirmed():
                self._node(event.node).confirmed = True
            case Rollback():
                view = self._node(event.node)
                view.rollback = event.rollback_kind
                view.generation_removed = event.generation_removed
                self.rollbacks.append(event)
            case Output():
                self._output(event)
            case Stall():
                self.stalls.append(event)
                if event.node:
                    self._node(event.node).stall = event
            case NodeResult():
                view = self._node(event.node)
                self._start(view, event.ts)
                view.outcome, view.outcome_stage, view.message = event.outcome, event.stage, event.message
                view.finished = event.ts
                view.stall = None
            case RunResult():
                self.outcome, self.exit_code, self.finished = event.outcome, event.exit_code, event.ts
                for view in self.nodes.values():
                    if view.outcome is None:
                        # The run ended without a word on this host: it never got deployed.
                        view.outcome = {"cancelled": "cancelled", "lost": "unknown"}.get(event.outcome, "not_deployed")
                        view.finished = event.ts
            case Prompt():
                self.prompt = event
            # What runs around the deploy (probes, health checks, rollbacks, reboots): one line each in the
            # host's output, so it shows in the pane's last-output column and in the host's log.
            case NodeState():
                what = f"generation {event.generation}" if event.generation is not None else (event.error or "unknown")
                self._node(event.node).generations[event.when] = event.generation
                self.apply_lines(event.node, [f"labtui: {event.when} the deploy: {what}"])
            case CheckResultEvent():
                verdict = "passed" if event.ok else "FAILED"
                self.apply_lines(event.node, [f"labtui: check {event.check} ({event.check_kind}) {verdict}: "
                                              f"{event.message}"])
            case RollbackResult():
                line = (f"labtui: switch to generation {event.to_generation} {'done' if event.ok else 'FAILED'} "
                        f"{event.message}")
                self.apply_lines(event.node, [line.rstrip()])
            case RebootProgress():
                if event.message:
                    self.apply_lines(event.node, [f"labtui: {event.kind}: {event.message}"])
            case BuildProgress():
                self._build(event)
            case WaveStarted():
                self.wave = event.wave
                self.apply_lines(None, [f"labtui: wave {event.wave}/{event.waves}: {', '.join(event.nodes)}"])
            case WaveResult():
                self.wave_results[event.wave] = event
                self.apply_lines(None, [f"labtui: wave {event.wave} done: every host healthy" if event.ok
                                        else f"labtui: {event.message}; the run stops here"])
            case ExecResult():
                self.apply_lines(event.node, [f"labtui: exit {event.exit_code}" if not event.error
                                              else f"labtui: {event.error}"])
            case GenerationSwitched() | PasswordPrompt() | PromptAnswered():
                pass  # the output line says it / asked by the face / the face answered it
            case _:
                assert_never(event)

    def _build(self, event: BuildProgress) -> None:
        from labtui.deploy.build import summary

        view = self._node(event.node)
        self._start(view, event.ts)
        view.build = event
        # The host's own output: its running builds' lines as the progress samples them (every line of every
        # builder is in the run's output, `o`).
        sampled = [f"{b.name}> {b.last_line}" for b in event.running
                   if b.last_line and view.build_lines.get(b.drv) != b.last_line]
        for b in event.running:
            view.build_lines[b.drv] = b.last_line
        if sampled:
            self.apply_lines(event.node, sampled)
        view.last_line = summary(event)
        view.stall = None
        if event.done and event.failed:
            for failed in event.failed:
                if failed.tail:
                    self.apply_lines(event.node, [f"labtui: last log lines of {failed.name}:",
                                                  *(f"  {line}" for line in failed.tail)])

    def _output(self, event: Output) -> None:
        if event.node:
            view = self._node(event.node)
            view.lines.append(event.line)
            view.total_lines += 1
            if event.line.strip():
                view.last_line = event.line
            if view.stall is not None:
                view.stall = None
        else:
            self.run_lines.append(event.line)
            self.run_total_lines += 1

    def apply_lines(self, node: str | None, lines: list[str]) -> None:
        """Fast path for a burst of output lines of one host (the pane batches Output events)."""
        if node:
            view = self._node(node)
            view.lines.extend(lines)
            view.total_lines += len(lines)
            for line in reversed(lines):
                if line.strip():
                    view.last_line = line
                    break
            view.stall = None
        else:
            self.run_lines.extend(lines)
            self.run_total_lines += len(lines)

    # -- queries ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.outcome is None

    def first_failure(self) -> str | None:
        """The first host (in the run's order) that ended in anything but success, or saw a rollback."""
        for view in self.nodes.values():
            if is_failure(view.outcome) or view.rollback:
                return view.node
        return None

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for view in self.nodes.values():
            key = view.outcome or ("running" if view.running else "queued")
            counts[key] = counts.get(key, 0) + 1
        return counts

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished if self.finished is not None else now) - self.started
