"""Streaming parsers: lines of deploy-rs / nixos-rebuild output in, deploy events out.

A parser is pure: it never reads files, clocks or processes. The runner feeds it every complete line
(stdout and stderr merged, without the newline, ANSI left in) with the time it was read, and calls
`finish` once when the process has exited. Each call returns the events that line caused, in order.

    parser = DeployRsParser([("web1", "system")])
    for ts, line in lines:
        for event in parser.feed(line, ts):
            ...
    events = parser.finish(exit_code, time.time())   # node_result for every target left, run_result
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from labtui.runs.events import GenerationSwitched, NodeResult, RunEvent

# nix-env's profile switch line (new and old wording), printed when a profile moves to another generation
# (deploy-rs's rollbacks and revokes, `nixos-rebuild --rollback`); a forward `nix-env --set` is silent.
SWITCH_RE = re.compile(r"switching (?:profile )?from (?:version|generation) (\d+) to (\d+)")


class OutputParser(Protocol):
    def feed(self, line: str, ts: float) -> list[RunEvent]:
        """Events caused by one complete output line (no newline; may contain ANSI escapes)."""
        ...

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        """The process exited (`exit_code` None: unknown or killed by a signal; `cancelled`: the
        operator stopped it). Returns a final `node_result` for every target without one and the
        `run_result`. Later `feed` calls only produce `output` events."""
        ...

    @property
    def awaiting_answer(self) -> bool:
        """A `prompt` event was emitted and the program has not gone on since: it waits on stdin."""
        ...

    @property
    def results(self) -> dict[tuple[str, str | None], NodeResult]:
        """The latest `node_result` of every target that has one, in the targets' order."""
        ...

    @property
    def follow_after_exit(self) -> float | None:
        """Seconds the runner keeps feeding lines after the process exited, before `finish` (asked again after
        each line): something the program started goes on and its lines decide an outcome (deploy-rs's target
        after the activation timeout). None: `finish` at once."""
        ...

    def mark_answered(self) -> None:
        """The runner wrote the operator's answer to the program's question."""
        ...


def generation_switch(text: str, ts: float, node: str | None) -> GenerationSwitched | None:
    """The `generation_switched` event of a nix-env switch line, else None (cheap for other lines)."""
    if "switching" not in text:
        return None
    m = SWITCH_RE.search(text)
    if m is None:
        return None
    return GenerationSwitched(ts=ts, node=node, from_generation=int(m[1]), to_generation=int(m[2]))


def parse_lines(parser: OutputParser, lines: Iterable[str], exit_code: int | None, *, ts: float = 0.0,
                cancelled: bool = False) -> list[RunEvent]:
    """All events of a finished output (e.g. a saved log), every line stamped `ts`."""
    events: list[RunEvent] = []
    for line in lines:
        events.extend(parser.feed(line, ts))
    events.extend(parser.finish(exit_code, ts, cancelled=cancelled))
    return events
