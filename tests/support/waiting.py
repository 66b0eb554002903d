"""Waiting on what another process does, bounded and by looking (never a sleep as synchronisation)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `condition` until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def read_until(face: subprocess.Popen[str], events: list[dict], done: Callable[[dict], bool]) -> None:
    """Read a `--json` face's event lines into `events` until `done(event)`."""
    assert face.stdout is not None
    while True:
        line = face.stdout.readline()
        assert line, f"the face ended early: {face.stderr.read() if face.stderr else ''}"
        events.append(json.loads(line))
        if done(events[-1]):
            return


def activating(event: dict) -> bool:
    return event.get("event") == "stage" and event.get("stage") == "activate"
