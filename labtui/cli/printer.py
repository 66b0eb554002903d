"""Run events as progress lines for people (or JSON lines): `labtui deploy`, `history show`, `reboot`."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections import defaultdict, deque
from typing import IO, assert_never

from labtui.cli.common import outcome_color, paint, render_table, use_color
from labtui.runs.events import (
    GOOD_OUTCOMES,
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
from labtui.text import harmless

_ROLLBACK_TEXT = {"auto": "activation failed: rolling back (auto rollback)",
                  "magic": "no confirmation in time: the target rolled back (magic rollback)",
                  "revoke": "revoked: rolled back because another node failed",
                  "health": "health checks failed: rolling back"}


def describe_check(event: CheckResultEvent) -> str:
    tries = f"{event.attempts} attempt{'s' if event.attempts != 1 else ''}, {event.duration:.1f}s"
    verdict = "ok" if event.ok else "FAILED"
    return f"check {event.check}: {verdict}: {event.message} ({tries})"


def describe_reboot(event: RebootProgress) -> str:
    return f"reboot {event.phase}" + (f": {event.message}" if event.message else "")


def describe_exec(event: ExecResult) -> str:
    if event.error:
        return f"exec: {'timed out' if event.timed_out else 'failed'} after {event.duration:.1f}s: {event.error}"
    return f"exec: exit {event.exit_code if event.exit_code is not None else 'unknown'} in {event.duration:.1f}s"


def describe_rollback(event: RollbackResult) -> str:
    return f"rollback to generation {event.to_generation}: {'ok' if event.ok else 'FAILED'}: {event.message}"


class Printer:
    """Progress lines for people, or event JSON lines with --json.

    Events carry what hosts and deploy tools printed: every line is made harmless where it is written."""

    def __init__(self, stream: IO[str], *, json_lines: bool = False, verbose: bool = False,
                 color: bool | None = None) -> None:
        self.stream = stream
        self.json = json_lines
        self.verbose = verbose
        self.color = use_color(stream) if color is None else color
        self.results: dict[tuple[str, str | None], NodeResult] = {}
        self.started: dict[str, float] = {}
        self.tails: dict[str | None, deque[str]] = defaultdict(lambda: deque(maxlen=12))
        self.run_started: float | None = None
        self.build_counts: dict[str, tuple[int, int, int, bool]] = {}

    def note(self, text: str) -> None:
        print(f"labtui: {harmless(text)}", file=sys.stderr, flush=True)

    def _line(self, ts: float, who: str | None, text: str, color: str | None = None) -> None:
        clock = time.strftime("%H:%M:%S", time.localtime(ts))
        prefix = f"{harmless(who)}: " if who else ""
        self.stream.write(f"{paint(clock, 'dim', self.color)} {prefix}{paint(harmless(text), color, self.color)}\n")
        self.stream.flush()

    def event(self, event: RunEvent) -> None:
        if self.json:
            self.stream.write(json.dumps(event.to_dict(), default=str) + "\n")
            self.stream.flush()
            return
        ts = event.ts
        match event:
            case RunStarted():
                self.run_started = ts
                self._line(ts, None, f"deploy run {event.run_id}: {', '.join(event.nodes)} ({event.method})", "bold")
                for argv in event.argvs or ([event.argv] if event.argv else []):
                    self._line(ts, None, "$ " + shlex.join(argv), "dim")
                if event.waves:
                    from labtui.deploy.waves import describe_plan

                    self._line(ts, None, f"in {len(event.waves)} waves: {describe_plan(event.waves)}", "bold")
            case StageChanged():
                self.started.setdefault(event.node or "", ts)
                self._line(ts, _who(event.node, event.profile), event.stage)
            case ConfirmWindow():
                until = time.strftime("%H:%M:%S", time.localtime(ts + event.seconds))
                self._line(ts, _who(event.node, event.profile),
                           f"activated; confirming (magic rollback in {event.seconds} s, at {until}, unless confirmed)",
                           "cyan")
            case ActivationWindow():
                until = time.strftime("%H:%M:%S", time.localtime(ts + event.seconds))
                self._line(ts, _who(event.node, event.profile),
                           f"activating: must finish within {event.seconds} s (by {until})")
            case Confirmed():
                self._line(ts, _who(event.node, event.profile), "confirmed", "green")
            case Rollback():
                self._line(ts, _who(event.node, event.profile),
                           _ROLLBACK_TEXT.get(event.rollback_kind, f"rollback ({event.rollback_kind})"), "yellow")
            case GenerationSwitched():
                if self.verbose:
                    self._line(ts, event.node, f"generation {event.from_generation} -> {event.to_generation}", "dim")
            case Prompt():
                self._line(ts, None, "deploy-rs will deploy:", "bold")
                rows = [[f"{p.node}.{p.profile}", p.hostname or "", p.user or "", p.path or ""] for p in event.plan]
                self.stream.write(render_table(["PROFILE", "HOSTNAME", "USER", "STORE PATH"], rows,
                                               max_width=160) + "\n")
                self.stream.flush()
            case PromptAnswered():
                self._line(ts, event.node, "answered " + ("yes" if event.yes else "no"))
            case PasswordPrompt():
                self._line(ts, event.node, f"deploy-rs asks for the sudo password of {event.hostname}")
            case Output():
                self.tails[event.node].append(event.line)
                if self.verbose:
                    self._line(ts, event.node, event.line, "dim")
            case Stall():
                self._line(ts, event.node,
                           f"no output for {event.seconds:.0f} s in {event.stage or 'this stage'}: {event.hint}",
                           "yellow")
            case NodeResult():
                self._node_result(event)
            case RunResult():
                self.summary(event)
            case NodeState():
                if event.error:
                    if self.verbose:
                        self._line(ts, event.node, f"generation {event.when} the deploy unknown: {event.error}", "dim")
                elif event.generation is not None:
                    label = "running generation" if event.when == "before" else "now on generation"
                    self._line(ts, event.node, f"{label} {event.generation}", "dim")
            case CheckResultEvent():
                self._line(ts, event.node, describe_check(event))
            case RebootProgress():
                self._line(ts, event.node, describe_reboot(event))
            case RollbackResult():
                self._line(ts, event.node, describe_rollback(event))
            case BuildProgress():
                self._build_progress(event)
            case WaveStarted():
                self._line(ts, None, f"wave {event.wave}/{event.waves}: {', '.join(event.nodes)}", "bold")
            case WaveResult():
                if event.ok:
                    self._line(ts, None, f"wave {event.wave} done: every host deployed and healthy", "green")
                else:
                    rolled = f"; rolled back: {', '.join(event.rolled_back)}" if event.rolled_back else ""
                    self._line(ts, None, f"{event.message}; stopping here{rolled}", "red")
            case ExecResult():
                self._line(ts, event.node, describe_exec(event), "green" if event.exit_code == 0 else "red")
            case _:
                assert_never(event)

    def _build_progress(self, event: BuildProgress) -> None:
        """A line when the node's counts move (not for each log line of a running build, unless --verbose)."""
        from labtui.deploy.build import summary

        key = (event.built, event.fetched, len(event.failed), False)
        if not self.verbose and self.build_counts.get(event.node) == key and not (event.done and event.failed):
            return  # (the final progress repeats the last counts: said already)
        self.build_counts[event.node] = key
        text = summary(event)
        if self.verbose and event.running and not event.done:
            last = event.running[0]
            text += f": {harmless(last.last_line)}" if last.last_line else ""
        self._line(event.ts, event.node, text, "red" if event.failed else ("green" if event.done else None))
        if event.failed and event.done:
            for failed in event.failed:
                for line in failed.tail[-12:]:
                    self.stream.write(f"    {paint(harmless(line), 'dim', self.color)}\n")
            self.stream.flush()

    def _node_result(self, event: NodeResult) -> None:
        self.results[(event.node, event.profile)] = event
        text: str = event.outcome
        if event.outcome not in GOOD_OUTCOMES:
            text = f"{text} at {event.stage or '?'}" + (f": {event.message}" if event.message else "")
        self._line(event.ts, _who(event.node, event.profile), text, outcome_color(event.outcome))
        if event.outcome in ("failed", "rolled_back") and not self.verbose and self.tails[event.node]:
            for line in self.tails[event.node]:
                self.stream.write(f"    {paint(harmless(line), 'dim', self.color)}\n")

    def summary(self, event: RunResult) -> None:
        rows, colors = [], []
        for (node, profile), result in self.results.items():
            took = result.ts - self.started.get(node, self.run_started or result.ts)
            rows.append([node, profile or "", result.outcome, result.stage or "", f"{took:.0f}s", result.message])
            colors.append([None, None, outcome_color(result.outcome), None, None, None])
        if rows:
            self.stream.write("\n" + render_table(["NODE", "PROFILE", "OUTCOME", "STAGE", "TIME", "MESSAGE"], rows,
                                                  max_width=120, colors=colors, color=self.color) + "\n")
        total = event.ts - (self.run_started or event.ts)
        # No exit code is known for a lost run (its supervisor vanished): say why instead of "exit None".
        tail = f"(exit {event.exit_code})" if event.exit_code is not None else f"({event.message or 'no exit code'})"
        self._line(event.ts, None, f"run {event.outcome} in {total:.0f}s {tail}",
                   outcome_color(event.outcome, run=True))


def _who(node: str | None, profile: str | None) -> str | None:
    if node is None:
        return None
    return f"{node}.{profile}" if profile else node
