"""Deploy waves: `--waves 1,25%,100%` cut the hosts of a deploy into waves, each one gated on the last one's health.

Each entry says how many hosts are deployed once that wave is done, counted from the start: a number of hosts
(`1`) or a share of all of them (`25%`, rounded up, at least one more host than the wave before). `1,25%,100%`
over 20 hosts gives waves of 1, 4 and 15 hosts; hosts that no entry reaches form a last wave of their own, so a
spec never leaves hosts out silently. Hosts go in the order they were named. Pure: the orchestrator runs the plan.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from labtui.errors import UserError

_ENTRY = re.compile(r"(\d+)(%?)")


@dataclass(frozen=True)
class WaveMark:
    value: int
    percent: bool

    def reach(self, total: int) -> int:
        """Hosts deployed once this wave is done."""
        return min(total, math.ceil(total * self.value / 100) if self.percent else self.value)

    def __str__(self) -> str:
        return f"{self.value}{'%' if self.percent else ''}"


def parse_waves(spec: str) -> list[WaveMark]:
    """`1,25%,100%` → its marks; UserError (what, how to write it) for anything else."""
    marks = []
    for raw in spec.split(","):
        text = raw.strip()
        m = _ENTRY.fullmatch(text)
        if m is None or int(m.group(1)) == 0 or (m.group(2) and int(m.group(1)) > 100):
            raise UserError(f"--waves: `{text}` is not a wave size; write how many hosts are done after each wave, "
                            "as host counts or percentages, e.g. `--waves 1,25%,100%`")
        marks.append(WaveMark(int(m.group(1)), bool(m.group(2))))
    if not marks:
        raise UserError("--waves needs at least one wave, e.g. `--waves 1,25%,100%`")
    return marks


def plan_waves(nodes: Sequence[str], spec: str) -> list[list[str]]:
    """The hosts of each wave, in order (see the module docstring)."""
    marks = parse_waves(spec)
    total = len(nodes)
    waves: list[list[str]] = []
    done = 0
    for mark in marks:
        reach = mark.reach(total)
        if reach <= done:
            if done < total:
                raise UserError(f"--waves {spec}: `{mark}` adds no host ({done} of {total} are already in earlier "
                                "waves); each wave must reach further than the one before")
            break
        waves.append(list(nodes[done:reach]))
        done = reach
    if done < total:
        waves.append(list(nodes[done:]))
    return waves


def describe_plan(waves: Sequence[Sequence[str]]) -> str:
    """`wave 1: web1 · wave 2: web2, web3` for a line of output."""
    return " · ".join(f"wave {i}: {', '.join(nodes)}" for i, nodes in enumerate(waves, 1))
