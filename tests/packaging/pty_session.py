"""Run a program on a pseudo-terminal, as a person would: wait for a word on screen, type keys, collect
its exit status. Waits on the program's output, never on the clock (a deadline only bounds a hang)."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PtyResult:
    returncode: int
    output: str  # everything written to the terminal, escape sequences and all


def run_in_pty(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, wait_for: str | None = None,
               keys: bytes = b"", timeout: float = 120.0, size: tuple[int, int] = (100, 30)) -> PtyResult:
    """Run `argv` on a terminal of `size` (columns, rows); once `wait_for` is on screen, type `keys`."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            env={**env, "TERM": "xterm-256color"}, start_new_session=True, close_fds=True)
    os.close(slave)
    output = b""
    typed = wait_for is None
    if typed and keys:
        os.write(master, keys)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if not typed and wait_for is not None and wait_for.encode() in output:
                typed = True
                os.write(master, keys)
        else:
            proc.kill()
            raise AssertionError(f"{argv[0]} did not end within {timeout:g} s; its screen:\n"
                                 f"{output.decode(errors='replace')[-3000:]}")
        returncode = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not typed:
        raise AssertionError(f"{wait_for!r} never appeared; the screen:\n{output.decode(errors='replace')[-3000:]}")
    return PtyResult(returncode, output.decode(errors="replace"))
