"""The recorded runs of the real tools (tests/deploy/logs/real, see its README): their lines, arrival times, exit codes
and every host's real state, and a replay that feeds a parser the way labtui's runner does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from labtui.deploy.parse import OutputParser
from labtui.runs.events import RunEvent

REAL = Path(__file__).parent / "logs" / "real"


@dataclass(frozen=True)
class Recorded:
    name: str  # tool/scenario
    argv: list[str]
    exit_code: int
    exit_at: float
    lines: list[str]
    times: list[float]
    lines_before_exit: int
    hosts: dict[str, dict[str, dict | None]] = field(default_factory=dict)  # host -> before/at_exit/after state

    def changed(self, host: str) -> bool:
        """The host ended on a new generation (after settling), by its real state."""
        state = self.hosts[host]
        return state["after"]["generation"] != state["before"]["generation"]  # type: ignore[index]

    def running_changed(self, host: str) -> bool:
        state = self.hosts[host]
        return state["after"]["current_system"] != state["before"]["current_system"]  # type: ignore[index]


@cache
def _index() -> dict[str, dict]:
    return json.loads((REAL / "index.json").read_text())


def recorded(name: str) -> Recorded:
    meta = _index()[name]
    data = (REAL / f"{name}.log").read_bytes().decode("utf-8", "replace")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    times = list(meta["line_times"])
    times += [meta["exit_at"]] * (len(lines) - len(times))  # a last line without newline (a prompt)
    return Recorded(name=name, argv=meta["argv"], exit_code=meta["exit_code"], exit_at=meta["exit_at"],
                    lines=lines, times=times, lines_before_exit=meta["lines_before_exit"], hosts=meta["hosts"])


def names(tool: str) -> list[str]:
    return sorted(n for n in _index() if n.startswith(f"{tool}/"))


def replay(parser: OutputParser, run: Recorded) -> list[RunEvent]:
    """Feed `run` as labtui's runner would: every line with its arrival time (without `\\r`), `finish` at the exit
    unless the parser follows a target past it (then at the end of that follow, bounded), later lines after it."""
    events: list[RunEvent] = []
    lines = list(zip(run.lines, run.times, strict=True))
    i = 0
    for line, ts in lines[:run.lines_before_exit]:
        events += parser.feed(line.removesuffix("\r"), ts)
        i += 1
    follow = parser.follow_after_exit
    if follow is not None:
        deadline = run.exit_at + follow
        while i < len(lines) and lines[i][1] <= deadline and parser.follow_after_exit is not None:
            events += parser.feed(lines[i][0].removesuffix("\r"), lines[i][1])
            i += 1
    end = lines[i - 1][1] if follow is not None and i > run.lines_before_exit else run.exit_at
    events += parser.finish(run.exit_code, max(end, run.exit_at))
    for line, ts in lines[i:]:
        events += parser.feed(line.removesuffix("\r"), ts)
    return events


def targets_of(argv: list[str]) -> list[tuple[str, str | None]]:
    """The (node, profile) targets of a recorded `deploy` command line (`.#host1`, `--targets .#a .#b`)."""
    out: list[tuple[str, str | None]] = []
    for arg in argv:
        if arg.startswith(".#"):
            node, _, profile = arg[2:].partition(".")
            out.append((node, profile or None))
    return out
