"""A program in a pseudo-terminal, as an SSH session would run it: what it writes, waits on what it shows.

Used by the hang-up tests (tests/tui/test_hangup.py) and the terminal benchmarks (bench/tui_*.py).

    with PtyApp([sys.executable, "-m", "labtui", "demo"], size=(80, 24), env=env) as app:
        app.wait_for(b"sleeper-service")    # bounded wait for text on the screen
        app.hang_up()                        # close the master side, like sshd when the session drops
        app.wait_exit(5)
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence

from tests.support.vt import Screen


def _make_controlling_tty() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyApp:
    """`argv` on the slave side of a new pty of `size` (columns, rows), in a session of its own.

    controlling: the pty is the program's controlling terminal (it gets SIGHUP on hang-up, as a login
    shell's child does); False: it only sees EOF/EIO, as a program started outside the session does.
    A reader thread drains the master and counts bytes with their arrival times."""

    def __init__(self, argv: Sequence[str], *, size: tuple[int, int] = (80, 24),
                 env: Mapping[str, str] | None = None, cwd: str | None = None, controlling: bool = True) -> None:
        self.argv = list(argv)
        self.size = size
        self.env = dict(env if env is not None else os.environ)
        self.env.setdefault("TERM", "xterm-256color")
        self.env.pop("NO_COLOR", None)
        self.cwd = cwd
        self.controlling = controlling
        self.proc: subprocess.Popen[bytes] | None = None
        self.master: int | None = None
        self.output = bytearray()
        self.chunks: list[tuple[float, int]] = []  # (time.monotonic(), bytes) per read
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None
        self.closed = False
        self.screen = Screen(*size)  # what a terminal would show (tests/support/vt.py)
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> PtyApp:
        master, slave = pty.openpty()
        cols, rows = self.size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.env.update(COLUMNS=str(cols), LINES=str(rows))
        self.proc = subprocess.Popen(
            self.argv, stdin=slave, stdout=slave, stderr=slave, env=self.env, cwd=self.cwd,
            start_new_session=True, preexec_fn=_make_controlling_tty if self.controlling else None)
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        fd = self.master
        assert fd is not None
        while True:
            try:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    if self.closed:
                        return
                    continue
                data = os.read(fd, 65536)
            except (OSError, ValueError):  # hang_up() closed it
                data = b""
            with self._changed:
                if not data:
                    self.closed = True
                    self._changed.notify_all()
                    return
                self.output += data
                self.chunks.append((time.monotonic(), len(data)))
                self.screen.feed(self._decode(data))
                self._changed.notify_all()

    def __enter__(self) -> PtyApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.hang_up()

    # -- talking to it -----------------------------------------------------------------------------
    def send(self, keys: str | bytes) -> None:
        assert self.master is not None
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def hang_up(self) -> None:
        """Close the master side: the session dropped."""
        if self.master is not None:
            master, self.master = self.master, None
            self.closed = True
            os.close(master)

    def resize(self, cols: int, rows: int) -> None:
        assert self.master is not None and self.proc is not None
        self.size = (cols, rows)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGWINCH)

    # -- waiting -----------------------------------------------------------------------------------
    def wait_for(self, text: bytes, timeout: float = 30.0, *, since: int = 0) -> int:
        """Wait until `text` appears in the output after offset `since`; returns the offset after it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.output.find(text, since)
                if found >= 0:
                    return found + len(text)
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    tail = bytes(self.output[-2000:]).decode(errors="replace")
                    raise AssertionError(f"{text!r} did not appear within {timeout} s; last output: {tail!r}")
                self._changed.wait(left)

    def wait_for_screen(self, text: str, timeout: float = 30.0) -> float:
        """Wait until the screen (as a terminal would show it) has `text` on one of its lines. Returns when the
        bytes that put it there were read (time.monotonic()): a benchmark's figure without the time this
        model took to take them in (at most the read after them, when several came before it looked)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.screen.shows(text):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    shown = "\n".join(self.screen.text())
                    raise AssertionError(f"{text!r} not on the screen within {timeout} s; it shows:\n{shown}")
                self._changed.wait(left)
            return self.chunks[-1][0] if self.chunks else time.monotonic()

    def wait_quiet(self, quiet: float, timeout: float = 30.0) -> None:
        """Wait until nothing has been written for `quiet` seconds (the screen settled)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                last = self.chunks[-1][0] if self.chunks else 0.0
                now = time.monotonic()
                if now - last >= quiet:
                    return
                if now >= deadline:
                    raise AssertionError(f"the program kept writing for {timeout} s")
                self._changed.wait(min(deadline, last + quiet) - now)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def bytes_between(self, start: float, end: float) -> int:
        with self._changed:
            return sum(n for t, n in self.chunks if start <= t < end)


def wait_pid_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child (a grandchild under `sh`) to end: True when it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
