"""How every outcome reads, in one table: the word (the outcome's own name, the same in the TUI, the CLI and JSON), a
glyph (Unicode and ASCII) and a tone the faces turn into a colour. Nothing else names an outcome for people.

Node outcomes (`NodeResult.outcome`): succeeded, dry_activated, rolled_back, failed, not_deployed, cancelled,
unknown. Run outcomes (`RunResult.outcome`): succeeded, failed, cancelled, lost. Anything but succeeded and
dry_activated is a failure the faces point at (the TUI's first-failure line and `f`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labtui.runs.events import GOOD_OUTCOMES

Tone = Literal["good", "bad", "warn", "muted", "info", "busy"]


@dataclass(frozen=True)
class Look:
    word: str
    glyph: str  # Unicode
    ascii: str  # for --ascii terminals: one printable ASCII character
    tone: Tone
    meaning: str  # the help's line

    def mark(self, ascii_mode: bool = False) -> str:
        return self.ascii if ascii_mode else self.glyph


NODE_LOOKS: dict[str, Look] = {
    "succeeded": Look("succeeded", "✔", "+", "good", "activated (and confirmed)"),
    "dry_activated": Look("dry_activated", "◇", "d", "info", "dry activation done: nothing changed"),
    "rolled_back": Look("rolled_back", "↺", "R", "warn", "activated, then rolled back to the old generation"),
    "failed": Look("failed", "✘", "X", "bad", "a step failed (its stage says which); activate: host may be on the new "
                                               "generation"),
    "not_deployed": Look("not_deployed", "∅", "n", "warn", "not deployed: another host or an earlier step failed"),
    "cancelled": Look("cancelled", "⊘", "c", "warn", "cancelled by the operator before it was activated"),
    "unknown": Look("unknown", "?", "?", "warn", "the run's supervisor vanished: what the host runs is unknown"),
}

RUN_LOOKS: dict[str, Look] = {
    "succeeded": NODE_LOOKS["succeeded"],
    "failed": Look("failed", "✘", "X", "bad", "some host did not succeed"),
    "cancelled": Look("cancelled", "⊘", "c", "warn", "cancelled by the operator"),
    "lost": Look("lost", "‽", "L", "bad", "its supervisor vanished before the run ended"),
}

# Not outcomes, but shown beside them: a host still going or waiting its turn.
RUNNING = Look("running", "⏵", ">", "busy", "running")
QUEUED = Look("queued", "⏸", "-", "muted", "waiting for a free slot (parallel limit)")

FAILURES: frozenset[str] = frozenset(NODE_LOOKS) - frozenset(GOOD_OUTCOMES)


def node_look(outcome: str) -> Look:
    """The look of a node outcome; a name this version does not know reads as itself, with `?`."""
    return NODE_LOOKS.get(outcome) or Look(outcome, "?", "?", "warn", outcome)


def run_look(outcome: str | None) -> Look:
    """The look of a run outcome; None: still running."""
    if outcome is None:
        return RUNNING
    return RUN_LOOKS.get(outcome) or Look(outcome, "?", "?", "warn", outcome)


def is_failure(outcome: str | None) -> bool:
    """Any node outcome but succeeded and dry_activated."""
    return outcome is not None and outcome not in GOOD_OUTCOMES


def counts_text(counts: dict[str, int]) -> str:
    """`1 succeeded, 1 rolled_back`: outcome words in the table's order, then anything else (running, queued)."""
    order = [*NODE_LOOKS, RUNNING.word, QUEUED.word]
    keys = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ", ".join(f"{counts[k]} {k}" for k in keys)

