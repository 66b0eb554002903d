"""Python's full garbage collections, moved to moments when nobody types.

At fleet size the TUI holds hundreds of thousands of objects. CPython starts a full pass of its cyclic collector
whenever enough objects have survived the younger passes, and at 500 hosts such a pass took 20-40 ms: often in
the middle of the frame that answers a key (a `/` filter letter then took 70 ms instead of 25).

What is alive once the screen is up (imports, widgets, CSS, the fleet's connections) is frozen out of the
collector's sight (gc.freeze), and automatic full passes are switched off; the app runs one itself every
`every` seconds, at a tick when no key was pressed for `quiet` seconds. The younger generations are collected
as before (a millisecond or two each). Cyclic garbage waits at most a little longer than `every`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Protocol

COLLECT_EVERY = 20.0  # seconds between full passes (a pass at 500 hosts: 20-40 ms)
QUIET = 1.0  # no key for this long: the user is reading, not typing
NO_AUTOMATIC_FULL_PASS = 1_000_000  # the third gc threshold: this many gen-1 passes before an automatic full one


class GcModule(Protocol):
    """The part of the gc module used here (tests pass a fake)."""

    def freeze(self) -> None: ...
    def collect(self, generation: int = 2) -> int: ...
    def get_threshold(self) -> tuple[int, int, int]: ...
    def set_threshold(self, threshold0: int, threshold1: int, threshold2: int, /) -> None: ...


class IdleCollector:
    """Full collections at quiet ticks. `freeze()` once the long-lived objects exist (more than once is fine:
    each freezes what was added since); `input_seen()` on each key or click; `tick()` every second or so;
    `stop()` when the app ends (automatic passes come back)."""

    def __init__(self, *, every: float = COLLECT_EVERY, quiet: float = QUIET,
                 clock: Callable[[], float] = time.monotonic, collector: GcModule = gc) -> None:
        self.every = every
        self.quiet = quiet
        self.clock = clock
        self.gc = collector
        self._saved: tuple[int, int, int] | None = None
        self._last_input = float("-inf")
        self._last_collect = clock()

    def freeze(self) -> None:
        self.gc.freeze()
        if self._saved is None:
            self._saved = self.gc.get_threshold()
            young, middle, _ = self._saved
            self.gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_PASS)
            self._last_collect = self.clock()

    def input_seen(self) -> None:
        self._last_input = self.clock()

    def tick(self) -> bool:
        """Run a full pass if one is due and nobody is typing; whether it ran."""
        if self._saved is None:
            return False
        now = self.clock()
        if now - self._last_collect < self.every or now - self._last_input < self.quiet:
            return False
        self.gc.collect()
        self._last_collect = self.clock()
        return True

    def stop(self) -> None:
        if self._saved is not None:
            self.gc.set_threshold(*self._saved)
            self._saved = None
