"""Where a run keeps its files: `runs/<run_id>/` under `labtui.paths.state_dir()`.

- `output.log`: the raw output of every command of the run, exactly as printed (ANSI kept);
- `events.jsonl`: the run's events, one JSON object a line (docs/events.md); faces follow a run by
  tailing this file (`labtui.runs.client.follow_run`).

Run directories are private to the operator (0700, files 0600, whatever the umask; a state dir left open to
others is tightened): output can name hosts, users and paths.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from labtui import paths
from labtui.errors import UserError
from labtui.runs.events import Event


def new_run_id() -> str:
    """Time-sortable and unique: `20261126-210512-3f9a`."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + secrets.token_hex(2)


def runs_dir() -> Path:
    return paths.state_dir() / "runs"


def run_dir(run_id: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
        raise UserError(f"`{run_id}` is not a run id; list runs with `labtui history`")
    return runs_dir() / run_id


def output_log_path(run_id: str) -> Path:
    return run_dir(run_id) / "output.log"


def events_path(run_id: str) -> Path:
    return run_dir(run_id) / "events.jsonl"


def make_run_dir(run_id: str) -> Path:
    """The run's directory, created private (0700) if needed, the state dir and `runs/` tightened on the way."""
    return paths.private_dir(run_dir(run_id), base=paths.state_dir())


def _append_private(path: Path) -> IO[str]:
    fd = paths.open_private(path, os.O_WRONLY | os.O_APPEND)
    return open(fd, "a", encoding="utf-8", errors="replace")


class RunFiles:
    """The raw output log and the events file of one run (written by the process running it)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.dir = make_run_dir(run_id)
        self._output = _append_private(self.dir / "output.log")
        self._events = _append_private(self.dir / "events.jsonl")

    def raw(self, text: str) -> None:
        """Append raw output (never a password: the runner keeps the pty's sudo prompt stream out of here)."""
        self._output.write(text)
        self._output.flush()

    def event(self, event: Event) -> None:
        self._events.write(json.dumps(event.to_dict(), default=str) + "\n")
        self._events.flush()

    def close(self) -> None:
        self._output.close()
        self._events.close()


class RawSink(Protocol):
    """Where a run's raw output goes (RunFiles, labtui.runs.recorder.RunRecorder)."""

    def raw(self, text: str) -> None: ...


def job_output_writer(files: RawSink, prefix_lines: bool) -> Callable[[str, str], None]:
    """`write(job, text)`: raw output to output.log; with several processes, each line prefixed `job | `."""
    partial: dict[str, str] = {}

    def write(job: str, text: str) -> None:
        if not prefix_lines:
            files.raw(text)
            return
        text = partial.pop(job, "") + text
        *lines, rest = text.split("\n")
        if rest:
            partial[job] = rest
        if lines:
            files.raw("".join(f"{job} | {line}\n" for line in lines))

    return write
