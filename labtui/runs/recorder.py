"""Where a supervised run's record goes, whatever the disk and the journal do (issue 11, point 6).

The supervisor hands every event and every chunk of raw output to a `RunRecorder` and goes on at once: the run
never waits for a disk, nor for another process's lock on the journal. A writer thread appends them to the run's
files (`events.jsonl`, `output.log`) and folds the events into the journal, each sink in order. When a write fails
(a full disk, a read-only remount, the journal locked by another writer), nothing is dropped: what is not written
yet stays in memory, the recorder says once what it cannot write (an `output` event of the run, so faces show it;
`on_notice` tells the supervisor) and retries with a growing pause; once a write goes through, everything held back
is written in order, and it says that too. A line half-written when the disk filled up is cut
off again (ftruncate) before the retry, so the files never hold a torn event.

Faces do not need the files while the supervisor lives: it serves the events from `events` (memory) over its socket
(labtui.runs.supervisor), so they show the true outcome even while nothing can be written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from labtui import paths
from labtui.errors import UserError
from labtui.runs.events import Output, RunEvent, RunResult
from labtui.runs.files import make_run_dir
from labtui.runs.journal import Journal, RunHeader

JOURNAL_WAIT = 1.0  # seconds one journal write waits for another writer's lock before it is retried later
RETRY_FIRST = 0.5  # seconds before the first retry of a failed write; doubled up to RETRY_MAX
RETRY_MAX = 10.0
# After the run, how long the supervisor keeps retrying what it could not write before giving up on it
# (LABTUI_RECORD_PATIENCE overrides).
PATIENCE = 24 * 3600.0


def patience() -> float:
    try:
        return max(0.0, float(os.environ.get("LABTUI_RECORD_PATIENCE", PATIENCE)))
    except ValueError:
        return PATIENCE


class _Appender:
    """An append-only file written with whole records: a failed write is cut back to the last whole one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def append(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = paths.open_private(self.path, os.O_WRONLY | os.O_APPEND)
        good = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            try:
                os.ftruncate(self._fd, good)  # no torn record: the retry writes it whole
            except OSError:
                pass
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RunRecorder:
    """The record of one run: in memory at once (`events`), on disk and in the journal as soon as they can take it.

    `event`/`raw` are called from the supervisor's event loop and never block; `close()` (after the run) waits until
    everything is written, or `patience()` seconds of failing."""

    def __init__(self, run_id: str, header: RunHeader | None = None, *, supervisor: str | None = None,
                 on_notice: Callable[[str], None] | None = None, on_stored: Callable[[], None] | None = None,
                 journal_path: Path | None = None,
                 retry: tuple[float, float] = (RETRY_FIRST, RETRY_MAX)) -> None:
        self.run_id = run_id
        self.dir = make_run_dir(run_id)
        self.events: list[RunEvent] = []  # every event of the run, in order
        self.lines: list[bytes] = []  # the same, as events.jsonl lines
        self._raw: list[str] = []  # output not written to output.log yet
        self._events_file = _Appender(self.dir / "events.jsonl")
        self._output_file = _Appender(self.dir / "output.log")
        self._written = 0  # events written to events.jsonl
        self._recorded = 0  # events folded into the journal
        self.header = header  # the run's journal row: written again if the journal file is replaced mid-run
        self._supervisor = supervisor
        self._journal: Journal | None = None
        self._journal_path = journal_path
        self._on_notice = on_notice or (lambda text: None)
        self._on_stored = on_stored or (lambda: None)  # called (from the writer thread) when `stored` grew
        self._retry = retry
        self._failing: dict[str, str] = {}  # sink -> why it fails (said once; its recovery is said too)
        self._lock = threading.Condition()
        self._closing = False
        self._given_up = False  # patience ran out: the events file no longer waits for the journal
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._work, name=f"recorder-{run_id}", daemon=True)
        self._thread.start()

    # ---- the supervisor's side ------------------------------------------------------------------------------

    def event(self, event: RunEvent) -> None:
        line = json.dumps(event.to_dict(), default=str).encode() + b"\n"
        with self._lock:
            self.events.append(event)
            self.lines.append(line)
            self._lock.notify()

    def raw(self, text: str) -> None:
        """Raw output for output.log (never a password: the runner keeps the pty's sudo prompt stream out)."""
        with self._lock:
            self._raw.append(text)
            self._lock.notify()

    @property
    def pending(self) -> int:
        """Events not yet in both the events file and the journal."""
        with self._lock:
            return len(self.lines) - min(self._written, self._recorded)

    @property
    def stored(self) -> int:
        """How many of the first events are in both the events file and the journal."""
        with self._lock:
            return min(self._written, self._recorded)

    def close(self, timeout: float | None = None) -> bool:
        """No more events: write what is left (retrying up to `patience()` seconds), then stop. True when all of it
        was written."""
        with self._lock:
            self._closing = True
            self._deadline = time.monotonic() + (patience() if timeout is None else timeout)
            self._lock.notify()
        self._thread.join()
        with self._lock:
            done = not self._raw and self._written == self._recorded == len(self.lines)
        if not done:
            self._log(f"gave up writing {len(self.lines) - min(self._written, self._recorded)} events and "
                      f"{sum(map(len, self._raw))} characters of output after {patience():g} s of failures")
        return done

    # ---- the writer thread ----------------------------------------------------------------------------------

    def _work(self) -> None:
        delay = self._retry[0]
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._has_work() or self._closing)
                if not self._has_work():
                    break  # closing, everything written
                lines = self.lines[self._written:]
                events = self.events[self._recorded:]
                raw, self._raw = self._raw, []
            recorded = self._record(events)
            with self._lock:
                self._recorded += recorded
                # The journal before the file for a run_result: a face that reads it from the events file (and
                # exits, the CLI) then finds the run finished in the journal. Unless the journal is given up on.
                lines = lines[:self._file_limit(len(lines))]
            ok = recorded == len(events)
            if lines and self._write("events", self._events_file.append, b"".join(lines)):
                with self._lock:
                    self._written += len(lines)
            elif lines:
                ok = False
            if raw and not self._write("output", self._output_file.append, "".join(raw).encode("utf-8", "replace")):
                with self._lock:
                    self._raw[:0] = raw  # keep it, in order, for the retry
                ok = False
            if lines or recorded:
                try:
                    self._on_stored()
                except Exception:  # noqa: BLE001 - the loop may be closing: nobody waits any more
                    pass
            if ok:
                delay = self._retry[0]
                continue
            with self._lock:
                if self._closing and self._deadline is not None and time.monotonic() > self._deadline:
                    if not self._given_up:  # the events file gets what it can without the journal, then stop
                        self._given_up = True
                        continue
                    break
                self._lock.wait(delay)  # new work (an event) ends the pause early: it is worth a try
            delay = min(delay * 2, self._retry[1])
        self._events_file.close()
        self._output_file.close()
        if self._journal is not None:
            self._journal.close()

    def _file_limit(self, count: int) -> int:
        """How many of the next `count` events may go to the events file now (call with the lock held)."""
        if self._given_up:
            return count
        for i in range(count):
            index = self._written + i
            if index >= self._recorded and isinstance(self.events[index], RunResult):
                return i
        return count

    def _has_work(self) -> bool:
        return bool(self._raw) or self._written < len(self.lines) or self._recorded < len(self.lines)

    def _record(self, events: list[RunEvent]) -> int:
        """Fold `events` into the journal in order; how many went in before a failure."""
        done = 0
        if not events:
            return 0

        def fold() -> None:
            nonlocal done
            if self._journal is None:
                self._journal = Journal.open(self._journal_path)
                # Short waits for another writer's lock: the run's notice comes at once, the retries keep at it.
                self._journal.set_busy_timeout(JOURNAL_WAIT)
                if self.header is not None:  # the supervisor began the run; a new journal file lacks it
                    self._journal.begin(self.run_id, self.header, supervisor_pid=_pid(self._supervisor),
                                        supervisor_start=_start(self._supervisor))
            for event in events[done:]:
                self._journal.record(self.run_id, event)
                done += 1

        self._write("journal", lambda data: fold(), b"")
        return done

    def _write(self, sink: str, write: Callable[[bytes], object], data: bytes) -> bool:
        try:
            write(data)
        except (OSError, sqlite3.Error, UserError) as exc:
            if isinstance(exc, sqlite3.Error) and self._journal is not None:
                self._journal.close()  # a fresh connection for the retry (a failed one can stay in a bad state)
                self._journal = None
            why = getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            if sink not in self._failing:
                self._failing[sink] = why
                self._notice(f"labtui: cannot write the run's {_WHAT[sink]} ({why}); the run goes on, its record "
                             "is kept in memory and written as soon as it can be")
            return False
        if sink in self._failing:
            del self._failing[sink]
            self._notice(f"labtui: the run's {_WHAT[sink]} is written again; nothing was lost")
        return True

    def _notice(self, text: str) -> None:
        """Say it in the run's own record (an `output` event, written like any other) and to the supervisor."""
        self._log(text)
        self.event(Output(ts=time.time(), node=None, stage=None, line=text, source="raw"))
        try:
            self._on_notice(text)
        except Exception:  # noqa: BLE001 - the loop may be gone at the very end: the record has it
            pass

    def _log(self, text: str) -> None:
        try:
            print(time.strftime("%H:%M:%S ") + text, file=sys.stderr, flush=True)  # supervisor.log
        except (OSError, ValueError):
            pass  # supervisor.log is on the same full disk: the run's events say it


_WHAT = {"events": "events file", "output": "output log", "journal": "journal entry"}


def _pid(identity: str | None) -> int | None:
    return int(identity.split()[0]) if identity else None


def _start(identity: str | None) -> str | None:
    words = identity.split() if identity else []
    return words[1] if len(words) > 1 else None
