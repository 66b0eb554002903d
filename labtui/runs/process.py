"""Which process is which, even after its pid is reused: a pid plus when that process started.

A run is "lost" only when its supervisor is provably gone. A pid alone cannot prove it: after the supervisor
died, the kernel may hand the same pid to any other process, and the run would look alive forever. So labtui
keeps, next to the pid, the process's start stamp: the boot it belongs to and its start time in clock ticks
since that boot (field 22 of /proc/PID/stat). Same pid and same stamp: the same process. A different stamp, a
different boot, or no such pid: gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or another user's) and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def start_stamp(pid: int) -> str | None:
    """`<boot id>:<start ticks>` of process `pid`, None when /proc cannot tell (not Linux, no such pid)."""
    boot = boot_id()
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of the whole line
    except (OSError, IndexError, ValueError):
        return None
    return f"{boot}:{ticks}" if boot else None


@dataclass(frozen=True)
class ProcessId:
    """One process: its pid and start stamp (None when it could not be read: the pid alone then decides)."""

    pid: int
    start: str | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        return cls(pid, start_stamp(pid))

    @classmethod
    def me(cls) -> ProcessId:
        return cls.of(os.getpid())

    @classmethod
    def parse(cls, text: str) -> ProcessId | None:
        """From `str()` of one (`PID START`), or a bare pid as older versions wrote it."""
        words = text.split()
        if not words or not words[0].isdigit():
            return None
        return cls(int(words[0]), words[1] if len(words) > 1 else None)

    def __str__(self) -> str:
        return f"{self.pid} {self.start}" if self.start else str(self.pid)

    def alive(self) -> bool:
        """False only when this process is provably gone (no such pid, or the pid is now another process's)."""
        if not pid_alive(self.pid):
            return False
        if self.start is None:
            return True
        now = start_stamp(self.pid)
        return now is None or now == self.start
