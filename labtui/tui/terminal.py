"""The TUI's terminal driver: Textual's Linux driver, made to notice the terminal going away.

When an SSH session drops, sshd hangs the pty up: reads return EOF (or EIO) and writes fail with EIO.
Only the session leader gets SIGHUP, so labtui started by `make demo` or a shell script never hears
of it. Textual's input thread then loops on `read() = 0` at full speed and its writer thread dies on
the first EIO (after which the app blocks on a full write queue). This driver instead:

- treats EOF or an error on the terminal, in either direction, as a hang-up: the terminal's file
  descriptors are pointed at /dev/null (nothing after that can fail or block on them) and the app
  is told (`LabApp.terminal_gone`), which exits at once, leaving deploys to their supervisors;
- turns SIGHUP into the same hang-up, and SIGTERM into a prompt, orderly exit, so whatever labtui
  started is cleaned up on the way out instead of the process dying mid-flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import sys
import threading
from codecs import getincrementaldecoder
from typing import IO, TYPE_CHECKING, Any

from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

# Exit codes after a signal, as a shell reports them (128 + the signal's number).
HANGUP_EXIT = 128 + signal.SIGHUP
TERMINATED_EXIT = 128 + signal.SIGTERM


def silence_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: a hung-up terminal only answers EIO, and a
    write that fails on the way out (Textual's, Python's final flush) must not turn into a traceback
    or a blocked thread."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)


def end_after_hang_up(code: int) -> int:
    """Once labtui has cleaned up after a hang-up, end the process at once: the interpreter's own
    teardown (module by module, up to a second on a busy machine) has nothing left that anyone sees.
    Any other exit code is returned for the usual exit."""
    if code == HANGUP_EXIT:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    return code


class _GuardedFile:
    """The terminal as Textual's writer thread sees it: a write that fails means the terminal is gone."""

    def __init__(self, file: IO[str], gone: Any) -> None:
        self._file = file
        self._gone = gone

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except (OSError, ValueError):
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._file.flush()
        except (OSError, ValueError):
            self._gone()

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()


class HangupDriver(LinuxDriver):
    """LinuxDriver + hang-up detection (see the module docstring). The app is told through its
    `terminal_gone(return_code)` method when it has one, else it simply exits."""

    def __init__(self, app: App[Any], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        assert self._file is not None
        self._file = _GuardedFile(self._file, self._hung_up)  # type: ignore[assignment]
        self._gone = threading.Event()
        self._signals: list[int] = []
        self._sighup_before: Any = None  # SIGHUP's handler before ours (None: ours is not installed)

    @property
    def terminal_gone(self) -> bool:
        return self._gone.is_set()

    def start_application_mode(self) -> None:
        self._loop = asyncio.get_running_loop()  # the app's loop (the base class took it at construction)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            self._loop.add_signal_handler(signal.SIGTERM, self._terminated)
            self._signals.append(signal.SIGTERM)
        # SIGHUP through signal.signal, not the loop: its handler is swapped for SIG_IGN in one step when the
        # terminal is gone (the loop's remove_signal_handler restores the default action first). The loop's
        # wakeup fd, set for SIGTERM, wakes it for this one too.
        with contextlib.suppress(ValueError):  # not the main thread (tests): no SIGHUP handling
            self._sighup_before = signal.signal(signal.SIGHUP, lambda _signum, _frame: self._hung_up())
        super().start_application_mode()  # type: ignore[no-untyped-call]  # Textual leaves it unannotated

    def stop_application_mode(self) -> None:
        if self._gone.is_set():
            # Nothing to restore on a terminal that is gone; only stop the input thread.
            self.disable_input()
        else:
            super().stop_application_mode()
        signals, self._signals = self._signals, []
        for signum in signals:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signum)
        before, self._sighup_before = self._sighup_before, None
        if before is not None:
            # Once the terminal is gone labtui cleans up (the demo's hosts, temporary files), and a SIGHUP may
            # still come, late: a parent shell's death sends one to our process group after we read EOF. Its
            # default action would end the process halfway through, so it is ignored from now on.
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGHUP, signal.SIG_IGN if self._gone.is_set() else before)

    def _hung_up(self) -> None:
        """The terminal is gone (EOF, EIO, SIGHUP); called from any thread, any number of times."""
        if self._gone.is_set():
            return
        self._gone.set()
        silence_terminal()
        self._tell_app(HANGUP_EXIT)

    def _terminated(self) -> None:
        self._tell_app(TERMINATED_EXIT)

    def _tell_app(self, return_code: int) -> None:
        loop = self._loop
        if loop.is_closed():
            return
        app = self._app
        gone = getattr(app, "terminal_gone", None)
        callback = (lambda: gone(return_code)) if callable(gone) else (lambda: app.exit(return_code=return_code))
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the app is gone too
            loop.call_soon_threadsafe(callback)

    def run_input_thread(self) -> None:
        """Textual's input loop, except that EOF or an error ends it and reports a hang-up (Textual's
        own would read EOF again and again at full speed)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        try:
            while not self.exit_event.is_set():
                if selector.select(0.1):
                    try:
                        data = os.read(self.fileno, 4096)
                    except OSError:
                        data = b""
                    if not data:
                        self._hung_up()
                        return
                    for event in parser.feed(decode(data)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
