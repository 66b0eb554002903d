"""Runs whose supervisor vanished (SIGKILL, a crash, the jump host's OOM killer): `lost`, never `failed` by guess.

A supervisor that dies takes its deploy processes with it (labtui.deploy.leash), but what they had done to the host
by then is not known: deploy-rs may have activated the new generation, be waiting for confirmation (its magic rollback
then brings the old one back on the host by itself), or not have started. So such a run ends as:

- run outcome `lost`, no exit code (none is known), with a message naming the supervisor that vanished;
- every node without a result `unknown`; nodes that had a result keep it;
- later, the first probe of the host (the next deploy's, `labtui status`, the TUI's) records what it runs and when,
  beside the `unknown` (the journal's `found_*` columns): `history show` then says "found generation 43 running at
  12:05, the closure this run deployed" (or not). The outcome stays `unknown`: what a host runs is not what the deploy
  did (a rollback may have followed, or another deploy).

Whoever notices first ends the run (`settle_lost_runs`): a face following it, `labtui history`, the TUI, the next
supervisor. The journal decides who (one UPDATE wins) and that one appends the same ending to the run's events file,
so the run's own record says it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from labtui import paths
from labtui.runs.events import NodeResult, Output, RunEvent, RunResult
from labtui.runs.files import events_path
from labtui.runs.journal import LOST_MESSAGE, Journal

T = TypeVar("T")


def lost_ending(nodes: Iterable[tuple[str, str | None]], pid: int | None, ts: float | None = None) -> list[RunEvent]:
    """The events that end a lost run: a note, `unknown` for each node without a result, the `lost` result."""
    ts = time.time() if ts is None else ts
    why = LOST_MESSAGE.format(pid=pid if pid is not None else "?")
    note = (f"labtui: the deploy supervisor (pid {pid if pid is not None else '?'}) vanished before the run ended; "
            "its deploy processes ended with it")
    events: list[RunEvent] = [Output(ts=ts, node=None, stage=None, line=note, source="raw")]
    events += [NodeResult(ts=ts, node=node, profile=profile, outcome="unknown", stage=None, message=why)
               for node, profile in nodes]
    events.append(RunResult(ts=ts, outcome="lost", exit_code=None, message="its supervisor vanished; what the "
                            "unfinished hosts run is unknown until they are probed"))
    return events


def settle_lost_runs(journal: Journal, run_id: str | None = None) -> list[str]:
    """End every run (or `run_id`) whose supervisor is provably gone (see the module docstring); the runs ended
    here. Never raises for a journal that cannot be written (a read-only or recovered one): nothing is settled."""
    try:
        reaped = journal.reap_lost(run_id)
    except Exception:  # noqa: BLE001 - a journal that cannot be written is reported where it is opened
        return []
    for rid, lost in reaped.items():
        with contextlib.suppress(OSError, ValueError):
            ending = lost_ending(lost.nodes, lost.supervisor_pid, lost.ended)
            lines = "".join(json.dumps(e.to_dict(), default=str) + "\n" for e in ending)
            fd = paths.open_private(events_path(rid), os.O_RDWR | os.O_APPEND)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    lines = "\n" + lines  # the supervisor died mid-line: end that torn line first
                os.write(fd, lines.encode())
            finally:
                os.close(fd)
    return list(reaped)


class FoundRecorder:
    """Puts what probes find on the `unknown` nodes of lost runs (`Journal.record_found`), for faces that probe
    hosts anyway (`labtui status`, the TUI): only hosts with such a node cost a journal write, once each.

    Opens the journal only if there is one; a journal that cannot be written is left alone (status must not fail
    for it)."""

    def __init__(self, journal_path: Path | None = None) -> None:
        """Call it before probing: runs found lost now are settled, and only probes after this moment count."""
        self._path = journal_path or Journal.default_path()
        self._waiting: set[str] = self._read(lambda journal: journal.unknown_hosts()) or set()

    def see(self, host: str, path: str | None, generation: int | None, ts: float) -> None:
        if generation is None and path is None:
            return
        if host not in self._waiting:
            return
        self._waiting.discard(host)
        self._read(lambda journal: journal.record_found(host, path, generation, ts))

    def _read(self, use: Callable[[Journal], T]) -> T | None:
        if not self._path.is_file():
            return None
        try:
            journal = Journal.open(self._path)
        except Exception:  # noqa: BLE001 - damaged, locked, read-only: not this face's business
            return None
        try:
            settle_lost_runs(journal)
            return use(journal)
        except Exception:  # noqa: BLE001 - as above
            return None
        finally:
            journal.close()
