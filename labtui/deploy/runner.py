"""Runs one deploy command (deploy-rs or nixos-rebuild) and turns its output into events.

Why not `asyncio.create_subprocess_exec`: deploy-rs can leave an orphaned ssh child that holds the
output pipe open for minutes after deploy-rs exited, and asyncio's subprocess transport ties the end
of a process to the end of its pipes. Here the process exit is watched on its own (the leash reports it), then what
is already buffered is drained for a short deadline and the result is reported: within about a second
of deploy-rs's exit, whatever its children do.

Other things handled here:
- stdout and stderr share ONE pipe (like `2>&1` on a terminal) so lines keep the order deploy-rs wrote
  them in; lines are split here, and a partial line (deploy-rs's `> ` prompt has no newline) is fed to
  the parser after a short quiet time.
- the process gets its own session and process group, so a cancel signals deploy-rs and every ssh/nix
  child together, and a hang-up of the operator's terminal does not reach it.
- it runs on a leash (labtui.deploy.leash): if the process running this runner dies (a supervisor killed by
  SIGKILL), the whole group is ended, so no deploy goes on unwatched; its leftovers are ended with it.
- interactive sudo: deploy-rs asks `(sudo for HOST) Password: ` on /dev/tty. With `use_pty` the process
  gets a pseudo-terminal as its controlling terminal (but keeps the pipe for stdout/stderr); the pty's
  output is only scanned for that prompt and never logged, and the answer is written to the pty with echo
  off, so a password never reaches the output log, the events or the journal.
- stall detection: no output for `stall_after` seconds within a stage gives one `stall` event per silence.
- following past the exit: when the parser says something the program started goes on and will report its end
  (`parser.follow_after_exit`: deploy-rs gave up on a target at its activation timeout, the target still switches
  and later rolls back by itself), lines are still parsed after the exit, until the parser has its answer, the pipe
  closes or that many seconds passed; only then comes the result.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import subprocess
import termios
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.deploy.leash import GRACE as LEASH_GRACE
from labtui.deploy.leash import leash_command, parse_status
from labtui.deploy.parse import OutputParser
from labtui.runs.events import Output, RunEvent, StageChanged, Stall
from labtui.text import LineCutter

# deploy-rs issue #226: an ssh ControlMaster from the operator's ssh config makes deploy-rs hang forever.
STALL_HINT = ("no output for a while; if deploy-rs hangs at this point, an ssh ControlMaster is the usual cause "
              "(deploy-rs#226): set sshOpts = [\"-oControlMaster=no\" \"-oControlPath=/nowhere\"] for the node, "
              "or cancel and retry")

# Characters of one output line given to the parser and the events (a host's output can hold a line of any
# length; output.log keeps every character).
MAX_LINE = 64 * 1024

# rpassword's prompt as deploy-rs formats it (docs/deploy-rs-output.md §8), and nixos-rebuild-ng's getpass prompt
# for --ask-sudo-password (`[sudo] password for user@host: `, §14).
SUDO_PROMPT_RE = re.compile(r"(?:\(sudo for (?P<host>[^)]*)\) Password: ?|"
                            r"\[sudo\] password for (?:[^@\s]+@)?(?P<ng_host>[^:\s]+): ?)$")


# Asked for a sudo password: (hostname from the prompt) -> the password, or None to cancel the run.
PasswordCallback = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class RunnerTimings:
    quiet_flush: float = 0.3  # surface a partial line (a prompt) after this much silence
    exit_drain: float = 0.5  # after the process exits, read what is buffered for at most this long
    stall_after: float | None = 120.0  # seconds without output within a stage before a `stall` event
    cancel_grace: tuple[float, float] = (5.0, 5.0)  # SIGINT -> wait -> SIGTERM -> wait -> SIGKILL
    late_output: float = 30.0  # keep logging an orphan's late output (not parsed) for at most this long


class CommandRunner:
    """One process: `events()` yields the parser's events (plus stalls) until its result.

    Parser events about a whole run (`run_result`) are passed on as the parser made them; the orchestrator
    decides what the run's outcome is.
    """

    def __init__(self, argv: Sequence[str], parser: OutputParser, *, env: dict[str, str] | None = None,
                 extra_env: dict[str, str] | None = None, cwd: str | None = None, use_pty: bool = False,
                 ask_password: PasswordCallback | None = None, on_raw: Callable[[str], None] | None = None,
                 timings: RunnerTimings = RunnerTimings(), clock: Callable[[], float] = time.time,
                 command_log: CommandLog = COMMAND_LOG) -> None:
        self.argv = list(argv)
        self.parser = parser
        self._env = env
        self._extra_env = dict(extra_env or {})
        self._cwd = cwd
        self._use_pty = use_pty
        self._ask_password = ask_password
        self._on_raw = on_raw or (lambda text: None)
        self.timings = timings
        self._clock = clock
        self._command_log = command_log

        self.proc: subprocess.Popen[bytes] | None = None  # the leash (labtui.deploy.leash), leader of the group
        self._watch_fd: int | None = None  # our end of the leash's watch pipe: closing it ends what is left
        self._status_fd: int | None = None  # the leash reports the command's exit here
        self.exit_code: int | None = None
        self.cancelled = False
        self.late_output_done = asyncio.Event()
        self._exited = asyncio.Event()
        self._queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = LineCutter(MAX_LINE)  # a line is parsed up to MAX_LINE characters; output.log keeps it all
        self._flush_handle: asyncio.TimerHandle | None = None
        self._out_fd: int | None = None
        self._pty_fd: int | None = None
        self._pty_text = ""
        self._password_task: asyncio.Task[None] | None = None
        self._last_output = 0.0
        self._stall_reported = False
        self._node: str | None = None
        self._stage: str | None = None
        self._finished = False
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()  # output arrived, or the pipe closed (the follow after the exit waits on it)
        self._eof = False
        self._stop_follow = False

    # ---- public ----------------------------------------------------------------------------------

    @property
    def awaiting_password(self) -> bool:
        return self._password_task is not None and not self._password_task.done()

    async def events(self) -> AsyncIterator[RunEvent]:
        """Start the process and yield its events; the last one comes from `parser.finish`."""
        self._start()
        try:
            while True:
                event = await self._queue.get()
                if event is None:
                    return
                yield event
        finally:
            if not self._finished:  # the consumer stopped early: do not leave the process behind
                await self.cancel()

    def answer(self, text: str) -> None:
        """Write an answer line to the process's stdin (deploy-rs --interactive)."""
        if self.proc is None or self.proc.stdin is None or self.proc.stdin.closed:
            return
        try:
            self.proc.stdin.write(text.rstrip("\n").encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        self.parser.mark_answered()

    async def cancel(self) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to the process group, with grace periods; the result says cancelled."""
        if self.proc is None or self.exit_code is not None:
            self._stop_follow = True  # exited, maybe still followed: the operator does not want to wait for it
            self._progress.set()
            return
        self.cancelled = True
        for sig, grace in ((signal.SIGINT, self.timings.cancel_grace[0]),
                           (signal.SIGTERM, self.timings.cancel_grace[1]), (signal.SIGKILL, None)):
            self._signal_group(sig)
            if grace is None:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exited.wait(), grace)
            if self._exited.is_set():
                break

    # ---- process -----------------------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        env = dict(os.environ if self._env is None else self._env)
        env.update(self._extra_env)
        self._command_log.local(self.argv, self._extra_env or None)
        program = _program(self.argv[0], env.get("PATH"), self._cwd)
        if program is None:  # as Popen would say it, before anything starts
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.argv[0])
        out_r, out_w = os.pipe()
        watch_r, self._watch_fd = os.pipe()
        self._status_fd, status_w = os.pipe()
        slave: int | None = None
        if self._use_pty:
            master, slave = os.openpty()
            attrs = termios.tcgetattr(slave)
            attrs[3] &= ~(termios.ECHO | termios.ECHONL)  # nothing typed into the pty is ever echoed back
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            self._pty_fd = master
        try:
            self.proc = subprocess.Popen(
                leash_command(watch_r, status_w, [program, *self.argv[1:]]), stdin=subprocess.PIPE, stdout=out_w,
                stderr=out_w, env=env, cwd=self._cwd, start_new_session=True,
                pass_fds=(watch_r, status_w, *((slave,) if slave is not None else ())),
                preexec_fn=_controlling_tty(slave) if slave is not None else None,
            )
        except BaseException:
            for fd in (out_r, self._watch_fd, self._status_fd, self._pty_fd):
                if fd is not None:
                    os.close(fd)
            self._watch_fd = self._status_fd = self._pty_fd = None
            raise
        finally:
            for fd in (out_w, watch_r, status_w):
                os.close(fd)
            if slave is not None:
                os.close(slave)
        self._out_fd = out_r
        os.set_blocking(out_r, False)
        loop.add_reader(out_r, self._on_readable)
        if self._pty_fd is not None:
            os.set_blocking(self._pty_fd, False)
            loop.add_reader(self._pty_fd, self._on_pty_readable)
        self._last_output = time.monotonic()
        self._tasks.append(loop.create_task(self._watch_exit()))
        if self.timings.stall_after:
            self._tasks.append(loop.create_task(self._watch_stall()))

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def _watch_exit(self) -> None:
        assert self.proc is not None and self._status_fd is not None
        loop = asyncio.get_running_loop()
        report = await _read_to_end(loop, self._status_fd)
        os.close(self._status_fd)
        self._status_fd = None
        # No report: the leash was killed with its group (a cancel's SIGKILL), the command with it.
        code = parse_status(report.decode(errors="replace"))
        if code is None:
            code = -signal.SIGKILL
        self.exit_code = code
        self._exited.set()
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            await self._drain_after_exit()
            self._flush_partial()
            await self._follow_after_exit(code)
            self._flush_partial()
            self._finished = True
            if self._password_task and not self._password_task.done():
                self._password_task.cancel()
            exit_code = code if code >= 0 else None  # None: killed by a signal
            for event in self.parser.finish(exit_code, self._clock(), cancelled=self.cancelled):
                self._emit(event)
        finally:
            self._finished = True
            self._queue.put_nowait(None)  # the events end here whatever happened (a consumer never waits forever)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._tasks.append(loop.create_task(self._late_output()))

    async def _drain_after_exit(self) -> None:
        """Read what the exited process left in the pipe, for at most `exit_drain` seconds (orphans keep it open)."""
        deadline = time.monotonic() + self.timings.exit_drain
        while self._out_fd is not None and time.monotonic() < deadline:
            if not self._read_available():
                # Nothing buffered right now: give writers that are still finishing a moment.
                await asyncio.sleep(0.02)
                if not self._read_available():
                    break

    async def _follow_after_exit(self, code: int) -> None:
        """Keep parsing after the exit while the parser follows something the program left running (bounded)."""
        follow = self.parser.follow_after_exit
        if follow is None or self._out_fd is None or self._eof:
            return
        program = os.path.basename(self.argv[0]) if self.argv else "the program"
        self._emit(Output(ts=self._clock(), node=self._node, stage=self._stage, source="labtui",
                          line=f"labtui: {program} exited ({code}) but its target goes on; following it until it "
                               f"ends (at most {follow:.0f} s)"))
        deadline = time.monotonic() + follow
        while self.parser.follow_after_exit is not None and not (self._eof or self._stop_follow):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def _late_output(self) -> None:
        """After the result: keep logging (not parsing) what orphaned children print, then end them."""
        loop = asyncio.get_running_loop()
        orphans_left = False
        try:
            if self._out_fd is not None:
                loop.remove_reader(self._out_fd)
                done = asyncio.Event()
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

                def on_late() -> None:
                    try:
                        data = os.read(self._out_fd, 65536)  # type: ignore[arg-type]
                    except BlockingIOError:
                        return
                    except OSError:
                        data = b""
                    if not data:
                        done.set()  # EOF: every orphan closed the pipe (exited)
                        return
                    self._on_raw(decoder.decode(data))

                loop.add_reader(self._out_fd, on_late)
                try:
                    await asyncio.wait_for(done.wait(), self.timings.late_output)
                except TimeoutError:
                    orphans_left = True
                loop.remove_reader(self._out_fd)
        finally:
            self._close_fds()
            if orphans_left:
                # Children still hold the pipe: end them (the group still exists while they do, so its id
                # cannot have been reused). Their output is no longer read.
                self._signal_group(signal.SIGTERM)
            self._let_go()
            self.late_output_done.set()

    def _let_go(self) -> None:
        """Close the leash's watch pipe (it ends whatever is left of the group and exits), and reap it later."""
        if self._watch_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._watch_fd)
            self._watch_fd = None
        proc = self.proc
        if proc is not None and proc.poll() is None:
            asyncio.get_running_loop().run_in_executor(None, _reap, proc)

    def _close_fds(self) -> None:
        loop = asyncio.get_running_loop()
        for attr in ("_out_fd", "_pty_fd"):
            fd = getattr(self, attr)
            if fd is not None:
                with contextlib.suppress(Exception):
                    loop.remove_reader(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, None)

    # ---- output ------------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if not self._read_available():
            # EOF: every writer closed the pipe; the exit watcher reports the result.
            if self._out_fd is not None:
                asyncio.get_running_loop().remove_reader(self._out_fd)
            self._progress.set()

    def _read_available(self) -> bool:
        """Read one chunk if there is one; False at EOF or when nothing is buffered."""
        if self._out_fd is None:
            return False
        try:
            data = os.read(self._out_fd, 65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._eof = True
            return False
        decoded = self._decoder.decode(data)  # incremental: a character split across reads stays whole
        self._on_raw(decoded)
        self._last_output = time.monotonic()
        self._stall_reported = False
        lines = self._lines.feed(decoded)
        ts = self._clock()
        for line in lines:
            self._feed(line.removesuffix("\r"), ts)
        self._schedule_flush()
        self._progress.set()
        return True

    def _schedule_flush(self) -> None:
        if self._flush_handle:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._lines.has_pending and not self._finished:
            self._flush_handle = asyncio.get_running_loop().call_later(self.timings.quiet_flush, self._flush_partial)

    def _flush_partial(self) -> None:
        """Feed a line that has no newline yet (a prompt) once the process went quiet."""
        self._flush_handle = None
        if self._lines.has_pending:
            line = self._lines.take_pending()
            self._feed(line, self._clock())

    def _feed(self, line: str, ts: float) -> None:
        for event in self.parser.feed(line, ts):
            self._emit(event)

    def _emit(self, event: RunEvent) -> None:
        if isinstance(event, StageChanged):
            if event.node is not None:
                self._node = event.node
            self._stage = event.stage
            self._last_output = time.monotonic()
            self._stall_reported = False
        elif isinstance(event, Output) and event.node is not None:
            self._node = event.node
        self._queue.put_nowait(event)

    async def _watch_stall(self) -> None:
        stall_after = self.timings.stall_after
        assert stall_after
        while not self._finished:
            silent = time.monotonic() - self._last_output
            waiting_for_operator = self.parser.awaiting_answer or self.awaiting_password
            if silent >= stall_after and not self._stall_reported and not waiting_for_operator:
                self._stall_reported = True
                self._queue.put_nowait(Stall(ts=self._clock(), node=self._node, stage=self._stage,
                                             seconds=round(silent, 1), hint=STALL_HINT))
            if waiting_for_operator:
                self._last_output = time.monotonic()  # the operator's thinking time is not a stall
            await asyncio.sleep(min(1.0, stall_after / 4))

    # ---- sudo password via the pty -----------------------------------------------------------------

    def _on_pty_readable(self) -> None:
        assert self._pty_fd is not None
        try:
            data = os.read(self._pty_fd, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: every process closed the terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._pty_fd)
            return
        # The terminal only carries what programs write to it (prompts): echo is off, so what we type
        # (a password) never comes back here.
        self._pty_text = (self._pty_text + data.decode("utf-8", "replace"))[-2048:]
        match = SUDO_PROMPT_RE.search(self._pty_text)
        if match:
            self._pty_text = ""
            if not self.awaiting_password:
                host = match["host"] or match["ng_host"]
                self._password_task = asyncio.get_running_loop().create_task(self._answer_password(host))
            return
        # Any other question on the terminal (ssh's key passphrase or host-key check) waits for an answer
        # nobody can type: show it, so the stall that follows has a visible reason.
        *lines, rest = self._pty_text.split("\n")
        if rest.rstrip().endswith((":", "?")):
            lines, rest = [*lines, rest], ""
        self._pty_text = rest
        for line in lines:
            line = line.strip("\r").strip()
            if line:
                self._on_raw(f"[terminal] {line}\n")
                self._emit(Output(ts=self._clock(), node=self._node, stage=self._stage,
                                  line=f"[terminal] {line}", source="tty"))

    async def _answer_password(self, hostname: str) -> None:
        password = await self._ask_password(hostname) if self._ask_password else None
        if password is None:
            await self.cancel()
            return
        if self._pty_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._pty_fd, password.encode() + b"\n")
        del password


def _program(name: str, path: str | None, cwd: str | None) -> str | None:
    """The executable `name` runs (found on `path` unless it has a slash), or None when there is none."""
    if "/" not in name:
        return shutil.which(name, path=path)
    full = os.path.join(cwd or os.getcwd(), name)
    return full if os.path.isfile(full) and os.access(full, os.X_OK) else None


async def _read_to_end(loop: asyncio.AbstractEventLoop, fd: int) -> bytes:
    """Everything written to pipe `fd` until its writer closes it (without blocking the loop)."""
    os.set_blocking(fd, False)
    data = bytearray()
    ended = asyncio.Event()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            data.extend(chunk)
        else:
            ended.set()

    loop.add_reader(fd, readable)
    try:
        await ended.wait()
    finally:
        loop.remove_reader(fd)
    return bytes(data)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the leash to exit once it let go (it ends the group's leftovers within its grace)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=LEASH_GRACE + 10)


def _controlling_tty(slave: int) -> Callable[[], None]:
    """preexec_fn: make the pty the controlling terminal (runs after setsid, from start_new_session)."""

    def make_controlling() -> None:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    return make_controlling


def with_node(event: RunEvent, node: str) -> RunEvent:
    """The event with `node` filled in where the parser did not know it (one process per node)."""
    if getattr(event, "node", "unset") is None:
        filled: RunEvent = replace(cast(Any, event), node=node)  # every kind with a `node` that may be None
        return filled
    return event
