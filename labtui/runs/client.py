"""The face's side of a detached run: start a supervisor, follow its events, talk to it.

`start_supervisor(payload)` hands `payload` (pickled, 0600 in the run's directory) to a new supervisor
process and waits until it says it runs (or why it could not: e.g. a host is locked).

The supervisor is labtui's own entry point (`labtui.cli.main.main`, hidden verb `_supervise`) run by this
process's interpreter, with this process's import path handed over on the command line: a short bootstrap
adds every directory of it the new interpreter lacks with `site.addsitedir`, which is what nixpkgs'
wrapper does inside the `labtui` script (it sets no PYTHONPATH, so a bare `python -m labtui...` could not
import labtui). `.pth` files in those directories are honoured as in the face (an editable install's
finder, namespace packages), `-P` keeps the working directory off the path, and no environment variable
changes, so deploy-rs and its children see the operator's environment as it is. The same command works
for the installed script, a nixpkgs-style wrapper and `python -m pytest` from a checkout.

A supervisor that cannot start (a broken installation, an exception before it answers) is one UserError
line for every face: why (the log's last line, harmless) and the path of `supervisor.log`.

Faces follow a run over a per-run unix socket in `labtui.paths.runtime_dir()` while its supervisor lives (the
events come from its memory, so a full disk or a locked journal does not hide them), else by tailing its events
file (`follow_run`); they talk back over the same socket (`DetachedRun`): yes/no answers, sudo passwords (memory
only), cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

from labtui import paths
from labtui.commandlog import COMMAND_LOG
from labtui.errors import UserError
from labtui.runs.events import NodeResult, RunEvent, RunResult, RunStarted, UnknownEvent, event_from_dict
from labtui.runs.files import events_path, make_run_dir, new_run_id, run_dir
from labtui.runs.journal import Journal
from labtui.runs.process import ProcessId
from labtui.runs.state import state_error
from labtui.text import harmless

START_TIMEOUT = 60.0  # seconds to wait for the supervisor to say it started
FOLLOW_LINE_LIMIT = 16 * 1024 * 1024  # bytes of one event line from the supervisor (output lines are cut at 64 KB)
SPEC_FILE = "request.pickle"
PID_FILE = "supervisor.pid"
LOG_FILE = "supervisor.log"
SUPERVISE_VERB = "_supervise"
# argv[1]: the face's import path (os.pathsep-separated); the rest: labtui's arguments.
# The face's entries then come first, in the face's order, so the supervisor imports the very labtui (and
# textual, asyncssh) the face did, also where an installed copy and a checkout are both on the path.
BOOTSTRAP = ("import os, site, sys\n"
             "face = sys.argv[1].split(os.pathsep)\n"
             "for path in face:\n"
             "    if path not in sys.path:\n"
             "        site.addsitedir(path)\n"
             "sys.path[:] = [p for p in face if p in sys.path] + [p for p in sys.path if p not in face]\n"
             "from labtui.cli.main import main\n"
             "sys.exit(main(sys.argv[2:]))\n")


def socket_path(run_id: str) -> Path:
    return paths.runtime_dir() / "deploy" / f"{run_id}.sock"


def supervisor_process(run_id: str) -> ProcessId | None:
    """The process that runs (or ran) `run_id`, from its pid file; None for runs without a supervisor."""
    try:
        return ProcessId.parse((run_dir(run_id) / PID_FILE).read_text())
    except (OSError, UserError):
        return None


def supervisor_pid(run_id: str) -> int | None:
    supervisor = supervisor_process(run_id)
    return supervisor.pid if supervisor else None


def is_running(run_id: str) -> bool:
    supervisor = supervisor_process(run_id)
    return supervisor is not None and supervisor.alive()


class DetachedRun:
    """A run owned by a supervisor process: the same control surface as the run itself, over the socket."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    async def events(self, *, from_start: bool = True) -> AsyncGenerator[RunEvent, None]:
        """The run's events (from its start), holding an `attach` connection while following."""
        async for event in follow_run(self.run_id, from_start=from_start, attach=True):
            if isinstance(event, RunStarted):
                # The supervisor ran them; this process's command log (the TUI's `@` view) shows them too.
                for argv in event.argvs or ([event.argv] if event.argv else []):
                    COMMAND_LOG.local(argv)
            yield event

    def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        _send(self.run_id, {"op": "answer", "yes": yes, "node": node})

    def send_password(self, hostname: str, password: str | None) -> None:
        _send(self.run_id, {"op": "password", "hostname": hostname, "password": password})

    def cancel(self, node: str | None = None) -> None:
        """Cancel the run, or only `node` (the others go on)."""
        _send(self.run_id, {"op": "cancel", "node": node} if node else {"op": "cancel"})

    def pending(self) -> dict[str, list[str]]:
        """What the run waits for right now: {"prompts": [job...], "passwords": [hostname...]}.

        A face replaying a run's events from the start asks the operator only about these."""
        try:
            reply = _send(self.run_id, {"op": "pending"})
        except UserError:
            return {"prompts": [], "passwords": []}
        return {"prompts": list(reply.get("prompts", [])), "passwords": list(reply.get("passwords", []))}


def _send(run_id: str, message: dict[str, Any]) -> dict[str, Any]:
    path = socket_path(run_id)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except OSError as exc:
            raise UserError(f"run {run_id} is not accepting commands ({exc.strerror or exc}); "
                            f"it has probably finished: `labtui history show {run_id}`", exit_code=1) from None
    try:
        answer = json.loads(reply or b"{}")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


async def follow_run(run_id: str, *, from_start: bool = True, attach: bool = False,
                     poll: float = 0.05) -> AsyncIterator[RunEvent]:
    """The events of a run as they happen, until its `run_result` (also for finished runs).

    Works for any run, whoever started it. While its supervisor lives, the events come from the supervisor's memory
    over its socket (they reach the face even when the disk is full or the journal locked); otherwise from the run's
    events file. If the supervisor vanished without a result, the run ends `lost` (labtui.runs.lost): a note, each
    unfinished node `unknown`, and a `run_result` of outcome `lost` without an exit code.
    `attach=True` tells the supervisor a face is watching (see labtui.runs.supervisor.UNATTENDED_GRACE).
    Lines this version cannot read (an event kind of a newer labtui) are skipped.
    """
    seen = _Seen()
    live = await _open_live(run_id, from_start=from_start, attach=attach)
    if live is not None:
        reader, writer = live
        try:
            while line := await reader.readline():
                event = _parse(line)
                if event is None:
                    continue
                seen.add(event)
                yield event
                if isinstance(event, RunResult):
                    return
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
        # The connection ended before the run's result: the supervisor is gone, or ending. Its file tells the rest.
    async for event in _follow_file(run_id, seen, from_start=from_start or live is not None, poll=poll):
        yield event


class _Seen:
    """What a face has seen of a run: how many events, which nodes ran, which have a result."""

    def __init__(self) -> None:
        self.count = 0
        self.nodes: list[str] = []
        self.done: set[str] = set()

    def add(self, event: RunEvent) -> None:
        self.count += 1
        if isinstance(event, RunStarted):
            self.nodes = list(event.nodes)
        elif isinstance(event, NodeResult):
            self.done.add(event.node)

    def open_nodes(self) -> list[tuple[str, str | None]]:
        return [(node, None) for node in self.nodes if node not in self.done]


def _parse(line: bytes | str) -> RunEvent | None:
    if not line.strip():
        return None
    try:
        return event_from_dict(json.loads(line))
    except (UnknownEvent, ValueError, TypeError):
        return None


async def until_recorded(run_id: str) -> None:
    """Return once the run's supervisor has written its whole record (events file and journal; or given up after
    its patience) and closed its faces' connections; at once when no supervisor serves the run. A face that got the
    result from the supervisor's memory waits here before reading the journal (tests, scripts): an event, no poll."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path(run_id)), limit=FOLLOW_LINE_LIMIT)
    except OSError:
        return
    try:
        writer.write(json.dumps({"op": "recorded"}).encode() + b"\n")
        await writer.drain()
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _open_live(run_id: str, *, from_start: bool,
                     attach: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A `follow` connection to the run's supervisor, or None when it does not serve one (finished, other writer)."""
    path = socket_path(run_id)
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=FOLLOW_LINE_LIMIT)
    except OSError:
        return None
    writer.write(json.dumps({"op": "follow", "from": 0 if from_start else None, "attach": attach}).encode() + b"\n")
    try:
        await writer.drain()
    except OSError:
        writer.close()
        return None
    return reader, writer


async def _follow_file(run_id: str, seen: _Seen, *, from_start: bool, poll: float) -> AsyncIterator[RunEvent]:
    """Tail the run's events file (after the `seen.count` events a face already has), until run_result."""
    path = events_path(run_id)
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        gone = _gone(run_id)
        if gone:
            _settle(run_id)  # the supervisor died before its record reached the disk: the journal ends the run
            if path.exists():
                break
        if seen.count and gone:
            for ending in _lost(run_id, seen):
                yield ending
            return
        if seen.count or time.monotonic() > deadline or gone:
            raise UserError(f"run {run_id} has no events file {path}; list runs with `labtui history`")
        await asyncio.sleep(poll)
    skip = seen.count
    with open(path, encoding="utf-8", errors="replace") as f:
        if not from_start:
            f.seek(0, os.SEEK_END)
        buffer = ""
        last_check = time.monotonic()
        settled = False
        while True:
            chunk = f.read()
            if not chunk and time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                # Only a supervisor's run can be lost; other writers (ops actions) have no pid file.
                if _gone(run_id):
                    chunk = f.read()  # its last lines may have landed just now
                    if not chunk and not settled:
                        settled = True
                        _settle(run_id)  # whoever ends it appends the lost ending to this file: read it next
                        continue
                    if not chunk:
                        for ending in _lost(run_id, seen):  # the journal could not say it: say it here
                            yield ending
                        return
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    parsed = _parse(line)
                    if parsed is None:
                        continue
                    event = parsed
                    if skip and not _ends_what_is_open(event, seen):
                        skip -= 1  # the face had it from the supervisor already
                        continue
                    seen.add(event)
                    yield event
                    if isinstance(event, RunResult):
                        return
                continue
            await asyncio.sleep(poll)


def _ends_what_is_open(event: RunEvent, seen: _Seen) -> bool:
    """A result the face cannot have had yet. The file may hold fewer events than the face got over the socket (the
    supervisor died before its recorder caught up, and the lost ending went after what it had written): counting
    events alone would then skip the ending itself."""
    if isinstance(event, RunResult):
        return True
    return isinstance(event, NodeResult) and event.node in seen.nodes and event.node not in seen.done


def _gone(run_id: str) -> bool:
    """The run's supervisor is provably gone (False for runs without one: ops actions, other writers)."""
    supervisor = supervisor_process(run_id)
    return supervisor is not None and not supervisor.alive()


def _settle(run_id: str) -> None:
    from labtui.runs.lost import settle_lost_runs

    with contextlib.suppress(Exception):
        journal = Journal.open()
        try:
            settle_lost_runs(journal, run_id)
        finally:
            journal.close()


def _lost(run_id: str, seen: _Seen) -> list[RunEvent]:
    from labtui.runs.lost import lost_ending

    supervisor = supervisor_process(run_id)
    return lost_ending(seen.open_nodes(), supervisor.pid if supervisor else None)


# ---- starting a supervisor ------------------------------------------------------------------------------


def import_path() -> list[str]:
    """This process's module search path, absolute (the working directory for ''), without repeats."""
    return list(dict.fromkeys(os.path.abspath(p) if p else os.getcwd() for p in sys.path))


def supervisor_command(run_id: str, ready_fd: int) -> list[str]:
    """The argv of a supervisor for `run_id` (see the module docstring)."""
    return [sys.executable, "-P", "-c", BOOTSTRAP, os.pathsep.join(import_path()), SUPERVISE_VERB, run_id,
            "--ready-fd", str(ready_fd)]


def start_supervisor(payload: object, *, run_id: str | None = None) -> DetachedRun:
    """Start a supervisor for `payload` and wait until it runs (or raise its UserError, e.g. HostLocked)."""
    run_id = run_id or new_run_id()
    directory = run_dir(run_id)
    try:
        make_run_dir(run_id)
        with os.fdopen(paths.open_private(directory / SPEC_FILE, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            pickle.dump(payload, f)
        log_path = directory / LOG_FILE
        log = open(paths.open_private(log_path, os.O_WRONLY | os.O_APPEND), "ab")
    except OSError as exc:  # a full disk, a read-only state dir: one line, nothing started
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
        raise state_error(exc, directory, "write the run's files in") from None
    ready_r, ready_w = os.pipe()
    try:
        try:
            proc = subprocess.Popen(supervisor_command(run_id, ready_w), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True, pass_fds=(ready_w,))
        except OSError as exc:
            raise UserError(f"cannot start the deploy supervisor ({exc.strerror or exc}); see {log_path}",
                            exit_code=1) from None
    finally:
        os.close(ready_w)
        log.close()
    try:
        message = _read_ready(ready_r)
    finally:
        os.close(ready_r)
    if not message:  # no answer: it died, or hangs before it forked (e.g. on an import)
        with contextlib.suppress(OSError):
            proc.kill()
    proc.wait()  # the first process only forks the supervisor (not our child: no zombie if it dies) and exits
    if not message.get("ok"):
        error = message.get("error")
        if error and message.get("see_log"):
            error = f"{error}; full log: {log_path}"
        raise UserError(error or start_failure(log_path, answered=bool(message)),
                        exit_code=int(message.get("exit_code", 1)))
    return DetachedRun(run_id)


def start_failure(log_path: Path, *, answered: bool = False) -> str:
    """One line saying the supervisor did not start: the log's last line (why, usually an exception) and
    where the whole log is. `answered`: it said it failed without saying why (else it died or hung)."""
    what = "failed to start" if answered else "exited or hung before it started"
    last = _last_line(log_path)
    why = f": {last}" if last else ""
    return f"the deploy supervisor {what}{why}; full log: {log_path}"


def _last_line(path: Path, *, limit: int = 200) -> str:
    """The last non-blank line of a file (read from its last 4 KiB), harmless and at most `limit` chars."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            tail = f.read()
    except OSError:
        return ""
    lines = [line.strip() for line in tail.decode(errors="replace").splitlines() if line.strip()]
    if not lines:
        return ""
    line = harmless(lines[-1])
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _read_ready(fd: int) -> dict[str, Any]:
    data = b""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:  # data, or EOF: the supervisor wrote its answer and closed, or died
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    with contextlib.suppress(ValueError):
        answer = json.loads(data.decode() or "{}")
        if isinstance(answer, dict):
            return answer
    return {}


def take_payload(run_id: str) -> object:
    """In the supervisor: the payload `start_supervisor` left for it (the file is removed once read)."""
    path = run_dir(run_id) / SPEC_FILE
    with open(path, "rb") as f:
        payload = pickle.load(f)
    path.unlink()
    return payload
